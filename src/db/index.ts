import { setTimeout as sleep } from 'node:timers/promises'
import { Kysely, sql, type Dialect, type Transaction } from 'kysely'
import { ServiceUnavailable } from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import { logger } from '../common/log.ts'
import { isRetryable, singleAttempt, withDbRetry } from './retry.ts'
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
   *
   * When the database goes away before the commit (connection lost, server
   * restarting, SQLite busy), the whole transaction is run again, `fn`
   * included, within the retry budget (see retry.ts): so `fn` must only work
   * on the database, with no side effects outside it (no RPC casts, no
   * files). A connection lost during COMMIT is not retried: the commit may
   * have been applied, and the caller gets `DatabaseUnavailable`.
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
    return withDbRetry('transaction', () => this.kysely.transaction().execute(fn))
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.kysely.destroy()
    log.debug({ url: this.url }, 'database closed')
  }
}

export interface OpenOptions {
  /**
   * How long to wait for a database that is unreachable or starting up
   * (services started before it, or during its restart); 0 (the default)
   * fails at once with the first error.
   */
  readonly waitMs?: number
}

/**
 * Opens the database at `url` and checks that it answers:
 * `sqlite:///absolute/path.db` (parent directory created; WAL, foreign keys
 * on, busy timeout `limits.dbBusyTimeoutMs`), `sqlite://:memory:` (tests), or
 * `postgresql://user[:password]@host[:port]/dbname` (pool of
 * `limits.dbPoolSize`, statement timeout `limits.dbStatementTimeoutMs`).
 * An unreachable database is a `DatabaseUnavailable` naming the URL without
 * its password (after waiting up to `opts.waitMs` for it); a malformed URL is
 * `Invalid`. Does not migrate.
 */
export async function openDatabase(url: string, opts: OpenOptions = {}): Promise<Database> {
  const target = parseDatabaseUrl(url)
  const secret = target.dialect === 'postgres' ? target.password : undefined
  const translate: ErrorTranslator = (err) => translateDbError(err, target.safeUrl, secret)
  const kysely = new Kysely<Schema>({
    dialect: translatingDialect(dialectFor(target), translate, { reconnect: target.dialect === 'postgres' }),
  })
  try {
    await waitForDatabase(kysely, target.safeUrl, opts.waitMs ?? 0)
  } catch (err) {
    await kysely.destroy().catch(() => undefined)
    throw err
  }
  log.info({ url: target.safeUrl, dialect: target.dialect }, 'database opened')
  return new OpenDatabase(kysely, target.dialect, target.safeUrl)
}

/**
 * Checks that the database answers; while it is unreachable or starting
 * (a retryable failure), keeps trying for `waitMs`, logging each wait, as a
 * service started before its database (or during a restart) must.
 */
async function waitForDatabase(kysely: Kysely<Schema>, url: string, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs
  let delayMs = limits.dbRetryInitialDelayMs
  for (let attempt = 1; ; attempt++) {
    try {
      await singleAttempt('start-up', () => sql`select 1`.execute(kysely))
      if (attempt > 1) log.info({ url, attempt }, 'database is reachable; starting')
      return
    } catch (err) {
      const leftMs = deadline - Date.now()
      if (!isRetryable(err) || leftMs <= 0) throw err
      const leftS = Math.ceil(leftMs / 1000)
      log.warn(
        { url, attempt, err: err instanceof Error ? err.message : String(err) },
        `waiting for the database (giving up in ${leftS} s)`,
      )
      await sleep(Math.min(delayMs, leftMs))
      delayMs = Math.min(delayMs * 2, limits.dbRetryMaxDelayMs)
    }
  }
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
