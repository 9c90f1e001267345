import { Migrator, type MigrationResultSet } from 'kysely'
import { NimbusError } from '../common/errors.ts'
import { logger } from '../common/log.ts'
import type { Database } from './index.ts'
import { MIGRATIONS } from './migrations/index.ts'

const log = logger('db.migrate')

/** One migration and whether this database has applied it. */
export interface MigrationState {
  readonly name: string
  /** When it was applied; undefined while pending. */
  readonly executedAt: Date | undefined
}

function migrator(db: Database): Migrator {
  // Kysely's migrator records applied migrations in `kysely_migration` and
  // serialises concurrent runs with `kysely_migration_lock` (an advisory lock
  // on PostgreSQL), so two processes starting at once apply each step once.
  return new Migrator({ db: db.kysely, provider: { getMigrations: async () => ({ ...MIGRATIONS }) } })
}

/**
 * Applies every pending migration, oldest first, each in its own
 * transaction. Returns the names applied by this call (empty when already up
 * to date). A failing migration is rolled back and reported by name.
 */
export async function migrateToLatest(db: Database): Promise<readonly string[]> {
  const { error, results } = await migrator(db).migrateToLatest()
  const applied = succeeded(results)
  for (const name of applied) log.info({ migration: name }, 'migration applied')
  if (error !== undefined) throw migrationError(error, results)
  return applied
}

/** Every known migration, oldest first, with the time it was applied (if it was). */
export async function migrationStatus(db: Database): Promise<readonly MigrationState[]> {
  const infos = await migrator(db).getMigrations()
  return infos.map((m) => ({ name: m.name, executedAt: m.executedAt }))
}

function succeeded(results: MigrationResultSet['results']): string[] {
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
}

function migrationError(error: unknown, results: MigrationResultSet['results']): unknown {
  // Connection loss and the like are already typed; keep them so callers see a 503.
  if (error instanceof NimbusError) return error
  const failed = (results ?? []).find((r) => r.status === 'Error')?.migrationName
  const message = error instanceof Error ? error.message : String(error)
  const where = failed ? `migration ${failed} failed` : 'migrations failed'
  return new Error(`database ${where}: ${message}`, { cause: error })
}
