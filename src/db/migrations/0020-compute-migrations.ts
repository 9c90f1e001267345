import type { Kysely } from 'kysely'
import { serialId, text, timestamps } from './kit.ts'

/**
 * Nova's `migrations` table: one row per move of a server (resize, cold
 * migration, evacuation), with Nova's columns, plus the old and new flavor
 * snapshots (Nova keeps those in `instance_extra`). See tables/compute-moves.ts.
 */
export async function up(db: Kysely<any>): Promise<void> {
  let t = serialId(db, db.schema.createTable('migrations'))
    .addColumn('uuid', text(db), (c) => c.notNull().unique())
    .addColumn('instance_uuid', text(db), (c) => c.notNull())
  for (const name of ['source_compute', 'source_node', 'dest_compute', 'dest_node', 'dest_host']) {
    t = t.addColumn(name, text(db))
  }
  t = t
    .addColumn('old_instance_type_id', 'integer')
    .addColumn('new_instance_type_id', 'integer')
    .addColumn('old_flavor', text(db))
    .addColumn('new_flavor', text(db))
    .addColumn('status', text(db), (c) => c.notNull())
    .addColumn('migration_type', text(db), (c) => c.notNull())
    .addColumn('hidden', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('user_id', text(db))
    .addColumn('project_id', text(db))
    .addColumn('deleted', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('deleted_at', text(db))
  await timestamps(db, t).execute()
  await db.schema
    .createIndex('migrations_instance_status_idx')
    .on('migrations')
    .columns(['instance_uuid', 'status'])
    .execute()
  await db.schema.createIndex('migrations_status_idx').on('migrations').column('status').execute()
  await db.schema
    .createIndex('migrations_created_idx')
    .on('migrations')
    .columns(['created_at', 'id'])
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('migrations').execute()
}
