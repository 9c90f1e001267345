import { limits } from '../../common/limits.ts'
import type { Doc } from '../store.ts'
import { badRequest } from '../errors.ts'

/**
 * Neutron's list semantics over visible documents: attribute filters
 * (`?name=a&name=b` is "a or b"), `fields=`, `sort_key`/`sort_dir` pairs,
 * and `limit`/`marker`/`page_reverse` with `<collection>_links`.
 */
export type Query = Readonly<Record<string, unknown>>

/** Query keys that are not attribute filters. */
const RESERVED = new Set(['fields', 'sort_key', 'sort_dir', 'limit', 'marker', 'page_reverse', 'verbose'])

export function values(query: Query, key: string): string[] {
  const v = query[key]
  if (v === undefined) return []
  return (Array.isArray(v) ? v : [v]).map(String)
}

/** Keeps the documents that match every filter in the query. */
export function applyFilters(docs: readonly Doc[], query: Query, ignore: readonly string[] = []): Doc[] {
  const filters = Object.keys(query).filter((k) => !RESERVED.has(k) && !ignore.includes(k))
  return docs.filter((doc) => filters.every((key) => matches(doc, key, values(query, key))))
}

function matches(doc: Doc, key: string, wanted: readonly string[]): boolean {
  if (key === 'fixed_ips') return wanted.every((w) => matchesFixedIp(doc, w))
  if (!(key in doc)) return true
  const actual = doc[key]
  return wanted.some((w) => same(actual, w))
}

function same(actual: unknown, wanted: string): boolean {
  if (Array.isArray(actual)) return actual.some((a) => same(a, wanted))
  if (typeof actual === 'boolean') return String(actual) === wanted.toLowerCase()
  if (actual === null) return wanted === '' || wanted === 'None'
  if (typeof actual === 'object') return false
  return String(actual) === wanted
}

/** `fixed_ips=ip_address=192.0.2.5` or `fixed_ips=subnet_id=...`. */
function matchesFixedIp(doc: Doc, filter: string): boolean {
  const [k, v] = filter.split('=', 2) as [string, string | undefined]
  const ips = (doc.fixed_ips ?? []) as Record<string, string>[]
  return ips.some(
    (ip) => ip[k] === v || (k === 'ip_address_substr' && v !== undefined && ip.ip_address?.includes(v)),
  )
}

/** Applies `fields=`: only the named attributes (always at least one). */
export function selectFields(doc: Record<string, unknown>, query: Query): Record<string, unknown> {
  const fields = values(query, 'fields')
  if (fields.length === 0) return doc
  return Object.fromEntries(fields.filter((f) => f in doc).map((f) => [f, doc[f]]))
}

export interface ListPage {
  readonly items: Doc[]
  readonly links: { href: string; rel: string }[]
}

/** Sorts, then cuts the page after `marker`; links as Neutron writes them. */
export function paginate(docs: readonly Doc[], query: Query, collectionUrl: string): ListPage {
  const sorted = sortDocs(docs, query)
  const limit = parseLimit(query)
  const marker = values(query, 'marker')[0]
  const reverse = /^true$/i.test(values(query, 'page_reverse')[0] ?? '')
  const ordered = reverse ? [...sorted].reverse() : sorted
  let start = 0
  if (marker !== undefined) {
    const at = ordered.findIndex((d) => d.id === marker)
    if (at < 0) throw badRequest(`Marker ${marker} could not be found.`)
    start = at + 1
  }
  const end = limit === undefined ? ordered.length : Math.min(start + limit, ordered.length)
  let items = ordered.slice(start, end)
  if (reverse) items = items.reverse()
  // Neutron's get_pagination_links: a page shorter than the limit is the last one in its
  // direction; otherwise there is a link onwards, even if the page it leads to is empty.
  // An empty page still links back (without a marker: the last page, reversed).
  const links: { href: string; rel: string }[] = []
  if (limit === undefined) return { items, links }
  const href = (m: string | undefined, back: boolean) =>
    `${collectionUrl}?${linkQuery(query, {
      limit: String(limit),
      ...(m !== undefined ? { marker: m } : {}),
      ...(back ? { page_reverse: 'True' } : {}),
    })}`
  if (!(items.length < limit && !reverse)) links.push({ href: href(items.at(-1)?.id, false), rel: 'next' })
  if (!(items.length < limit && reverse)) links.push({ href: href(items[0]?.id, true), rel: 'previous' })
  return { items, links }
}

function linkQuery(query: Query, extra: Record<string, string>): string {
  const params = new URLSearchParams()
  for (const key of Object.keys(query)) {
    if (key === 'limit' || key === 'marker' || key === 'page_reverse') continue
    for (const v of values(query, key)) params.append(key, v)
  }
  for (const [k, v] of Object.entries(extra)) params.append(k, v)
  return params.toString()
}

function parseLimit(query: Query): number | undefined {
  const text = values(query, 'limit')[0]
  if (text === undefined) return undefined
  const n = Number(text)
  if (!Number.isInteger(n) || n < 0)
    throw badRequest(`Limit must be an integer 0 or greater and not '${text}'`)
  if (n === 0) return undefined
  return Math.min(n, limits.maxPageSize)
}

function sortDocs(docs: readonly Doc[], query: Query): Doc[] {
  const keys = values(query, 'sort_key')
  const dirs = values(query, 'sort_dir')
  if (dirs.length > 0 && dirs.length !== keys.length) {
    throw badRequest('The number of sort_keys and sort_dirs must be same')
  }
  for (const d of dirs) if (d !== 'asc' && d !== 'desc') throw badRequest(`Sort direction ${d} is invalid`)
  const spec = keys.map((k, i) => ({ key: k, dir: dirs[i] === 'desc' ? -1 : 1 }))
  if (!spec.some((s) => s.key === 'id')) spec.push({ key: 'id', dir: spec[0]?.dir ?? 1 })
  return [...docs].sort((a, b) => {
    for (const s of spec) {
      const c = compare(a[s.key], b[s.key])
      if (c !== 0) return c * s.dir
    }
    return 0
  })
}

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0
  if (a === null || a === undefined) return -1
  if (b === null || b === undefined) return 1
  if (typeof a === 'number' && typeof b === 'number') return a - b
  const x = String(a)
  const y = String(b)
  return x < y ? -1 : x > y ? 1 : 0
}
