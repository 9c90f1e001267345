import type { RequestContext } from '../../common/context.ts'
import { Forbidden, Invalid } from '../../common/errors.ts'
import type { SortKey } from '../../db/paginate.ts'
import { userPatterns, toRe2Syntax, type ScanCell } from '../../common/user-regex.ts'
import type { InstanceFilter } from '../db/instances.ts'
import type { Instance } from '../objects.ts'
import type { ComputePolicy } from '../policy.ts'
import { statesFromStatus } from '../states.ts'
import { boolFromString, idFromHref, last, limitAndMarker, type ComputeRequest } from './common.ts'
import { IGNORED_SORT_KEYS, IGNORED_SORT_KEYS_V273, JOINED_TABLE_QUERY_PARAMS } from './schemas/servers.ts'
import { parseIsoTime, regexFormatError } from './validation.ts'

/**
 * `GET /servers[/detail]` query handling, as Nova's `_get_servers` and
 * `compute.api.get_all` do it: which filters a non-admin may use at each
 * microversion, status to states, deleted rows, all_tenants, tags, sort
 * keys, and the filters that match by regular expression.
 */

const TAG_FILTERS = ['tags', 'tags-any', 'not-tags', 'not-tags-any'] as const
const PAGING_SORTING_PARAMS = ['sort_key', 'sort_dir', 'limit', 'marker']
/** Sort keys only admins may use. */
const ADMIN_ONLY_SORT_KEYS = ['host', 'node']

/** Filters a non-admin may use at `mv` (Nova's `_get_server_search_options`). */
function allowedOptions(req: ComputeRequest): Set<string> {
  const opts = ['reservation_id', 'name', 'status', 'image', 'flavor', 'ip', 'changes-since', 'all_tenants']
  const mv = req.mv
  if (mv.atLeast('2.5')) opts.push('ip6')
  if (mv.atLeast('2.26')) opts.push(...TAG_FILTERS)
  if (mv.atLeast('2.66')) opts.push('changes-before')
  if (mv.atLeast('2.73')) opts.push('locked')
  if (mv.atLeast('2.83')) {
    opts.push(
      'availability_zone',
      'config_drive',
      'key_name',
      'created_at',
      'launched_at',
      'terminated_at',
      'power_state',
      'task_state',
      'vm_state',
      'progress',
      'user_id',
    )
  }
  if (mv.atLeast('2.90')) opts.push('hostname')
  return new Set(opts)
}

/** Regex filters: query name -> instances column (Nova matches them with REGEXP). */
const REGEX_COLUMNS: Readonly<Record<string, string>> = {
  name: 'display_name',
  display_name: 'display_name',
  description: 'display_description',
  display_description: 'display_description',
  hostname: 'hostname',
  key_name: 'key_name',
  power_state: 'power_state',
  node: 'node',
  reservation_id: 'reservation_id',
  launched_at: 'launched_at',
  terminated_at: 'terminated_at',
  created_at: 'created_at',
  availability_zone: 'availability_zone',
  locked_by: 'locked_by',
  root_device_name: 'root_device_name',
  config_drive: 'config_drive',
  access_ip_v4: 'access_ip_v4',
  access_ip_v6: 'access_ip_v6',
  auto_disk_config: 'auto_disk_config',
  progress: 'progress',
  kernel_id: 'kernel_id',
  ramdisk_id: 'ramdisk_id',
  launch_index: 'launch_index',
}

export interface ServerListQuery {
  readonly filter: InstanceFilter
  readonly sort: readonly SortKey[]
  readonly limit: number
  readonly marker: string | undefined
  /** True when the list is empty whatever the database holds (an unknown status before 2.38). */
  readonly empty: boolean
  /** The `flavor` filter, which must name an existing flavor (else the list is empty, as in Nova). */
  readonly flavorId: string | undefined
  /** True when the filter needs `addressesOf` (the `ip`/`ip6` filters). */
  readonly needsAddresses: boolean
}

/** One regex filter: the query key and value it came from, and what it tests. */
interface RegexFilter {
  readonly key: string
  readonly value: string
  /** RE2 syntax (see common/user-regex.ts). */
  readonly re2: string
  /** An instances column, or the fixed addresses of one IP version. */
  readonly target: { readonly column: string } | { readonly ipVersion: 4 | 6 }
}

/**
 * Turns the query of a server list into a database filter and page.
 * `addressesOf(instance, version)` backs the `ip`/`ip6` filters; it is
 * called only when `needsAddresses` says so. Regex filters are checked
 * (RE2 must compile them: 400 otherwise) before anything is read.
 */
export async function parseServerListQuery(
  req: ComputeRequest,
  policy: PolicyLike,
  ctx: RequestContext,
  isDetail: boolean,
  addressesOf: (instance: Instance, version: 4 | 6) => readonly string[],
): Promise<ServerListQuery> {
  const opts = searchOptions(req, policy, ctx)
  for (const key of Object.keys(opts)) {
    if (JOINED_TABLE_QUERY_PARAMS.includes(key) || key.startsWith('_')) {
      throw new Invalid(`Invalid filter field: ${key}.`)
    }
  }
  const filter: Mutable<InstanceFilter> = {}
  const regex: RegexFilter[] = []
  let empty = false
  if ('status' in opts) {
    const states = statesFromStatus(req.query.status ?? [])
    if (states.vmStates.length === 0) {
      if (req.mv.atLeast('2.38')) throw new Invalid('Invalid status value')
      empty = true
    }
    filter.vmStates = states.vmStates
    if (!states.taskStates.includes('default')) filter.taskStates = states.taskStates
    delete opts.status
  }
  parseChanges(opts, filter)
  parseDeleted(opts, filter, ctx)
  parseTags(req, opts, filter)
  const allTenants = parseAllTenants(opts)
  if (allTenants) {
    policy.authorize(ctx, `os_compute_api:servers:${isDetail ? 'detail' : 'index'}:get_all_tenants`)
    if (opts.tenant_id !== undefined) filter.projectId = opts.tenant_id
  } else if (ctx.projectId) {
    filter.projectId = ctx.projectId
  } else {
    filter.userId = ctx.userId
  }
  delete opts.tenant_id
  if ('locked' in opts) {
    const locked = boolFromString(opts.locked, true)
    if (locked === undefined)
      throw new Invalid(
        `Unrecognized value '${opts.locked}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'`,
      )
    filter.locked = locked
    delete opts.locked
  }
  const flavorId = applyExactAndRegex(opts, filter, regex, allTenants)
  for (const [key, version] of [
    ['ip', 4],
    ['ip6', 6],
  ] as const) {
    if (opts[key] !== undefined) regex.push(regexFilter(key, opts[key]!, { ipVersion: version }))
  }
  const { limit, marker } = limitAndMarker(req)
  const sort = sortKeys(req, ctx)
  if (regex.length) filter.scan = await regexScan(regex, addressesOf)
  const needsAddresses = regex.some((r) => 'ipVersion' in r.target)
  return { filter, sort, limit, marker, empty, flavorId, needsAddresses }
}

function regexFilter(key: string, value: string, target: RegexFilter['target']): RegexFilter {
  try {
    return { key, value, re2: toRe2Syntax(value), target }
  } catch {
    throw regexFormatError(key, value)
  }
}

/**
 * The scan that applies `filters` (all must match, as Nova's AND of
 * filters). Each pattern is first compiled by the pattern worker: one that
 * RE2 refuses is a 400 as from the schema's 'regex' format.
 */
async function regexScan(
  filters: readonly RegexFilter[],
  addressesOf: (instance: Instance, version: 4 | 6) => readonly string[],
): Promise<NonNullable<InstanceFilter['scan']>> {
  const patterns = filters.map((f) => f.re2)
  const errors = await userPatterns.check(patterns)
  const bad = errors.findIndex((e) => e !== null)
  if (bad >= 0) throw regexFormatError(filters[bad]!.key, filters[bad]!.value)
  return (rows, instances) =>
    userPatterns.matchRows(
      patterns,
      rows.map((row, i) =>
        filters.map((f): ScanCell => {
          if ('ipVersion' in f.target) return addressesOf(instances[i]!, f.target.ipVersion)
          const value = row[f.target.column]
          if (value === null || value === undefined) return null
          return typeof value === 'boolean' ? (value ? '1' : '0') : String(value)
        }),
      ),
    )
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

interface PolicyLike {
  can: ComputePolicy['can']
  authorize: ComputePolicy['authorize']
}

/** The query as Nova's search_opts: one value per key (the last), unknown options removed for non-admins. */
function searchOptions(req: ComputeRequest, policy: PolicyLike, ctx: RequestContext): Record<string, string> {
  const opts: Record<string, string> = {}
  for (const key of Object.keys(req.query)) opts[key] = last(req.query, key)!
  if (policy.can(ctx, 'os_compute_api:servers:allow_all_filters')) {
    for (const key of PAGING_SORTING_PARAMS) delete opts[key]
    return opts
  }
  const allowed = allowedOptions(req)
  for (const key of Object.keys(opts)) if (!allowed.has(key)) delete opts[key]
  return opts
}

function parseChanges(opts: Record<string, string>, filter: Mutable<InstanceFilter>): void {
  if (opts['changes-since'] !== undefined) {
    const since = parseIsoTime(opts['changes-since'])
    if (since === undefined) throw new Invalid('Invalid filter field: changes-since.')
    filter.changesSince = since
  }
  if (opts['changes-before'] !== undefined) {
    const before = parseIsoTime(opts['changes-before'])
    if (before === undefined) throw new Invalid('Invalid filter field: changes-before.')
    if (filter.changesSince !== undefined && before < filter.changesSince) {
      throw new Invalid('The value of changes-since must be less than or equal to changes-before.')
    }
    filter.changesBefore = before
  }
  delete opts['changes-since']
  delete opts['changes-before']
}

/** Deleted rows only with `deleted=true`, or with changes-since/-before (which list recent deletes). */
function parseDeleted(
  opts: Record<string, string>,
  filter: Mutable<InstanceFilter>,
  ctx: RequestContext,
): void {
  if (opts.deleted === undefined) {
    if (filter.changesSince === undefined && filter.changesBefore === undefined) filter.deleted = false
  } else {
    filter.deleted = boolFromString(opts.deleted, false, false)
  }
  delete opts.deleted
  delete opts.soft_deleted
  if (filter.vmStates?.length === 1 && filter.vmStates[0] === 'deleted') {
    if (!ctx.isAdmin) throw new Forbidden('Only administrators may list deleted instances')
    filter.deleted = true
  }
}

function parseTags(req: ComputeRequest, opts: Record<string, string>, filter: Mutable<InstanceFilter>): void {
  if (!req.mv.atLeast('2.26')) return
  const split = (key: string) => (opts[key] === undefined ? undefined : opts[key]!.split(','))
  filter.tags = split('tags')
  filter.tagsAny = split('tags-any')
  filter.notTags = split('not-tags')
  filter.notTagsAny = split('not-tags-any')
  for (const key of TAG_FILTERS) delete opts[key]
}

/** Nova's `is_all_tenants`: present with no value means true; a value must be a boolean. */
function parseAllTenants(opts: Record<string, string>): boolean {
  if (!('all_tenants' in opts)) return false
  const value = opts.all_tenants!
  delete opts.all_tenants
  if (value === '') return true
  const parsed = boolFromString(value, true)
  if (parsed === undefined) {
    throw new Invalid(
      `Invalid input received: Unrecognized value '${value}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'`,
    )
  }
  return parsed
}

/** Exact filters go to SQL; the rest match by regex. Returns the flavor filter. */
function applyExactAndRegex(
  opts: Record<string, string>,
  filter: Mutable<InstanceFilter>,
  regex: RegexFilter[],
  allTenants: boolean,
): string | undefined {
  let flavorId: string | undefined
  for (const [key, value] of Object.entries(opts)) {
    switch (key) {
      case 'image':
      case 'image_ref':
        filter.imageRef = idFromHref(value)
        break
      case 'flavor':
        flavorId = idFromHref(value)
        filter.flavorId = flavorId
        break
      case 'user_id':
        filter.userId = value
        break
      case 'project_id':
        if (allTenants) filter.projectId = value
        break
      case 'uuid':
        filter.uuid = value
        break
      case 'host':
        filter.host = value
        break
      case 'vm_state':
        filter.vmStates = [value]
        break
      case 'task_state':
        filter.taskStates = [value]
        break
      default: {
        const column = REGEX_COLUMNS[key]
        if (!column) break
        // Two keys for one column (name, display_name): the later one counts, as in Nova's search_opts.
        const same = regex.findIndex((r) => 'column' in r.target && r.target.column === column)
        if (same >= 0) regex.splice(same, 1)
        regex.push(regexFilter(key, value, { column }))
      }
    }
  }
  return flavorId
}

/** Sort keys and directions (default created_at desc), with Nova's ignored and admin-only keys. */
function sortKeys(req: ComputeRequest, ctx: RequestContext): SortKey[] {
  const keys = [...(req.query.sort_key ?? [])].map((k) => k.trim())
  const dirs = [...(req.query.sort_dir ?? [])].map((d) => d.trim())
  if (keys.length === 0) keys.push('created_at')
  if (dirs.length === 0) dirs.push('desc')
  const ignored = req.mv.atLeast('2.73') ? IGNORED_SORT_KEYS_V273 : IGNORED_SORT_KEYS
  for (const key of [...keys]) {
    const index = keys.indexOf(key)
    if (ignored.includes(key)) {
      if (dirs.length > index) dirs.splice(index, 1)
      keys.splice(index, 1)
    } else if (ADMIN_ONLY_SORT_KEYS.includes(key) && !ctx.isAdmin) {
      throw new Forbidden(`Only administrators can sort servers by ${key}`)
    }
  }
  for (const d of dirs) {
    if (d !== 'asc' && d !== 'desc') {
      throw new Invalid(`Invalid input received: Unknown sort direction, must be 'desc' or 'asc'`)
    }
  }
  const out: SortKey[] = keys.map((key, i) => ({
    column: SORT_COLUMNS[key] ?? key,
    direction: (dirs[i] ?? dirs[0] ?? 'desc') as 'asc' | 'desc',
  }))
  // Nova appends its default keys (created_at, then the integer id) in the first key's direction.
  const direction = out[0]?.direction ?? 'desc'
  for (const column of ['created_at', 'id'])
    if (!out.some((k) => k.column === column)) out.push({ column, direction })
  return out
}

/** Sort keys whose column has another name here. */
const SORT_COLUMNS: Readonly<Record<string, string>> = {
  instance_type_id: 'flavor_id',
  locked: 'locked_by',
}
