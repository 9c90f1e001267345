import { Kysely, sql, type Dialect, type Transaction } from 'kysely'
import { ServiceUnavailable } from '../common/errors.ts'
import { logger } from '../common/log.ts'
import { translateDbError } from './errors.ts'
import { openPostgresPool, postgresDialect } from './postgres.ts'
import type { Schema } from './schema.ts'
import { openSqlite, sqliteDialect } from './sqlite.ts'
import { translatingDialect, type ErrorTranslator } from './translating-driver.ts'
import { parseDatabaseUrl, type DatabaseTarget, type DialectName } from './url.ts'

export type { Schema, Queryable } from './schema.ts'
export type { DialectName } from './url.ts'
export { redactUrl } from './url.ts'

const log = logger('db')

/** An open database: the query builder plus what callers need around it. */
export interface Database {
  /**
   * The Kysely query builder over `Schema`. Errors from it are already typed
   * (`Conflict`, `ServiceUnavailable`; see errors.ts).
   */
  readonly kysely: Kysely<Schema>
  /** Which backend this is, for the rare query that must differ. */
  readonly dialect: DialectName
  /** The URL with any password masked: safe for logs and error messages. */
  readonly url: string
  /**
   * Runs `fn` in a transaction: committed when `fn` resolves, rolled back
   * when it throws (the error is rethrown). Inside `fn`, use `trx` only: on
   * SQLite the one connection is held by the transaction, so a query through
   * `kysely` would wait for it forever.
   */
  transaction<T>(fn: (trx: Transaction<Schema>) => Promise<T>): Promise<T>
  /** Closes the pool or file. Idempotent. */
  close(): Promise<void>
}

class OpenDatabase implements Database {
  readonly kysely: Kysely<Schema>
  readonly dialect: DialectName
  readonly url: string
  #closed = false

  constructor(kysely: Kysely<Schema>, dialect: DialectName, url: string) {
    this.kysely = kysely
    this.dialect = dialect
    this.url = url
  }

  transaction<T>(fn: (trx: Transaction<Schema>) => Promise<T>): Promise<T> {
    return this.kysely.transaction().execute(fn)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.kysely.destroy()
    log.debug({ url: this.url }, 'database closed')
  }
}

/**
 * Opens the database at `url` and checks that it answers:
 * `sqlite:///absolute/path.db` (parent directory created; WAL, foreign keys
 * on, busy timeout `limits.dbBusyTimeoutMs`), `sqlite://:memory:` (tests), or
 * `postgresql://user[:password]@host[:port]/dbname` (pool of
 * `limits.dbPoolSize`, statement timeout `limits.dbStatementTimeoutMs`).
 * An unreachable database is a `ServiceUnavailable` naming the URL without
 * its password; a malformed URL is `Invalid`. Does not migrate.
 */
export async function openDatabase(url: string): Promise<Database> {
  const target = parseDatabaseUrl(url)
  const secret = target.dialect === 'postgres' ? target.password : undefined
  const translate: ErrorTranslator = (err) => translateDbError(err, target.safeUrl, secret)
  const kysely = new Kysely<Schema>({ dialect: translatingDialect(dialectFor(target), translate) })
  try {
    await sql`select 1`.execute(kysely)
  } catch (err) {
    await kysely.destroy().catch(() => undefined)
    throw err
  }
  log.info({ url: target.safeUrl, dialect: target.dialect }, 'database opened')
  return new OpenDatabase(kysely, target.dialect, target.safeUrl)
}

function dialectFor(target: DatabaseTarget): Dialect {
  if (target.dialect === 'postgres') {
    return postgresDialect(openPostgresPool(target.connectionString, target.safeUrl))
  }
  try {
    return sqliteDialect(openSqlite(target.path))
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    throw new ServiceUnavailable(`cannot open database ${target.safeUrl}: ${message}`)
  }
}
