import type {
  CompiledQuery,
  DatabaseConnection,
  Dialect,
  Driver,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from 'kysely'
import { logger } from '../common/log.ts'
import { isRetryable, markRetryable, withDbRetry, type DbPhase } from './retry.ts'

const log = logger('db')

/** Maps a driver error to the typed hierarchy; always throws. */
export type ErrorTranslator = (err: unknown) => never

export interface TranslatingOptions {
  /**
   * Whether a statement retried after its connection failed runs on a fresh
   * connection from the pool (PostgreSQL) or again on the same one (SQLite,
   * whose one connection stays usable after SQLITE_BUSY).
   */
  readonly reconnect: boolean
}

/**
 * Wraps a Kysely dialect so that every error a statement, a connection
 * checkout or a transaction command raises goes through one translator.
 * Doing it at the driver means no query anywhere can leak a raw
 * SQLITE_CONSTRAINT or ECONNREFUSED to an API handler. Database failures are
 * marked retryable or not for where they happened, and what is safe is
 * retried here (see retry.ts).
 */
export function translatingDialect(
  inner: Dialect,
  translate: ErrorTranslator,
  opts: TranslatingOptions,
): Dialect {
  return {
    createDriver: () => new TranslatingDriver(inner.createDriver(), translate, opts),
    createQueryCompiler: () => inner.createQueryCompiler(),
    createAdapter: () => inner.createAdapter(),
    createIntrospector: (db) => inner.createIntrospector(db),
  }
}

/** Translates `err` and marks it for `phase`; returns what to throw. */
function typed(translate: ErrorTranslator, err: unknown, phase: DbPhase): unknown {
  try {
    translate(err)
  } catch (translated) {
    return markRetryable(translated, phase)
  }
  return err
}

/** Statements that only read: safe to run again after a lost connection. */
function isRead(query: CompiledQuery): boolean {
  if (query.query.kind === 'SelectQueryNode') return true
  return query.query.kind === 'RawNode' && /^\s*select\b/i.test(query.sql)
}

class TranslatingConnection implements DatabaseConnection {
  #inner: DatabaseConnection
  readonly #driver: TranslatingDriver
  /** Between BEGIN and COMMIT/ROLLBACK: a failed statement is never retried alone. */
  inTransaction = false

  constructor(inner: DatabaseConnection, driver: TranslatingDriver) {
    this.#inner = inner
    this.#driver = driver
  }

  /** The driver's own connection: drivers release and commit on the object they handed out. */
  static unwrap(connection: DatabaseConnection): DatabaseConnection {
    return connection instanceof TranslatingConnection ? connection.#inner : connection
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const phase: DbPhase = this.inTransaction ? 'in_transaction' : isRead(compiledQuery) ? 'read' : 'write'
    const once = async () => {
      try {
        return await this.#inner.executeQuery<R>(compiledQuery)
      } catch (err) {
        throw this.#driver.typed(err, phase)
      }
    }
    if (this.inTransaction) return once()
    return withDbRetry('statement', once, () => this.#replaceInner())
  }

  async *streamQuery<R>(
    compiledQuery: CompiledQuery,
    chunkSize?: number,
  ): AsyncIterableIterator<QueryResult<R>> {
    try {
      yield* this.#inner.streamQuery<R>(compiledQuery, chunkSize)
    } catch (err) {
      throw this.#driver.typed(err, this.inTransaction ? 'in_transaction' : 'read')
    }
  }

  /** Before a retry: on PostgreSQL, give the dead connection back (the pool drops it) and take a fresh one. */
  async #replaceInner(): Promise<void> {
    if (!this.#driver.reconnects) return
    const fresh = await this.#driver.acquireInner()
    const dead = this.#inner
    this.#inner = fresh
    await this.#driver.releaseInner(dead)
  }
}

type CompileQuery = QueryCompiler['compileQuery']

class TranslatingDriver implements Driver {
  readonly #inner: Driver
  readonly #translate: ErrorTranslator
  readonly reconnects: boolean

  constructor(inner: Driver, translate: ErrorTranslator, opts: TranslatingOptions) {
    this.#inner = inner
    this.#translate = translate
    this.reconnects = opts.reconnect
  }

  typed(err: unknown, phase: DbPhase): unknown {
    return typed(this.#translate, err, phase)
  }

  init(): Promise<void> {
    return this.#guard('connect', () => this.#inner.init())
  }

  /** A connection of the inner driver, errors translated (no retry: the caller's loop retries). */
  acquireInner(): Promise<DatabaseConnection> {
    return this.#guard('connect', () => this.#inner.acquireConnection())
  }

  releaseInner(connection: DatabaseConnection): Promise<void> {
    return this.#inner.releaseConnection(connection)
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await withDbRetry('connect', () => this.acquireInner())
    return new TranslatingConnection(connection, this)
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    // A failed BEGIN left no transaction; the whole transaction is retried by its loop.
    await this.#guard('in_transaction', () =>
      this.#inner.beginTransaction(TranslatingConnection.unwrap(connection), settings),
    )
    if (connection instanceof TranslatingConnection) connection.inTransaction = true
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    try {
      await this.#guard('commit', () =>
        this.#inner.commitTransaction(TranslatingConnection.unwrap(connection)),
      )
    } finally {
      if (connection instanceof TranslatingConnection) connection.inTransaction = false
    }
  }

  /**
   * A rollback on a connection that is gone is done already: the server
   * rolls back a transaction whose connection ends. Its error is swallowed
   * so the error that caused the rollback is the one the caller sees.
   */
  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    try {
      await this.#guard('rollback', () =>
        this.#inner.rollbackTransaction(TranslatingConnection.unwrap(connection)),
      )
    } catch (err) {
      if (!isRetryable(err)) throw err
      log.debug({ err: err instanceof Error ? err.message : String(err) }, 'rollback on a lost connection')
    } finally {
      if (connection instanceof TranslatingConnection) connection.inTransaction = false
    }
  }

  async savepoint(connection: DatabaseConnection, name: string, compile: CompileQuery): Promise<void> {
    await this.#guard('in_transaction', () =>
      this.#inner.savepoint?.(TranslatingConnection.unwrap(connection), name, compile),
    )
  }

  async rollbackToSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: CompileQuery,
  ): Promise<void> {
    await this.#guard('in_transaction', () =>
      this.#inner.rollbackToSavepoint?.(TranslatingConnection.unwrap(connection), name, compile),
    )
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string, compile: CompileQuery): Promise<void> {
    await this.#guard('in_transaction', () =>
      this.#inner.releaseSavepoint?.(TranslatingConnection.unwrap(connection), name, compile),
    )
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.#inner.releaseConnection(TranslatingConnection.unwrap(connection))
  }

  destroy(): Promise<void> {
    return this.#inner.destroy()
  }

  async #guard<T>(phase: DbPhase, fn: () => T | Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw typed(this.#translate, err, phase)
    }
  }
}
