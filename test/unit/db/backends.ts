import { randomBytes } from 'node:crypto'
import { after, before } from 'node:test'
import pg from 'pg'
import { openDatabase, type Database, type DialectName } from '../../../src/db/index.ts'

/**
 * The backends every storage test runs on. `NIMBUS_TEST_DB_DIALECTS=sqlite`
 * narrows the run (e.g. on a laptop without PostgreSQL); CI runs both.
 */
export const DIALECTS: readonly DialectName[] = (process.env.NIMBUS_TEST_DB_DIALECTS ?? 'sqlite,postgres')
  .split(',')
  .map((d) => d.trim())
  .filter((d): d is DialectName => d === 'sqlite' || d === 'postgres')

/** A PostgreSQL URL of a database the tests may CREATE/DROP databases from. */
export const PG_ADMIN_URL = process.env.NIMBUS_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'

/** Bound on any one test; nothing here should come near it. */
export const TEST_TIMEOUT_MS = 30_000
/** Bound on creating or dropping a scratch PostgreSQL database. */
const ADMIN_TIMEOUT_MS = 10_000

const ICU_EN_US = "template template0 locale_provider icu icu_locale 'en-US'"

function createDatabase(name: string): string {
  return `create database ${name}`
}

/** A scratch database: a fresh in-memory SQLite or a randomly named PostgreSQL database. */
export interface ScratchDatabase {
  readonly url: string
  /** Drops the database (PostgreSQL). Safe to call when creation failed halfway. */
  drop(): Promise<void>
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    connectionString: PG_ADMIN_URL,
    connectionTimeoutMillis: ADMIN_TIMEOUT_MS,
    statement_timeout: ADMIN_TIMEOUT_MS,
  })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

/** Creates a scratch database for `dialect`. */
export async function createScratchDatabase(dialect: DialectName): Promise<ScratchDatabase> {
  if (dialect === 'sqlite') return { url: 'sqlite://:memory:', drop: async () => undefined }
  const name = `nimbus_test_${randomBytes(6).toString('hex')}`
  await withAdmin(async (c) => {
    // A linguistic default collation (as on a typical en_US server), so the
    // tests prove text still sorts by bytes, as on SQLite. ICU needs
    // PostgreSQL 15; older servers get their default.
    await c.query(`${createDatabase(name)} ${ICU_EN_US}`).catch(() => c.query(createDatabase(name)))
  })
  const url = new URL(PG_ADMIN_URL)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    // `with (force)` ends connections a failed test left open.
    drop: () =>
      withAdmin((c) => c.query(`drop database if exists ${name} with (force)`)).then(() => undefined),
  }
}

/**
 * Registers before/after hooks in the enclosing `describe` that open a
 * scratch database (optionally running `setup` on it) and always drop it
 * afterwards, even when a test or `setup` failed. Returns a getter.
 */
export function useScratchDatabase(
  dialect: DialectName,
  setup?: (db: Database) => Promise<void>,
): () => Database {
  let scratch: ScratchDatabase | undefined
  let db: Database | undefined
  before(
    async () => {
      scratch = await createScratchDatabase(dialect)
      db = await openDatabase(scratch.url)
      await setup?.(db)
    },
    { timeout: TEST_TIMEOUT_MS },
  )
  after(
    async () => {
      try {
        await db?.close()
      } finally {
        await scratch?.drop()
      }
    },
    { timeout: TEST_TIMEOUT_MS },
  )
  return () => {
    if (!db) throw new Error('scratch database is not open')
    return db
  }
}
