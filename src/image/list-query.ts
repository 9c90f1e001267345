import { Invalid } from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import type { SortDirection, SortKey } from '../db/paginate.ts'
import { VISIBILITIES, type Visibility } from './model.ts'

/**
 * The query string of `GET /v2/images`, read as Glance reads it: paging
 * (`limit`, `marker`), sorting (`sort_key`/`sort_dir`, or `sort=k:dir,...`),
 * `member_status`, `visibility`, `os_hidden`, `tag` (repeatable), filters on
 * image attributes (with Glance's `in:`/`eq:` and `gt:`/`lte:`... operators
 * where it has them, `size_min`/`size_max` ranges) and, for any other name,
 * an extra property equal to the value.
 */

export type MemberStatusFilter = 'pending' | 'accepted' | 'rejected' | 'all'
export type FilterOp = 'eq' | 'neq' | 'in' | 'gt' | 'gte' | 'lt' | 'lte'

/** A condition on a column of the images table. */
export interface ColumnFilter {
  readonly column: string
  readonly op: FilterOp
  readonly value: string | number | boolean | readonly string[]
}

export interface ListQuery {
  readonly limit: number
  readonly marker: string | undefined
  readonly memberStatus: MemberStatusFilter
  /** undefined: Glance's default visibility rules; 'all': no visibility filter. */
  readonly visibility: Visibility | 'all' | undefined
  readonly osHidden: boolean
  readonly sort: readonly SortKey[]
  readonly filters: readonly ColumnFilter[]
  readonly tags: readonly string[]
  readonly properties: readonly (readonly [string, string])[]
}

export const SORT_KEYS = [
  'name',
  'status',
  'container_format',
  'disk_format',
  'size',
  'id',
  'created_at',
  'updated_at',
]
const DEFAULT_SORT_KEY = 'created_at'
const DEFAULT_SORT_DIR: SortDirection = 'desc'
const MEMBER_STATUS_FILTERS: readonly string[] = ['pending', 'accepted', 'rejected', 'all']

/** Columns filtered with Glance's `in:`/`eq:` operators. */
const OPERATOR_COLUMNS: ReadonlySet<string> = new Set([
  'name',
  'id',
  'status',
  'container_format',
  'disk_format',
])
/** Columns filtered with comparison operators on ISO 8601 times. */
const TIME_COLUMNS: ReadonlySet<string> = new Set(['created_at', 'updated_at'])
const INTEGER_COLUMNS: ReadonlySet<string> = new Set(['size', 'virtual_size', 'min_disk', 'min_ram'])
/** Other columns compared for equality; any other name is an extra property. */
const EQUALITY_COLUMNS: ReadonlySet<string> = new Set(['owner', 'checksum', 'os_hash_algo', 'os_hash_value'])
const TIME_OPS: readonly FilterOp[] = ['eq', 'neq', 'gt', 'gte', 'lt', 'lte']
/** Parameters consumed before the remaining ones become filters. */
const CONTROL_PARAMS: ReadonlySet<string> = new Set([
  'limit',
  'marker',
  'member_status',
  'tag',
  'sort',
  'sort_key',
  'sort_dir',
])

export function parseListQuery(params: URLSearchParams): ListQuery {
  const last = (name: string): string | undefined => params.getAll(name).at(-1)
  const marker = last('marker')
  return {
    limit: parseLimit(last('limit')),
    marker,
    memberStatus: parseMemberStatus(last('member_status') ?? 'accepted'),
    visibility: parseVisibility(last('visibility')),
    osHidden: parseBoolFilter('os_hidden', (last('os_hidden') ?? 'false').toLowerCase()),
    sort: parseSort(params),
    tags: params.getAll('tag').map((t) => t.trim()),
    ...parseFilters(params),
  }
}

function parseLimit(given: string | undefined): number {
  if (given === undefined) return limits.imageListDefaultPageSize
  if (!/^\s*[+-]?\d+\s*$/.test(given)) throw new Invalid('limit param must be an integer')
  const limit = Number(given)
  if (limit < 0) throw new Invalid('limit param must be positive')
  return Math.min(limit, limits.maxPageSize)
}

function parseMemberStatus(given: string): MemberStatusFilter {
  if (!MEMBER_STATUS_FILTERS.includes(given)) throw new Invalid(`Invalid status: ${given}`)
  return given as MemberStatusFilter
}

function parseVisibility(given: string | undefined): Visibility | 'all' | undefined {
  if (!given) return undefined
  if (given !== 'all' && !(VISIBILITIES as readonly string[]).includes(given)) {
    throw new Invalid(`Invalid visibility value: ${given}`)
  }
  return given as Visibility | 'all'
}

function parseBoolFilter(name: string, given: string): boolean {
  if (given !== 'true' && given !== 'false') {
    throw new Invalid(`Invalid value '${given}' for '${name}' filter. Valid values are 'true' or 'false'.`)
  }
  return given === 'true'
}

/**
 * Sort keys as Glance resolves them: the new syntax or the classic one (not
 * both), default `created_at desc`, then `created_at` and `id` appended in
 * the default direction so the order is total.
 */
export function parseSort(params: URLSearchParams): SortKey[] {
  const keys: string[] = []
  const dirs: SortDirection[] = []
  if (params.has('sort')) {
    if (params.has('sort_key') || params.has('sort_dir')) {
      throw new Invalid('Old and new sorting syntax cannot be combined')
    }
    for (const item of (params.getAll('sort').at(-1) ?? '').trim().split(',')) {
      const [key = '', dir = ''] = splitOnce(item, ':')
      keys.push(sortKey(key.trim()))
      dirs.push(sortDir(dir.trim() || DEFAULT_SORT_DIR))
    }
  } else {
    keys.push(...params.getAll('sort_key').map((k) => sortKey(k.trim())))
    dirs.push(...params.getAll('sort_dir').map((d) => sortDir(d.trim())))
    if (dirs.length > 1 && dirs.length !== keys.length) {
      throw new Invalid('Number of sort dirs does not match the number of sort keys')
    }
  }
  if (keys.length === 0) keys.push(DEFAULT_SORT_KEY)
  const defaultDir = dirs.length === 1 ? dirs[0]! : DEFAULT_SORT_DIR
  const sort = keys.map((column, i) => ({ column, direction: dirs[i] ?? defaultDir }))
  for (const column of [DEFAULT_SORT_KEY, 'id']) {
    if (!keys.includes(column)) sort.push({ column, direction: defaultDir })
  }
  return sort
}

function sortKey(key: string): string {
  if (!SORT_KEYS.includes(key)) {
    throw new Invalid(`Invalid sort key: ${key}. It must be one of the following: ${SORT_KEYS.join(', ')}.`)
  }
  return key
}

function sortDir(dir: string): SortDirection {
  if (dir !== 'asc' && dir !== 'desc') throw new Invalid(`Invalid sort direction: ${dir}`)
  return dir
}

function parseFilters(params: URLSearchParams): Pick<ListQuery, 'filters' | 'properties'> {
  const filters: ColumnFilter[] = []
  const properties: [string, string][] = []
  const names = [...new Set(params.keys())].filter((n) => !CONTROL_PARAMS.has(n))
  for (const name of names) {
    const value = params.getAll(name).at(-1)!
    if (name === 'visibility' || name === 'os_hidden') continue
    if (name === 'changes-since')
      throw new Invalid('The "changes-since" filter is no longer available on v2.')
    const filter = columnFilter(name, value)
    if (filter) filters.push(filter)
    else properties.push([name, value])
  }
  return { filters, properties }
}

/** The filter a parameter names on an image column, or undefined for an extra property. */
function columnFilter(name: string, value: string): ColumnFilter | undefined {
  if (name === 'protected') return { column: name, op: 'eq', value: parseBoolFilter(name, value) }
  const range = /^(.*)_(min|max)$/.exec(name)
  if (range && INTEGER_COLUMNS.has(range[1]!)) {
    return { column: range[1]!, op: range[2] === 'min' ? 'gte' : 'lte', value: rangeValue(value) }
  }
  if (OPERATOR_COLUMNS.has(name)) return operatorFilter(name, value)
  if (TIME_COLUMNS.has(name)) return timeFilter(name, value)
  if (INTEGER_COLUMNS.has(name)) return { column: name, op: 'eq', value: integerValue(name, value) }
  if (EQUALITY_COLUMNS.has(name)) return { column: name, op: 'eq', value }
  return undefined
}

function rangeValue(value: string): number {
  if (!/^\s*[+-]?\d+\s*$/.test(value))
    throw new Invalid('Unable to filter on a range with a non-numeric value.')
  return Number(value)
}

function integerValue(name: string, value: string): number {
  if (!/^\s*[+-]?\d+\s*$/.test(value)) throw new Invalid(`Invalid value '${value}' for '${name}' filter.`)
  return Number(value)
}

function operatorFilter(column: string, expression: string): ColumnFilter {
  const [op, value] = splitFilterOp(expression)
  if (op === 'in') return { column, op, value: splitQuotedList(value) }
  if (op === 'eq') return { column, op, value }
  throw new Invalid(`Unable to filter by unknown operator '${op}'.`)
}

function timeFilter(column: string, expression: string): ColumnFilter {
  const [op, value] = splitFilterOp(expression)
  if (!TIME_OPS.includes(op as FilterOp)) throw new Invalid('Unable to filter on a unknown operator.')
  const time = parseIsoTime(value)
  if (time === undefined) {
    throw new Invalid(`Bad "${column}" query filter format. Use ISO 8601 DateTime notation.`)
  }
  return { column, op: op as FilterOp, value: time }
}

/**
 * Glance's split_filter_op: `op:value`, or plain `value` meaning `eq` (an
 * ISO 8601 time is a plain value despite its colons).
 */
function splitFilterOp(expression: string): [string, string] {
  const [left, right] = splitOnce(expression, ':')
  if (right === undefined || parseIsoTime(expression) !== undefined) return ['eq', expression]
  return [left, right]
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator)
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + separator.length)]
}

/** `a,"b,c",d` -> ['a', 'b,c', 'd'] (Glance's split_filter_value_for_quotes). */
export function splitQuotedList(value: string): string[] {
  const out: string[] = []
  let current = ''
  let quoted = false
  for (const ch of value) {
    if (ch === '"') quoted = !quoted
    else if (ch === ',' && !quoted) {
      out.push(current)
      current = ''
    } else current += ch
  }
  if (quoted) throw new Invalid('Invalid filter value: there is an unclosed quotation mark.')
  out.push(current)
  return out
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/

/** An ISO 8601 time as stored (UTC, milliseconds), or undefined when not one. */
export function parseIsoTime(value: string): string | undefined {
  if (!ISO_TIME.test(value)) return undefined
  const hasZone = /(Z|[+-]\d{2}:?\d{2})$/.test(value) && value.includes('T')
  const date = new Date(hasZone || !value.includes('T') ? value : `${value}Z`)
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString()
}
