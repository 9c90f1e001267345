import type { RequestContext } from '../../../common/context.ts'
import { Conflict, Forbidden, Invalid, NimbusError, NotFound } from '../../../common/errors.ts'
import { callerOf } from '../../../network/authz.ts'
import type { Doc } from '../../../network/store.ts'
import { respond, type Route } from '../../../service/http.ts'
import { networkInfoOf } from '../../db/info-caches.ts'
import type { Instance } from '../../objects.ts'
import { networkProxyRoute, type ComputeRequest } from '../common.ts'
import type { ApiDeps } from '../deps.ts'
import { isUuidLike, validateBody, type Schema } from '../validation.ts'

/**
 * Nova's floating IP proxy (floating_ips.py) over Neutron's L3 plugin:
 * `os-floating-ips` and `os-floating-ip-pools` (404 beyond 2.35) and the server actions
 * `addFloatingIp` / `removeFloatingIp` (404 beyond 2.43).
 */
export function floatingIpRoutes(deps: ApiDeps): Route[] {
  return [
    networkProxyRoute('GET', '/v2.1/os-floating-ips', 200, (req) => listFloatingIps(deps, req)),
    networkProxyRoute('POST', '/v2.1/os-floating-ips', 200, (req) => createFloatingIp(deps, req)),
    networkProxyRoute('GET', '/v2.1/os-floating-ips/:id', 200, (req) => showFloatingIp(deps, req)),
    networkProxyRoute('DELETE', '/v2.1/os-floating-ips/:id', 202, (req) => deleteFloatingIp(deps, req)),
    networkProxyRoute('GET', '/v2.1/os-floating-ip-pools', 200, (req) => listPools(deps, req)),
  ]
}
/** The first microversion without the floating IP server actions. */
const ACTIONS_REMOVED_AT = '2.44'
/** Nova's `[neutron] default_floating_pool`. */
const DEFAULT_POOL = 'nova'

const addBody: Schema = {
  type: 'object',
  properties: {
    addFloatingIp: {
      type: 'object',
      properties: {
        address: { type: 'string', anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }] },
        fixed_address: { type: 'string', anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }] },
      },
      required: ['address'],
      additionalProperties: false,
    },
  },
  required: ['addFloatingIp'],
}

const removeBody: Schema = {
  type: 'object',
  properties: {
    removeFloatingIp: {
      type: 'object',
      properties: { address: { type: 'string', anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }] } },
      required: ['address'],
    },
  },
  required: ['removeFloatingIp'],
}

/** Nova's `_translate_floating_ip_view`. */
function floatingIpView(fip: Doc, pools: ReadonlyMap<string, Doc>) {
  const details = fip.port_details as { device_id?: string } | null
  const pool = pools.get(fip.floating_network_id as string)
  return {
    fixed_ip: fip.fixed_ip_address ?? null,
    id: fip.id,
    instance_id: details ? (details.device_id ?? null) : null,
    ip: fip.floating_ip_address,
    pool: (pool?.name as string | undefined) || (fip.floating_network_id as string),
  }
}

async function pools(deps: ApiDeps, ctx: RequestContext): Promise<Map<string, Doc>> {
  const nets = await deps.network.plugin.core.listNetworks(callerOf(ctx))
  return new Map(nets.filter((n) => n['router:external'] === true).map((n) => [n.id, n]))
}

/** Nova's os-floating-ip-pools: the external networks, by name (id when unnamed). */
async function listPools(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-floating-ip-pools')
  const known = await pools(deps, ctx)
  return { floating_ip_pools: [...known.values()].map((n) => ({ name: (n.name as string) || n.id })) }
}

async function listFloatingIps(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-floating-ips:list')
  const fips = (await deps.network.plugin.l3.listFloatingIps(callerOf(ctx))).filter(
    (f) => f.project_id === ctx.projectId,
  )
  const known = await pools(deps, ctx)
  return { floating_ips: fips.map((f) => floatingIpView(f, known)) }
}

async function showFloatingIp(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-floating-ips:show')
  const fip = await floatingIpById(deps, ctx, req.params.id!)
  return { floating_ip: floatingIpView(fip, await pools(deps, ctx)) }
}

async function createFloatingIp(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-floating-ips:create')
  const asked = (req.body as { pool?: string } | undefined)?.pool
  const known = await pools(deps, ctx)
  const byName = [...known.values()].filter((n) => n.name === (asked ?? DEFAULT_POOL) || n.id === asked)
  // Without a pool and without Nova's default `nova`, the only external network is the pool.
  const net = byName[0] ?? (asked === undefined && known.size === 1 ? [...known.values()][0] : undefined)
  if (!net) throw new NotFound('Floating IP pool not found.')
  let fip: Doc
  try {
    fip = await deps.network.plugin.l3.createFloatingIp(callerOf(ctx), { floating_network_id: net.id })
  } catch (err) {
    if (err instanceof NimbusError && err.detail?.type === 'OverQuota') {
      throw new Forbidden(asked ? `IP allocation over quota in pool ${asked}.` : 'IP allocation over quota.')
    }
    if (err instanceof Conflict) {
      throw new NotFound(asked ? `No more floating IPs in pool ${asked}.` : 'No more floating IPs available.')
    }
    throw err
  }
  return { floating_ip: floatingIpView(fip, known) }
}

async function deleteFloatingIp(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-floating-ips:delete')
  const fip = await floatingIpById(deps, ctx, req.params.id!)
  await deps.network.plugin.l3.deleteFloatingIp(callerOf(ctx), fip.id)
  return respond(202)
}

async function floatingIpById(deps: ApiDeps, ctx: RequestContext, id: string): Promise<Doc> {
  if (!isUuidLike(id)) throw new Invalid(`Invalid ID received ${id}.`)
  try {
    return await deps.network.plugin.l3.getFloatingIp(callerOf(ctx), id)
  } catch (err) {
    if (err instanceof NotFound) throw new NotFound(`Floating IP not found for ID ${id}`)
    throw err
  }
}

async function floatingIpByAddress(deps: ApiDeps, ctx: RequestContext, address: string): Promise<Doc> {
  const fips = await deps.network.plugin.l3.listFloatingIps(callerOf(ctx))
  const fip = fips.find((f) => f.floating_ip_address === address)
  if (!fip) throw new NotFound('floating IP not found')
  return fip
}

// ---- server actions ----

export async function addFloatingIpAction(deps: ApiDeps, req: ComputeRequest, instance: Instance) {
  if (req.mv.atLeast(ACTIONS_REMOVED_AT)) throw new NotFound('The resource could not be found.')
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-floating-ips:add', { project_id: instance.projectId })
  validateBody(addBody, req.body)
  const { address, fixed_address: wanted } = (
    req.body as { addFloatingIp: { address: string; fixed_address?: string } }
  ).addFloatingIp
  const vifs = (await networkInfoOf(deps.db.kysely, [instance.uuid])).get(instance.uuid) ?? []
  if (vifs.length === 0) throw new Invalid('Instance network is not ready yet')
  const fixed = vifs.flatMap((v) => v.fixedIps.map((ip) => ({ ...ip, portId: v.portId })))
  if (fixed.length === 0) throw new Invalid('No fixed IPs associated to instance')
  let chosen = fixed.find((ip) => ip.address === wanted)
  if (wanted !== undefined && !chosen) throw new Invalid('Specified fixed address not assigned to instance')
  chosen ??= fixed.find((ip) => ip.version === 4)
  if (!chosen) {
    throw new Invalid(
      `Unable to associate floating IP ${address} to any fixed IPs for instance ${instance.uuid}. Instance has no fixed IPv4 addresses to associate.`,
    )
  }
  const fip = await floatingIpByAddress(deps, ctx, address)
  try {
    await deps.network.plugin.l3.updateFloatingIp(callerOf(ctx), fip.id, {
      port_id: chosen.portId,
      fixed_ip_address: chosen.address,
    })
  } catch (err) {
    if (err instanceof NimbusError && !(err instanceof Forbidden) && err.status < 500) {
      throw new Invalid(
        `Unable to associate floating IP ${address} to fixed IP ${chosen.address} for instance ${instance.uuid}. Error: ${err.message}`,
      )
    }
    throw err
  }
}

export async function removeFloatingIpAction(deps: ApiDeps, req: ComputeRequest, instance: Instance) {
  if (req.mv.atLeast(ACTIONS_REMOVED_AT)) throw new NotFound('The resource could not be found.')
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-floating-ips:remove', { project_id: instance.projectId })
  validateBody(removeBody, req.body)
  const { address } = (req.body as { removeFloatingIp: { address: string } }).removeFloatingIp
  const fip = await floatingIpByAddress(deps, ctx, address)
  const owner = (fip.port_details as { device_id?: string } | null)?.device_id
  if (!fip.port_id || owner !== instance.uuid) {
    throw new Conflict(`Floating IP ${address} is not associated with instance ${instance.uuid}.`)
  }
  await deps.network.plugin.l3.updateFloatingIp(callerOf(ctx), fip.id, { port_id: null })
}
