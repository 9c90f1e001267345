import type { Generated, Insertable, Selectable, Updateable } from 'kysely'

/**
 * Nova's `migrations` table: one row per move of a server. Column names and
 * meanings are Nova's (`old_instance_type_id` is the old flavor's internal
 * id); the flavor snapshots are Nimbus's (Nova keeps them in instance_extra).
 */
export interface MigrationsTable {
  /** The id `os-migrations` and `/servers/{id}/migrations/{id}` show. */
  id: Generated<number>
  uuid: string
  instance_uuid: string
  source_compute: string | null
  source_node: string | null
  /** Set by the API for a requested host, else when the scheduler picks one. */
  dest_compute: string | null
  dest_node: string | null
  /** The destination's address (Nova's `dest_host`, the host IP). */
  dest_host: string | null
  old_instance_type_id: number | null
  new_instance_type_id: number | null
  /** JSON FlavorSnapshot the server had before the move. */
  old_flavor: string | null
  /** JSON FlavorSnapshot the server gets (the same as old_flavor for a cold migration). */
  new_flavor: string | null
  /** Nova's statuses: pre-migrating, migrating, post-migrating, finished, confirming, confirmed, reverting, reverted, error, accepted, done, failed. */
  status: string
  /** `resize`, `migration` or `evacuation` (`live-migration` is not served). */
  migration_type: string
  hidden: boolean
  user_id: string | null
  project_id: string | null
  created_at: string
  updated_at: string | null
  deleted: Generated<boolean>
  deleted_at: string | null
}

export interface ComputeMoveTables {
  migrations: MigrationsTable
}

export type MigrationRow = Selectable<MigrationsTable>
export type NewMigrationRow = Insertable<MigrationsTable>
export type MigrationUpdateRow = Updateable<MigrationsTable>

/*
 * Joins Schema from here rather than from schema.ts's extends list, so this
 * table lands without touching a file other areas edit at the same time.
 */
declare module '../schema.ts' {
  interface Schema {
    migrations: MigrationsTable
  }
}
