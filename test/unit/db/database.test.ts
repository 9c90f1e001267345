import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Kysely, sql } from 'kysely'
import { Conflict, ServiceUnavailable } from '../../../src/common/errors.ts'
import { limits } from '../../../src/common/limits.ts'
import { openDatabase } from '../../../src/db/index.ts'
import { migrateToLatest } from '../../../src/db/migrate.ts'
import { openSqlite, sqliteDialect } from '../../../src/db/sqlite.ts'
import { text } from '../../../src/db/migrations/kit.ts'
import { getService, listServices, registerService, setServiceDisabled } from '../../../src/db/services.ts'
import { DIALECTS, TEST_TIMEOUT_MS, useScratchDatabase } from './backends.ts'

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
/** `pragma synchronous` answers 1 for NORMAL. */
const SQLITE_SYNCHRONOUS_NORMAL = 1
const COMPUTE = { host: 'h1', binary: 'nova-compute', topic: 'compute' }

/** Test-only tables with a foreign key, built with the same kit as real migrations. */
async function createFamily(k: Kysely<any>): Promise<void> {
  await k.schema
    .createTable('parents')
    .addColumn('id', text(k), (c) => c.primaryKey())
    .execute()
  await k.schema
    .createTable('children')
    .addColumn('id', text(k), (c) => c.primaryKey())
    .addColumn('parent_id', text(k), (c) => c.notNull().references('parents.id'))
    .execute()
}

for (const dialect of DIALECTS) {
  describe(`database on ${dialect}`, { timeout: TEST_TIMEOUT_MS }, () => {
    const db = useScratchDatabase(dialect, async (d) => {
      await migrateToLatest(d)
      await createFamily(d.kysely as unknown as Kysely<any>)
    })
    const untyped = () => db().kysely as unknown as Kysely<any>

    it('reports its dialect', () => {
      assert.equal(db().dialect, dialect)
    })

    it('reads booleans back as JS booleans and timestamps as ISO-8601 UTC strings', async () => {
      const created = await registerService(db().kysely, COMPUTE)
      assert.equal(created.disabled, false)
      assert.equal(created.forced_down, false)
      assert.match(created.created_at, ISO_UTC)
      const disabled = await setServiceDisabled(db().kysely, { id: created.id }, true, 'maintenance')
      assert.equal(disabled.disabled, true)
      assert.match(disabled.updated_at ?? '', ISO_UTC)
      const read = await getService(db().kysely, { id: created.id })
      assert.equal(read.disabled, true)
      assert.equal(typeof read.id, 'number')
      assert.equal(typeof read.report_count, 'number')
      // A boolean bound as a parameter compares the same way on both backends.
      const found = await db()
        .kysely.selectFrom('services')
        .select('id')
        .where('disabled', '=', true)
        .execute()
      assert.deepEqual(found, [{ id: created.id }])
      // Raw SQL over a stored column converts as well.
      const raw = await sql<{
        disabled: unknown
      }>`select disabled from services where id = ${created.id}`.execute(db().kysely)
      assert.deepEqual(raw.rows, [{ disabled: true }])
    })

    it('reads counts back as numbers', async () => {
      const row = await db()
        .kysely.selectFrom('services')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
      assert.equal(typeof row.n, 'number')
    })

    it('turns a unique violation into Conflict', async () => {
      const k = db().kysely
      const row = { uuid: 'not-reused', host: 'dup', binary: 'nova-conductor', topic: null, created_at: 'x' }
      await k.insertInto('services').values(row).execute()
      await assert.rejects(
        k
          .insertInto('services')
          .values({ ...row, uuid: 'other' })
          .execute(),
        (err: unknown) => {
          assert.ok(err instanceof Conflict, String(err))
          assert.equal(err.detail.dbError, 'unique_violation')
          assert.match(err.message, /host/)
          return true
        },
      )
    })

    it('turns a foreign-key violation into Conflict, on insert and on delete', async () => {
      const k = untyped()
      const isFkConflict = (err: unknown) =>
        err instanceof Conflict && err.detail.dbError === 'foreign_key_violation'
      await assert.rejects(
        k.insertInto('children').values({ id: 'c1', parent_id: 'missing' }).execute(),
        isFkConflict,
      )
      await k.insertInto('parents').values({ id: 'p1' }).execute()
      await k.insertInto('children').values({ id: 'c2', parent_id: 'p1' }).execute()
      await assert.rejects(k.deleteFrom('parents').where('id', '=', 'p1').execute(), isFkConflict)
    })

    it('commits a transaction and returns its result', async () => {
      const id = await db().transaction(async (trx) => {
        const row = await registerService(trx, {
          host: 'tx-ok',
          binary: 'nova-scheduler',
          topic: 'scheduler',
        })
        return row.id
      })
      assert.equal((await getService(db().kysely, { id })).host, 'tx-ok')
    })

    it('rolls back everything when the transaction throws', async () => {
      const boom = new Error('boom')
      await assert.rejects(
        db().transaction(async (trx) => {
          await registerService(trx, { host: 'tx-fail', binary: 'nova-compute', topic: 'compute' })
          await (trx as unknown as Kysely<any>).insertInto('parents').values({ id: 'tx-parent' }).execute()
          throw boom
        }),
        (err) => err === boom,
      )
      assert.deepEqual(await listServices(db().kysely, { host: 'tx-fail' }), [])
      assert.deepEqual(
        await untyped().selectFrom('parents').selectAll().where('id', '=', 'tx-parent').execute(),
        [],
      )
    })

    it('rolls back when a statement in the transaction violates a constraint', async () => {
      await assert.rejects(
        db().transaction(async (trx) => {
          await (trx as unknown as Kysely<any>).insertInto('parents').values({ id: 'tx-p2' }).execute()
          await (trx as unknown as Kysely<any>).insertInto('parents').values({ id: 'tx-p2' }).execute()
        }),
        Conflict,
      )
      assert.deepEqual(
        await untyped().selectFrom('parents').selectAll().where('id', '=', 'tx-p2').execute(),
        [],
      )
    })

    if (dialect === 'postgres') {
      it('bounds every statement with limits.dbStatementTimeoutMs', async () => {
        const { rows } = await sql<{ ms: number }>`select setting::int as ms from pg_settings
          where name = 'statement_timeout'`.execute(db().kysely)
        assert.deepEqual(rows, [{ ms: limits.dbStatementTimeoutMs }])
      })

      it('reports an unreachable server as ServiceUnavailable without the password', async () => {
        const url = 'postgresql://nimbus:s3cret-pw@127.0.0.1:1/nimbus'
        await assert.rejects(openDatabase(url), (err: unknown) => {
          assert.ok(err instanceof ServiceUnavailable, String(err))
          assert.match(err.message, /127\.0\.0\.1:1/)
          assert.doesNotMatch(err.message, /s3cret-pw/)
          return true
        })
      })

      it('reports a missing database as ServiceUnavailable naming it', async () => {
        const url = new URL(db().url)
        url.pathname = '/nimbus_no_such_database'
        await assert.rejects(openDatabase(url.toString()), (err: unknown) => {
          assert.ok(err instanceof ServiceUnavailable, String(err))
          assert.match(err.message, /nimbus_no_such_database/)
          return true
        })
      })
    }

    if (dialect === 'sqlite') {
      it('creates the parent directory and opens the file in WAL mode with foreign keys on', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'nimbus-db-'))
        try {
          const file = await openDatabase(`sqlite://${join(dir, 'a', 'b', 'nimbus.db')}`)
          try {
            const pragma = async (name: string) =>
              Object.values(
                (await sql.raw<Record<string, unknown>>(`pragma ${name}`).execute(file.kysely)).rows[0]!,
              )[0]
            assert.equal(await pragma('journal_mode'), 'wal')
            assert.equal(await pragma('foreign_keys'), 1)
            assert.equal(await pragma('busy_timeout'), limits.dbBusyTimeoutMs)
            assert.equal(await pragma('synchronous'), SQLITE_SYNCHRONOUS_NORMAL)
          } finally {
            await file.close()
          }
        } finally {
          rmSync(dir, { recursive: true, force: true })
        }
      })

      it('reuses prepared statements, and reads a column added by a schema change with its type', async () => {
        const k = untyped()
        await k.schema
          .createTable('cache_probe')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .execute()
        for (let id = 1; id <= 3; id++) await k.insertInto('cache_probe').values({ id }).execute()
        const all = () => k.selectFrom('cache_probe').selectAll().orderBy('id').execute()
        assert.deepEqual(await all(), [{ id: 1 }, { id: 2 }, { id: 3 }])
        assert.deepEqual(await all(), [{ id: 1 }, { id: 2 }, { id: 3 }])
        // The cached `select *` must not keep the old column list or miss the new boolean.
        await k.schema
          .alterTable('cache_probe')
          .addColumn('flag', 'boolean', (c) => c.notNull().defaultTo(true))
          .execute()
        assert.deepEqual(await all(), [
          { id: 1, flag: true },
          { id: 2, flag: true },
          { id: 3, flag: true },
        ])
        await k.schema.dropTable('cache_probe').execute()
      })

      it('prepares a statement once, and again only after limits.dbStatementCacheEntries others', async () => {
        const handle = openSqlite(':memory:')
        const prepared: string[] = []
        const prepare = handle.prepare.bind(handle)
        handle.prepare = ((text: string) => {
          prepared.push(text)
          return prepare(text)
        }) as typeof handle.prepare
        const k = new Kysely<any>({ dialect: sqliteDialect(handle) })
        const saved = limits.dbStatementCacheEntries
        limits.dbStatementCacheEntries = 2
        try {
          const select = async (n: number) =>
            (await sql<{ n: number }>`select ${sql.raw(String(n))} as n`.execute(k)).rows
          assert.deepEqual(await select(1), [{ n: 1 }])
          assert.deepEqual(await select(1), [{ n: 1 }])
          assert.equal(prepared.length, 1)
          assert.deepEqual(await select(2), [{ n: 2 }])
          assert.deepEqual(await select(1), [{ n: 1 }])
          assert.equal(prepared.length, 2, '1 was used last: 2 and 1 are cached')
          assert.deepEqual(await select(3), [{ n: 3 }])
          assert.deepEqual(await select(1), [{ n: 1 }])
          assert.equal(prepared.length, 3, 'the least recently used (2) went, not 1')
          assert.deepEqual(await select(2), [{ n: 2 }])
          assert.equal(prepared.length, 4)
        } finally {
          limits.dbStatementCacheEntries = saved
          await k.destroy()
        }
      })

      it('reports a file it cannot create as ServiceUnavailable', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'nimbus-db-'))
        try {
          // A parent "directory" that is a plain file cannot be created or entered.
          const blocker = join(dir, 'not-a-directory')
          writeFileSync(blocker, '')
          await assert.rejects(openDatabase(`sqlite://${join(blocker, 'nimbus.db')}`), ServiceUnavailable)
        } finally {
          rmSync(dir, { recursive: true, force: true })
        }
      })
    }
  })
}
