import { Invalid } from '../../common/errors.ts'
import type { Route } from '../../service/http.ts'
import { bounded, expecting } from '../common.ts'
import { ENDPOINT_GROUP_FILTER_KEYS, type EndpointGroupFilters } from '../endpoint-filter.ts'
import { query, selfUrl, type IdentityDeps } from './deps.ts'
import { entity, SCHEMAS, validator } from './validation.ts'
import {
  collection,
  endpointGroupView,
  endpointView,
  projectEndpointGroupView,
  projectView,
} from './views.ts'

const checks = {
  create: validator(SCHEMAS.endpointGroupCreate),
  update: validator(SCHEMAS.endpointGroupUpdate),
}

type Body = Record<string, any>
type Params = Record<string, string>

const PREFIX = '/v3/OS-EP-FILTER'

/** Keystone's `_require_valid_filter`: only endpoint attributes a group may select on. */
function requireValidFilters(filters: EndpointGroupFilters): void {
  for (const key of Object.keys(filters)) {
    if (!(ENDPOINT_GROUP_FILTER_KEYS as readonly string[]).includes(key))
      throw expecting(ENDPOINT_GROUP_FILTER_KEYS.join(' or '), 'endpoint_group')
  }
}

/** OS-EP-FILTER (keystone/api/os_ep_filter.py): endpoint groups and project associations. */
export function endpointFilterRoutes(d: IdentityDeps): Route[] {
  const f = d.endpointFilter
  return [
    {
      method: 'GET',
      path: `${PREFIX}/endpoint_groups`,
      policy: 'identity:list_endpoint_groups',
      handler: async (req) => {
        const all = await f.listGroups({ name: query(req, 'name') })
        return collection(
          'endpoint_groups',
          bounded(all.map((g) => endpointGroupView(g, req.baseUrl))),
          selfUrl(req),
        )
      },
    },
    {
      method: 'POST',
      path: `${PREFIX}/endpoint_groups`,
      policy: 'identity:create_endpoint_group',
      status: 201,
      handler: async (req) => {
        const b = entity<Body>(req, 'endpoint_group', checks.create)
        if (Object.keys(b.filters as object).length === 0)
          throw new Invalid('filters field is required and cannot be empty')
        requireValidFilters(b.filters)
        const g = await f.createGroup({ name: b.name, description: b.description, filters: b.filters })
        return { endpoint_group: endpointGroupView(g, req.baseUrl) }
      },
    },
    {
      method: 'GET',
      path: `${PREFIX}/endpoint_groups/:endpoint_group_id`,
      policy: 'identity:get_endpoint_group',
      handler: async (req) => ({
        endpoint_group: endpointGroupView(
          await f.getGroup((req.params as Params).endpoint_group_id!),
          req.baseUrl,
        ),
      }),
    },
    {
      method: 'PATCH',
      path: `${PREFIX}/endpoint_groups/:endpoint_group_id`,
      policy: 'identity:update_endpoint_group',
      handler: async (req) => {
        const b = entity<Body>(req, 'endpoint_group', checks.update)
        if (b.filters !== undefined) requireValidFilters(b.filters)
        const g = await f.updateGroup((req.params as Params).endpoint_group_id!, {
          name: b.name,
          description: b.description,
          filters: b.filters,
        })
        return { endpoint_group: endpointGroupView(g, req.baseUrl) }
      },
    },
    {
      method: 'DELETE',
      path: `${PREFIX}/endpoint_groups/:endpoint_group_id`,
      policy: 'identity:delete_endpoint_group',
      status: 204,
      handler: async (req) => {
        await f.deleteGroup((req.params as Params).endpoint_group_id!)
      },
    },
    {
      method: 'GET',
      path: `${PREFIX}/endpoint_groups/:endpoint_group_id/endpoints`,
      policy: 'identity:list_endpoints_associated_with_endpoint_group',
      handler: async (req) => {
        const eps = await f.endpointsInGroup((req.params as Params).endpoint_group_id!)
        return collection('endpoints', bounded(eps.map((e) => endpointView(e, req.baseUrl))), selfUrl(req))
      },
    },
    {
      method: 'GET',
      path: `${PREFIX}/endpoint_groups/:endpoint_group_id/projects`,
      policy: 'identity:list_projects_associated_with_endpoint_group',
      handler: async (req) => {
        const ps = await f.projectsForGroup((req.params as Params).endpoint_group_id!)
        return collection('projects', bounded(ps.map((p) => projectView(p, req.baseUrl))), selfUrl(req))
      },
    },
    {
      method: 'GET',
      path: `${PREFIX}/endpoint_groups/:endpoint_group_id/projects/:project_id`,
      policy: 'identity:get_endpoint_group_in_project',
      handler: async (req) => {
        const { endpoint_group_id, project_id } = req.params as Params
        const a = await f.getGroupInProject(endpoint_group_id!, project_id!)
        return { project_endpoint_group: projectEndpointGroupView(a, req.baseUrl) }
      },
    },
    {
      method: 'PUT',
      path: `${PREFIX}/endpoint_groups/:endpoint_group_id/projects/:project_id`,
      policy: 'identity:add_endpoint_group_to_project',
      status: 204,
      handler: async (req) => {
        const { endpoint_group_id, project_id } = req.params as Params
        await f.addGroupToProject(endpoint_group_id!, project_id!)
      },
    },
    {
      method: 'DELETE',
      path: `${PREFIX}/endpoint_groups/:endpoint_group_id/projects/:project_id`,
      policy: 'identity:remove_endpoint_group_from_project',
      status: 204,
      handler: async (req) => {
        const { endpoint_group_id, project_id } = req.params as Params
        await f.removeGroupFromProject(endpoint_group_id!, project_id!)
      },
    },
    {
      method: 'GET',
      path: `${PREFIX}/endpoints/:endpoint_id/projects`,
      policy: 'identity:list_projects_for_endpoint',
      handler: async (req) => {
        const ps = await f.projectsForEndpoint((req.params as Params).endpoint_id!)
        return collection('projects', bounded(ps.map((p) => projectView(p, req.baseUrl))), selfUrl(req))
      },
    },
    {
      method: 'GET',
      path: `${PREFIX}/projects/:project_id/endpoints`,
      policy: 'identity:list_endpoints_for_project',
      handler: async (req) => {
        const eps = await f.endpointsForProject((req.params as Params).project_id!)
        return collection('endpoints', bounded(eps.map((e) => endpointView(e, req.baseUrl))), selfUrl(req))
      },
    },
    {
      // Keystone answers 204 to GET and HEAD alike.
      method: ['GET', 'HEAD'],
      path: `${PREFIX}/projects/:project_id/endpoints/:endpoint_id`,
      policy: 'identity:check_endpoint_in_project',
      status: 204,
      handler: async (req) => {
        const { project_id, endpoint_id } = req.params as Params
        await f.checkEndpointInProject(endpoint_id!, project_id!)
      },
    },
    {
      method: 'PUT',
      path: `${PREFIX}/projects/:project_id/endpoints/:endpoint_id`,
      policy: 'identity:add_endpoint_to_project',
      status: 204,
      handler: async (req) => {
        const { project_id, endpoint_id } = req.params as Params
        await f.addEndpointToProject(endpoint_id!, project_id!)
      },
    },
    {
      method: 'DELETE',
      path: `${PREFIX}/projects/:project_id/endpoints/:endpoint_id`,
      policy: 'identity:remove_endpoint_from_project',
      status: 204,
      handler: async (req) => {
        const { project_id, endpoint_id } = req.params as Params
        await f.removeEndpointFromProject(endpoint_id!, project_id!)
      },
    },
    {
      method: 'GET',
      path: `${PREFIX}/projects/:project_id/endpoint_groups`,
      policy: 'identity:list_endpoint_groups_for_project',
      handler: async (req) => {
        const gs = await f.groupsForProject((req.params as Params).project_id!)
        return collection(
          'endpoint_groups',
          bounded(gs.map((g) => endpointGroupView(g, req.baseUrl))),
          selfUrl(req),
        )
      },
    },
  ]
}
