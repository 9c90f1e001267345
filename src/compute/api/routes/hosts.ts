import { Conflict, Invalid, NotFound, NotImplemented } from '../../../common/errors.ts'
import { limits } from '../../../common/limits.ts'
import { logger } from '../../../common/log.ts'
import { deleteService, getService, setServiceDisabled, setServiceForcedDown } from '../../../db/services.ts'
import { respond, type Route } from '../../../service/http.ts'
import { Binary, type ServiceView } from '../../host-api.ts'
import { removeHostFromAggregates } from '../../db/aggregates.ts'
import type { ComputeNode, Instance } from '../../objects.ts'
import {
  boolFromString,
  collectionLinks,
  first,
  limitAndMarker,
  naiveTime,
  versionedRoute,
  type ComputeRequest,
} from '../common.ts'
import type { ApiDeps } from '../deps.ts'
import { instanceName } from '../views/servers.ts'
import { boolean, commonQueryParam, derive, fqdn, nonNegativeInteger, singleParam } from '../schemas/types.ts'
import { isUuidLike, schemaFor, validateBody, validateQuery, type Schema } from '../validation.ts'

const log = logger('compute.api.hosts')

/** os-availability-zone, os-services and os-hypervisors: what runs where, and its state. */
export function hostRoutes(deps: ApiDeps): Route[] {
  const r = (method: Route['method'], path: string, handler: (req: ComputeRequest) => unknown) =>
    versionedRoute({ method, path, handler })
  return [
    r('GET', '/v2.1/os-availability-zone', (req) => listZones(deps, req)),
    r('GET', '/v2.1/os-availability-zone/detail', (req) => listZonesDetail(deps, req)),
    r('GET', '/v2.1/os-services', (req) => listServicesRoute(deps, req)),
    r('PUT', '/v2.1/os-services/:service_id', (req) => updateService(deps, req)),
    r('DELETE', '/v2.1/os-services/:service_id', (req) => deleteServiceRoute(deps, req)),
    r('GET', '/v2.1/os-hypervisors', (req) => listHypervisors(deps, req, false)),
    r('GET', '/v2.1/os-hypervisors/detail', (req) => listHypervisors(deps, req, true)),
    r('GET', '/v2.1/os-hypervisors/statistics', (req) => hypervisorStatistics(deps, req)),
    r('GET', '/v2.1/os-hypervisors/:pattern/search', (req) => searchHypervisors(deps, req, false)),
    r('GET', '/v2.1/os-hypervisors/:pattern/servers', (req) => searchHypervisors(deps, req, true)),
    r('GET', '/v2.1/os-hypervisors/:hypervisor_id', (req) => showHypervisor(deps, req)),
    r('GET', '/v2.1/os-hypervisors/:hypervisor_id/uptime', (req) => hypervisorUptime(deps, req)),
    r('GET', '/v2.1/os-hosts', (req) => listHosts(deps, req)),
    r('GET', '/v2.1/os-hosts/:host_name', (req) => showHost(deps, req)),
    r('PUT', '/v2.1/os-hosts/:host_name', (req) => updateHost(deps, req)),
    r('GET', '/v2.1/os-hosts/:host_name/startup', (req) => hostPowerAction(deps, req, 'start')),
    r('GET', '/v2.1/os-hosts/:host_name/shutdown', (req) => hostPowerAction(deps, req, 'shutdown')),
    r('GET', '/v2.1/os-hosts/:host_name/reboot', (req) => hostPowerAction(deps, req, 'reboot')),
  ]
}

const UUID_FOR_ID_MICROVERSION = '2.53'

// ---- availability zones ----

async function listZones(deps: ApiDeps, req: ComputeRequest) {
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-availability-zone:list', {})
  const { available, unavailable } = await deps.hosts.availabilityZones()
  const internal = deps.config.compute.internalServiceAvailabilityZone
  const zone = (zoneName: string, isAvailable: boolean) => ({
    zoneName,
    zoneState: { available: isAvailable },
    hosts: null,
  })
  return {
    availabilityZoneInfo: [
      ...available.filter((z) => z !== internal).map((z) => zone(z, true)),
      ...unavailable.filter((z) => z !== internal).map((z) => zone(z, false)),
    ],
  }
}

async function listZonesDetail(deps: ApiDeps, req: ComputeRequest) {
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-availability-zone:detail', {})
  const services = await deps.hosts.services()
  const { available, unavailable } = await deps.hosts.availabilityZones()
  const info: unknown[] = available.map((zoneName) => {
    const hosts: Record<string, Record<string, unknown>> = {}
    for (const s of services.filter((s) => !s.disabled && s.zone === zoneName)) {
      ;(hosts[s.host] ??= {})[s.binary] = {
        available: s.up,
        active: !s.disabled,
        updated_at: naiveTime(s.last_seen_at ?? s.updated_at),
      }
    }
    return { zoneName, zoneState: { available: true }, hosts }
  })
  for (const zoneName of unavailable) info.push({ zoneName, zoneState: { available: false }, hosts: null })
  return { availabilityZoneInfo: info }
}

// ---- services ----

const SERVICE_QUERY: Schema = {
  type: 'object',
  properties: { host: commonQueryParam, binary: commonQueryParam },
  additionalProperties: true,
}
const SERVICE_QUERY_SCHEMAS: readonly [string, string | undefined, Schema][] = [
  ['2.1', '2.74', SERVICE_QUERY],
  ['2.75', undefined, derive(SERVICE_QUERY, (s) => (s.additionalProperties = false))],
]

function serviceView(req: ComputeRequest, s: ServiceView, forcedDown: boolean) {
  return {
    binary: s.binary,
    host: s.host,
    id: req.mv.atLeast(UUID_FOR_ID_MICROVERSION) ? s.uuid : s.id,
    zone: s.zone,
    status: s.disabled ? 'disabled' : 'enabled',
    state: s.up ? 'up' : 'down',
    updated_at: naiveTime(s.last_seen_at ?? s.updated_at),
    disabled_reason: s.disabled_reason,
    ...(forcedDown ? { forced_down: s.forced_down } : {}),
  }
}

async function listServicesRoute(deps: ApiDeps, req: ComputeRequest) {
  validateQuery(schemaFor(SERVICE_QUERY_SCHEMAS, req.mv)!, req.query)
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-services:list', {})
  const services = await deps.hosts.services({
    host: first(req.query, 'host') || undefined,
    binary: first(req.query, 'binary') || undefined,
  })
  return { services: services.map((s) => serviceView(req, s, req.mv.atLeast('2.11'))) }
}

const updateV253: Schema = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['enabled', 'disabled'] },
    disabled_reason: { type: 'string', minLength: 1, maxLength: 255 },
    forced_down: boolean,
  },
  additionalProperties: false,
}
const updateLegacy: Schema = {
  type: 'object',
  properties: {
    host: fqdn,
    binary: { type: 'string', minLength: 1, maxLength: 255 },
    disabled_reason: { type: 'string', minLength: 1, maxLength: 255 },
  },
  required: ['host', 'binary'],
  additionalProperties: false,
}
const updateLegacyV211 = derive(updateLegacy, (s) => (s.properties.forced_down = boolean))

async function updateService(deps: ApiDeps, req: ComputeRequest) {
  if (!req.mv.atLeast(UUID_FOR_ID_MICROVERSION)) return legacyServiceAction(deps, req)
  validateBody(updateV253, req.body)
  const id = req.params.service_id!
  if (!isUuidLike(id)) throw new Invalid(`Invalid uuid ${id}`)
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-services:update', {})
  const service = await getService(deps.db.kysely, { uuid: id }).catch((err: unknown) => {
    throw err instanceof NotFound ? new NotFound(`Service ${id} could not be found.`) : err
  })
  if (service.binary !== Binary.COMPUTE) {
    throw new Invalid(
      `Updating a ${service.binary} service is not supported. Only nova-compute services can be updated.`,
    )
  }
  const body = req.body as { status?: string; disabled_reason?: string; forced_down?: unknown }
  let changed = false
  if (body.status === 'enabled') {
    if (body.disabled_reason)
      throw new Invalid("Specifying 'disabled_reason' with status 'enabled' is invalid.")
    changed = changed || service.disabled || service.disabled_reason !== null
    await setServiceDisabled(deps.db.kysely, { uuid: id }, false)
  } else if (body.status === 'disabled') {
    changed = changed || !service.disabled || service.disabled_reason !== (body.disabled_reason ?? null)
    await setServiceDisabled(deps.db.kysely, { uuid: id }, true, body.disabled_reason ?? null)
  }
  if (body.forced_down !== undefined) {
    const forced = boolFromString(body.forced_down, true)!
    changed = changed || forced !== service.forced_down
    await setServiceForcedDown(deps.db.kysely, { uuid: id }, forced)
  }
  if (!changed && body.status === undefined && body.forced_down === undefined) {
    throw new Invalid("No updates were requested. Fields 'status' or 'forced_down' should be specified.")
  }
  const updated = (await deps.hosts.services({ host: service.host, binary: service.binary }))[0]!
  return { service: serviceView(req, updated, true) }
}

/** Before 2.53: PUT /os-services/{enable|disable|disable-log-reason|force-down} with host and binary. */
async function legacyServiceAction(deps: ApiDeps, req: ComputeRequest) {
  validateBody(req.mv.atLeast('2.11') ? updateLegacyV211 : updateLegacy, req.body)
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-services:update', {})
  const action = req.params.service_id!
  const actions = [
    'enable',
    'disable',
    'disable-log-reason',
    ...(req.mv.atLeast('2.11') ? ['force-down'] : []),
  ]
  if (!actions.includes(action)) throw new NotFound('Unknown action')
  const body = req.body as { host: string; binary: string; disabled_reason?: string; forced_down?: unknown }
  if (body.binary !== Binary.COMPUTE) {
    throw new Invalid(
      `Updating a ${body.binary} service is not supported. Only nova-compute services can be updated.`,
    )
  }
  const ref = { host: body.host, binary: body.binary }
  const notFound = (err: unknown) => {
    throw err instanceof NotFound ? new NotFound(`Compute service of ${body.host} could not be found.`) : err
  }
  if (action === 'force-down') {
    if (body.forced_down === undefined) throw new Invalid('Missing forced_down field')
    const forced = boolFromString(body.forced_down)!
    await setServiceForcedDown(deps.db.kysely, ref, forced).catch(notFound)
    return { service: { host: body.host, binary: body.binary, forced_down: forced } }
  }
  if (action === 'disable-log-reason' && body.disabled_reason === undefined) {
    throw new Invalid('Missing disabled reason field')
  }
  const disable = action !== 'enable'
  const reason = action === 'disable-log-reason' ? (body.disabled_reason ?? null) : null
  await setServiceDisabled(deps.db.kysely, ref, disable, reason).catch(notFound)
  return {
    service: {
      host: body.host,
      binary: body.binary,
      status: disable ? 'disabled' : 'enabled',
      ...(reason ? { disabled_reason: reason } : {}),
    },
  }
}

async function deleteServiceRoute(deps: ApiDeps, req: ComputeRequest) {
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-services:delete', {})
  const id = req.params.service_id!
  const byUuid = req.mv.atLeast(UUID_FOR_ID_MICROVERSION)
  if (byUuid && !isUuidLike(id)) throw new Invalid(`Invalid uuid ${id}`)
  if (!byUuid && !/^\d+$/.test(id)) throw new Invalid('Invalid input received: id must be an integer')
  const ref = byUuid ? { uuid: id } : { id: Number(id) }
  const service = await getService(deps.db.kysely, ref).catch((err: unknown) => {
    throw err instanceof NotFound ? new NotFound(`Service ${id} could not be found.`) : err
  })
  if (service.binary === Binary.COMPUTE && (await deps.hosts.instancesOnHost(service.host)).length > 0) {
    throw new Conflict(
      'Unable to delete compute service that is hosting instances. Migrate or delete the instances first.',
    )
  }
  // As Nova: a deleted compute service leaves every aggregate it was in.
  if (service.binary === Binary.COMPUTE) await removeHostFromAggregates(deps.db.kysely, service.host)
  await deleteService(deps.db.kysely, ref)
  return respond(204)
}

// ---- hypervisors ----

/**
 * Nimbus's extension field: the accelerator a libvirt host chose and why
 * (probe result, guest kernel, time taken, or the fallback to TCG). It sits
 * in cpu_info (free-form per driver in Nova) up to 2.87, and beside
 * hypervisor_type from 2.88, where cpu_info is gone; Tempest's schemas
 * forbid new top-level fields below that.
 */
const ACCELERATOR_CPU_INFO_KEY = 'nimbus:accelerator'

const LIST_QUERY_V233: Schema = {
  type: 'object',
  properties: { limit: singleParam(nonNegativeInteger), marker: singleParam({ type: 'string' }) },
  additionalProperties: true,
}
const LIST_QUERY_V253: Schema = {
  type: 'object',
  properties: {
    limit: singleParam(nonNegativeInteger),
    marker: singleParam({ type: 'string' }),
    hypervisor_hostname_pattern: singleParam(fqdn),
    with_servers: singleParam(boolean),
  },
  additionalProperties: false,
}
const SHOW_QUERY_V253: Schema = {
  type: 'object',
  properties: { with_servers: singleParam(boolean) },
  additionalProperties: false,
}

async function hypervisorView(
  deps: ApiDeps,
  req: ComputeRequest,
  node: ComputeNode,
  service: ServiceView,
  detail: boolean,
  servers: readonly Instance[] | undefined,
  withServers: boolean,
) {
  const mv = req.mv
  const uuidIds = mv.atLeast(UUID_FOR_ID_MICROVERSION)
  const view: Record<string, unknown> = {
    id: uuidIds ? node.uuid : node.id,
    hypervisor_hostname: node.hypervisorHostname,
    state: service.up ? 'up' : 'down',
    status: service.disabled ? 'disabled' : 'enabled',
  }
  if (detail) {
    view.hypervisor_type = node.hypervisorType
    view.hypervisor_version = node.hypervisorVersion
    view.host_ip = node.hostIp
    view.service = {
      id: uuidIds ? service.uuid : service.id,
      host: node.host,
      disabled_reason: service.disabled_reason,
    }
  }
  if (detail && mv.atMost('2.87')) Object.assign(view, resourceFields(node, mv.atMost('2.27')))
  if (detail && mv.atLeast('2.88')) {
    view.uptime = await uptimeOf(deps, req, node, service)
    // cpu_info, which carries it below 2.88, is gone: Nimbus's extension field stands on its own.
    const accelerator = node.cpuInfo[ACCELERATOR_CPU_INFO_KEY]
    if (accelerator !== undefined) view[ACCELERATOR_CPU_INFO_KEY] = accelerator
  }
  if (servers && servers.length) view.servers = servers.map((s) => ({ name: instanceName(s), uuid: s.uuid }))
  else if (withServers && mv.atLeast('2.75')) view.servers = []
  return view
}

function resourceFields(node: ComputeNode, cpuInfoAsString: boolean) {
  return {
    vcpus: node.vcpus,
    memory_mb: node.memoryMb,
    local_gb: node.localGb,
    vcpus_used: node.vcpusUsed,
    memory_mb_used: node.memoryMbUsed,
    local_gb_used: node.localGbUsed,
    free_ram_mb: node.freeRamMb,
    free_disk_gb: node.freeDiskGb,
    current_workload: node.currentWorkload,
    running_vms: node.runningVms,
    disk_available_least: node.diskAvailableLeast,
    cpu_info: cpuInfoAsString ? JSON.stringify(node.cpuInfo) : node.cpuInfo,
  }
}

async function uptimeOf(deps: ApiDeps, req: ComputeRequest, node: ComputeNode, service: ServiceView) {
  if (!service.up) return null
  try {
    return await deps.computeRpc.getHostUptime(req.api.ctx, node.host, limits.computeHostUptimeTimeoutMs)
  } catch (err) {
    log.warn({ err, host: node.host }, 'no uptime from compute host')
    return null
  }
}

async function listHypervisors(deps: ApiDeps, req: ComputeRequest, detail: boolean) {
  const mv = req.mv
  if (mv.atLeast(UUID_FOR_ID_MICROVERSION)) validateQuery(LIST_QUERY_V253, req.query)
  else if (mv.atLeast('2.33')) validateQuery(LIST_QUERY_V233, req.query)
  deps.policy.authorize(req.api.ctx, `os_compute_api:os-hypervisors:${detail ? 'list-detail' : 'list'}`, {})
  const paged = mv.atLeast('2.33')
  const pattern = mv.atLeast(UUID_FOR_ID_MICROVERSION)
    ? first(req.query, 'hypervisor_hostname_pattern')
    : undefined
  const withServers = mv.atLeast(UUID_FOR_ID_MICROVERSION) ? withServersParam(req) : false
  let nodes: ComputeNode[]
  let links = paged
  if (pattern !== undefined) {
    if (req.query.limit !== undefined || req.query.marker !== undefined) {
      throw new Invalid(
        'Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.',
      )
    }
    links = false
    nodes = await nodesMatching(deps, pattern)
  } else {
    const { limit, marker } = paged ? limitAndMarker(req) : { limit: undefined, marker: undefined }
    try {
      nodes = (await deps.hosts.pageComputeNodes(limit, marker, mv.atLeast(UUID_FOR_ID_MICROVERSION))).items
    } catch (err) {
      if (err instanceof NotFound && marker !== undefined) throw new Invalid(`marker [${marker}] not found`)
      throw err
    }
  }
  const services = new Map((await deps.hosts.services({ binary: Binary.COMPUTE })).map((s) => [s.host, s]))
  const hypervisors: Record<string, unknown>[] = []
  for (const node of nodes) {
    const service = services.get(node.host)
    if (!service) continue
    const servers = withServers ? await deps.hosts.instancesOnHost(node.host) : undefined
    hypervisors.push(await hypervisorView(deps, req, node, service, detail, servers, withServers))
  }
  const next = links
    ? collectionLinks(
        req,
        detail ? 'os-hypervisors/detail' : 'os-hypervisors',
        hypervisors.length,
        hypervisors.at(-1)?.id as string | number | undefined,
      )
    : []
  return next.length ? { hypervisors, hypervisors_links: next } : { hypervisors }
}

/** Nova's `compute_node_search_by_hypervisor`: a LIKE '%pattern%' match (case-insensitive). */
async function nodesMatching(deps: ApiDeps, pattern: string): Promise<ComputeNode[]> {
  const needle = pattern.toLowerCase()
  const nodes = (await deps.hosts.computeNodes()).filter((n) =>
    n.hypervisorHostname.toLowerCase().includes(needle),
  )
  if (nodes.length === 0) throw new NotFound(`No hypervisor matching '${pattern}' could be found.`)
  return nodes
}

/**
 * The routes 2.53 replaced with `hypervisor_hostname_pattern` and
 * `with_servers`: search (and servers, which adds each node's instances).
 */
async function searchHypervisors(deps: ApiDeps, req: ComputeRequest, withServers: boolean) {
  if (req.mv.atLeast(UUID_FOR_ID_MICROVERSION)) throw new NotFound('The resource could not be found.')
  deps.policy.authorize(
    req.api.ctx,
    `os_compute_api:os-hypervisors:${withServers ? 'servers' : 'search'}`,
    {},
  )
  const nodes = await nodesMatching(deps, req.params.pattern!)
  const services = new Map((await deps.hosts.services({ binary: Binary.COMPUTE })).map((s) => [s.host, s]))
  const hypervisors: Record<string, unknown>[] = []
  for (const node of nodes) {
    const service = services.get(node.host)
    if (!service) continue
    const servers = withServers ? await deps.hosts.instancesOnHost(node.host) : undefined
    hypervisors.push(await hypervisorView(deps, req, node, service, false, servers, false))
  }
  return { hypervisors }
}

function withServersParam(req: ComputeRequest): boolean {
  const value = first(req.query, 'with_servers')
  if (value === undefined) return false
  return boolFromString(value, true) ?? false
}

async function nodeAndService(
  deps: ApiDeps,
  req: ComputeRequest,
): Promise<{ node: ComputeNode; service: ServiceView }> {
  const id = req.params.hypervisor_id!
  const byUuid = req.mv.atLeast(UUID_FOR_ID_MICROVERSION)
  const missing = () => new NotFound(`Hypervisor with ID '${id}' could not be found.`)
  if (byUuid && !isUuidLike(id)) throw new Invalid(`Invalid uuid ${id}`)
  if (!byUuid && !/^\d+$/.test(id)) throw missing()
  const node = await deps.hosts.computeNode(id, byUuid).catch((err: unknown) => {
    throw err instanceof NotFound ? missing() : err
  })
  const service = await deps.hosts.computeService(node.host)
  if (!service) throw missing()
  return { node, service }
}

async function showHypervisor(deps: ApiDeps, req: ComputeRequest) {
  if (req.mv.atLeast(UUID_FOR_ID_MICROVERSION)) validateQuery(SHOW_QUERY_V253, req.query)
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-hypervisors:show', {})
  const withServers = req.mv.atLeast(UUID_FOR_ID_MICROVERSION) ? withServersParam(req) : false
  const { node, service } = await nodeAndService(deps, req)
  const servers = withServers ? await deps.hosts.instancesOnHost(node.host) : undefined
  return { hypervisor: await hypervisorView(deps, req, node, service, true, servers, withServers) }
}

async function hypervisorUptime(deps: ApiDeps, req: ComputeRequest) {
  if (req.mv.atLeast('2.88')) throw new NotFound('The resource could not be found.')
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-hypervisors:uptime', {})
  const { node, service } = await nodeAndService(deps, req)
  const view = await hypervisorView(deps, req, node, service, false, undefined, false)
  if (!service.up) throw new Invalid(`Compute service of ${node.host} is unavailable at this time.`)
  return { hypervisor: { ...view, uptime: await uptimeOf(deps, req, node, service) } }
}

async function hypervisorStatistics(deps: ApiDeps, req: ComputeRequest) {
  if (req.mv.atLeast('2.88')) throw new NotFound('The resource could not be found.')
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-hypervisors:statistics', {})
  const services = new Map((await deps.hosts.services({ binary: Binary.COMPUTE })).map((s) => [s.host, s]))
  const nodes = (await deps.hosts.computeNodes()).filter(
    (n) => services.get(n.host) && !services.get(n.host)!.disabled,
  )
  const sum = (f: (n: ComputeNode) => number) => nodes.reduce((acc, n) => acc + f(n), 0)
  return {
    hypervisor_statistics: {
      count: nodes.length,
      vcpus: sum((n) => n.vcpus),
      memory_mb: sum((n) => n.memoryMb),
      local_gb: sum((n) => n.localGb),
      vcpus_used: sum((n) => n.vcpusUsed),
      memory_mb_used: sum((n) => n.memoryMbUsed),
      local_gb_used: sum((n) => n.localGbUsed),
      free_ram_mb: sum((n) => n.freeRamMb),
      free_disk_gb: sum((n) => n.freeDiskGb),
      current_workload: sum((n) => n.currentWorkload),
      running_vms: sum((n) => n.runningVms),
      disk_available_least: sum((n) => n.diskAvailableLeast),
    },
  }
}

// ---- os-hosts (deprecated: 2.1 to 2.42, 404 from 2.43) ----

/** The first microversion without os-hosts (Nova's hosts controller stops at 2.42). */
const HOSTS_REMOVED_AT = '2.43'

function checkHostsVersion(req: ComputeRequest): void {
  if (req.mv.atLeast(HOSTS_REMOVED_AT)) throw new NotFound('The resource could not be found.')
}

/** Nova's service topic: the binary without its `nova-` prefix when the row has none. */
function topicOf(s: ServiceView): string {
  return s.topic ?? s.binary.replace(/^nova-/, '')
}

/** GET /os-hosts: the enabled services (not the API ones) as host, topic and zone; `zone` filters. */
async function listHosts(deps: ApiDeps, req: ComputeRequest) {
  checkHostsVersion(req)
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-hosts:list', {})
  const zone = first(req.query, 'zone')
  const services = (await deps.hosts.services()).filter((s) => !s.disabled && (!zone || s.zone === zone))
  return { hosts: services.map((s) => ({ host_name: s.host, service: topicOf(s), zone: s.zone })) }
}

/**
 * GET /os-hosts/{host}: the compute node's totals, what it uses now, what
 * its servers' flavors add up to, then one row per project (Nova's order).
 */
async function showHost(deps: ApiDeps, req: ComputeRequest) {
  checkHostsVersion(req)
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-hosts:show', {})
  const host = req.params.host_name!
  const node = (await deps.hosts.computeNodes()).find((n) => n.host === host)
  if (!node) throw new NotFound(`Host '${host}' is not mapped to any cell`)
  const instances = await deps.hosts.instancesOnHost(host)
  const row = (project: string, cpu: number, memoryMb: number, diskGb: number) => ({
    resource: { host, project, cpu, memory_mb: memoryMb, disk_gb: diskGb },
  })
  const byProject = new Map<string, { cpu: number; memoryMb: number; diskGb: number }>()
  let cpu = 0
  let memoryMb = 0
  let diskGb = 0
  for (const i of instances) {
    const disk = i.flavor.rootGb + i.flavor.ephemeralGb
    cpu += i.flavor.vcpus
    memoryMb += i.flavor.memoryMb
    diskGb += disk
    const p = byProject.get(i.projectId) ?? { cpu: 0, memoryMb: 0, diskGb: 0 }
    byProject.set(i.projectId, {
      cpu: p.cpu + i.flavor.vcpus,
      memoryMb: p.memoryMb + i.flavor.memoryMb,
      diskGb: p.diskGb + disk,
    })
  }
  return {
    host: [
      row('(total)', node.vcpus, node.memoryMb, node.localGb),
      row('(used_now)', node.vcpusUsed, node.memoryMbUsed, node.localGbUsed),
      row('(used_max)', cpu, memoryMb, diskGb),
      ...[...byProject].map(([project, u]) => row(project, u.cpu, u.memoryMb, u.diskGb)),
    ],
  }
}

const HOST_SWITCH: Schema = {
  type: 'string',
  enum: ['enable', 'disable', 'Enable', 'Disable', 'ENABLE', 'DISABLE'],
}
const HOST_UPDATE: Schema = {
  type: 'object',
  properties: { status: HOST_SWITCH, maintenance_mode: HOST_SWITCH },
  anyOf: [{ required: ['status'] }, { required: ['maintenance_mode'] }],
  additionalProperties: false,
}

/** Nova's `_assert_host_exists`: 404 without a compute service on the host. */
async function assertComputeHost(deps: ApiDeps, host: string): Promise<void> {
  if (!(await deps.hosts.computeService(host))) throw new NotFound(`Host ${host} could not be found.`)
}

/**
 * PUT /os-hosts/{host}: Nova hands status and maintenance mode to the
 * virt driver, and neither the libvirt driver nor Nimbus's drivers
 * implement them, so an existing host answers 501 as on a libvirt cloud.
 * (os-services is the way to disable a compute service.)
 */
async function updateHost(deps: ApiDeps, req: ComputeRequest) {
  checkHostsVersion(req)
  validateBody(HOST_UPDATE, req.body)
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-hosts:update', {})
  await assertComputeHost(deps, req.params.host_name!)
  throw new NotImplemented('The requested functionality is not supported.')
}

/** GET /os-hosts/{host}/startup|shutdown|reboot: 404 for an unknown host, else 501 (no driver powers hosts). */
async function hostPowerAction(deps: ApiDeps, req: ComputeRequest, policy: string) {
  checkHostsVersion(req)
  deps.policy.authorize(req.api.ctx, `os_compute_api:os-hosts:${policy}`, {})
  await assertComputeHost(deps, req.params.host_name!)
  throw new NotImplemented('The requested functionality is not supported.')
}
