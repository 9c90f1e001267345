import { sql, type Kysely, type RawBuilder, type SelectQueryBuilder, type SqlBool } from 'kysely'
import { Invalid } from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import { markerNotFound } from './errors.ts'

/**
 * Marker pagination as the OpenStack APIs do it (`?limit=&marker=&sort_key=&sort_dir=`):
 * the page holds the rows that come strictly after the marker row in the
 * requested order. It is keyset pagination, so a page costs the same
 * wherever it is and rows inserted meanwhile neither repeat nor vanish.
 *
 * NULL sorts before every value (as on MySQL, where Nova's behaviour comes
 * from); text compares by bytes on both backends (see migrations/kit.ts),
 * so both give the same pages.
 */

export type SortDirection = 'asc' | 'desc'

/** One sort key: a column of the paginated table. */
export interface SortKey {
  readonly column: string
  readonly direction: SortDirection
}

export interface PageRequest {
  /**
   * The table the query selects from (unaliased) and the marker names a row
   * of. The marker is looked up without the query's filters, as Nova does, so
   * a row that stopped matching a filter between two pages is still a marker.
   */
  readonly table: string
  /** Sort keys, most significant first. The API must check them against its own list. */
  readonly sort?: readonly SortKey[] | undefined
  /** Page size; undefined means `limits.maxPageSize`, larger values are capped to it. */
  readonly limit?: number | undefined
  /** Id of the last row of the previous page. */
  readonly marker?: string | number | undefined
  /** The unique column the marker names; also the last tie-breaker. Default `id`. */
  readonly idColumn?: string | undefined
}

export interface Page<O> {
  readonly items: O[]
  /** True when rows remain after this page (so the API adds a `next` link). */
  readonly hasMore: boolean
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/
const DEFAULT_ID_COLUMN = 'id'
const PG_INVALID_TEXT_REPRESENTATION = '22P02'

/**
 * Returns one page of `query`: the sort keys (then the id column) applied,
 * rows after `marker` only, at most `limit` rows. An unknown marker throws
 * `MarkerNotFound`; a negative or fractional limit, or a malformed column
 * name, throws `Invalid`. `query` must not have its own order by or limit.
 */
export async function paginate<DB, TB extends keyof DB, O>(
  db: Kysely<DB>,
  query: SelectQueryBuilder<DB, TB, O>,
  request: PageRequest,
): Promise<Page<O>> {
  const limit = pageSize(request.limit)
  const keys = sortKeys(request)
  let q = query
  if (request.marker !== undefined) {
    const values = await markerValues(db, request, keys)
    q = q.where(after(request.table, keys, values))
  }
  for (const k of keys) {
    const ref = column(request.table, k.column)
    q = q.orderBy(ref, (ob) => (k.direction === 'asc' ? ob.asc().nullsFirst() : ob.desc().nullsLast()))
  }
  // One row more than asked tells whether another page exists.
  const rows = await q.limit(limit + 1).execute()
  return { items: rows.slice(0, limit), hasMore: rows.length > limit }
}

function pageSize(limit: number | undefined): number {
  if (limit === undefined) return limits.maxPageSize
  if (!Number.isSafeInteger(limit) || limit < 0) throw new Invalid(`limit must be a non-negative integer`)
  return Math.min(limit, limits.maxPageSize)
}

/** The requested keys plus the id column as the final tie-breaker (in the first key's direction). */
function sortKeys(request: PageRequest): readonly SortKey[] {
  const idColumn = request.idColumn ?? DEFAULT_ID_COLUMN
  const keys = request.sort ?? []
  for (const name of [request.table, idColumn, ...keys.map((k) => k.column)]) {
    if (!IDENTIFIER.test(name)) throw new Invalid(`invalid sort key ${name}`)
  }
  for (const k of keys) {
    if (k.direction !== 'asc' && k.direction !== 'desc')
      throw new Invalid(`invalid sort direction ${k.direction}`)
  }
  if (keys.some((k) => k.column === idColumn)) return keys
  return [...keys, { column: idColumn, direction: keys[0]?.direction ?? 'asc' }]
}

async function markerValues(
  db: Kysely<any>,
  request: PageRequest,
  keys: readonly SortKey[],
): Promise<readonly unknown[]> {
  const idColumn = request.idColumn ?? DEFAULT_ID_COLUMN
  const marker = request.marker as string | number
  const columns = sql.join(keys.map((k, i) => sql`${sql.ref(k.column)} as ${sql.ref(`k${i}`)}`))
  const lookup = sql<Record<string, unknown>>`select ${columns} from ${sql.table(request.table)}
    where ${sql.ref(idColumn)} = ${marker}`
  const row = (await lookup.execute(db).catch((err: unknown) => notAnId(err, marker))).rows[0]
  if (!row) throw markerNotFound(marker)
  return keys.map((_, i) => row[`k${i}`] ?? null)
}

/** PostgreSQL refuses `'abc'` for an integer id column: that is an unknown marker too. */
function notAnId(err: unknown, marker: string | number): never {
  if ((err as { code?: unknown } | null)?.code === PG_INVALID_TEXT_REPRESENTATION)
    throw markerNotFound(marker)
  throw err
}

/**
 * Rows strictly after the marker: for keys k1..kn, the disjunction over i of
 * (k1..k(i-1) equal to the marker's) and (ki past the marker's), where
 * "past" and "equal" treat NULL as the smallest value.
 */
function after(table: string, keys: readonly SortKey[], values: readonly unknown[]): RawBuilder<SqlBool> {
  const branches: RawBuilder<unknown>[] = []
  keys.forEach((k, i) => {
    const beyond = past(column(table, k.column), k.direction, values[i])
    if (!beyond) return
    const ties = keys.slice(0, i).map((p, j) => equal(column(table, p.column), values[j]))
    branches.push(sql`(${sql.join([...ties, beyond], sql` and `)})`)
  })
  // The id column is never NULL, so there is always at least one branch.
  return sql<SqlBool>`(${sql.join(branches, sql` or `)})`
}

function past(
  ref: RawBuilder<unknown>,
  direction: SortDirection,
  value: unknown,
): RawBuilder<unknown> | undefined {
  if (direction === 'asc') return value === null ? sql`${ref} is not null` : sql`${ref} > ${value}`
  // Descending with NULLs last: nothing is past a NULL except ties, handled by the next key.
  return value === null ? undefined : sql`(${ref} < ${value} or ${ref} is null)`
}

function equal(ref: RawBuilder<unknown>, value: unknown): RawBuilder<unknown> {
  return value === null ? sql`${ref} is null` : sql`${ref} = ${value}`
}

function column(table: string, name: string): RawBuilder<unknown> {
  return sql.ref(`${table}.${name}`)
}
