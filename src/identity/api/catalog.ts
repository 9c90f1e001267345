import { respond, type Route } from '../../service/http.ts'
import type { Interface } from '../catalog.ts'
import { bounded, extraOf } from '../common.ts'
import { immutable } from '../users.ts'
import { query, queryFlag, selfUrl, type IdentityDeps } from './deps.ts'
import { entity, SCHEMAS, validator } from './validation.ts'
import { collection, endpointView, regionView, serviceView } from './views.ts'

const checks = {
  regionCreate: validator(SCHEMAS.regionCreate),
  regionUpdate: validator(SCHEMAS.regionUpdate),
  serviceCreate: validator(SCHEMAS.serviceCreate),
  serviceUpdate: validator(SCHEMAS.serviceUpdate),
  endpointCreate: validator(SCHEMAS.endpointCreate),
  endpointUpdate: validator(SCHEMAS.endpointUpdate),
}
const REGION_FIELDS = ['id', 'description', 'parent_region_id', 'links']
const SERVICE_FIELDS = ['id', 'type', 'name', 'description', 'enabled', 'links']
const ENDPOINT_FIELDS = ['id', 'interface', 'service_id', 'url', 'region_id', 'region', 'enabled', 'links']

type Body = Record<string, any>
type Params = Record<string, string>

/** Regions, services and endpoints: the catalog as data. */
export function catalogRoutes(d: IdentityDeps): Route[] {
  const c = d.catalog
  // As Keystone's _validate_endpoint_region: an unknown `region_id` is refused (400), but the
  // legacy v2-style `region` (without `region_id`) names a region that is created if missing.
  const legacyRegion = async (b: Body): Promise<string | undefined> => {
    if (b.region_id != null || b.region == null) return b.region_id
    const id = String(b.region)
    if (!(await c.findRegion(id))) {
      try {
        await c.createRegion({ id })
      } catch (e) {
        if (!(await c.findRegion(id))) throw e
      }
    }
    return id
  }
  return [
    {
      method: 'GET',
      path: '/v3/regions',
      policy: 'identity:list_regions',
      handler: async (req) => {
        const regions = await c.listRegions({ parentRegionId: query(req, 'parent_region_id') })
        return collection('regions', bounded(regions.map((r) => regionView(r, req.baseUrl))), selfUrl(req))
      },
    },
    {
      method: 'POST',
      path: '/v3/regions',
      policy: 'identity:create_region',
      status: 201,
      handler: async (req) => {
        const b = entity<Body>(req, 'region', checks.regionCreate)
        const region = await c.createRegion({
          id: b.id,
          description: b.description,
          parentRegionId: b.parent_region_id,
          extra: extraOf(b, REGION_FIELDS),
        })
        return { region: regionView(region, req.baseUrl) }
      },
    },
    {
      method: 'PUT',
      path: '/v3/regions/:region_id',
      policy: 'identity:create_region',
      status: 201,
      handler: async (req) => {
        const id = (req.params as Params).region_id!
        const b = entity<Body>(req, 'region', checks.regionCreate)
        if (b.id !== undefined && b.id !== id) throw immutable('id')
        const region = await c.createRegion({
          id,
          description: b.description,
          parentRegionId: b.parent_region_id,
          extra: extraOf(b, REGION_FIELDS),
        })
        return { region: regionView(region, req.baseUrl) }
      },
    },
    {
      method: 'GET',
      path: '/v3/regions/:region_id',
      policy: 'identity:get_region',
      handler: async (req) => ({
        region: regionView(await c.getRegion((req.params as Params).region_id!), req.baseUrl),
      }),
    },
    {
      method: 'PATCH',
      path: '/v3/regions/:region_id',
      policy: 'identity:update_region',
      handler: async (req) => {
        const id = (req.params as Params).region_id!
        const b = entity<Body>(req, 'region', checks.regionUpdate)
        const region = await c.updateRegion(id, {
          description: b.description,
          parentRegionId: b.parent_region_id,
          extra: extraOf(b, REGION_FIELDS),
        })
        return { region: regionView(region, req.baseUrl) }
      },
    },
    {
      method: 'DELETE',
      path: '/v3/regions/:region_id',
      policy: 'identity:delete_region',
      status: 204,
      handler: async (req) => {
        await c.deleteRegion((req.params as Params).region_id!)
      },
    },

    // ---- services ----
    {
      method: 'GET',
      path: '/v3/services',
      policy: 'identity:list_services',
      handler: async (req) => {
        const services = await c.listServices({ type: query(req, 'type'), name: query(req, 'name') })
        return collection('services', bounded(services.map((s) => serviceView(s, req.baseUrl))), selfUrl(req))
      },
    },
    {
      method: 'POST',
      path: '/v3/services',
      policy: 'identity:create_service',
      status: 201,
      handler: async (req) => {
        const b = entity<Body>(req, 'service', checks.serviceCreate)
        const service = await c.createService({
          type: b.type,
          name: b.name,
          description: b.description,
          enabled: b.enabled,
          extra: extraOf(b, SERVICE_FIELDS),
        })
        return { service: serviceView(service, req.baseUrl) }
      },
    },
    {
      method: 'GET',
      path: '/v3/services/:service_id',
      policy: 'identity:get_service',
      handler: async (req) => ({
        service: serviceView(await c.getService((req.params as Params).service_id!), req.baseUrl),
      }),
    },
    {
      method: 'PATCH',
      path: '/v3/services/:service_id',
      policy: 'identity:update_service',
      handler: async (req) => {
        const b = entity<Body>(req, 'service', checks.serviceUpdate)
        const service = await c.updateService((req.params as Params).service_id!, {
          type: b.type,
          name: b.name,
          description: b.description,
          enabled: b.enabled,
          extra: extraOf(b, SERVICE_FIELDS),
        })
        return { service: serviceView(service, req.baseUrl) }
      },
    },
    {
      method: 'DELETE',
      path: '/v3/services/:service_id',
      policy: 'identity:delete_service',
      status: 204,
      handler: async (req) => {
        await c.deleteService((req.params as Params).service_id!)
      },
    },

    // ---- endpoints ----
    {
      method: 'GET',
      path: '/v3/endpoints',
      policy: 'identity:list_endpoints',
      handler: async (req) => {
        const endpoints = await c.listEndpoints({
          interface: query(req, 'interface'),
          serviceId: query(req, 'service_id'),
          regionId: query(req, 'region_id'),
        })
        const enabled = queryFlag(req, 'enabled')
        const shown = endpoints.filter((e) => enabled === undefined || e.enabled === enabled)
        return collection('endpoints', bounded(shown.map((e) => endpointView(e, req.baseUrl))), selfUrl(req))
      },
    },
    {
      method: 'POST',
      path: '/v3/endpoints',
      policy: 'identity:create_endpoint',
      handler: async (req) => {
        const b = entity<Body>(req, 'endpoint', checks.endpointCreate)
        const endpoint = await c.createEndpoint({
          serviceId: b.service_id,
          regionId: await legacyRegion(b),
          interface: b.interface as Interface,
          url: b.url,
          enabled: b.enabled,
          extra: extraOf(b, ENDPOINT_FIELDS),
        })
        return respond(201, { endpoint: endpointView(endpoint, req.baseUrl) })
      },
    },
    {
      method: 'GET',
      path: '/v3/endpoints/:endpoint_id',
      policy: 'identity:get_endpoint',
      handler: async (req) => ({
        endpoint: endpointView(await c.getEndpoint((req.params as Params).endpoint_id!), req.baseUrl),
      }),
    },
    {
      method: 'PATCH',
      path: '/v3/endpoints/:endpoint_id',
      policy: 'identity:update_endpoint',
      handler: async (req) => {
        const b = entity<Body>(req, 'endpoint', checks.endpointUpdate)
        const endpoint = await c.updateEndpoint((req.params as Params).endpoint_id!, {
          serviceId: b.service_id,
          regionId: await legacyRegion(b),
          interface: b.interface as Interface | undefined,
          url: b.url,
          enabled: b.enabled,
          extra: extraOf(b, ENDPOINT_FIELDS),
        })
        return { endpoint: endpointView(endpoint, req.baseUrl) }
      },
    },
    {
      method: 'DELETE',
      path: '/v3/endpoints/:endpoint_id',
      policy: 'identity:delete_endpoint',
      status: 204,
      handler: async (req) => {
        await c.deleteEndpoint((req.params as Params).endpoint_id!)
      },
    },
  ]
}
