import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import BetterSqlite3 from 'better-sqlite3'
import {
  CompiledQuery,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Dialect,
  type SqliteDatabase,
  type SqliteStatement,
} from 'kysely'
import { limits } from '../common/limits.ts'

/**
 * SQLite through better-sqlite3: the embedded default.
 *
 * SQLite has no boolean type, and better-sqlite3 refuses to bind JS booleans
 * and reads 0/1 back as numbers. This is the one place where booleans are
 * converted, so both backends hand back a JS boolean: parameters `true`/`false`
 * are bound as 1/0, and every result column whose *declared* type is
 * `boolean` (what Kysely's schema builder writes for `'boolean'`) is read back
 * as a boolean. Computed expressions have no declared type and stay numbers.
 */
export function openSqlite(path: string): BetterSqlite3.Database {
  if (path !== ':memory:') ownerOnly(path)
  const db = new BetterSqlite3(path, { timeout: limits.dbBusyTimeoutMs })
  try {
    // WAL lets readers run while one writer commits (a no-op for :memory:).
    db.pragma('journal_mode = WAL')
    // In WAL mode, NORMAL syncs the log at checkpoints rather than at every
    // commit: the file cannot be corrupted by a crash, but a power loss may
    // undo the last commits (SQLite's documented trade-off). FULL made every
    // boot wait for several fsyncs.
    db.pragma('synchronous = NORMAL')
    db.pragma('foreign_keys = ON')
  } catch (err) {
    db.close()
    throw err
  }
  return db
}

/** The database holds password hashes and credentials: readable by its owner only. */
const DATABASE_FILE_MODE = 0o600

/**
 * Creates the database file 0600 (or tightens an existing one and its WAL
 * and shared-memory files) before SQLite opens it: SQLite creates the WAL
 * and `-shm` files with the database file's permissions, whatever the umask.
 */
function ownerOnly(path: string): void {
  mkdirSync(dirname(path), { recursive: true })
  if (!existsSync(path)) closeSync(openSync(path, 'a', DATABASE_FILE_MODE))
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    if (existsSync(file)) chmodSync(file, DATABASE_FILE_MODE)
  }
}

/** The Kysely dialect over an open better-sqlite3 handle. */
export function sqliteDialect(db: BetterSqlite3.Database): Dialect {
  const config = { database: withBooleans(db) }
  const base = new SqliteDialect(config)
  return {
    createDriver: () => new ImmediateSqliteDriver(config),
    createQueryCompiler: () => base.createQueryCompiler(),
    createAdapter: () => base.createAdapter(),
    createIntrospector: (k) => base.createIntrospector(k),
  }
}

/**
 * `begin` in SQLite takes the write lock only at the first write, and a
 * reader that then wants to write fails at once with SQLITE_BUSY, ignoring
 * the busy timeout. `begin immediate` takes it up front, so a transaction
 * waits (bounded by the busy timeout) instead of failing when another process
 * (say `nimbus db migrate`) holds the file.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'))
  }
}

/**
 * Kysely prepares every statement it runs; preparing costs about as much as
 * running a short statement, so prepared statements are kept by SQL text, up
 * to `limits.dbStatementCacheEntries` (least recently used dropped first).
 * Reuse is safe because Kysely runs one statement at a time on the one
 * SQLite connection. A schema change empties the cache: SQLite re-prepares a
 * stale statement itself, but the boolean columns read from it would be stale.
 */
function withBooleans(db: BetterSqlite3.Database): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>()
  return {
    close: () => {
      cache.clear()
      db.close()
    },
    prepare: (sql) => {
      const hit = cache.get(sql)
      if (hit) {
        cache.delete(sql)
        cache.set(sql, hit)
        return hit
      }
      const stmt = booleanStatement(db.prepare(sql))
      if (SCHEMA_CHANGE.test(sql)) {
        cache.clear()
        return stmt
      }
      cache.set(sql, stmt)
      if (cache.size > limits.dbStatementCacheEntries) cache.delete(cache.keys().next().value!)
      return stmt
    },
  }
}

const SCHEMA_CHANGE = /^\s*(create|alter|drop)\b/i

function booleanStatement(stmt: BetterSqlite3.Statement): SqliteStatement {
  const booleans = stmt.reader ? booleanColumns(stmt) : []
  return {
    reader: stmt.reader,
    all: (parameters) => {
      const rows = stmt.all(bindable(parameters))
      return booleans.length === 0 ? rows : rows.map((row) => toBooleans(row, booleans))
    },
    run: (parameters) => stmt.run(bindable(parameters)),
    *iterate(parameters) {
      for (const row of stmt.iterate(bindable(parameters))) yield toBooleans(row, booleans)
    },
  }
}

function booleanColumns(stmt: BetterSqlite3.Statement): readonly string[] {
  return stmt
    .columns()
    .filter((c) => c.type?.toLowerCase() === 'boolean')
    .map((c) => c.name)
}

function bindable(parameters: ReadonlyArray<unknown>): ReadonlyArray<unknown> {
  if (!parameters.some((p) => typeof p === 'boolean')) return parameters
  return parameters.map((p) => (typeof p === 'boolean' ? Number(p) : p))
}

function toBooleans(row: unknown, columns: readonly string[]): unknown {
  if (columns.length === 0) return row
  const r = row as Record<string, unknown>
  for (const name of columns) {
    const v = r[name]
    if (typeof v === 'number' || typeof v === 'bigint') r[name] = v !== 0 && v !== 0n
  }
  return r
}
