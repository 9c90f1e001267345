import { Invalid } from '../../../common/errors.ts'
import { respond, type Route } from '../../../service/http.ts'
import { deleteQuotaOverrides, setQuotaOverride } from '../../db/quotas.ts'
import { QUOTA_RESOURCES, type QuotaResource } from '../../quota.ts'
import { boolFromString, first, versionedRoute, type ComputeRequest } from '../common.ts'
import type { ApiDeps } from '../deps.ts'
import { derive, multiParams } from '../schemas/types.ts'
import { schemaFor, validateBody, validateQuery, type Schema } from '../validation.ts'

/** os-quota-sets and limits: limits from config and admin overrides, usage counted from the resources. */
export function quotaRoutes(deps: ApiDeps): Route[] {
  return [
    versionedRoute({ method: 'GET', path: '/v2.1/limits', handler: (req) => showLimits(deps, req) }),
    versionedRoute({
      method: 'GET',
      path: '/v2.1/os-quota-sets/:project_id',
      handler: (req) => showQuotas(deps, req),
    }),
    versionedRoute({
      method: 'GET',
      path: '/v2.1/os-quota-sets/:project_id/detail',
      handler: (req) => showQuotaDetail(deps, req),
    }),
    versionedRoute({
      method: 'GET',
      path: '/v2.1/os-quota-sets/:project_id/defaults',
      handler: (req) => showDefaults(deps, req),
    }),
    versionedRoute({
      method: 'PUT',
      path: '/v2.1/os-quota-sets/:project_id',
      handler: (req) => updateQuotas(deps, req),
    }),
    versionedRoute({
      method: 'DELETE',
      path: '/v2.1/os-quota-sets/:project_id',
      handler: (req) => deleteQuotas(deps, req),
    }),
    versionedRoute({
      method: 'GET',
      path: '/v2.1/os-quota-class-sets/:class_name',
      handler: (req) => showQuotaClass(deps, req),
    }),
    versionedRoute({
      method: 'PUT',
      path: '/v2.1/os-quota-class-sets/:class_name',
      handler: (req) => updateQuotaClass(deps, req),
    }),
  ]
}

/** Network quotas dropped at 2.36; injected files at 2.57. */
const FILTERED_2_36: readonly string[] = [
  'fixed_ips',
  'floating_ips',
  'security_group_rules',
  'security_groups',
]
const FILTERED_2_57: readonly string[] = [
  ...FILTERED_2_36,
  'injected_files',
  'injected_file_content_bytes',
  'injected_file_path_bytes',
]

function filteredQuotas(req: ComputeRequest): readonly string[] {
  if (req.mv.atLeast('2.57')) return FILTERED_2_57
  if (req.mv.atLeast('2.36')) return FILTERED_2_36
  return []
}

const userQuery: Schema = {
  type: 'object',
  properties: { user_id: multiParams({ type: 'string' }) },
  additionalProperties: true,
}
const QUERY_SCHEMAS: readonly [string, string | undefined, Schema][] = [
  ['2.1', '2.74', userQuery],
  ['2.75', undefined, derive(userQuery, (s) => (s.additionalProperties = false))],
]

function quotaSet<T>(
  projectId: string | undefined,
  values: Record<QuotaResource, T>,
  filtered: readonly string[],
) {
  const out: Record<string, unknown> = projectId === undefined ? {} : { id: projectId }
  for (const r of QUOTA_RESOURCES) if (!filtered.includes(r)) out[r] = values[r]
  return { quota_set: out }
}

async function showQuotas(deps: ApiDeps, req: ComputeRequest) {
  validateQuery(schemaFor(QUERY_SCHEMAS, req.mv)!, req.query)
  const projectId = req.params.project_id!
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-quota-sets:show', { project_id: projectId })
  const limits = await deps.quotas.limits(deps.db.kysely, projectId, first(req.query, 'user_id'))
  return quotaSet(projectId, limits, filteredQuotas(req))
}

async function showQuotaDetail(deps: ApiDeps, req: ComputeRequest) {
  validateQuery(schemaFor(QUERY_SCHEMAS, req.mv)!, req.query)
  const projectId = req.params.project_id!
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-quota-sets:detail', { project_id: projectId })
  const usage = await deps.quotas.usage(deps.db.kysely, projectId, first(req.query, 'user_id'))
  return quotaSet(projectId, usage, filteredQuotas(req))
}

async function showDefaults(deps: ApiDeps, req: ComputeRequest) {
  const projectId = req.params.project_id!
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-quota-sets:defaults', { project_id: projectId })
  return quotaSet(projectId, await deps.quotas.defaults(deps.db.kysely), filteredQuotas(req))
}

const COMMON_QUOTA: Schema = {
  type: ['integer', 'string'],
  pattern: '^-?[0-9]+$',
  minimum: -1,
  maximum: 0x7fffffff,
}

function updateSchema(resources: readonly string[]): Schema {
  return {
    type: 'object',
    properties: {
      quota_set: {
        properties: {
          ...Object.fromEntries(resources.map((r) => [r, COMMON_QUOTA])),
          force: {
            type: ['boolean', 'string'],
            enum: [
              true,
              'True',
              'TRUE',
              'true',
              '1',
              'ON',
              'On',
              'on',
              'YES',
              'Yes',
              'yes',
              false,
              'False',
              'FALSE',
              'false',
              '0',
              'OFF',
              'Off',
              'off',
              'NO',
              'No',
              'no',
            ],
          },
        },
        additionalProperties: false,
      },
    },
    required: ['quota_set'],
    additionalProperties: false,
  }
}

const SETTABLE = [...QUOTA_RESOURCES, 'networks']
const UPDATE_SCHEMAS: readonly [string, string | undefined, Schema][] = [
  ['2.1', '2.35', updateSchema(SETTABLE)],
  ['2.36', '2.56', updateSchema(SETTABLE.filter((r) => !FILTERED_2_36.includes(r) && r !== 'networks'))],
  ['2.57', undefined, updateSchema(SETTABLE.filter((r) => !FILTERED_2_57.includes(r) && r !== 'networks'))],
]

async function updateQuotas(deps: ApiDeps, req: ComputeRequest) {
  validateQuery(schemaFor(QUERY_SCHEMAS, req.mv)!, req.query)
  validateBody(schemaFor(UPDATE_SCHEMAS, req.mv)!, req.body)
  const projectId = req.params.project_id!
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-quota-sets:update', { project_id: projectId })
  const userId = first(req.query, 'user_id')
  const quotaSetBody = (req.body as { quota_set: Record<string, unknown> }).quota_set
  if ('networks' in quotaSetBody) throw new Invalid('The networks quota has been removed')
  const force = boolFromString(quotaSetBody.force ?? 'False') === true
  const usage = await deps.quotas.usage(deps.db.kysely, projectId, userId)
  const values: Record<string, number> = {}
  for (const [key, raw] of Object.entries(quotaSetBody)) {
    if (key === 'force' || raw === null || raw === '' || raw === undefined) continue
    const value = Number(raw)
    if (!force) checkQuotaLimit(key, value, usage[key as QuotaResource]?.in_use ?? 0)
    values[key] = value
  }
  for (const [key, value] of Object.entries(values)) {
    await setQuotaOverride(deps.db.kysely, projectId, userId, key, value)
  }
  const limits = await deps.quotas.limits(deps.db.kysely, projectId, userId)
  return quotaSet(undefined, limits, filteredQuotas(req))
}

/** Nova's `_validate_quota_limit`: not below what is already used (-1 is infinite). */
function checkQuotaLimit(resource: string, limit: number, inUse: number): void {
  const inf = (v: number) => (v === -1 ? Number.POSITIVE_INFINITY : v)
  if (inf(limit) < inf(inUse)) {
    throw new Invalid(
      `Quota limit ${limit} for ${resource} must be greater than or equal to already used and reserved ${inUse}.`,
    )
  }
}

async function deleteQuotas(deps: ApiDeps, req: ComputeRequest) {
  validateQuery(schemaFor(QUERY_SCHEMAS, req.mv)!, req.query)
  const projectId = req.params.project_id!
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-quota-sets:delete', { project_id: projectId })
  await deleteQuotaOverrides(deps.db.kysely, projectId, first(req.query, 'user_id'))
  return respond(202)
}

// ---- quota classes ----

/** Quota classes left out server groups before 2.50, network quotas from 2.50 and injected files from 2.57. */
const EXTENDED_QUOTAS: readonly string[] = ['server_groups', 'server_group_members']

function classFiltered(req: ComputeRequest): readonly string[] {
  if (req.mv.atLeast('2.57')) return FILTERED_2_57
  if (req.mv.atLeast('2.50')) return FILTERED_2_36
  return EXTENDED_QUOTAS
}

function quotaClassSet(
  className: string | undefined,
  values: Record<QuotaResource, number>,
  filtered: readonly string[],
) {
  return { quota_class_set: quotaSet(className, values, filtered).quota_set }
}

const CLASS_SETTABLE = [...QUOTA_RESOURCES, 'networks']
function classUpdateSchema(resources: readonly string[]): Schema {
  return {
    type: 'object',
    properties: {
      quota_class_set: {
        properties: Object.fromEntries(resources.map((r) => [r, COMMON_QUOTA])),
        additionalProperties: false,
      },
    },
    required: ['quota_class_set'],
    additionalProperties: false,
  }
}
const CLASS_UPDATE_SCHEMAS: readonly [string, string | undefined, Schema][] = [
  ['2.1', '2.49', classUpdateSchema(CLASS_SETTABLE)],
  [
    '2.50',
    '2.56',
    classUpdateSchema(CLASS_SETTABLE.filter((r) => !FILTERED_2_36.includes(r) && r !== 'networks')),
  ],
  [
    '2.57',
    undefined,
    classUpdateSchema(CLASS_SETTABLE.filter((r) => !FILTERED_2_57.includes(r) && r !== 'networks')),
  ],
]
const QUOTA_CLASS_NAME_MAX_CHARS = 255

async function showQuotaClass(deps: ApiDeps, req: ComputeRequest) {
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-quota-class-sets:show', {})
  const className = req.params.class_name!
  return quotaClassSet(
    className,
    await deps.quotas.classLimits(deps.db.kysely, className),
    classFiltered(req),
  )
}

/** Sets limits of a class; the class `default` replaces the configured defaults of every project. */
async function updateQuotaClass(deps: ApiDeps, req: ComputeRequest) {
  validateBody(schemaFor(CLASS_UPDATE_SCHEMAS, req.mv)!, req.body)
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-quota-class-sets:update', {})
  const className = req.params.class_name!
  if (className.length > QUOTA_CLASS_NAME_MAX_CHARS) {
    throw new Invalid(`quota_class_name has more than ${QUOTA_CLASS_NAME_MAX_CHARS} characters.`)
  }
  const body = (req.body as { quota_class_set: Record<string, unknown> }).quota_class_set
  const updates = Object.fromEntries(Object.entries(body).map(([k, v]) => [k, Number(v)]))
  await deps.quotas.setClassLimits(deps.db.kysely, className, updates)
  return quotaClassSet(
    undefined,
    await deps.quotas.classLimits(deps.db.kysely, className),
    classFiltered(req),
  )
}

// ---- limits ----

/** Absolute limit names of each quota resource (Nova's limits view). */
const LIMIT_NAMES: Readonly<Record<string, readonly string[]>> = {
  ram: ['maxTotalRAMSize'],
  instances: ['maxTotalInstances'],
  cores: ['maxTotalCores'],
  key_pairs: ['maxTotalKeypairs'],
  floating_ips: ['maxTotalFloatingIps'],
  metadata_items: ['maxServerMeta', 'maxImageMeta'],
  injected_files: ['maxPersonality'],
  injected_file_content_bytes: ['maxPersonalitySize'],
  security_groups: ['maxSecurityGroups'],
  security_group_rules: ['maxSecurityGroupRules'],
  server_groups: ['maxServerGroups'],
  server_group_members: ['maxServerGroupMembers'],
}
const USED_NAMES: Readonly<Record<string, string>> = {
  totalRAMUsed: 'ram',
  totalCoresUsed: 'cores',
  totalInstancesUsed: 'instances',
  totalFloatingIpsUsed: 'floating_ips',
  totalSecurityGroupsUsed: 'security_groups',
  totalServerGroupsUsed: 'server_groups',
}

const LIMITS_QUERY: Schema = {
  type: 'object',
  properties: { tenant_id: multiParams({ type: 'string' }) },
  additionalProperties: true,
}
const LIMITS_QUERY_SCHEMAS: readonly [string, string | undefined, Schema][] = [
  ['2.1', '2.74', LIMITS_QUERY],
  ['2.75', undefined, derive(LIMITS_QUERY, (s) => (s.additionalProperties = false))],
]

async function showLimits(deps: ApiDeps, req: ComputeRequest) {
  validateQuery(schemaFor(LIMITS_QUERY_SCHEMAS, req.mv)!, req.query)
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:limits', {})
  let projectId = ctx.projectId ?? ''
  const tenant = first(req.query, 'tenant_id')
  if (tenant !== undefined) {
    projectId = tenant
    deps.policy.authorize(ctx, 'os_compute_api:limits:other_project')
  }
  const filtered = req.mv.atLeast('2.57')
    ? FILTERED_2_57.filter((r) => r !== 'injected_file_path_bytes')
    : req.mv.atLeast('2.36')
      ? FILTERED_2_36.filter((r) => r !== 'fixed_ips')
      : []
  const maxImageMeta = !req.mv.atLeast('2.39')
  const usage = await deps.quotas.usage(deps.db.kysely, projectId)
  const absolute: Record<string, number> = {}
  for (const [resource, names] of Object.entries(LIMIT_NAMES)) {
    if (filtered.includes(resource)) continue
    for (const n of names)
      if (maxImageMeta || n !== 'maxImageMeta') absolute[n] = usage[resource as QuotaResource].limit
  }
  for (const [name, resource] of Object.entries(USED_NAMES)) {
    if (!filtered.includes(resource)) absolute[name] = usage[resource as QuotaResource].in_use
  }
  return { limits: { rate: [], absolute } }
}
