import type { ApiRequest, Route } from '../../service/http.ts'
import type { Actor, Assignment, Target } from '../assignment.ts'
import { Invalid } from '../../common/errors.ts'
import { bounded, extraOf } from '../common.ts'
import { immutable } from '../users.ts'
import { hasQuery, query, queryFlag, selfUrl, type IdentityDeps } from './deps.ts'
import { entity, SCHEMAS, validator } from './validation.ts'
import { assignmentView, collection, roleRef, roleView, type AssignmentNames } from './views.ts'

const checks = { roleCreate: validator(SCHEMAS.roleCreate), roleUpdate: validator(SCHEMAS.roleUpdate) }
const ROLE_FIELDS = ['id', 'name', 'description', 'domain_id', 'options', 'links']

type Body = Record<string, any>
type Params = Record<string, string>

/** The four grant collections: /v3/{projects,domains}/{id}/{users,groups}/{id}/roles. */
const GRANT_PATHS: readonly { readonly target: 'project' | 'domain'; readonly actor: 'user' | 'group' }[] = [
  { target: 'project', actor: 'user' },
  { target: 'project', actor: 'group' },
  { target: 'domain', actor: 'user' },
  { target: 'domain', actor: 'group' },
]

function grantParts(req: ApiRequest, g: (typeof GRANT_PATHS)[number]): { actor: Actor; target: Target } {
  const p = req.params as Params
  return {
    actor: { kind: g.actor, id: p[`${g.actor}_id`]! },
    target: { kind: g.target, id: p[`${g.target}_id`]! },
  }
}

/** `scope.OS-INHERIT:inherited_to`: only `projects` is a valid value (Keystone). */
function inheritedToFilter(req: ApiRequest): boolean | undefined {
  const v = query(req, 'scope.OS-INHERIT:inherited_to')
  if (v === undefined) return undefined
  if (v !== 'projects') throw new Invalid(`Invalid value for scope.OS-INHERIT:inherited_to: ${v}.`)
  return true
}

/**
 * OS-INHERIT (keystone/api/os_inherit.py): grants a role on every project
 * below a domain or project, with the grant rules of ordinary grants. Only
 * domains have the list route, as in Keystone.
 */
function inheritedGrantRoutes(d: IdentityDeps): Route[] {
  const a = d.assignments
  const routes: Route[] = []
  for (const g of GRANT_PATHS) {
    const base = `/v3/OS-INHERIT/${g.target}s/:${g.target}_id/${g.actor}s/:${g.actor}_id/roles`
    const role = (req: ApiRequest) => (req.params as Params).role_id!
    if (g.target === 'domain') {
      routes.push({
        method: 'GET',
        path: `${base}/inherited_to_projects`,
        policy: 'identity:list_grants',
        handler: async (req) => {
          const { actor, target } = grantParts(req, g)
          const roles = await a.listGrants(actor, target, true)
          return collection(
            'roles',
            roles.map((r) => roleView(r, req.baseUrl)),
            selfUrl(req),
          )
        },
      })
    }
    routes.push(
      {
        method: 'PUT',
        path: `${base}/:role_id/inherited_to_projects`,
        policy: 'identity:create_grant',
        status: 204,
        handler: async (req) => {
          const { actor, target } = grantParts(req, g)
          await a.grant(actor, target, role(req), true)
        },
      },
      {
        method: 'GET',
        path: `${base}/:role_id/inherited_to_projects`,
        policy: 'identity:check_grant',
        status: 204,
        handler: async (req) => {
          const { actor, target } = grantParts(req, g)
          await a.checkGrant(actor, target, role(req), true)
        },
      },
      {
        method: 'DELETE',
        path: `${base}/:role_id/inherited_to_projects`,
        policy: 'identity:revoke_grant',
        status: 204,
        handler: async (req) => {
          const { actor, target } = grantParts(req, g)
          await a.revoke(actor, target, role(req), true)
        },
      },
    )
  }
  return routes
}

function grantRoutes(d: IdentityDeps): Route[] {
  const a = d.assignments
  const routes: Route[] = []
  for (const g of GRANT_PATHS) {
    const base = `/v3/${g.target}s/:${g.target}_id/${g.actor}s/:${g.actor}_id/roles`
    routes.push(
      {
        method: 'GET',
        path: base,
        policy: 'identity:list_grants',
        handler: async (req) => {
          const { actor, target } = grantParts(req, g)
          const roles = await a.listGrants(actor, target)
          return collection(
            'roles',
            roles.map((r) => roleView(r, req.baseUrl)),
            selfUrl(req),
          )
        },
      },
      {
        method: 'PUT',
        path: `${base}/:role_id`,
        policy: 'identity:create_grant',
        status: 204,
        handler: async (req) => {
          const { actor, target } = grantParts(req, g)
          await a.grant(actor, target, (req.params as Params).role_id!)
        },
      },
      {
        method: 'GET',
        path: `${base}/:role_id`,
        policy: 'identity:check_grant',
        status: 204,
        handler: async (req) => {
          const { actor, target } = grantParts(req, g)
          await a.checkGrant(actor, target, (req.params as Params).role_id!)
        },
      },
      {
        method: 'DELETE',
        path: `${base}/:role_id`,
        policy: 'identity:revoke_grant',
        status: 204,
        handler: async (req) => {
          const { actor, target } = grantParts(req, g)
          await a.revoke(actor, target, (req.params as Params).role_id!)
        },
      },
    )
  }
  for (const actorKind of ['user', 'group'] as const) {
    const base = `/v3/system/${actorKind}s/:${actorKind}_id/roles`
    const actorOf = (req: ApiRequest): Actor => ({
      kind: actorKind,
      id: (req.params as Params)[`${actorKind}_id`]!,
    })
    const system: Target = { kind: 'system' }
    routes.push(
      {
        method: 'GET',
        path: base,
        policy: `identity:list_system_grants_for_${actorKind}`,
        handler: async (req) => {
          const roles = await a.listGrants(actorOf(req), system)
          return collection(
            'roles',
            roles.map((r) => roleView(r, req.baseUrl)),
            selfUrl(req),
          )
        },
      },
      {
        method: 'PUT',
        path: `${base}/:role_id`,
        policy: `identity:create_system_grant_for_${actorKind}`,
        status: 204,
        handler: async (req) => {
          await a.grant(actorOf(req), system, (req.params as Params).role_id!)
        },
      },
      {
        method: 'GET',
        path: `${base}/:role_id`,
        policy: `identity:check_system_grant_for_${actorKind}`,
        status: 204,
        handler: async (req) => {
          await a.checkGrant(actorOf(req), system, (req.params as Params).role_id!)
        },
      },
      {
        method: 'DELETE',
        path: `${base}/:role_id`,
        policy: `identity:revoke_system_grant_for_${actorKind}`,
        status: 204,
        handler: async (req) => {
          await a.revoke(actorOf(req), system, (req.params as Params).role_id!)
        },
      },
    )
  }
  return routes
}

/** Looks up every name an `include_names` listing shows, once per id. */
async function namesFor(d: IdentityDeps, list: readonly Assignment[]): Promise<AssignmentNames> {
  const roles = new Map((await d.assignments.listRoles()).map((r) => [r.id, r]))
  const users = new Map<string, { name: string; domainId: string } | undefined>()
  const groups = new Map<string, { name: string; domainId: string } | undefined>()
  const projects = new Map<string, { name: string; domainId: string } | undefined>()
  const domains = new Map<string, { name: string } | undefined>()
  for (const a of list) {
    if (a.actor.kind === 'user' && !users.has(a.actor.id))
      users.set(a.actor.id, await d.users.findUser(a.actor.id))
    if (a.actor.kind === 'group' && !groups.has(a.actor.id))
      groups.set(a.actor.id, await d.users.findGroup(a.actor.id))
    if (a.target.kind === 'project' && !projects.has(a.target.id)) {
      projects.set(a.target.id, await d.resources.findProject(a.target.id))
    }
  }
  const domainIds = new Set<string>()
  for (const m of [users, groups, projects]) for (const v of m.values()) if (v) domainIds.add(v.domainId)
  for (const a of list) if (a.target.kind === 'domain') domainIds.add(a.target.id)
  for (const id of domainIds) domains.set(id, await d.resources.findDomain(id))
  return {
    role: (id) => roles.get(id),
    user: (id) => users.get(id),
    group: (id) => groups.get(id),
    project: (id) => projects.get(id),
    domain: (id) => domains.get(id),
  }
}

/** Roles, implied roles, grants and `GET /v3/role_assignments`. */
export function roleRoutes(d: IdentityDeps): Route[] {
  const a = d.assignments
  return [
    {
      method: 'GET',
      path: '/v3/roles',
      policy: 'identity:list_roles',
      handler: async (req) => {
        // Global roles, or with `domain_id` that domain's roles (Keystone's list_roles).
        const domainId = query(req, 'domain_id') ?? null
        const roles = (await a.listRoles({ name: query(req, 'name') })).filter((r) => r.domainId === domainId)
        return collection('roles', bounded(roles.map((r) => roleView(r, req.baseUrl))), selfUrl(req))
      },
    },
    {
      method: 'POST',
      path: '/v3/roles',
      policy: 'identity:create_role',
      status: 201,
      handler: async (req) => {
        const b = entity<Body>(req, 'role', checks.roleCreate)
        const role = await a.createRole({
          name: b.name,
          domainId: b.domain_id,
          description: b.description,
          extra: extraOf(b, ROLE_FIELDS),
        })
        return { role: roleView(role, req.baseUrl) }
      },
    },
    {
      method: 'GET',
      path: '/v3/roles/:role_id',
      policy: 'identity:get_role',
      handler: async (req) => ({
        role: roleView(await a.getRole((req.params as Params).role_id!), req.baseUrl),
      }),
    },
    {
      method: 'PATCH',
      path: '/v3/roles/:role_id',
      policy: 'identity:update_role',
      handler: async (req) => {
        const id = (req.params as Params).role_id!
        const b = entity<Body>(req, 'role', checks.roleUpdate)
        if (b.id !== undefined && b.id !== id) throw immutable('id')
        const role = await a.updateRole(id, {
          name: b.name,
          description: b.description,
          extra: extraOf(b, ROLE_FIELDS),
        })
        return { role: roleView(role, req.baseUrl) }
      },
    },
    {
      method: 'DELETE',
      path: '/v3/roles/:role_id',
      policy: 'identity:delete_role',
      status: 204,
      handler: async (req) => {
        await a.deleteRole((req.params as Params).role_id!)
      },
    },

    // ---- implied roles ----
    {
      method: 'GET',
      path: '/v3/roles/:prior_role_id/implies',
      policy: 'identity:list_implied_roles',
      handler: async (req) => {
        const { prior, implies } = await a.listImpliedRoles((req.params as Params).prior_role_id!)
        return {
          role_inference: {
            prior_role: roleRef(prior, req.baseUrl),
            implies: implies.map((r) => roleRef(r, req.baseUrl)),
          },
          links: { self: selfUrl(req) },
        }
      },
    },
    {
      method: 'PUT',
      path: '/v3/roles/:prior_role_id/implies/:implied_role_id',
      policy: 'identity:create_implied_role',
      status: 201,
      handler: async (req) => {
        const { prior_role_id, implied_role_id } = req.params as Params
        const { prior, implied } = await a.createImpliedRole(prior_role_id!, implied_role_id!)
        return {
          role_inference: { prior_role: roleRef(prior, req.baseUrl), implies: roleRef(implied, req.baseUrl) },
          links: { self: selfUrl(req) },
        }
      },
    },
    {
      // Keystone's check_implied_role: HEAD answers 204 (declared before GET, which would answer 200).
      method: 'HEAD',
      path: '/v3/roles/:prior_role_id/implies/:implied_role_id',
      policy: 'identity:check_implied_role',
      status: 204,
      handler: async (req) => {
        const { prior_role_id, implied_role_id } = req.params as Params
        await a.getImpliedRole(prior_role_id!, implied_role_id!)
      },
    },
    {
      method: 'GET',
      path: '/v3/roles/:prior_role_id/implies/:implied_role_id',
      policy: 'identity:get_implied_role',
      handler: async (req) => {
        const { prior_role_id, implied_role_id } = req.params as Params
        const { prior, implied } = await a.getImpliedRole(prior_role_id!, implied_role_id!)
        return {
          role_inference: { prior_role: roleRef(prior, req.baseUrl), implies: roleRef(implied, req.baseUrl) },
          links: { self: selfUrl(req) },
        }
      },
    },
    {
      method: 'DELETE',
      path: '/v3/roles/:prior_role_id/implies/:implied_role_id',
      policy: 'identity:delete_implied_role',
      status: 204,
      handler: async (req) => {
        const { prior_role_id, implied_role_id } = req.params as Params
        await a.deleteImpliedRole(prior_role_id!, implied_role_id!)
      },
    },
    {
      method: 'GET',
      path: '/v3/role_inferences',
      policy: 'identity:list_role_inference_rules',
      handler: async (req) => ({
        role_inferences: (await a.listRoleInferences()).map((r) => ({
          prior_role: roleRef(r.prior, req.baseUrl),
          implies: r.implies.map((x) => roleRef(x, req.baseUrl)),
        })),
        links: { self: selfUrl(req), previous: null, next: null },
      }),
    },

    ...grantRoutes(d),
    ...inheritedGrantRoutes(d),

    {
      method: 'GET',
      path: '/v3/role_assignments',
      policy: 'identity:list_role_assignments',
      handler: async (req) => {
        const list = await a.listAssignments({
          userId: query(req, 'user.id'),
          groupId: query(req, 'group.id'),
          roleId: query(req, 'role.id'),
          projectId: query(req, 'scope.project.id'),
          domainId: query(req, 'scope.domain.id'),
          system: hasQuery(req, 'scope.system'),
          effective: hasQuery(req, 'effective') && queryFlag(req, 'effective') !== false,
          includeSubtree: queryFlag(req, 'include_subtree') === true,
          inheritedToProjects: inheritedToFilter(req),
        })
        const names =
          hasQuery(req, 'include_names') && queryFlag(req, 'include_names') !== false
            ? await namesFor(d, list)
            : undefined
        return collection(
          'role_assignments',
          bounded(list.map((x) => assignmentView(x, req.baseUrl, names))),
          selfUrl(req),
        )
      },
    },
  ]
}
