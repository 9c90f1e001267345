import { Conflict, DatabaseUnavailable, NimbusError, NotFound, registerErrorClass } from '../common/errors.ts'
import { limits } from '../common/limits.ts'

/**
 * Turns driver errors from either backend into the typed hierarchy. The
 * database layer applies it to every statement (see `translating-driver.ts`),
 * so callers only ever see:
 *  - `Conflict` for a unique or foreign-key violation (`detail.dbError` says which),
 *  - `DatabaseUnavailable` (a `ServiceUnavailable`) when the database cannot be
 *    reached, lost the connection, or is too busy to answer,
 *  - the original error for anything else (a bug: bad SQL, NOT NULL, CHECK, ...).
 */

/** `detail.dbError` of a `Conflict` raised by the database layer. */
export type DbConflictKind = 'unique_violation' | 'foreign_key_violation'

/**
 * A pagination marker names no row. A NotFound so callers can tell it from
 * other errors; the APIs answer 400 with its message, as Nova does
 * ("marker [x] not found"). Build it with `markerNotFound`; the constructor
 * keeps the common signature so the class survives an RPC hop.
 */
export class MarkerNotFound extends NotFound {}
registerErrorClass(MarkerNotFound)

/** The error for an unknown pagination marker, worded as Nova words it. */
export function markerNotFound(marker: string | number): MarkerNotFound {
  return new MarkerNotFound(`marker [${marker}] not found`, { marker })
}

interface DriverError {
  readonly code?: unknown
  readonly message?: unknown
  readonly detail?: unknown
  readonly table?: unknown
}

/** SQLite result codes (better-sqlite3 `err.code`). */
const SQLITE_UNIQUE_CODES: ReadonlySet<string> = new Set([
  'SQLITE_CONSTRAINT_UNIQUE',
  'SQLITE_CONSTRAINT_PRIMARYKEY',
])
const SQLITE_FOREIGN_KEY_CODE = 'SQLITE_CONSTRAINT_FOREIGNKEY'

/** PostgreSQL SQLSTATEs. */
const PG_UNIQUE_VIOLATION = '23505'
const PG_FOREIGN_KEY_VIOLATION = '23503'
/** Class 08 is "connection exception". */
const PG_CONNECTION_CLASS = '08'

/**
 * How a database failed, which decides what may be retried (`src/db/retry.ts`):
 *  - `unreachable`: no connection could be made, or the client refused to send
 *    on a connection it knows is dead: the statement was never sent.
 *  - `busy`: the server or file refused the statement before running it
 *    (SQLite locked past its busy timeout, too many connections, server
 *    starting up): nothing was applied.
 *  - `lost`: the connection died while the statement ran (server restart,
 *    failover, `pg_terminate_backend`, an I/O error): a read or an
 *    uncommitted transaction was not applied; an autocommit write or a
 *    COMMIT may or may not have been.
 *  - `refused`: the database answered but will not serve (bad credentials, no
 *    such database, statement timeout, lock not available, disk full):
 *    retrying at once would not help.
 */
export type DbFailure = 'unreachable' | 'busy' | 'lost' | 'refused'

const SQLITE_FAILURES: readonly (readonly [string, DbFailure])[] = [
  ['SQLITE_BUSY', 'busy'],
  ['SQLITE_LOCKED', 'busy'],
  ['SQLITE_IOERR', 'lost'],
  ['SQLITE_CANTOPEN', 'refused'],
  ['SQLITE_FULL', 'refused'],
]

const PG_FAILURES: ReadonlyMap<string, DbFailure> = new Map([
  ['57P01', 'lost'], // admin_shutdown: pg_terminate_backend, fast shutdown
  ['57P02', 'lost'], // crash_shutdown
  ['57P03', 'busy'], // cannot_connect_now (starting up)
  ['53300', 'busy'], // too_many_connections
  ['3D000', 'refused'], // invalid_catalog_name: the database does not exist
  ['28000', 'refused'], // invalid_authorization_specification
  ['28P01', 'refused'], // invalid_password
  ['57014', 'refused'], // query_canceled: statement_timeout expired
  ['55P03', 'refused'], // lock_not_available
])

/** Socket-level failures from Node (pg surfaces them unchanged). */
const NETWORK_FAILURES: ReadonlyMap<string, DbFailure> = new Map([
  ['ECONNREFUSED', 'unreachable'],
  ['ENOTFOUND', 'unreachable'],
  ['EAI_AGAIN', 'unreachable'],
  ['EHOSTUNREACH', 'unreachable'],
  ['ENETUNREACH', 'unreachable'],
  ['ENOENT', 'unreachable'],
  ['ECONNRESET', 'lost'],
  ['EPIPE', 'lost'],
  ['ETIMEDOUT', 'lost'],
])

/** pg raises these without a code; the first match wins. */
const PG_MESSAGE_FAILURES: readonly (readonly [RegExp, DbFailure])[] = [
  // connect timed out, pool checkout timed out, or a client that already saw its connection die
  [/timeout exceeded when trying to connect|connection timeout|not queryable/i, 'unreachable'],
  [/Connection terminated/i, 'lost'],
]

/** Classifies a driver error as a database failure, or undefined when it is something else. */
export function dbFailureOf(err: unknown): DbFailure | undefined {
  if (err instanceof DatabaseUnavailable) return err.detail.dbFailure as DbFailure | undefined
  if (typeof err !== 'object' || err === null) return undefined
  const e = err as DriverError
  const code = typeof e.code === 'string' ? e.code : ''
  const message = typeof e.message === 'string' ? e.message : ''
  const sqlite = SQLITE_FAILURES.find(([prefix]) => code.startsWith(prefix))
  if (sqlite) return sqlite[1]
  const known = PG_FAILURES.get(code) ?? NETWORK_FAILURES.get(code)
  if (known) return known
  if (code.length === 5 && code.startsWith(PG_CONNECTION_CLASS)) return 'lost'
  if (code === '') return PG_MESSAGE_FAILURES.find(([re]) => re.test(message))?.[1]
  return undefined
}

/**
 * Rethrows `err` as a typed error when it is a constraint violation or a
 * connection failure on either backend, and unchanged otherwise. `url` (already
 * redacted) names the database in `DatabaseUnavailable` messages; `secret`, if
 * given, is scrubbed from every message built here. A `DatabaseUnavailable`
 * carries `detail.dbFailure` (see `DbFailure`) and `detail.retryAfterS`;
 * whether it may be retried (`detail.retryable`) is decided by the caller,
 * which knows whether the statement was a read, in a transaction, or a COMMIT.
 */
export function translateDbError(err: unknown, url?: string, secret?: string): never {
  if (err instanceof NimbusError || typeof err !== 'object' || err === null) throw err
  const e = err as DriverError
  const code = typeof e.code === 'string' ? e.code : ''
  const message = scrub(typeof e.message === 'string' ? e.message : String(err), secret)
  if (SQLITE_UNIQUE_CODES.has(code) || code === PG_UNIQUE_VIOLATION) {
    throw withCause(new Conflict(uniqueMessage(e, message), { dbError: 'unique_violation' }), err)
  }
  if (code === SQLITE_FOREIGN_KEY_CODE || code === PG_FOREIGN_KEY_VIOLATION) {
    const what = typeof e.detail === 'string' ? `: ${e.detail}` : ''
    throw withCause(
      new Conflict(`the record refers to a missing record or is still referenced${what}`, {
        dbError: 'foreign_key_violation',
      }),
      err,
    )
  }
  const failure = dbFailureOf(err)
  if (failure) {
    const where = url ? ` ${url}` : ''
    throw withCause(
      new DatabaseUnavailable(`database${where} is unavailable: ${message}`, {
        dbFailure: failure,
        retryAfterS: limits.dbRetryAfterS,
      }),
      err,
    )
  }
  throw err
}

function uniqueMessage(e: DriverError, message: string): string {
  // PostgreSQL: "Key (host, binary)=(h1, nova-compute) already exists."
  if (typeof e.detail === 'string') {
    const table = typeof e.table === 'string' ? `${e.table}: ` : ''
    return `duplicate entry (${table}${e.detail})`
  }
  // SQLite: "UNIQUE constraint failed: services.host, services.binary"
  const columns = message.split(': ')[1]
  return columns ? `duplicate entry (${columns} already exists)` : 'duplicate entry'
}

function scrub(message: string, secret: string | undefined): string {
  return secret ? message.split(secret).join('***') : message
}

function withCause<E extends Error>(error: E, cause: unknown): E {
  error.cause = cause
  return error
}
