import { Invalid } from '../../../common/errors.ts'
import { limits } from '../../../common/limits.ts'
import { respond, type Route } from '../../../service/http.ts'
import type { ServerGroupPolicy } from '../../../scheduler/types.ts'
import {
  countServerGroups,
  createServerGroup,
  deleteServerGroup,
  getServerGroup,
  listServerGroups,
  ServerGroupLimitExceeded,
  type ServerGroup,
  type ServerGroupRules,
} from '../../db/server-groups.ts'
import { last, versionedRoute, type ComputeRequest } from '../common.ts'
import type { ApiDeps } from '../deps.ts'
import { derive, multiParams, name, nonNegativeInteger, positiveInteger } from '../schemas/types.ts'
import { schemaFor, validateBody, validateQuery, type Schema } from '../validation.ts'

/** os-server-groups: create, list (all_projects for admins), show, delete. */
export function serverGroupRoutes(deps: ApiDeps): Route[] {
  const r = (method: Route['method'], path: string, handler: (req: ComputeRequest) => unknown) =>
    versionedRoute({ method, path, handler })
  return [
    r('GET', '/v2.1/os-server-groups', (req) => listGroups(deps, req)),
    r('POST', '/v2.1/os-server-groups', (req) => createGroup(deps, req)),
    r('GET', '/v2.1/os-server-groups/:group_id', (req) => showGroup(deps, req)),
    r('DELETE', '/v2.1/os-server-groups/:group_id', (req) => deleteGroup(deps, req)),
  ]
}

const policiesV21: Schema = {
  type: 'array',
  // One item only (Nova's tuple schema with additionalItems false).
  items: { type: 'string', enum: ['anti-affinity', 'affinity'] },
  uniqueItems: true,
  minItems: 1,
  maxItems: 1,
}
const createV21: Schema = {
  type: 'object',
  properties: {
    server_group: {
      type: 'object',
      properties: { name, policies: policiesV21 },
      required: ['name', 'policies'],
      additionalProperties: false,
    },
  },
  required: ['server_group'],
  additionalProperties: false,
}
const createV215 = derive(createV21, (s) => {
  s.properties.server_group.properties.policies.items.enum.push('soft-anti-affinity', 'soft-affinity')
})
const createV264: Schema = {
  type: 'object',
  properties: {
    server_group: {
      type: 'object',
      properties: {
        name,
        policy: {
          type: 'string',
          enum: ['anti-affinity', 'affinity', 'soft-anti-affinity', 'soft-affinity'],
        },
        rules: {
          type: 'object',
          properties: { max_server_per_host: positiveInteger },
          additionalProperties: false,
        },
      },
      required: ['name', 'policy'],
      additionalProperties: false,
    },
  },
  required: ['server_group'],
  additionalProperties: false,
}
const CREATE_SCHEMAS: readonly [string, string | undefined, Schema][] = [
  ['2.1', '2.14', createV21],
  ['2.15', '2.63', createV215],
  ['2.64', undefined, createV264],
]

const indexQuery: Schema = {
  type: 'object',
  properties: {
    all_projects: multiParams({ type: 'string' }),
    limit: multiParams(nonNegativeInteger),
    offset: multiParams(nonNegativeInteger),
  },
  additionalProperties: true,
}
const INDEX_QUERY_SCHEMAS: readonly [string, string | undefined, Schema][] = [
  ['2.1', '2.74', indexQuery],
  ['2.75', undefined, derive(indexQuery, (s) => (s.additionalProperties = false))],
]

/** Nova's `_format_server_group`: `policies` + empty `metadata` before 2.64, `policy` + `rules` from it. */
function groupView(req: ComputeRequest, g: ServerGroup): Record<string, unknown> {
  const view: Record<string, unknown> = { id: g.uuid, name: g.name }
  if (req.mv.atLeast('2.64')) {
    view.policy = g.policy
    view.rules = g.rules
  } else {
    view.policies = [g.policy]
    view.metadata = {}
  }
  view.members = g.members
  if (req.mv.atLeast('2.13')) {
    view.project_id = g.projectId
    view.user_id = g.userId
  }
  return view
}

async function createGroup(deps: ApiDeps, req: ComputeRequest) {
  validateBody(schemaFor(CREATE_SCHEMAS, req.mv)!, req.body)
  const ctx = req.api.ctx
  const projectId = ctx.projectId ?? ''
  deps.policy.authorize(ctx, 'os_compute_api:os-server-groups:create', { project_id: projectId })
  const body = (req.body as { server_group: Record<string, any> }).server_group
  let policy: ServerGroupPolicy
  let rules: ServerGroupRules = {}
  if (req.mv.atLeast('2.64')) {
    policy = body.policy
    const given = (body.rules ?? {}) as { max_server_per_host?: number | string }
    if (policy !== 'anti-affinity' && Object.keys(given).length > 0) {
      throw new Invalid('Only anti-affinity policy supports rules.')
    }
    if (given.max_server_per_host !== undefined) {
      rules = { max_server_per_host: Number(given.max_server_per_host) }
    }
  } else {
    policy = body.policies[0]
  }
  const group = await deps.db.transaction(async (trx) => {
    const allowed = (await deps.quotas.limits(trx, projectId, ctx.userId ?? undefined)).server_groups
    if (allowed >= 0 && (await countServerGroups(trx, projectId)) + 1 > allowed) {
      throw new ServerGroupLimitExceeded('Quota exceeded, too many server groups.')
    }
    return createServerGroup(trx, {
      name: String(body.name),
      projectId,
      userId: ctx.userId ?? '',
      policy,
      rules,
    })
  })
  return { server_group: groupView(req, group) }
}

async function listGroups(deps: ApiDeps, req: ComputeRequest) {
  validateQuery(schemaFor(INDEX_QUERY_SCHEMAS, req.mv)!, req.query)
  const ctx = req.api.ctx
  const projectId = ctx.projectId ?? ''
  deps.policy.authorize(ctx, 'os_compute_api:os-server-groups:index', { project_id: projectId })
  let all = false
  if ('all_projects' in req.query && ctx.isAdmin) {
    deps.policy.authorize(ctx, 'os_compute_api:os-server-groups:index:all_projects', {
      project_id: projectId,
    })
    all = true
  }
  const groups = await listServerGroups(deps.db.kysely, all ? undefined : projectId)
  // Nova's `common.limited`: offset, then at most min(limit, max_limit).
  const offset = Number(last(req.query, 'offset') ?? 0)
  const limitText = last(req.query, 'limit')
  const limit = Math.min(limitText === undefined ? limits.maxPageSize : Number(limitText), limits.maxPageSize)
  return { server_groups: groups.slice(offset, offset + limit).map((g) => groupView(req, g)) }
}

async function showGroup(deps: ApiDeps, req: ComputeRequest) {
  const group = await getServerGroup(deps.db.kysely, req.params.group_id!)
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-server-groups:show', { project_id: group.projectId })
  return { server_group: groupView(req, group) }
}

async function deleteGroup(deps: ApiDeps, req: ComputeRequest) {
  const group = await getServerGroup(deps.db.kysely, req.params.group_id!)
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-server-groups:delete', {
    project_id: group.projectId,
  })
  await deleteServerGroup(deps.db.kysely, group.uuid)
  return respond(204)
}
