import { after, afterEach, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import BetterSqlite3 from 'better-sqlite3'
import { sql, type Kysely } from 'kysely'
import { DatabaseUnavailable } from '../../../src/common/errors.ts'
import { runInBackground } from '../../../src/common/context.ts'
import { setLimits } from '../../../src/common/limits.ts'
import { openDatabase, type Database } from '../../../src/db/index.ts'
import { renderFault } from '../../../src/service/faults.ts'
import { startPrivatePostgres, type PrivatePostgres } from '../../support/private-postgres.ts'

/**
 * Issue #24: a database that goes away mid-work must fail or retry the work
 * with a typed error, never crash the process. Runs against a private
 * PostgreSQL this test starts (never the machine's shared server), and a
 * SQLite file locked by a second handle.
 */
const TEST_TIMEOUT_MS = 120_000
/** Short budgets so the "gives up" cases finish quickly. */
const REQUEST_WAIT_MS = 1_500
const BACKGROUND_WAIT_MS = 20_000
/** How long a statement or transaction is kept busy while the backends are killed. */
const HOLD_MS = 600
/** When the backends are killed, after the work started. */
const KILL_AFTER_MS = 200
const DB_NAME = 'connloss'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const untyped = (db: Database) => db.kysely as unknown as Kysely<any>

/** Fails the test if the process sees an uncaught exception (what an unhandled 'error' event is). */
function watchUncaught(): { errors: unknown[]; stop(): void } {
  const errors: unknown[] = []
  const onError = (err: unknown) => errors.push(err)
  process.on('uncaughtException', onError)
  return { errors, stop: () => process.removeListener('uncaughtException', onError) }
}

describe('a lost PostgreSQL connection (private server)', { timeout: TEST_TIMEOUT_MS }, () => {
  let server: PrivatePostgres | undefined
  let db: Database | undefined
  let uncaught: ReturnType<typeof watchUncaught>

  before(async () => {
    setLimits({ dbRetryRequestWaitMs: REQUEST_WAIT_MS, dbRetryBackgroundWaitMs: BACKGROUND_WAIT_MS })
    uncaught = watchUncaught()
    server = await startPrivatePostgres()
    await server.createDatabase(DB_NAME)
    db = await openDatabase(server.url(DB_NAME))
    await sql`create table items (id text primary key, n integer not null)`.execute(db.kysely)
  })
  after(async () => {
    uncaught?.stop()
    setLimits({})
    await db?.close().catch(() => undefined)
    await server?.destroy()
  })
  afterEach(() => {
    assert.deepEqual(uncaught.errors, [], 'no uncaught exception (unhandled pg error event)')
  })

  it('a transaction whose connection is killed between statements is run again as a whole', async () => {
    let runs = 0
    const work = db!.transaction(async (trx) => {
      runs++
      await sql`insert into items (id, n) values ('trx-1', ${runs})`.execute(trx)
      await sleep(HOLD_MS)
      await sql`update items set n = n + 100 where id = 'trx-1'`.execute(trx)
    })
    await sleep(KILL_AFTER_MS)
    assert.ok((await server!.terminateBackends(DB_NAME)) >= 1)
    await work
    assert.equal(runs, 2, 'the first run was lost with its connection, the second committed')
    const rows = await untyped(db!).selectFrom('items').selectAll().where('id', '=', 'trx-1').execute()
    assert.deepEqual(rows, [{ id: 'trx-1', n: 102 }])
  })

  it('a read in flight when its connection is killed is retried on a fresh connection', async () => {
    const read = sql<{ x: number }>`select pg_sleep(${HOLD_MS / 1000}), 7 as x`.execute(db!.kysely)
    await sleep(KILL_AFTER_MS)
    assert.ok((await server!.terminateBackends(DB_NAME)) >= 1)
    const { rows } = await read
    assert.equal(rows[0]?.x, 7)
  })

  it('an autocommit write in flight is not retried: it fails with DatabaseUnavailable, retryable false', async () => {
    // The outcome is taken at once, so the rejection is handled when it comes.
    const outcome = sql`insert into items (id, n) select 'w-1', 1 from pg_sleep(${HOLD_MS / 1000})`
      .execute(db!.kysely)
      .then(
        () => new Error('the write succeeded'),
        (e: unknown) => e,
      )
    await sleep(KILL_AFTER_MS)
    await server!.terminateBackends(DB_NAME)
    const err = await outcome
    assert.ok(err instanceof DatabaseUnavailable, String(err))
    assert.equal(err.detail.dbFailure, 'lost')
    assert.equal(err.detail.retryable, false)
    // The API renders it as 503 with Retry-After, in each API's own body.
    for (const style of ['nova', 'keystone', 'neutron', 'glance'] as const) {
      const fault = renderFault(style, err)
      assert.equal(fault.status, 503, style)
      assert.equal(fault.headers['retry-after'], '5', style)
    }
    assert.deepEqual(JSON.parse(renderFault('nova', err).body).serviceUnavailable.code, 503)
    // The pool dropped the dead client: the next statement works.
    assert.equal((await sql<{ one: number }>`select 1 as one`.execute(db!.kysely)).rows[0]?.one, 1)
  })

  it('a stopped server fails a request with DatabaseUnavailable after the request budget, then recovers', async () => {
    await server!.stop()
    try {
      const started = Date.now()
      const err = await sql`select 1`.execute(db!.kysely).then(
        () => assert.fail('answered with the server stopped'),
        (e: unknown) => e,
      )
      const waitedMs = Date.now() - started
      assert.ok(err instanceof DatabaseUnavailable, String(err))
      assert.equal(err.detail.dbFailure, 'unreachable')
      assert.ok(waitedMs >= REQUEST_WAIT_MS / 2, `retried for ${waitedMs} ms`)
      assert.ok(waitedMs < REQUEST_WAIT_MS + 5_000, `gave up after ${waitedMs} ms`)
    } finally {
      await server!.start()
    }
    assert.equal((await sql<{ one: number }>`select 1 as one`.execute(db!.kysely)).rows[0]?.one, 1)
  })

  it('background work rides out a server restart: a transaction waits for it and commits once', async () => {
    await server!.stop()
    let runs = 0
    const work = runInBackground(() =>
      db!.transaction(async (trx) => {
        runs++
        await sql`insert into items (id, n) values ('bg-1', 1)`.execute(trx)
      }),
    )
    await sleep(REQUEST_WAIT_MS + 500)
    await server!.start()
    await work
    assert.equal(runs, 1, 'BEGIN never reached the server before it came back')
    const rows = await untyped(db!).selectFrom('items').selectAll().where('id', '=', 'bg-1').execute()
    assert.equal(rows.length, 1)
  })

  it('openDatabase waits for a server that starts late', async () => {
    await server!.stop()
    const opening = openDatabase(server!.url(DB_NAME), { waitMs: BACKGROUND_WAIT_MS })
    await sleep(1_000)
    await server!.start()
    const late = await opening
    try {
      assert.equal((await sql<{ one: number }>`select 1 as one`.execute(late.kysely)).rows[0]?.one, 1)
    } finally {
      await late.close()
    }
  })

  it('openDatabase without a wait fails at once on an unreachable server', async () => {
    await server!.stop()
    try {
      await assert.rejects(openDatabase(server!.url(DB_NAME)), DatabaseUnavailable)
    } finally {
      await server!.start()
    }
  })
})

describe('a busy SQLite database (embedded mode)', { timeout: TEST_TIMEOUT_MS }, () => {
  let dir: string
  let db: Database | undefined
  let locker: BetterSqlite3.Database | undefined

  before(async () => {
    // A short busy timeout so SQLITE_BUSY comes quickly; the retry budget is longer.
    setLimits({ dbBusyTimeoutMs: 50, dbRetryRequestWaitMs: REQUEST_WAIT_MS })
    dir = mkdtempSync(join(tmpdir(), 'nimbus-busy-'))
    db = await openDatabase(`sqlite://${join(dir, 'nimbus.db')}`)
    await sql`create table items (id text primary key, n integer not null)`.execute(db.kysely)
    locker = new BetterSqlite3(join(dir, 'nimbus.db'))
  })
  after(async () => {
    setLimits({})
    if (locker?.inTransaction) locker.exec('rollback')
    locker?.close()
    await db?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('a write blocked past the busy timeout fails with DatabaseUnavailable (busy, retryable) after the budget', async () => {
    locker!.exec('begin immediate')
    try {
      const err = await sql`insert into items (id, n) values ('a', 1)`.execute(db!.kysely).then(
        () => assert.fail('wrote through a held lock'),
        (e: unknown) => e,
      )
      assert.ok(err instanceof DatabaseUnavailable, String(err))
      assert.equal(err.detail.dbFailure, 'busy')
      assert.equal(err.detail.retryable, true)
      assert.equal(renderFault('nova', err).status, 503)
    } finally {
      locker!.exec('rollback')
    }
  })

  it('a transaction blocked by another process is retried and commits once the lock is released', async () => {
    locker!.exec('begin immediate')
    let runs = 0
    const work = db!.transaction(async (trx) => {
      runs++
      await sql`insert into items (id, n) values ('b', 1)`.execute(trx)
    })
    await sleep(300)
    locker!.exec('rollback')
    await work
    assert.equal(runs, 1, 'fn ran only once BEGIN IMMEDIATE got the lock')
    const rows = await untyped(db!).selectFrom('items').selectAll().where('id', '=', 'b').execute()
    assert.equal(rows.length, 1)
  })
})
