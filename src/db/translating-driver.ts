import type {
  CompiledQuery,
  DatabaseConnection,
  Dialect,
  Driver,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from 'kysely'

/** Maps a driver error to the typed hierarchy; always throws. */
export type ErrorTranslator = (err: unknown) => never

/**
 * Wraps a Kysely dialect so that every error a statement, a connection
 * checkout or a transaction command raises goes through one translator.
 * Doing it at the driver means no query anywhere can leak a raw
 * SQLITE_CONSTRAINT or ECONNREFUSED to an API handler.
 */
export function translatingDialect(inner: Dialect, translate: ErrorTranslator): Dialect {
  return {
    createDriver: () => new TranslatingDriver(inner.createDriver(), translate),
    createQueryCompiler: () => inner.createQueryCompiler(),
    createAdapter: () => inner.createAdapter(),
    createIntrospector: (db) => inner.createIntrospector(db),
  }
}

class TranslatingConnection implements DatabaseConnection {
  readonly #inner: DatabaseConnection
  readonly #translate: ErrorTranslator

  constructor(inner: DatabaseConnection, translate: ErrorTranslator) {
    this.#inner = inner
    this.#translate = translate
  }

  /** The driver's own connection: drivers release and commit on the object they handed out. */
  static unwrap(connection: DatabaseConnection): DatabaseConnection {
    return connection instanceof TranslatingConnection ? connection.#inner : connection
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    try {
      return await this.#inner.executeQuery<R>(compiledQuery)
    } catch (err) {
      return this.#translate(err)
    }
  }

  async *streamQuery<R>(
    compiledQuery: CompiledQuery,
    chunkSize?: number,
  ): AsyncIterableIterator<QueryResult<R>> {
    try {
      yield* this.#inner.streamQuery<R>(compiledQuery, chunkSize)
    } catch (err) {
      this.#translate(err)
    }
  }
}

type CompileQuery = QueryCompiler['compileQuery']

class TranslatingDriver implements Driver {
  readonly #inner: Driver
  readonly #translate: ErrorTranslator

  constructor(inner: Driver, translate: ErrorTranslator) {
    this.#inner = inner
    this.#translate = translate
  }

  init(): Promise<void> {
    return this.#guard(() => this.#inner.init())
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await this.#guard(() => this.#inner.acquireConnection())
    return new TranslatingConnection(connection, this.#translate)
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.#guard(() => this.#inner.beginTransaction(TranslatingConnection.unwrap(connection), settings))
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#guard(() => this.#inner.commitTransaction(TranslatingConnection.unwrap(connection)))
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#guard(() => this.#inner.rollbackTransaction(TranslatingConnection.unwrap(connection)))
  }

  async savepoint(connection: DatabaseConnection, name: string, compile: CompileQuery): Promise<void> {
    await this.#guard(() => this.#inner.savepoint?.(TranslatingConnection.unwrap(connection), name, compile))
  }

  async rollbackToSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: CompileQuery,
  ): Promise<void> {
    await this.#guard(() =>
      this.#inner.rollbackToSavepoint?.(TranslatingConnection.unwrap(connection), name, compile),
    )
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string, compile: CompileQuery): Promise<void> {
    await this.#guard(() =>
      this.#inner.releaseSavepoint?.(TranslatingConnection.unwrap(connection), name, compile),
    )
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.#inner.releaseConnection(TranslatingConnection.unwrap(connection))
  }

  destroy(): Promise<void> {
    return this.#inner.destroy()
  }

  async #guard<T>(fn: () => T | Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      return this.#translate(err)
    }
  }
}
