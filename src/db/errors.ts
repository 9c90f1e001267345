import { Conflict, NimbusError, NotFound, ServiceUnavailable, registerErrorClass } from '../common/errors.ts'

/**
 * Turns driver errors from either backend into the typed hierarchy. The
 * database layer applies it to every statement (see `translating-driver.ts`),
 * so callers only ever see:
 *  - `Conflict` for a unique or foreign-key violation (`detail.dbError` says which),
 *  - `ServiceUnavailable` when the database cannot be reached or is too busy to answer,
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
/** Cannot open, cannot read/write the file, disk full, or locked longer than the busy timeout. */
const SQLITE_UNAVAILABLE_PREFIXES = [
  'SQLITE_CANTOPEN',
  'SQLITE_IOERR',
  'SQLITE_FULL',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
]

/** PostgreSQL SQLSTATEs. */
const PG_UNIQUE_VIOLATION = '23505'
const PG_FOREIGN_KEY_VIOLATION = '23503'
/** Class 08 is "connection exception". */
const PG_CONNECTION_CLASS = '08'
const PG_UNAVAILABLE_CODES: ReadonlySet<string> = new Set([
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up)
  '53300', // too_many_connections
  '3D000', // invalid_catalog_name: the database does not exist
  '28000', // invalid_authorization_specification
  '28P01', // invalid_password
  '57014', // query_canceled: statement_timeout expired
  '55P03', // lock_not_available
])

/** Socket-level failures from Node (pg surfaces them unchanged). */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOENT',
])

/** pg raises these without a code when a connection dies or cannot be made in time. */
const PG_CONNECTION_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|not queryable|connection timeout/i

/**
 * Rethrows `err` as a typed error when it is a constraint violation or a
 * connection failure on either backend, and unchanged otherwise. `url` (already
 * redacted) names the database in `ServiceUnavailable` messages; `secret`, if
 * given, is scrubbed from every message built here.
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
  if (isUnavailable(code, message)) {
    const where = url ? ` ${url}` : ''
    throw withCause(new ServiceUnavailable(`database${where} is unavailable: ${message}`), err)
  }
  throw err
}

function isUnavailable(code: string, message: string): boolean {
  if (SQLITE_UNAVAILABLE_PREFIXES.some((p) => code.startsWith(p))) return true
  if (NETWORK_CODES.has(code) || PG_UNAVAILABLE_CODES.has(code)) return true
  if (code.length === 5 && code.startsWith(PG_CONNECTION_CLASS)) return true
  return code === '' && PG_CONNECTION_MESSAGES.test(message)
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
