import pg from 'pg'
import { PostgresDialect } from 'kysely'
import { limits } from '../common/limits.ts'
import { logger } from '../common/log.ts'

const log = logger('db.postgres')

/** OID of `int8` (bigint, and what `count(*)` returns). */
const INT8_OID = 20

/**
 * pg returns int8 as a string because it may exceed 2^53. Nimbus stores
 * counts and byte sizes well below that, and SQLite returns numbers, so read
 * int8 as a JS number on this pool only (not through pg's global registry).
 */
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format ?? 'text')) as pg.CustomTypesConfig['getTypeParser'],
}

/** A connection pool sized and bounded by `limits`. */
export function openPostgresPool(connectionString: string, safeUrl: string): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: limits.dbPoolSize,
    connectionTimeoutMillis: limits.dbConnectTimeoutMs,
    statement_timeout: limits.dbStatementTimeoutMs,
    application_name: 'nimbus',
    types: TYPES,
  })
  // An idle client whose server went away emits 'error' on the pool; without
  // a listener Node would crash the process. The next checkout reconnects.
  pool.on('error', (err) => log.warn({ url: safeUrl, err: err.message }, 'idle database connection lost'))
  // A client checked out of the pool (in a statement or a transaction) has
  // no pool listener: pg-pool removes it at checkout. When its server goes
  // away between two statements (pg_terminate_backend, a restart, a
  // failover) it emits 'error' itself, which would crash the process. Every
  // client gets its own listener for its whole life; the statement that
  // uses the dead client next fails with a typed, retryable error, and the
  // pool drops the client when it is released (it is no longer queryable).
  pool.on('connect', (client) => {
    client.on('error', (err: Error) => {
      log.warn({ url: safeUrl, err: err.message }, 'database connection lost')
    })
  })
  return pool
}

/** The Kysely dialect over a pool. */
export function postgresDialect(pool: pg.Pool): PostgresDialect {
  return new PostgresDialect({ pool })
}
