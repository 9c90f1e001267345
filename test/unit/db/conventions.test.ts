import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { sql } from 'kysely'
import type { Database } from '../../../src/db/index.ts'
import { migrateToLatest } from '../../../src/db/migrate.ts'
import { DIALECTS, TEST_TIMEOUT_MS, useScratchDatabase } from './backends.ts'

/**
 * The column conventions of docs/storage.md, checked on the real schema after
 * every migration, so a new table that breaks them fails here rather than
 * behaving differently on one backend in production.
 */

/** The only column types migrations may use (see src/db/migrations/kit.ts). */
const ALLOWED_TYPES: ReadonlySet<string> = new Set([
  'text',
  'integer',
  'bigint',
  'boolean',
  'double precision',
])

interface ColumnInfo {
  readonly table: string
  readonly column: string
  readonly type: string
  /** PostgreSQL only. */
  readonly collation: string | null
}

async function columns(db: Database): Promise<ColumnInfo[]> {
  const query =
    db.dialect === 'postgres'
      ? sql<ColumnInfo>`select table_name as "table", column_name as "column", data_type as "type",
          collation_name as "collation"
          from information_schema.columns where table_schema = current_schema()`
      : sql<ColumnInfo>`select m.name as "table", p.name as "column", lower(p.type) as "type", null as "collation"
          from sqlite_master m join pragma_table_info(m.name) p
          where m.type = 'table' and m.name not like 'sqlite_%'`
  const { rows } = await query.execute(db.kysely)
  // Kysely's own bookkeeping tables are not ours to shape.
  return rows.filter((c) => !c.table.startsWith('kysely_'))
}

const describeColumn = (c: ColumnInfo) => `${c.table}.${c.column} (${c.type})`

for (const dialect of DIALECTS) {
  describe(`schema conventions on ${dialect}`, { timeout: TEST_TIMEOUT_MS }, () => {
    const db = useScratchDatabase(dialect, async (d) => {
      await migrateToLatest(d)
    })

    it('uses only the portable column types', async () => {
      const cols = await columns(db())
      assert.ok(cols.some((c) => c.table === 'services'))
      const bad = cols.filter((c) => !ALLOWED_TYPES.has(c.type)).map(describeColumn)
      assert.deepEqual(bad, [], 'use text(db), boolean, integer, bigint or double precision')
    })

    it('stores timestamps (columns named *_at) as text', async () => {
      const bad = (await columns(db())).filter((c) => c.column.endsWith('_at') && c.type !== 'text')
      assert.deepEqual(bad.map(describeColumn), [])
    })

    it('gives every primary key column named id the type text or integer', async () => {
      const bad = (await columns(db())).filter(
        (c) => c.column === 'id' && !['text', 'integer'].includes(c.type),
      )
      assert.deepEqual(bad.map(describeColumn), [])
    })

    if (dialect === 'postgres') {
      it('compares every text column by bytes (collation "C"), as SQLite does', async () => {
        const bad = (await columns(db())).filter((c) => c.type === 'text' && c.collation !== 'C')
        assert.deepEqual(bad.map(describeColumn), [], 'declare text columns with text(db)')
      })
    }
  })
}
