import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Kysely } from 'kysely'
import { Invalid, NotFound } from '../../../src/common/errors.ts'
import { LIMIT_DEFAULTS, limits, setLimits } from '../../../src/common/limits.ts'
import { MarkerNotFound } from '../../../src/db/errors.ts'
import { migrateToLatest } from '../../../src/db/migrate.ts'
import { text } from '../../../src/db/migrations/kit.ts'
import { paginate, type PageRequest, type SortKey } from '../../../src/db/paginate.ts'
import { registerService } from '../../../src/db/services.ts'
import { DIALECTS, TEST_TIMEOUT_MS, useScratchDatabase } from './backends.ts'

interface Widget {
  readonly id: string
  readonly name: string
  readonly size: number | null
  readonly shiny: boolean
}

/** Ties, NULLs and mixed case on purpose: the cases where backends tend to differ. */
const WIDGETS: readonly Widget[] = [
  { id: 'w01', name: 'apple', size: 3, shiny: true },
  { id: 'w02', name: 'Banana', size: null, shiny: false },
  { id: 'w03', name: 'apple', size: 1, shiny: false },
  { id: 'w04', name: 'cherry', size: 3, shiny: true },
  { id: 'w05', name: 'Zed', size: null, shiny: true },
  { id: 'w06', name: '_under', size: 2, shiny: false },
  { id: 'w07', name: 'banana', size: 2, shiny: true },
  { id: 'w08', name: 'apple', size: null, shiny: true },
  { id: 'w09', name: 'éclair', size: 5, shiny: false },
  { id: 'w10', name: 'cherry', size: 1, shiny: false },
  { id: 'w11', name: 'Apple', size: 3, shiny: true },
  { id: 'w12', name: 'date', size: 4, shiny: false },
]

const ORDERS: readonly (readonly SortKey[])[] = [
  [],
  [{ column: 'id', direction: 'desc' }],
  [{ column: 'name', direction: 'asc' }],
  [{ column: 'name', direction: 'desc' }],
  [{ column: 'size', direction: 'asc' }],
  [{ column: 'size', direction: 'desc' }],
  [{ column: 'shiny', direction: 'desc' }],
  [
    { column: 'name', direction: 'asc' },
    { column: 'size', direction: 'desc' },
  ],
  [
    { column: 'size', direction: 'desc' },
    { column: 'name', direction: 'asc' },
  ],
  [
    { column: 'shiny', direction: 'asc' },
    { column: 'size', direction: 'asc' },
    { column: 'name', direction: 'desc' },
  ],
]

/** Byte order of UTF-8 text, as SQLite and PostgreSQL's "C" collation compare. */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

/** The order paginate promises: NULL first, text by bytes, the id as the last tie-breaker. */
function expectedOrder(keys: readonly SortKey[]): string[] {
  const all: readonly SortKey[] = keys.some((k) => k.column === 'id')
    ? keys
    : [...keys, { column: 'id', direction: keys[0]?.direction ?? 'asc' }]
  const cmp = (a: Widget, b: Widget): number => {
    for (const k of all) {
      const x = a[k.column as keyof Widget]
      const y = b[k.column as keyof Widget]
      let c = 0
      if (x === null || y === null) c = x === y ? 0 : x === null ? -1 : 1
      else if (typeof x === 'string' && typeof y === 'string') c = compareBytes(x, y)
      else c = Number(x) - Number(y)
      if (c !== 0) return k.direction === 'asc' ? c : -c
    }
    return 0
  }
  return [...WIDGETS].sort(cmp).map((w) => w.id)
}

for (const dialect of DIALECTS) {
  describe(`paginate on ${dialect}`, { timeout: TEST_TIMEOUT_MS }, () => {
    const db = useScratchDatabase(dialect, async (d) => {
      const k = d.kysely as unknown as Kysely<any>
      await migrateToLatest(d)
      await k.schema
        .createTable('widgets')
        .addColumn('id', text(k), (c) => c.primaryKey())
        .addColumn('name', text(k), (c) => c.notNull())
        .addColumn('size', 'integer')
        .addColumn('shiny', 'boolean', (c) => c.notNull())
        .execute()
      await k
        .insertInto('widgets')
        .values([...WIDGETS])
        .execute()
    })
    const k = () => db().kysely as unknown as Kysely<any>
    const widgets = () => k().selectFrom('widgets').selectAll()
    const page = (request: Omit<PageRequest, 'table'>, query = widgets()) =>
      paginate(k(), query, { table: 'widgets', ...request })

    /** Follows markers to the end and returns the ids in the order served. */
    async function walk(sort: readonly SortKey[], limit: number): Promise<string[]> {
      const ids: string[] = []
      let marker: string | undefined
      for (let pages = 0; pages <= WIDGETS.length; pages++) {
        const p = await page({ sort, limit, marker })
        ids.push(...p.items.map((w) => w.id as string))
        if (!p.hasMore) return ids
        marker = ids.at(-1)
      }
      throw new Error('pagination did not end')
    }

    it('returns every row in id order when nothing is asked', async () => {
      const p = await page({})
      assert.deepEqual(
        p.items.map((w) => w.id),
        expectedOrder([]),
      )
      assert.equal(p.hasMore, false)
      assert.equal(typeof p.items[0]!.shiny, 'boolean')
    })

    it('stops at the limit and says more rows remain', async () => {
      const p = await page({ limit: 3 })
      assert.deepEqual(
        p.items.map((w) => w.id),
        ['w01', 'w02', 'w03'],
      )
      assert.equal(p.hasMore, true)
    })

    it('starts after the marker, excluding the marker row', async () => {
      const p = await page({ limit: 2, marker: 'w03' })
      assert.deepEqual(
        p.items.map((w) => w.id),
        ['w04', 'w05'],
      )
    })

    for (const sort of ORDERS) {
      const label = sort.map((k) => `${k.column} ${k.direction}`).join(', ') || 'default'
      it(`walks every page in the same order as one query: ${label}`, async () => {
        const expected = expectedOrder(sort)
        const whole = await page({ sort })
        assert.deepEqual(
          whole.items.map((w) => w.id),
          expected,
        )
        for (const limit of [1, 2, 5]) assert.deepEqual(await walk(sort, limit), expected, `limit ${limit}`)
      })
    }

    it('applies the query filters, and still accepts a marker the filters exclude', async () => {
      const shiny = widgets().where('shiny', '=', true)
      const p = await page({ sort: [{ column: 'name', direction: 'asc' }], marker: 'w03' }, shiny)
      // w03 ('apple', not shiny) sorts between w01 and w08 (both 'apple'), after 'Apple' and 'Zed'.
      const all = expectedOrder([{ column: 'name', direction: 'asc' }])
      const isShiny = new Set(WIDGETS.filter((w) => w.shiny).map((w) => w.id))
      const expected = all.slice(all.indexOf('w03') + 1).filter((id) => isShiny.has(id))
      assert.deepEqual(expected, ['w08', 'w07', 'w04'])
      assert.deepEqual(
        p.items.map((w) => w.id),
        expected,
      )
    })

    it('answers MarkerNotFound, a NotFound, for an unknown marker', async () => {
      await assert.rejects(page({ marker: 'no-such-widget' }), (err: unknown) => {
        assert.ok(err instanceof MarkerNotFound && err instanceof NotFound)
        assert.equal(err.message, 'marker [no-such-widget] not found')
        return true
      })
    })

    it('answers MarkerNotFound for a marker that cannot be an integer id', async () => {
      const s = await registerService(db().kysely, { host: 'p1', binary: 'nova-compute', topic: 'compute' })
      const services = db().kysely.selectFrom('services').selectAll()
      await assert.rejects(
        paginate(db().kysely, services, { table: 'services', marker: 'abc' }),
        MarkerNotFound,
      )
      const byUuid = await paginate(db().kysely, services, {
        table: 'services',
        idColumn: 'uuid',
        marker: s.uuid,
      })
      assert.deepEqual(byUuid.items, [])
    })

    it('returns an empty page for limit 0 and refuses a negative or fractional limit', async () => {
      const p = await page({ limit: 0 })
      assert.deepEqual(p.items, [])
      assert.equal(p.hasMore, true)
      await assert.rejects(page({ limit: -1 }), Invalid)
      await assert.rejects(page({ limit: 1.5 }), Invalid)
    })

    it('refuses malformed sort keys and directions', async () => {
      await assert.rejects(
        page({ sort: [{ column: 'name; drop table widgets', direction: 'asc' }] }),
        Invalid,
      )
      await assert.rejects(page({ sort: [{ column: 'name', direction: 'sideways' as 'asc' }] }), Invalid)
    })

    describe('with a small maximum page size', () => {
      const MAX_PAGE_SIZE = 4
      const saved = { ...limits }
      before(() => setLimits({ ...saved, maxPageSize: MAX_PAGE_SIZE }))
      after(() => setLimits(saved))

      it('caps the limit, and uses the maximum when no limit is given', async () => {
        assert.equal(limits.maxPageSize, MAX_PAGE_SIZE)
        assert.equal((await page({ limit: 100 })).items.length, MAX_PAGE_SIZE)
        assert.equal((await page({})).items.length, MAX_PAGE_SIZE)
        assert.equal((await page({ limit: 2 })).items.length, 2)
      })
    })

    it('restores the maximum afterwards', () => {
      assert.equal(limits.maxPageSize, LIMIT_DEFAULTS.maxPageSize)
    })
  })
}
