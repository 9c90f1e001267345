import { Invalid, NotFound } from '../../../common/errors.ts'
import type { Queryable } from '../../../db/schema.ts'
import { fromJsonText } from '../../../db/values.ts'
import type { Route } from '../../../service/http.ts'
import type { FlavorSnapshot } from '../../objects.ts'
import { Binary } from '../../host-api.ts'
import { collectionLinks, first, limitAndMarker, versionedRoute, type ComputeRequest } from '../common.ts'
import type { ApiDeps } from '../deps.ts'
import { derive, multiParams, paginationParameters } from '../schemas/types.ts'
import { schemaFor, validateQuery, type Schema } from '../validation.ts'

/**
 * os-simple-tenant-usage (Nova's SimpleTenantUsageController): per project,
 * the hours each server ran within [start, end) and those hours times its
 * vCPUs, RAM and disk. Servers count from `launched_at` to `terminated_at`
 * (deleted servers included); 2.40 pages over servers with limit/marker.
 */
export function usageRoutes(deps: ApiDeps): Route[] {
  const r = (method: Route['method'], path: string, handler: (req: ComputeRequest) => unknown) =>
    versionedRoute({ method, path, handler })
  return [
    r('GET', '/v2.1/os-simple-tenant-usage', (req) => indexRoute(deps, req)),
    r('GET', '/v2.1/os-simple-tenant-usage/:tenant_id', (req) => showRoute(deps, req)),
    r('GET', '/v2.1/os-instance_usage_audit_log', (req) => auditLogIndex(deps, req)),
    r('GET', '/v2.1/os-instance_usage_audit_log/:before', (req) => auditLogShow(deps, req)),
  ]
}

const stringParam = multiParams({ type: 'string' })
const indexQuery: Schema = {
  type: 'object',
  properties: { start: stringParam, end: stringParam, detailed: stringParam },
  additionalProperties: true,
}
const showQuery: Schema = {
  type: 'object',
  properties: { start: stringParam, end: stringParam },
  additionalProperties: true,
}
const paged = (s: Schema) => derive(s, (c) => Object.assign(c.properties, paginationParameters))
const strict = (s: Schema) => derive(s, (c) => (c.additionalProperties = false))
const INDEX_QUERY: readonly [string, string | undefined, Schema][] = [
  ['2.1', '2.39', indexQuery],
  ['2.40', '2.74', paged(indexQuery)],
  ['2.75', undefined, strict(paged(indexQuery))],
]
const SHOW_QUERY: readonly [string, string | undefined, Schema][] = [
  ['2.1', '2.39', showQuery],
  ['2.40', '2.74', paged(showQuery)],
  ['2.75', undefined, strict(paged(showQuery))],
]

const MS_PER_HOUR = 3_600_000

/** Nova's accepted formats: `%Y-%m-%dT%H:%M:%S`, with `.%f`, or `%Y-%m-%d %H:%M:%S.%f`; UTC. */
const DATETIME_FORMATS: readonly RegExp[] = [
  /^(\d{4})-(\d{1,2})-(\d{1,2})T(\d{1,2}):(\d{1,2}):(\d{1,2})()$/,
  /^(\d{4})-(\d{1,2})-(\d{1,2})T(\d{1,2}):(\d{1,2}):(\d{1,2})\.(\d{1,6})$/,
  /^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})\.(\d{1,6})$/,
]

/** Milliseconds since the epoch of a query datetime; now when absent; 400 when malformed. */
export function parseUsageTime(text: string | undefined, nowMs: number): number {
  if (!text) return nowMs
  for (const re of DATETIME_FORMATS) {
    const m = re.exec(text)
    if (!m) continue
    const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number]
    const ms = Math.floor(Number(`0.${m[7] || '0'}`) * 1000)
    const value = Date.UTC(y, mo - 1, d, h, mi, s, ms)
    const back = new Date(value)
    // strptime refuses out-of-range fields (month 13, day 32, hour 24 ...).
    if (back.getUTCMonth() === mo - 1 && back.getUTCDate() === d && h < 24 && mi < 60 && s < 60) return value
  }
  throw new Invalid('Invalid datetime string: Datetime is in invalid format')
}

/** A datetime as Nova's JSON prints a naive UTC datetime (microseconds always shown). */
function naive(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000`
}

interface UsageRow {
  readonly uuid: string
  readonly display_name: string
  readonly project_id: string
  readonly flavor: string
  readonly vm_state: string
  readonly launched_at: string | null
  readonly terminated_at: string | null
}

/**
 * Nova's `instance_get_active_by_window_joined`: launched before `end`, not
 * terminated before `start`, deleted ones included, ordered by project and
 * uuid, paged after `marker`.
 */
async function instancesInWindow(
  db: Queryable,
  window: { startMs: number; stopMs: number; projectId?: string | undefined },
  limit: number,
  marker: string | undefined,
): Promise<UsageRow[]> {
  const start = new Date(window.startMs).toISOString()
  const stop = new Date(window.stopMs).toISOString()
  let q = db
    .selectFrom('instances')
    .select(['uuid', 'display_name', 'project_id', 'flavor', 'vm_state', 'launched_at', 'terminated_at'])
    .where((eb) => eb.or([eb('terminated_at', 'is', null), eb('terminated_at', '>', start)]))
    .where('launched_at', '<', stop)
  if (window.projectId !== undefined) q = q.where('project_id', '=', window.projectId)
  if (marker !== undefined) {
    const m = await db
      .selectFrom('instances')
      .select(['project_id', 'uuid'])
      .where('uuid', '=', marker)
      .executeTakeFirst()
    if (!m) throw new Invalid(`marker [${marker}] not found`)
    q = q.where((eb) =>
      eb.or([
        eb('project_id', '>', m.project_id),
        eb.and([eb('project_id', '=', m.project_id), eb('uuid', '>', m.uuid)]),
      ]),
    )
  }
  return q.orderBy('project_id').orderBy('uuid').limit(limit).execute()
}

interface ServerUsage {
  readonly instance_id: string
  readonly name: string
  readonly tenant_id: string
  readonly flavor: string
  readonly hours: number
  readonly memory_mb: number
  readonly local_gb: number
  readonly vcpus: number
  readonly started_at: string
  readonly ended_at: string | null
  readonly state: string
  readonly uptime: number
}

/** Nova's `_hours_for`: the part of [launched, terminated) inside the period, in hours. */
function hoursFor(row: UsageRow, startMs: number, stopMs: number): number {
  const launched = row.launched_at ? Date.parse(row.launched_at) : undefined
  const terminated = row.terminated_at ? Date.parse(row.terminated_at) : undefined
  if (terminated !== undefined && terminated < startMs) return 0
  if (launched === undefined || launched > stopMs) return 0
  const from = Math.max(launched, startMs)
  const to = terminated === undefined ? stopMs : Math.min(stopMs, terminated)
  return (to - from) / MS_PER_HOUR
}

function serverUsage(row: UsageRow, startMs: number, stopMs: number, nowMs: number): ServerUsage {
  const flavor = fromJsonText<FlavorSnapshot>(row.flavor)
  const started = Date.parse(row.launched_at!)
  const ended = row.terminated_at ? Date.parse(row.terminated_at) : undefined
  return {
    instance_id: row.uuid,
    name: row.display_name,
    tenant_id: row.project_id,
    flavor: flavor.name,
    hours: hoursFor(row, startMs, stopMs),
    memory_mb: flavor.memoryMb,
    local_gb: flavor.rootGb + flavor.ephemeralGb,
    vcpus: flavor.vcpus,
    started_at: naive(started),
    ended_at: ended === undefined ? null : naive(ended),
    state: ended === undefined ? row.vm_state : 'terminated',
    uptime: Math.trunc(((ended ?? nowMs) - started) / 1000),
  }
}

interface Period {
  readonly startMs: number
  readonly stopMs: number
}

/** Nova's `_parse_qs_params` plus the cap of the end at now. */
function period(req: ComputeRequest, nowMs: number): Period {
  const startMs = parseUsageTime(first(req.query, 'start'), nowMs)
  const endMs = parseUsageTime(first(req.query, 'end'), nowMs)
  if (!(startMs < endMs)) {
    throw new Invalid('Invalid start time. The start time cannot occur after the end time.')
  }
  return { startMs, stopMs: Math.min(endMs, nowMs) }
}

/** Nova's `_tenant_usages_for_period`: one summary per project, in the servers' order. */
function summarize(usages: readonly ServerUsage[], p: Period, detailed: boolean): Record<string, unknown>[] {
  const byProject = new Map<string, Record<string, any>>()
  for (const u of usages) {
    let summary = byProject.get(u.tenant_id)
    if (!summary) {
      summary = {
        tenant_id: u.tenant_id,
        ...(detailed ? { server_usages: [] } : {}),
        total_local_gb_usage: 0,
        total_vcpus_usage: 0,
        total_memory_mb_usage: 0,
        total_hours: 0,
        start: naive(p.startMs),
        stop: naive(p.stopMs),
      }
      byProject.set(u.tenant_id, summary)
    }
    summary.total_local_gb_usage += u.local_gb * u.hours
    summary.total_vcpus_usage += u.vcpus * u.hours
    summary.total_memory_mb_usage += u.memory_mb * u.hours
    summary.total_hours += u.hours
    if (detailed) summary.server_usages.push(u)
  }
  return [...byProject.values()]
}

async function usagesFor(deps: ApiDeps, req: ComputeRequest, projectId: string | undefined) {
  const nowMs = Date.now()
  const p = period(req, nowMs)
  const links = req.mv.atLeast('2.40')
  const { limit, marker } = limitAndMarker(req)
  const rows = await instancesInWindow(deps.db.kysely, { ...p, projectId }, limit, links ? marker : undefined)
  return { p, links, usages: rows.map((r) => serverUsage(r, p.startMs, p.stopMs, nowMs)) }
}

async function indexRoute(deps: ApiDeps, req: ComputeRequest) {
  // `/os-simple-tenant-usage/` is a show with an empty project id: Nova's router finds no route.
  if ((req.api.raw.url.split('?')[0] ?? '').endsWith('/'))
    throw new NotFound('The resource could not be found.')
  validateQuery(schemaFor(INDEX_QUERY, req.mv)!, req.query)
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-simple-tenant-usage:list')
  const { p, links, usages } = await usagesFor(deps, req, undefined)
  const detailed = first(req.query, 'detailed') === '1'
  const out: Record<string, unknown> = { tenant_usages: summarize(usages, p, detailed) }
  if (links) {
    const next = collectionLinks(req, 'os-simple-tenant-usage', usages.length, usages.at(-1)?.instance_id)
    if (next.length) out.tenant_usages_links = next
  }
  return out
}

async function showRoute(deps: ApiDeps, req: ComputeRequest) {
  validateQuery(schemaFor(SHOW_QUERY, req.mv)!, req.query)
  const tenantId = req.params.tenant_id!
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-simple-tenant-usage:show', { project_id: tenantId })
  const { p, links, usages } = await usagesFor(deps, req, tenantId)
  const out: Record<string, unknown> = { tenant_usage: summarize(usages, p, true)[0] ?? {} }
  if (links) {
    const next = collectionLinks(
      req,
      `os-simple-tenant-usage/${tenantId}`,
      usages.length,
      usages.at(-1)?.instance_id,
    )
    if (next.length) out.tenant_usage_links = next
  }
  return out
}

// ---- os-instance_usage_audit_log ----

/**
 * Nova's `last_completed_audit_period` for the default unit (a month, from
 * the 1st): the month before the one `beforeMs` falls in, or the one before
 * that when `beforeMs` is exactly a month's first instant. UTC.
 */
export function lastCompletedAuditPeriod(beforeMs: number): { beginMs: number; endMs: number } {
  const at = new Date(beforeMs)
  let endMs = Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1)
  if (endMs >= beforeMs) endMs = Date.UTC(at.getUTCFullYear(), at.getUTCMonth() - 1, 1)
  const end = new Date(endMs)
  return { beginMs: Date.UTC(end.getUTCFullYear(), end.getUTCMonth() - 1, 1), endMs }
}

/** Python's `str(datetime)`: `YYYY-MM-DD HH:MM:SS`, with `.ffffff` only when there are microseconds. */
function pythonDatetime(ms: number): string {
  const iso = new Date(ms).toISOString()
  const frac = iso.slice(20, 23)
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac === '000' ? '' : `.${frac}000`}`
}

const AUDIT_BEFORE_FORMAT = /^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,6}))?$/

/** `%Y-%m-%d %H:%M:%S` or with `.%f`, as Nova's show parses its id; 400 otherwise. */
function parseAuditBefore(text: string): number {
  const m = AUDIT_BEFORE_FORMAT.exec(text)
  const invalid = () => new Invalid(`Invalid timestamp for date ${text}`)
  if (!m) throw invalid()
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  const ms = Date.UTC(y, mo - 1, d, h, mi, sec) + Math.floor(Number(`0.${m[7] ?? '0'}`) * 1000)
  const back = new Date(ms)
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || sec > 59)
    throw invalid()
  return ms
}

/**
 * Nova's `_get_audit_task_logs`. Nimbus runs no instance usage audit task
 * (Nova's `instance_usage_audit`, off by default), so there are no task
 * logs: every compute host, disabled ones included, is listed as not run.
 */
async function auditTaskLogs(deps: ApiDeps, beforeMs: number) {
  const { beginMs, endMs } = lastCompletedAuditPeriod(beforeMs)
  const hosts = [...new Set((await deps.hosts.services({ binary: Binary.COMPUTE })).map((s) => s.host))]
  return {
    period_beginning: pythonDatetime(beginMs),
    period_ending: pythonDatetime(endMs),
    num_hosts: hosts.length,
    num_hosts_done: 0,
    num_hosts_running: 0,
    num_hosts_not_run: hosts.length,
    hosts_not_run: hosts,
    total_instances: 0,
    total_errors: 0,
    overall_status: `${hosts.length === 0 ? 'ALL' : `0 of ${hosts.length}`} hosts done. 0 errors.`,
    log: {},
  }
}

async function auditLogIndex(deps: ApiDeps, req: ComputeRequest) {
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-instance-usage-audit-log:list', {})
  return { instance_usage_audit_logs: await auditTaskLogs(deps, Date.now()) }
}

async function auditLogShow(deps: ApiDeps, req: ComputeRequest) {
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-instance-usage-audit-log:show', {})
  return { instance_usage_audit_log: await auditTaskLogs(deps, parseAuditBefore(req.params.before!)) }
}
