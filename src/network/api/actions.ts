import type { Route } from '../../service/http.ts'
import { respond } from '../../service/http.ts'
import { invalid, policyNotAuthorized } from '../errors.ts'
import { isUuidLike, pyText } from './attributes.ts'
import type { NetworkPlugin } from '../plugin.ts'
import { QUOTA_DEFAULTS } from '../quotas.ts'
import { callerFor, unwrap } from './resources.ts'

/** Router interface actions and the quota API. */
export function actionRoutes(plugin: NetworkPlugin): Route[] {
  const { l3, quotas } = plugin
  const interfaceBody = (body: unknown) => routerInterfaceBody(body)
  return [
    {
      method: 'PUT',
      path: '/v2.0/routers/:id/add_router_interface',
      handler: async (req) => l3.addInterface(callerFor(req), req.params.id, interfaceBody(req.body)),
    },
    {
      method: 'PUT',
      path: '/v2.0/routers/:id/remove_router_interface',
      handler: async (req) => l3.removeInterface(callerFor(req), req.params.id, interfaceBody(req.body)),
    },
    {
      method: 'GET',
      path: '/v2.0/quotas',
      handler: async (req) => {
        if (!callerFor(req).isAdmin) throw policyNotAuthorized('get_quota')
        return { quotas: await quotas.listOverridden() }
      },
    },
    {
      method: 'GET',
      path: '/v2.0/quotas/:project/default',
      handler: () => ({ quota: { ...QUOTA_DEFAULTS } }),
    },
    {
      method: 'GET',
      path: '/v2.0/quotas/:project/details.json',
      handler: async (req) => {
        const project = ownProject(req.params.project, callerFor(req))
        return { quota: await quotas.details(project) }
      },
    },
    {
      method: 'GET',
      path: '/v2.0/quotas/:project/details',
      handler: async (req) => ({
        quota: await quotas.details(ownProject(req.params.project, callerFor(req))),
      }),
    },
    {
      method: 'GET',
      path: '/v2.0/quotas/:project',
      handler: async (req) => ({
        quota: await quotas.limits(ownProject(stripJson(req.params.project), callerFor(req))),
      }),
    },
    {
      method: 'PUT',
      path: '/v2.0/quotas/:project',
      handler: async (req) => {
        if (!callerFor(req).isAdmin) throw policyNotAuthorized('update_quota')
        const changes = unwrap(req.body, 'quota', Object.keys(QUOTA_DEFAULTS))
        return { quota: await quotas.update(stripJson(req.params.project), changes) }
      },
    },
    {
      method: 'DELETE',
      path: '/v2.0/quotas/:project',
      handler: async (req) => {
        if (!callerFor(req).isAdmin) throw policyNotAuthorized('delete_quota')
        await quotas.reset(stripJson(req.params.project))
        return respond(204)
      },
    },
  ]
}

/**
 * The body of add/remove_router_interface: `subnet_id` and `port_id` must be
 * UUIDs when given (Neutron's _validate_interface_info).
 */
function routerInterfaceBody(body: unknown): Record<string, unknown> {
  const info = (body ?? {}) as Record<string, unknown>
  if (typeof info !== 'object' || Array.isArray(info))
    throw invalid('BadRequest', 'Bad router request: Resource body required.')
  for (const key of ['port_id', 'subnet_id']) {
    if (key in info && !isUuidLike(info[key]))
      throw invalid('BadRequest', `Bad router request: '${pyText(info[key])}' is not a valid UUID.`)
  }
  return info
}

/** `get_quota` is admin or the project itself. */
function ownProject(project: string, caller: { projectId: string; isAdmin: boolean }): string {
  if (!caller.isAdmin && project !== caller.projectId) throw policyNotAuthorized('get_quota')
  return project
}

/** Old clients address `/quotas/{project}.json`. */
function stripJson(project: string): string {
  return project.endsWith('.json') ? project.slice(0, -'.json'.length) : project
}
