import { addFixedIpAction, removeFixedIpAction } from './multinic.ts'
import type { RequestContext } from '../../../common/context.ts'
import { Conflict, Invalid, NotFound } from '../../../common/errors.ts'
import { respond, type Route } from '../../../service/http.ts'
import type { CreateServerRequest, ServerUpdates } from '../../api.ts'
import { instancePassword } from '../../password.ts'
import { getFlavor } from '../../db/flavors.ts'
import { allFixedIps as cachedAddresses } from '../../db/info-caches.ts'
import { instanceNotFound } from '../../db/instances.ts'
import { groupsOfInstances } from '../../db/server-groups.ts'
import type { Instance, NetworkRequest, RequestedNetworks } from '../../objects.ts'
import { VmState } from '../../states.ts'
import { boolFromString, idFromHref, normalizeName, versionedRoute, type ComputeRequest } from '../common.ts'
import { instanceForCaller, type ApiDeps } from '../deps.ts'
import {
  CREATE_SCHEMAS,
  forceDelete,
  lockV273,
  QUERY_SCHEMAS,
  resetState,
  UPDATE_SCHEMAS,
} from '../schemas/servers.ts'
import { parseServerListQuery } from '../server-list.ts'
import {
  confirmResizeAction,
  evacuateAction,
  migrateAction,
  movesOf,
  resizeAction,
  revertResizeAction,
} from './migrations.ts'
import { schemaFor, validateBody, validateQuery } from '../validation.ts'
import { addFloatingIpAction, removeFloatingIpAction } from './floating-ips.ts'
import { addSecurityGroupAction, removeSecurityGroupAction } from './security-groups.ts'
import { SERVER_ACTIONS } from '../actions/handlers.ts'
import {
  addressesView,
  createView,
  detailListView,
  listView,
  showView,
  type ShowOptions,
} from '../views/servers.ts'

/** The servers resource: create, list, show, update, delete, the actions the API does alone, password. */
export function serverRoutes(deps: ApiDeps): Route[] {
  const r = (
    method: Route['method'],
    path: string,
    status: number,
    handler: (req: ComputeRequest) => unknown,
  ) => versionedRoute({ method, path, status, handler })
  return [
    r('POST', '/v2.1/servers', 202, (req) => createServer(deps, req)),
    r('GET', '/v2.1/servers', 200, (req) => listServers(deps, req, false)),
    r('GET', '/v2.1/servers/detail', 200, (req) => listServers(deps, req, true)),
    r('GET', '/v2.1/servers/:server_id', 200, (req) => showServer(deps, req)),
    r('PUT', '/v2.1/servers/:server_id', 200, (req) => updateServer(deps, req)),
    r('DELETE', '/v2.1/servers/:server_id', 204, (req) => deleteServer(deps, req)),
    r('POST', '/v2.1/servers/:server_id/action', 202, (req) => serverAction(deps, req)),
    r('GET', '/v2.1/servers/:server_id/ips', 200, (req) => listIps(deps, req)),
    r('GET', '/v2.1/servers/:server_id/ips/:network_label', 200, (req) => showIps(deps, req)),
    r('GET', '/v2.1/servers/:server_id/os-server-password', 200, (req) => showPassword(deps, req)),
    r('DELETE', '/v2.1/servers/:server_id/os-server-password', 204, (req) => clearPassword(deps, req)),
  ]
}

// ---- create ----

async function createServer(deps: ApiDeps, req: ComputeRequest) {
  validateBody(schemaFor(CREATE_SCHEMAS, req.mv)!, req.body)
  const ctx = req.api.ctx
  const body = req.body as { server: Record<string, any>; [k: string]: any }
  const server = body.server
  const target = {
    project_id: ctx.projectId ?? null,
    user_id: ctx.userId ?? null,
    availability_zone: server.availability_zone ?? null,
  }
  deps.policy.authorize(ctx, 'os_compute_api:servers:create', target)
  const create = createRequest(req, body)
  authorizeCreateOptions(deps, ctx, create, server, target)
  const result = await deps.compute.create(ctx, create)
  if (boolFromString(server.return_reservation_id ?? false)) return { reservation_id: result.reservationId }
  // As Nova: the request's security_groups echoed as given (even an empty list), `default` when it had none.
  const securityGroups = Array.isArray(server.security_groups)
    ? (server.security_groups as { name: string }[])
    : [{ name: 'default' }]
  const view = createView(req, result.instances[0]!, securityGroups) as { server: Record<string, unknown> }
  view.server.adminPass = result.adminPassword
  const self = (view.server.links as { rel: string; href: string }[])[0]!.href
  return respond(202, view, { location: self })
}

function authorizeCreateOptions(
  deps: ApiDeps,
  ctx: RequestContext,
  create: CreateServerRequest,
  server: Record<string, any>,
  target: Record<string, unknown>,
): void {
  if (create.availabilityZone?.includes(':'))
    deps.policy.authorize(ctx, 'os_compute_api:servers:create:forced_host', target)
  if (create.requestedHost !== undefined || create.requestedNode !== undefined) {
    deps.policy.authorize(ctx, 'compute:servers:create:requested_destination', target)
    if (create.availabilityZone?.includes(':')) {
      throw new Invalid(
        'One mechanism with host and/or hypervisor_hostname and another mechanism with zone:host:node are mutually exclusive.',
      )
    }
  }
  if (server.block_device_mapping?.length || server.block_device_mapping_v2?.length) {
    deps.policy.authorize(ctx, 'os_compute_api:servers:create:attach_volume', target)
  }
  if (Array.isArray(create.networks) && create.networks.length > 0) {
    deps.policy.authorize(ctx, 'os_compute_api:servers:create:attach_network', target)
  }
  if (server.trusted_image_certificates) {
    deps.policy.authorize(ctx, 'os_compute_api:servers:create:trusted_certs', target)
  }
}

function createRequest(
  req: ComputeRequest,
  body: { server: Record<string, any>; [k: string]: any },
): CreateServerRequest {
  const s = body.server
  const mv = req.mv
  if (s.block_device_mapping?.length && s.block_device_mapping_v2?.length) {
    throw new Invalid('Using different block_device_mapping syntaxes is not allowed in the same request.')
  }
  const minCount = Number(s.min_count ?? 1)
  const maxCount = Number(s.max_count ?? minCount)
  if (minCount > maxCount) throw new Invalid('min_count must be <= max_count')
  const name = normalizeName(s.name as string)
  return {
    name,
    description: mv.atLeast('2.19') ? (s.description ?? null) : name,
    hostname: mv.atLeast('2.90') ? s.hostname : undefined,
    imageRef: imageRefOf(s),
    flavorId: idFromHref(s.flavorRef),
    adminPassword: s.adminPass,
    metadata: s.metadata ?? {},
    networks: requestedNetworks(s.networks),
    keyName: s.key_name,
    securityGroups: [
      ...new Set(((s.security_groups ?? []) as { name?: string }[]).flatMap((g) => (g.name ? [g.name] : []))),
    ],
    userData: s.user_data,
    availabilityZone: s.availability_zone,
    minCount,
    maxCount,
    configDrive: s.config_drive === undefined ? undefined : boolFromString(s.config_drive),
    accessIpV4: s.accessIPv4,
    accessIpV6: s.accessIPv6,
    autoDiskConfig: s['OS-DCF:diskConfig'] === undefined ? undefined : s['OS-DCF:diskConfig'] === 'AUTO',
    tags: mv.atLeast('2.52') ? (s.tags ?? []) : [],
    schedulerHints: body['os:scheduler_hints'] ?? body['OS-SCH-HNT:scheduler_hints'] ?? {},
    requestedHost: mv.atLeast('2.74') ? s.host : undefined,
    requestedNode: mv.atLeast('2.74') ? s.hypervisor_hostname : undefined,
    trustedCerts: mv.atLeast('2.63') ? (s.trusted_image_certificates ?? undefined) : undefined,
  }
}

/** imageRef, or the image of a block_device_mapping_v2 boot entry from an image. */
function imageRefOf(s: Record<string, any>): string {
  const href = s.imageRef as string | undefined
  if (href) return idFromHref(href)
  const bdms = (s.block_device_mapping_v2 ?? []) as Record<string, any>[]
  if (bdms.length === 0 && !(s.block_device_mapping ?? []).length)
    throw new Invalid('Missing imageRef attribute')
  const boot = bdms.find((b) => String(b.boot_index ?? '') === '0') ?? bdms[0]
  if (boot?.source_type === 'image' && boot.destination_type !== 'volume')
    return String(boot.uuid ?? boot.image_id ?? '')
  return ''
}

/** Nova's `_get_requested_networks` (the schema already checked the shape). */
function requestedNetworks(networks: unknown): RequestedNetworks | undefined {
  if (networks === undefined) return undefined
  if (networks === 'auto' || networks === 'none') return networks
  const ports = new Set<string>()
  const out: NetworkRequest[] = []
  for (const n of networks as Record<string, string | null | undefined>[]) {
    const port = n.port ?? undefined
    const address = n.fixed_ip ?? undefined
    if (port) {
      if (ports.has(port)) {
        throw new Invalid(`Port ID '${port}' was specified twice: you cannot attach a port multiple times.`)
      }
      if (address !== undefined) {
        throw new Invalid(
          `Specified Fixed IP '${address}' cannot be used with port '${port}': the two cannot be specified together.`,
        )
      }
      ports.add(port)
      out.push({ portId: port, tag: n.tag ?? undefined })
      continue
    }
    if (n.uuid === undefined || n.uuid === null) throw new Invalid("Bad network format: missing 'uuid'")
    if (!/^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(n.uuid)) {
      throw new Invalid(`Bad networks format: network uuid is not in proper format (${n.uuid})`)
    }
    out.push({ networkId: n.uuid, address, tag: n.tag ?? undefined })
  }
  return out
}

// ---- read ----

function showOptions(
  deps: ApiDeps,
  ctx: RequestContext,
  req: ComputeRequest,
  projectId?: string,
): ShowOptions {
  const target = projectId === undefined ? undefined : { project_id: projectId }
  return {
    isAdmin: ctx.isAdmin,
    showExtendedAttrs: deps.policy.can(ctx, 'os_compute_api:os-extended-server-attributes', target),
    showExtraSpecs:
      req.mv.atLeast('2.47') &&
      deps.policy.can(ctx, 'os_compute_api:servers:show:flavor-extra-specs', target),
  }
}

function canSeeHostStatus(
  deps: ApiDeps,
  ctx: RequestContext,
  req: ComputeRequest,
  projectId?: string,
): boolean {
  if (!req.mv.atLeast('2.16')) return false
  const target = projectId === undefined ? undefined : { project_id: projectId }
  return deps.policy.can(ctx, 'os_compute_api:servers:show:host_status', target)
}

async function listServers(deps: ApiDeps, req: ComputeRequest, isDetail: boolean) {
  const ctx = req.api.ctx
  validateQuery(schemaFor(QUERY_SCHEMAS, req.mv)!, req.query)
  deps.policy.authorize(ctx, `os_compute_api:servers:${isDetail ? 'detail' : 'index'}`)
  let ips: Map<string, { address: string; version: number }[]> | undefined
  const query = await parseServerListQuery(req, deps.policy, ctx, isDetail, (instance, version) =>
    (ips?.get(instance.uuid) ?? []).filter((ip) => ip.version === version).map((ip) => ip.address),
  )
  if (query.empty || (query.flavorId !== undefined && !(await flavorExists(deps, query.flavorId)))) {
    return { servers: [] }
  }
  if (query.needsAddresses) ips = await allFixedIps(deps)
  let page
  try {
    page = await deps.compute.list(query.filter, {
      sort: query.sort,
      limit: query.limit,
      marker: query.marker,
    })
  } catch (err) {
    if (err instanceof NotFound && query.marker !== undefined)
      throw new Invalid(`marker [${query.marker}] not found`)
    throw err
  }
  if (!isDetail) return listView(req, page.items)
  const extras = await deps.compute.extras(page.items, {
    hostStatus: canSeeHostStatus(deps, ctx, req),
    tags: req.mv.atLeast('2.26'),
  })
  return detailListView(req, page.items, extras, showOptions(deps, ctx, req))
}

async function flavorExists(deps: ApiDeps, flavorId: string): Promise<boolean> {
  try {
    await getFlavor(deps.db.kysely, flavorId)
    return true
  } catch (err) {
    if (err instanceof NotFound) return false
    throw err
  }
}

async function allFixedIps(deps: ApiDeps): Promise<Map<string, { address: string; version: number }[]>> {
  return cachedAddresses(deps.db.kysely)
}

async function showServer(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  const uuid = req.params.server_id!
  const { instance, extras } = await deps.compute.getWithExtras(uuid, {
    hostStatus: canSeeHostStatus(deps, ctx, req),
  })
  // Other projects' servers do not exist for a non-admin (404, as Nova's project_only lookups).
  if (!ctx.isAdmin && instance.projectId !== ctx.projectId) throw instanceNotFound(uuid)
  deps.policy.authorize(ctx, 'os_compute_api:servers:show', { project_id: instance.projectId })
  const opts = {
    ...showOptions(deps, ctx, req, instance.projectId),
    showServerGroups: req.mv.atLeast('2.71') && (await serverGroupsOf(deps, instance.uuid)),
  }
  return { server: showView(req, instance, extras, opts) }
}

/** The uuids of the server groups a server is in (2.71 `server_groups`). */
async function serverGroupsOf(deps: ApiDeps, uuid: string): Promise<string[]> {
  return (await groupsOfInstances(deps.db.kysely, [uuid])).get(uuid) ?? []
}

// ---- update ----

async function updateServer(deps: ApiDeps, req: ComputeRequest) {
  validateBody(schemaFor(UPDATE_SCHEMAS, req.mv)!, req.body)
  const ctx = req.api.ctx
  const instance = await instanceForCaller(deps, ctx, req.params.server_id!)
  deps.policy.authorize(ctx, 'os_compute_api:servers:update', {
    user_id: instance.userId,
    project_id: instance.projectId,
  })
  const server = (req.body as { server: Record<string, any> }).server
  const updates: { -readonly [K in keyof ServerUpdates]: ServerUpdates[K] } = {}
  if ('name' in server) updates.displayName = normalizeName(server.name)
  if ('description' in server) updates.displayDescription = server.description
  if ('hostname' in server) updates.hostname = server.hostname
  if ('accessIPv4' in server) updates.accessIpV4 = server.accessIPv4
  if ('accessIPv6' in server) updates.accessIpV6 = server.accessIPv6
  if ('OS-DCF:diskConfig' in server) updates.autoDiskConfig = server['OS-DCF:diskConfig'] === 'AUTO'
  const updated = Object.keys(updates).length ? await deps.compute.update(instance, updates) : instance
  const full = req.mv.atLeast('2.75')
  const extras = await deps.compute.extras([updated], {
    hostStatus: full && canSeeHostStatus(deps, ctx, req, updated.projectId),
    tags: req.mv.atLeast('2.26'),
  })
  const base = showOptions(deps, ctx, req, updated.projectId)
  const opts: ShowOptions = {
    ...base,
    showExtendedAttrs: full && base.showExtendedAttrs,
    full,
    showServerGroups: req.mv.atLeast('2.71') && (await serverGroupsOf(deps, updated.uuid)),
  }
  return { server: showView(req, updated, extras, opts) }
}

// ---- delete and actions ----

async function deleteServer(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  const instance = await instanceForCaller(deps, ctx, req.params.server_id!)
  deps.policy.authorize(ctx, 'os_compute_api:servers:delete', {
    user_id: instance.userId,
    project_id: instance.projectId,
  })
  await deps.compute.delete(ctx, instance)
  // A server deleted mid-move: the other host drops what the move kept there.
  await movesOf(deps).onDelete(ctx, instance)
  // A shelved server's snapshot goes with it (Nova's _delete).
  await deps.actions.deleteShelvedImage(ctx, instance)
  return respond(204)
}

/**
 * Nova's server actions Nimbus does not run yet. As in Nova, a missing
 * server is a 404 before anything else is said about the action.
 */
const NOT_YET_ACTIONS: ReadonlySet<string> = new Set([
  'resize',
  'confirmResize',
  'revertResize',
  'migrate',
  'os-migrateLive',
  'evacuate',
  'resetNetwork',
  'injectNetworkInfo',
  'trigger_crash_dump',
  'os-getVNCConsole',
  'os-getSPICEConsole',
  'os-getRDPConsole',
  'os-getSerialConsole',
])

/** A handler's return value is the response; without one the answer is an empty 202. */
type ActionHandler = (deps: ApiDeps, req: ComputeRequest, instance: Instance) => Promise<unknown>

/** The actions this API runs, by body key (Nova's wsgi actions). */
const ACTIONS: Readonly<Record<string, ActionHandler>> = {
  forceDelete: forceDeleteAction,
  lock: lockAction,
  unlock: unlockAction,
  'os-resetState': resetStateAction,
  resize: resizeAction,
  confirmResize: confirmResizeAction,
  revertResize: revertResizeAction,
  migrate: migrateAction,
  evacuate: evacuateAction,
  addSecurityGroup: addSecurityGroupAction,
  removeSecurityGroup: removeSecurityGroupAction,
  addFloatingIp: addFloatingIpAction,
  removeFloatingIp: removeFloatingIpAction,
  addFixedIp: addFixedIpAction,
  removeFixedIp: removeFixedIpAction,
  ...SERVER_ACTIONS,
}

async function serverAction(deps: ApiDeps, req: ComputeRequest) {
  const body = req.body as Record<string, unknown> | undefined
  const action = body && typeof body === 'object' ? Object.keys(body)[0] : undefined
  const handler = action === undefined ? undefined : ACTIONS[action]
  const ctx = req.api.ctx
  if (!handler) {
    if (action !== undefined && NOT_YET_ACTIONS.has(action)) {
      await instanceForCaller(deps, ctx, req.params.server_id!)
    }
    throw new Invalid(`There is no such action: ${action ?? ''}`)
  }
  const instance = await instanceForCaller(deps, ctx, req.params.server_id!)
  return (await handler(deps, req, instance)) ?? respond(202)
}

async function forceDeleteAction(deps: ApiDeps, req: ComputeRequest, instance: Instance) {
  validateBody(forceDelete, req.body)
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-deferred-delete:force', {
    user_id: instance.userId,
    project_id: instance.projectId,
  })
  checkNoTask(instance, 'forceDelete')
  await deps.compute.delete(ctx, instance)
}

async function lockAction(deps: ApiDeps, req: ComputeRequest, instance: Instance) {
  if (req.mv.atLeast('2.73')) validateBody(lockV273, req.body)
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-lock-server:lock', {
    user_id: instance.userId,
    project_id: instance.projectId,
  })
  const lock = (req.body as { lock?: { locked_reason?: string } | null }).lock
  const reason = req.mv.atLeast('2.73') && lock ? lock.locked_reason : undefined
  await deps.compute.lock(ctx, instance, reason)
}

async function unlockAction(deps: ApiDeps, req: ComputeRequest, instance: Instance) {
  const ctx = req.api.ctx
  const target = { project_id: instance.projectId }
  deps.policy.authorize(ctx, 'os_compute_api:os-lock-server:unlock', target)
  if (!deps.compute.isExpectedLockedBy(ctx, instance)) {
    deps.policy.authorize(ctx, 'os_compute_api:os-lock-server:unlock:unlock_override', target)
  }
  await deps.compute.unlock(ctx, instance)
}

async function resetStateAction(deps: ApiDeps, req: ComputeRequest, instance: Instance) {
  validateBody(resetState, req.body)
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-admin-actions:reset_state', {
    project_id: instance.projectId,
  })
  const state = (req.body as { 'os-resetState': { state: 'active' | 'error' } })['os-resetState'].state
  await deps.compute.resetState(ctx, instance, state === 'active' ? VmState.ACTIVE : VmState.ERROR)
}

function checkNoTask(instance: Instance, action: string): void {
  if (instance.taskState !== null) {
    throw new Conflict(
      `Cannot '${action}' instance ${instance.uuid} while it is in task_state ${instance.taskState}`,
    )
  }
}

// ---- ips ----

async function listIps(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  const instance = await instanceForCaller(deps, ctx, req.params.server_id!)
  deps.policy.authorize(ctx, 'os_compute_api:ips:index', { project_id: instance.projectId })
  const extras = await deps.compute.extras([{ ...instance, vmState: 'active' }], {
    hostStatus: false,
    tags: false,
  })
  return {
    addresses: addressesView(
      { ...instance, vmState: 'active' },
      extras.fixedIps.get(instance.uuid) ?? [],
      false,
    ),
  }
}

async function showIps(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  const instance = await instanceForCaller(deps, ctx, req.params.server_id!)
  deps.policy.authorize(ctx, 'os_compute_api:ips:show', { project_id: instance.projectId })
  const extras = await deps.compute.extras([{ ...instance, vmState: 'active' }], {
    hostStatus: false,
    tags: false,
  })
  const all = addressesView(
    { ...instance, vmState: 'active' },
    extras.fixedIps.get(instance.uuid) ?? [],
    false,
  )
  const label = req.params.network_label!
  if (!(label in all)) throw new NotFound('Instance is not a member of specified network')
  return { [label]: all[label] }
}

// ---- os-server-password ----

async function showPassword(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  const instance = await instanceForCaller(deps, ctx, req.params.server_id!)
  deps.policy.authorize(ctx, 'os_compute_api:os-server-password:show', { project_id: instance.projectId })
  return { password: instancePassword(instance.systemMetadata) }
}

async function clearPassword(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  const instance = await instanceForCaller(deps, ctx, req.params.server_id!)
  deps.policy.authorize(ctx, 'os_compute_api:os-server-password:clear', { project_id: instance.projectId })
  await deps.compute.clearPassword(instance)
  return respond(204)
}
