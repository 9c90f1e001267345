import { owns, projectFor, requireAdminFor, SYSTEM, type Caller } from './authz.ts'
import type { CorePlugin } from './core.ts'
import {
  DEVICE_OWNER_FLOATING_IP,
  DEVICE_OWNER_ROUTER_GATEWAY,
  DEVICE_OWNER_ROUTER_INTERFACE,
  type ChangeListener,
} from './core.ts'
import {
  conflict,
  floatingIpNotFound,
  invalid,
  notFound,
  portNotFound,
  routerNotFound,
  subnetNotFound,
} from './errors.ts'
import { cidrsOverlap, ipVersionOf, parseCidr } from './ipam.ts'
import type { Quotas } from './quotas.ts'
import { baseDoc, bumpRevision, pick, revised } from './resource.ts'
import type { Doc, Store } from './store.ts'

interface FixedIp {
  readonly subnet_id: string
  readonly ip_address: string
}

/** Neutron's `BadRequest(resource=..., msg=...)` wording. */
const badResource = (resource: string, msg: string) =>
  invalid('BadRequest', `Bad ${resource} request: ${msg}.`)

/**
 * Routers and floating IPs (Neutron's L3 plugin). A router joins tenant
 * subnets (its interface ports hold their gateway addresses) and one
 * external network (its gateway port); a floating IP is an address on an
 * external network, NATed to a port's fixed IP by the router that joins
 * that external network to the port's subnet.
 */
export class L3Plugin {
  readonly #store: Store
  readonly #core: CorePlugin
  readonly #quotas: Quotas
  readonly #changed: ChangeListener

  constructor(store: Store, core: CorePlugin, quotas: Quotas, changed: ChangeListener) {
    this.#store = store
    this.#core = core
    this.#quotas = quotas
    this.#changed = changed
  }

  // ---- routers ----

  async createRouter(caller: Caller, body: Record<string, unknown>): Promise<Doc> {
    requireAdminFor(caller, 'create_router', body, ['distributed', 'ha'])
    const projectId = projectFor(caller, body)
    const router: Doc = {
      ...baseDoc(projectId),
      name: '',
      description: '',
      admin_state_up: true,
      status: 'ACTIVE',
      external_gateway_info: null,
      routes: [],
      distributed: false,
      ha: false,
      availability_zone_hints: [],
      availability_zones: ['nova'],
      flavor_id: null,
      ...pick(body, ['name', 'description', 'admin_state_up']),
    }
    await this.#store.transaction(async (store) => {
      await this.#quotas.checkLocked(store, projectId, 'router', 1)
      await store.insert('routers', router)
    })
    // Neutron: gateway info without a network_id (`{}`, `{"enable_snat": ..}`) sets no gateway.
    if (hasGatewayNetwork(body.external_gateway_info)) {
      try {
        return await this.#setGateway(caller, router, body.external_gateway_info as GatewayInfo)
      } catch (err) {
        await this.#store.delete('routers', router.id)
        throw err
      }
    }
    return router
  }

  async getRouter(caller: Caller, id: string): Promise<Doc> {
    const router = await this.#store.get('routers', id)
    if (!router || !owns(caller, router)) throw routerNotFound(id)
    return router
  }

  async listRouters(caller: Caller): Promise<Doc[]> {
    return (await this.#store.list('routers')).filter((r) => owns(caller, r))
  }

  async updateRouter(caller: Caller, id: string, body: Record<string, unknown>): Promise<Doc> {
    let router = await this.getRouter(caller, id)
    router = revised(router, pick(body, ['name', 'description', 'admin_state_up']))
    if (body.routes !== undefined) router = revised(router, { routes: this.#routes(body.routes) })
    await this.#store.update('routers', router)
    if ('external_gateway_info' in body) {
      const info = body.external_gateway_info as GatewayInfo | null
      if (info && hasGatewayNetwork(info)) router = await this.#setGateway(caller, router, info)
      else router = await this.#clearGateway(router)
    }
    this.#changed({ kind: 'router' })
    return router
  }

  #routes(value: unknown): { destination: string; nexthop: string }[] {
    return ((value ?? []) as { destination: string; nexthop: string }[]).map((r) => {
      if (!parseCidr(String(r.destination)) || !ipVersionOf(String(r.nexthop))) {
        throw invalid('InvalidRoutes', `Invalid format for routes: ${JSON.stringify(value)}`)
      }
      return { destination: r.destination, nexthop: r.nexthop }
    })
  }

  async #setGateway(caller: Caller, router: Doc, info: GatewayInfo): Promise<Doc> {
    const net = await this.#store.get('networks', info.network_id)
    if (!net) throw notFound('NetworkNotFound', `Network ${info.network_id} could not be found.`)
    if (net['router:external'] !== true) {
      throw badResource('router', `Network ${info.network_id} is not an external network`)
    }
    if (info.enable_snat === false && !caller.isAdmin) {
      throw invalid(
        'PolicyNotAuthorized',
        '(rule:create_router:external_gateway_info:enable_snat) is disallowed by policy',
      )
    }
    const current = router.external_gateway_info as GatewayInfoStored | null
    if (current && current.network_id === info.network_id && info.external_fixed_ips === undefined) {
      const doc = revised(router, {
        external_gateway_info: { ...current, enable_snat: info.enable_snat ?? current.enable_snat },
      })
      await this.#store.update('routers', doc)
      return doc
    }
    if (current) router = await this.#clearGateway(router)
    const port = await this.#core.createPort(
      SYSTEM,
      {
        network_id: net.id,
        device_owner: DEVICE_OWNER_ROUTER_GATEWAY,
        device_id: router.id,
        project_id: '',
        ...(info.external_fixed_ips ? { fixed_ips: info.external_fixed_ips } : {}),
      },
      { skipQuota: true },
    )
    const doc = revised(router, {
      external_gateway_info: {
        network_id: net.id,
        enable_snat: info.enable_snat ?? true,
        external_fixed_ips: port.fixed_ips,
      },
    })
    await this.#store.update('routers', doc)
    this.#changed({ kind: 'router' })
    return doc
  }

  async #clearGateway(router: Doc): Promise<Doc> {
    const info = router.external_gateway_info as GatewayInfoStored | null
    if (!info) return router
    const fips = (await this.#store.list('floating_ips')).filter((f) => f.router_id === router.id)
    if (fips.length > 0) {
      throw conflict(
        'RouterExternalGatewayInUseByFloatingIp',
        `Gateway cannot be updated for router ${router.id}, since a gateway to external network ${info.network_id} is required by one or more floating IPs.`,
      )
    }
    for (const p of await this.#routerPorts(router.id, DEVICE_OWNER_ROUTER_GATEWAY)) {
      await this.#core.deletePort(SYSTEM, p.id, { internal: true })
    }
    const doc = revised(router, { external_gateway_info: null })
    await this.#store.update('routers', doc)
    return doc
  }

  async #routerPorts(routerId: string, owner: string): Promise<Doc[]> {
    return (await this.#store.list('ports', { device_id: routerId })).filter((p) => p.device_owner === owner)
  }

  async deleteRouter(caller: Caller, id: string): Promise<void> {
    const router = await this.getRouter(caller, id)
    if ((await this.#routerPorts(id, DEVICE_OWNER_ROUTER_INTERFACE)).length > 0) {
      throw conflict('RouterInUse', `Router ${id} still has ports`)
    }
    await this.#clearGateway(router)
    await this.#store.delete('routers', id)
    this.#changed({ kind: 'router' })
  }

  async addInterface(
    caller: Caller,
    id: string,
    body: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const router = await this.getRouter(caller, id)
    const subnetId = body.subnet_id as string | undefined
    const portId = body.port_id as string | undefined
    if (!subnetId && !portId) throw badResource('router', 'Either subnet_id or port_id must be specified')
    if (subnetId && portId) throw badResource('router', 'Cannot specify both subnet-id and port-id')
    const port = portId
      ? await this.#adoptPort(caller, router, portId)
      : await this.#interfacePort(caller, router, subnetId!)
    await bumpRevision(this.#store, 'routers', router.id)
    this.#changed({ kind: 'router' })
    const fixed = port.fixed_ips as FixedIp[]
    return {
      id: router.id,
      tenant_id: router.project_id,
      project_id: router.project_id,
      port_id: port.id,
      network_id: port.network_id,
      subnet_id: fixed[0]?.subnet_id,
      subnet_ids: fixed.map((f) => f.subnet_id),
    }
  }

  async #interfacePort(caller: Caller, router: Doc, subnetId: string): Promise<Doc> {
    const subnet = await this.#core.getSubnet(caller, subnetId).catch(() => undefined)
    if (!subnet) throw subnetNotFound(subnetId)
    if (!subnet.gateway_ip) throw badResource('router', 'Subnet for router interface must have a gateway IP')
    await this.#checkOverlap(router, subnet)
    return this.#core.createPort(
      { projectId: router.project_id, isAdmin: true },
      {
        network_id: subnet.network_id,
        project_id: router.project_id,
        device_owner: DEVICE_OWNER_ROUTER_INTERFACE,
        device_id: router.id,
        fixed_ips: [{ subnet_id: subnet.id, ip_address: subnet.gateway_ip }],
      },
      { skipQuota: true },
    )
  }

  async #adoptPort(caller: Caller, router: Doc, portId: string): Promise<Doc> {
    const port = await this.#core.getPort(caller, portId)
    if (port.device_id) {
      throw conflict(
        'PortInUse',
        `Unable to complete operation on port ${portId} for network ${String(port.network_id)}. Port already has an attached device ${String(port.device_id)}.`,
      )
    }
    const fixed = port.fixed_ips as FixedIp[]
    if (fixed.length === 0) throw badResource('router', `Router port must have at least one fixed IP`)
    for (const f of fixed) {
      const subnet = await this.#store.get('subnets', f.subnet_id)
      if (subnet) await this.#checkOverlap(router, subnet)
    }
    return this.#core.updatePort(SYSTEM, portId, {
      device_owner: DEVICE_OWNER_ROUTER_INTERFACE,
      device_id: router.id,
    })
  }

  /** A router may not join two subnets whose CIDRs overlap. */
  async #checkOverlap(router: Doc, subnet: Doc): Promise<void> {
    const cidr = parseCidr(subnet.cidr as string)!
    for (const p of await this.#routerPorts(router.id, DEVICE_OWNER_ROUTER_INTERFACE)) {
      for (const f of p.fixed_ips as FixedIp[]) {
        const other = await this.#store.get('subnets', f.subnet_id)
        if (!other) continue
        if (other.id === subnet.id) {
          throw badResource('router', `Router already has a port on subnet ${subnet.id}`)
        }
        if (cidrsOverlap(cidr, parseCidr(other.cidr as string)!)) {
          throw badResource(
            'router',
            `Cidr ${subnet.cidr as string} of subnet ${subnet.id} overlaps with cidr ${other.cidr as string} of subnet ${other.id}`,
          )
        }
      }
    }
  }

  async removeInterface(
    caller: Caller,
    id: string,
    body: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    const router = await this.getRouter(caller, id)
    const subnetId = body.subnet_id as string | undefined
    const portId = body.port_id as string | undefined
    if (!subnetId && !portId) throw badResource('router', 'Either subnet_id or port_id must be specified')
    const ports = await this.#routerPorts(id, DEVICE_OWNER_ROUTER_INTERFACE)
    const port = portId
      ? ports.find((p) => p.id === portId)
      : ports.find((p) => (p.fixed_ips as FixedIp[]).some((f) => f.subnet_id === subnetId))
    if (!port && portId) {
      throw notFound('RouterInterfaceNotFound', `Router ${id} does not have an interface with id ${portId}`)
    }
    if (!port)
      throw notFound(
        'RouterInterfaceNotFoundForSubnet',
        `Router ${id} has no interface on subnet ${subnetId!}`,
      )
    const subnets = (port.fixed_ips as FixedIp[]).map((f) => f.subnet_id)
    await this.#checkNoFloatingIpsThrough(router, port, subnets)
    await this.#core.deletePort(SYSTEM, port.id, { internal: true })
    await bumpRevision(this.#store, 'routers', router.id)
    this.#changed({ kind: 'router' })
    return {
      id: router.id,
      tenant_id: router.project_id,
      project_id: router.project_id,
      port_id: port.id,
      network_id: port.network_id,
      subnet_id: subnets[0],
      subnet_ids: subnets,
    }
  }

  async #checkNoFloatingIpsThrough(router: Doc, port: Doc, subnets: readonly string[]): Promise<void> {
    const fips = (await this.#store.list('floating_ips')).filter(
      (f) => f.router_id === router.id && f.port_id,
    )
    for (const fip of fips) {
      const target = await this.#store.get('ports', fip.port_id as string)
      if (target && (target.fixed_ips as FixedIp[]).some((f) => subnets.includes(f.subnet_id))) {
        throw conflict(
          'RouterInterfaceInUseByFloatingIP',
          `Router interface for subnet ${subnets[0]!} on router ${router.id} cannot be deleted, as it is required by one or more floating IPs.`,
        )
      }
    }
    void port
  }

  // ---- floating IPs ----

  async createFloatingIp(caller: Caller, body: Record<string, unknown>): Promise<Doc> {
    const projectId = projectFor(caller, body)
    const netId = body.floating_network_id as string
    const net = await this.#store.get('networks', netId)
    if (!net) throw notFound('NetworkNotFound', `Network ${netId} could not be found.`)
    if (net['router:external'] !== true) {
      throw badResource('floatingip', `Network ${netId} is not a valid external network`)
    }
    requireAdminFor(caller, 'create_floatingip', body, ['floating_ip_address'])
    await this.#quotas.check(projectId, 'floatingip', 1)
    const fip: Doc = {
      ...baseDoc(projectId),
      description: '',
      floating_network_id: netId,
      floating_ip_address: '',
      router_id: null,
      port_id: null,
      fixed_ip_address: null,
      status: 'DOWN',
      port_details: null,
      port_forwardings: [],
      dns_domain: '',
      dns_name: '',
      qos_policy_id: null,
      ...pick(body, ['description']),
    }
    const subnetId = body.subnet_id as string | undefined
    const requested = body.floating_ip_address
      ? [{ ip_address: body.floating_ip_address as string, ...(subnetId ? { subnet_id: subnetId } : {}) }]
      : subnetId
        ? [{ subnet_id: subnetId }]
        : undefined
    const v4 = (await this.#store.list('subnets', { network_id: netId })).filter((s) => s.ip_version === 4)
    const port = await this.#core.createPort(
      SYSTEM,
      {
        network_id: netId,
        project_id: '',
        device_owner: DEVICE_OWNER_FLOATING_IP,
        device_id: fip.id,
        fixed_ips: requested ?? v4.slice(0, 1).map((s) => ({ subnet_id: s.id })),
      },
      { skipQuota: true },
    )
    const address = (port.fixed_ips as FixedIp[])[0]
    if (!address) {
      await this.#core.deletePort(SYSTEM, port.id, { internal: true })
      throw badResource('floatingip', `Network ${netId} has no IPv4 subnet`)
    }
    fip.floating_ip_address = address.ip_address
    try {
      if (body.port_id)
        Object.assign(
          fip,
          await this.#association(
            caller,
            fip,
            body.port_id as string,
            body.fixed_ip_address as string | undefined,
          ),
        )
      await this.#store.insert('floating_ips', fip)
    } catch (err) {
      await this.#core.deletePort(SYSTEM, port.id, { internal: true })
      throw err
    }
    this.#changed({ kind: 'floatingip', ports: fip.port_id ? [fip.port_id as string] : [] })
    return fip
  }

  /** The fields that associate `fip` with a port: the fixed IP and the router that reaches it. */
  async #association(
    caller: Caller,
    fip: Doc,
    portId: string,
    fixedIp: string | undefined,
  ): Promise<Record<string, unknown>> {
    const port = await this.#core.getPort(caller, portId).catch(() => {
      throw portNotFound(portId)
    })
    const v4 = (port.fixed_ips as FixedIp[]).filter((f) => ipVersionOf(f.ip_address) === 4)
    const chosen = fixedIp ? v4.find((f) => f.ip_address === fixedIp) : v4[0]
    if (!chosen) {
      if (fixedIp) throw badResource('floatingip', `Port ${portId} does not have fixed ip ${fixedIp}`)
      throw badResource('floatingip', `Port ${portId} does not have any IPv4 address`)
    }
    if (v4.length > 1 && !fixedIp) {
      throw badResource(
        'floatingip',
        `Port ${portId} has multiple fixed IPv4 addresses.  Must provide a specific IPv4 address when assigning a floating IP`,
      )
    }
    const others = (await this.#store.list('floating_ips', { port_id: portId })).filter(
      (f) => f.id !== fip.id && f.fixed_ip_address === chosen.ip_address,
    )
    if (others.length > 0) {
      throw conflict(
        'FloatingIPPortAlreadyAssociated',
        `Cannot associate floating IP ${fip.floating_ip_address as string} (${fip.id}) with port ${portId} using fixed IP ${chosen.ip_address}, as that fixed IP already has a floating IP on external network ${fip.floating_network_id as string}.`,
      )
    }
    const routerId = await this.#routerFor(fip.floating_network_id as string, chosen.subnet_id)
    if (!routerId) {
      throw notFound(
        'ExternalGatewayForFloatingIPNotFound',
        `External network ${fip.floating_network_id as string} is not reachable from subnet ${chosen.subnet_id}.  Therefore, cannot associate Port ${portId} with a Floating IP.`,
      )
    }
    return {
      port_id: portId,
      fixed_ip_address: chosen.ip_address,
      router_id: routerId,
      status: 'ACTIVE',
      port_details: portDetails(port),
    }
  }

  /** The router with a gateway on the external network and an interface on the subnet. */
  async #routerFor(externalNetworkId: string, subnetId: string): Promise<string | undefined> {
    const routers = await this.#store.list('routers')
    for (const r of routers) {
      const info = r.external_gateway_info as GatewayInfoStored | null
      if (!info || info.network_id !== externalNetworkId) continue
      const ports = await this.#routerPorts(r.id, DEVICE_OWNER_ROUTER_INTERFACE)
      if (ports.some((p) => (p.fixed_ips as FixedIp[]).some((f) => f.subnet_id === subnetId))) return r.id
    }
    return undefined
  }

  async getFloatingIp(caller: Caller, id: string): Promise<Doc> {
    const fip = await this.#store.get('floating_ips', id)
    if (!fip || !owns(caller, fip)) throw floatingIpNotFound(id)
    return fip
  }

  async listFloatingIps(caller: Caller): Promise<Doc[]> {
    return (await this.#store.list('floating_ips')).filter((f) => owns(caller, f))
  }

  async updateFloatingIp(caller: Caller, id: string, body: Record<string, unknown>): Promise<Doc> {
    const fip = await this.getFloatingIp(caller, id)
    const changes: Record<string, unknown> = pick(body, ['description'])
    // An empty update is a disassociation (Neutron keeps this from before floating IPs had other attributes).
    if ('port_id' in body || Object.keys(body).length === 0) {
      Object.assign(
        changes,
        body.port_id
          ? await this.#association(
              caller,
              fip,
              body.port_id as string,
              body.fixed_ip_address as string | undefined,
            )
          : { port_id: null, fixed_ip_address: null, router_id: null, status: 'DOWN', port_details: null },
      )
    }
    const doc = revised(fip, changes)
    await this.#store.update('floating_ips', doc)
    const ports = [fip.port_id, doc.port_id].filter((p): p is string => typeof p === 'string' && p !== '')
    this.#changed({ kind: 'floatingip', ports })
    return doc
  }

  async deleteFloatingIp(caller: Caller, id: string): Promise<void> {
    const fip = await this.getFloatingIp(caller, id)
    const ports = (await this.#store.list('ports', { device_id: id })).filter(
      (p) => p.device_owner === DEVICE_OWNER_FLOATING_IP,
    )
    await this.#store.delete('floating_ips', id)
    for (const p of ports) await this.#core.deletePort(SYSTEM, p.id, { internal: true })
    this.#changed({ kind: 'floatingip', ports: fip.port_id ? [fip.port_id as string] : [] })
  }

  /** Records what the data plane serving the routers reports: ERROR when a router's namespace failed. */
  async markStatus(status: ReadonlyMap<string, 'ACTIVE' | 'ERROR'>): Promise<void> {
    for (const [id, wanted] of status) {
      const router = await this.#store.get('routers', id)
      if (router && router.status !== wanted)
        await this.#store.update('routers', { ...router, status: wanted })
    }
  }
}

interface GatewayInfo {
  readonly network_id: string
  readonly enable_snat?: boolean
  readonly external_fixed_ips?: { subnet_id?: string; ip_address?: string }[]
}

interface GatewayInfoStored {
  readonly network_id: string
  readonly enable_snat: boolean
  readonly external_fixed_ips: FixedIp[]
}

function portDetails(port: Doc): Record<string, unknown> {
  return {
    name: port.name,
    network_id: port.network_id,
    mac_address: port.mac_address,
    admin_state_up: port.admin_state_up,
    status: port.status,
    device_id: port.device_id,
    device_owner: port.device_owner,
  }
}

/** Whether a request's `external_gateway_info` names a network (else it means "no gateway"). */
function hasGatewayNetwork(info: unknown): info is GatewayInfo {
  return typeof info === 'object' && info !== null && (info as { network_id?: unknown }).network_id != null
}
