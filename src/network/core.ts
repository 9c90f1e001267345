import { Conflict } from '../common/errors.ts'
import { canSeeNetwork, canSeeSubnetsOf, owns, projectFor, requireAdminFor, type Caller } from './authz.ts'
import {
  badRequest,
  conflict,
  invalid,
  invalidAttribute,
  invalidInput,
  ipGenerationFailure,
  ipInUse,
  macInUse,
  networkInUse,
  policyNotAuthorized,
  networkNotFound,
  portNotFound,
  securityGroupNotFound,
  subnetInUse,
  subnetNotFound,
} from './errors.ts'
import {
  canonicalIp,
  cidrContains,
  cidrsOverlap,
  defaultPools,
  firstFree,
  formatCidr,
  inPools,
  ipToBigInt,
  ipVersionOf,
  isValidMac,
  parseCidr,
  randomMac,
  broadcast,
  usableRange,
  type Cidr,
  type Pool,
} from './ipam.ts'
import type { Quotas } from './quotas.ts'
import { baseDoc, bumpRevision, pick, revised } from './resource.ts'
import type { Doc, Store } from './store.ts'

/** The physical side of the cloud the API needs to know: which segments exist. */
export interface NetworkSettings {
  /** Physical network tenant (non-admin) networks get a VLAN on. */
  readonly defaultPhysicalNetwork: string
  /** VLAN ids handed out to tenant networks, inclusive. */
  readonly tenantVlanMin: number
  readonly tenantVlanMax: number
  /** MTU of every network (Neutron's global_physnet_mtu). */
  readonly mtu: number
}

export const DEVICE_OWNER_DHCP = 'network:dhcp'
export const DEVICE_OWNER_ROUTER_INTERFACE = 'network:router_interface'
export const DEVICE_OWNER_ROUTER_GATEWAY = 'network:router_gateway'
export const DEVICE_OWNER_FLOATING_IP = 'network:floatingip'
/** Neutron's `network_device` rule: owners of the ports a network's own services use. */
const NETWORK_DEVICE_OWNER_PREFIX = 'network:'
/** Owners whose device id names a router (Neutron's ROUTER_INTERFACE_OWNERS plus the gateway). */
const ROUTER_PORT_OWNERS: readonly string[] = [DEVICE_OWNER_ROUTER_INTERFACE, DEVICE_OWNER_ROUTER_GATEWAY]

/**
 * Port attributes only the network's owner (or an admin) may set, Neutron's
 * policy defaults (`rule:context_is_advsvc or rule:admin_or_network_owner`):
 * on a shared network they would let a tenant turn off anti-spoofing, take
 * another port's MAC or address, or pose as a router or DHCP server.
 */
const NETWORK_OWNER_PORT_ATTRIBUTES = [
  'mac_address',
  'port_security_enabled',
  'allowed_address_pairs',
] as const

const NETWORK_TYPES = ['flat', 'vlan'] as const
const VLAN_ID_MIN = 1
const VLAN_ID_MAX = 4094
/** Neutron's `max_dns_nameservers`, `max_subnet_host_routes`, `max_allowed_address_pair`. */
const MAX_DNS_NAMESERVERS = 5
const MAX_HOST_ROUTES = 20
const MAX_ADDRESS_PAIRS = 10
/** Neutron's IPV4_MIN_MTU and IPV6_MIN_MTU: no network is smaller, none with an IPv6 subnet below 1280. */
const IPV4_MIN_MTU = 68
const IPV6_MIN_MTU = 1280
/**
 * Attempts to pick a free address when other requests take the same one
 * meanwhile (a burst of builds on one network: each conflict skips one more).
 */
const IP_ALLOCATION_ATTEMPTS = 32

/** Called after every change that the data plane may have to apply. */
export type ChangeListener = (what: {
  readonly kind: string
  readonly hosts?: readonly string[]
  /** Ports whose floating IPs changed (compute refreshes their instances' network info). */
  readonly ports?: readonly string[]
}) => void

/**
 * Networks, subnets and ports with IPAM: Neutron's core plugin. Every
 * method takes the caller, checks visibility and ownership, and returns
 * the stored document; the API layer renders it.
 */
export class CorePlugin {
  readonly #store: Store
  readonly #settings: NetworkSettings
  readonly #quotas: Quotas
  readonly #changed: ChangeListener
  /** Set by the security-group plugin: a project's default group id, created on first use. */
  defaultSecurityGroup: (caller: Caller, projectId: string) => Promise<string> = async () => ''
  /**
   * Set by the plugin: the project owning the server `deviceId` names, if it
   * names one. A non-admin may not claim another project's device.
   */
  deviceProject: (deviceId: string) => Promise<string | undefined> = async () => undefined

  constructor(store: Store, settings: NetworkSettings, quotas: Quotas, changed: ChangeListener) {
    this.#store = store
    this.#settings = settings
    this.#quotas = quotas
    this.#changed = changed
  }

  // ---- networks ----

  async createNetwork(caller: Caller, body: Record<string, unknown>): Promise<Doc> {
    const adminOnly = [
      'shared',
      'router:external',
      'provider:network_type',
      'provider:physical_network',
      'provider:segmentation_id',
    ]
    requireAdminFor(caller, 'create_network', body, adminOnly)
    const projectId = projectFor(caller, body)
    return this.#store.transaction(async (store) => {
      await this.#quotas.checkLocked(store, projectId, 'network', 1)
      const segment = await this.#segment(store, body)
      const doc: Doc = {
        ...baseDoc(projectId),
        name: '',
        description: '',
        admin_state_up: true,
        status: 'ACTIVE',
        shared: false,
        'router:external': false,
        mtu: this.#settings.mtu,
        port_security_enabled: true,
        availability_zone_hints: [],
        availability_zones: ['nova'],
        ipv4_address_scope: null,
        ipv6_address_scope: null,
        l2_adjacency: true,
        ...pick(body, [
          'name',
          'description',
          'admin_state_up',
          'shared',
          'router:external',
          'port_security_enabled',
        ]),
        ...segment,
      }
      if (body.mtu !== undefined) doc.mtu = this.#mtu(body.mtu, false)
      await store.insert('networks', doc)
      return doc
    })
  }

  /**
   * A requested network MTU: an integer from 68 (1280 with an IPv6 subnet)
   * to the physical network's. The kernel refuses anything else, and one
   * such network used to stop its host's whole data plane.
   */
  #mtu(value: unknown, hasIpv6: boolean): number {
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw invalidAttribute('mtu', `'${String(value)}' is not an integer`)
    }
    if (value < 0) throw invalidAttribute('mtu', `'${value}' should be non-negative`)
    if (value > this.#settings.mtu) {
      throw invalidInput(`Requested MTU is too big, maximum is ${this.#settings.mtu}`)
    }
    const min = hasIpv6 ? IPV6_MIN_MTU : IPV4_MIN_MTU
    if (value < min) {
      throw invalidInput(
        hasIpv6
          ? `IPv6 subnets require an MTU of at least ${IPV6_MIN_MTU}, requested ${value}`
          : `Requested MTU is too small, minimum is ${IPV4_MIN_MTU}`,
      )
    }
    return value
  }

  /** Validates or picks the provider segment (type, physnet, VLAN id). */
  async #segment(store: Store, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const networks = await store.list('networks')
    const type = body['provider:network_type'] as string | undefined
    const physnet = body['provider:physical_network'] as string | undefined
    const segId = body['provider:segmentation_id'] as number | undefined
    if (type === undefined) {
      if (physnet !== undefined || segId !== undefined) throw invalidInput('network_type required')
      return this.#tenantVlan(networks)
    }
    if (!(NETWORK_TYPES as readonly string[]).includes(type)) {
      throw invalidInput(`network_type value '${type}' not supported`)
    }
    if (!physnet) throw invalidInput('physical_network required for flat provider network')
    if (type === 'flat') {
      if (segId !== undefined) throw invalidInput('segmentation_id specified for flat provider network')
      if (
        networks.some(
          (n) => n['provider:network_type'] === 'flat' && n['provider:physical_network'] === physnet,
        )
      ) {
        throw conflict(
          'FlatNetworkInUse',
          `Unable to create the flat network. Physical network ${physnet} is in use.`,
        )
      }
      return {
        'provider:network_type': 'flat',
        'provider:physical_network': physnet,
        'provider:segmentation_id': null,
      }
    }
    if (segId === undefined) return this.#tenantVlan(networks, physnet)
    if (!Number.isInteger(segId) || segId < VLAN_ID_MIN || segId > VLAN_ID_MAX) {
      throw invalidInput(`segmentation_id out of range (${VLAN_ID_MIN} through ${VLAN_ID_MAX})`)
    }
    if (vlanTaken(networks, physnet, segId)) {
      throw conflict(
        'VlanIdInUse',
        `Unable to create the network. The VLAN ${segId} on physical network ${physnet} is in use.`,
      )
    }
    return {
      'provider:network_type': 'vlan',
      'provider:physical_network': physnet,
      'provider:segmentation_id': segId,
    }
  }

  #tenantVlan(
    networks: readonly Doc[],
    physnet = this.#settings.defaultPhysicalNetwork,
  ): Record<string, unknown> {
    for (let vid = this.#settings.tenantVlanMin; vid <= this.#settings.tenantVlanMax; vid++) {
      if (!vlanTaken(networks, physnet, vid)) {
        return {
          'provider:network_type': 'vlan',
          'provider:physical_network': physnet,
          'provider:segmentation_id': vid,
        }
      }
    }
    throw conflict(
      'NoNetworkAvailable',
      'Unable to create the network. No tenant network is available for allocation.',
    )
  }

  async getNetwork(caller: Caller, id: string): Promise<Doc> {
    const net = await this.#store.get('networks', id)
    if (!net || !canSeeNetwork(caller, net)) throw networkNotFound(id)
    return this.#withSubnets(net)
  }

  async listNetworks(caller: Caller): Promise<Doc[]> {
    const nets = (await this.#store.list('networks')).filter((n) => canSeeNetwork(caller, n))
    const subnets = await this.#store.list('subnets')
    return nets.map((n) => ({ ...n, subnets: subnets.filter((s) => s.network_id === n.id).map((s) => s.id) }))
  }

  async #withSubnets(net: Doc): Promise<Doc> {
    const subnets = await this.#store.list('subnets', { network_id: net.id })
    return { ...net, subnets: subnets.map((s) => s.id) }
  }

  async updateNetwork(caller: Caller, id: string, body: Record<string, unknown>): Promise<Doc> {
    const net = await this.#ownedNetwork(caller, id)
    requireAdminFor(caller, 'update_network', body, [
      'shared',
      'router:external',
      'provider:network_type',
      'provider:physical_network',
      'provider:segmentation_id',
    ])
    for (const attr of ['provider:network_type', 'provider:physical_network', 'provider:segmentation_id']) {
      if (body[attr] !== undefined && body[attr] !== net[attr]) {
        throw invalidInput('Plugin does not support updating provider attributes')
      }
    }
    const changes = pick(body, [
      'name',
      'description',
      'admin_state_up',
      'shared',
      'router:external',
      'port_security_enabled',
    ])
    if (body.mtu !== undefined) {
      const subnets = await this.#store.list('subnets', { network_id: id })
      changes.mtu = this.#mtu(
        body.mtu,
        subnets.some((s) => s.ip_version === 6),
      )
    }
    const doc = revised(net, changes)
    await this.#store.update('networks', doc)
    this.#changed({ kind: 'network' })
    return this.#withSubnets(doc)
  }

  async deleteNetwork(caller: Caller, id: string): Promise<void> {
    const net = await this.#ownedNetwork(caller, id)
    await this.#store.transaction(async (store) => {
      const ports = await store.list('ports', { network_id: id })
      // Neutron deletes an external network's unassociated floating IPs (and their ports) with it.
      const fips = (await store.list('floating_ips')).filter((f) => f.floating_network_id === id)
      const freeFips = fips.every((f) => f.port_id == null)
      const autoDeleted = async (p: Doc) =>
        p.device_owner === DEVICE_OWNER_DHCP ||
        (freeFips && p.device_owner === DEVICE_OWNER_FLOATING_IP) ||
        // A router port whose router is gone serves nothing: it goes with the network.
        (ROUTER_PORT_OWNERS.includes(p.device_owner as string) && !(await this.#servesLiveDevice(p, store)))
      for (const p of ports) if (!(await autoDeleted(p))) throw networkInUse(id)
      for (const f of fips) await store.delete('floating_ips', f.id)
      for (const p of ports) await store.delete('ports', p.id)
      for (const s of await store.list('subnets', { network_id: id })) await store.delete('subnets', s.id)
      await store.delete('networks', net.id)
    })
    this.#changed({ kind: 'network' })
  }

  async #ownedNetwork(caller: Caller, id: string): Promise<Doc> {
    const net = await this.#store.get('networks', id)
    if (!net || !canSeeNetwork(caller, net)) throw networkNotFound(id)
    if (!owns(caller, net)) throw networkNotFound(id)
    return net
  }

  // ---- subnets ----

  async createSubnet(caller: Caller, body: Record<string, unknown>): Promise<Doc> {
    const networkId = body.network_id as string
    const net = await this.#store.get('networks', networkId)
    if (!net || !canSeeNetwork(caller, net)) throw networkNotFound(networkId)
    if (!owns(caller, net)) throw networkNotFound(networkId)
    const projectId = projectFor(caller, body)
    const doc = this.#subnetDoc(projectId, net, body)
    if (doc.ip_version === 6 && Number(net.mtu) < IPV6_MIN_MTU) {
      throw badRequest(
        `Bad subnets request: Invalid MTU ${String(net.mtu)} of network ${net.id}: IPv6 subnets require at least ${IPV6_MIN_MTU}.`,
      )
    }
    const created = await this.#store.transaction(async (store) => {
      await this.#quotas.checkLocked(store, projectId, 'subnet', 1)
      const siblings = await store.list('subnets', { network_id: networkId })
      const cidr = parseCidr(doc.cidr as string)!
      for (const s of siblings) {
        if (cidrsOverlap(cidr, parseCidr(s.cidr as string)!)) {
          throw invalidInput(
            `Requested subnet with cidr: ${doc.cidr as string} for network: ${networkId} overlaps with another subnet`,
          )
        }
      }
      await store.insert('subnets', doc)
      await bumpRevision(store, 'networks', networkId)
      return doc
    })
    if (created.enable_dhcp === true) await this.#ensureDhcpPort(net)
    this.#changed({ kind: 'subnet' })
    return created
  }

  #subnetDoc(projectId: string, net: Doc, body: Record<string, unknown>): Doc {
    const version = body.ip_version as number
    if (version !== 4 && version !== 6)
      throw invalidAttribute('ip_version', `${String(version)} is not in [4, 6]`)
    const cidrText = body.cidr as string | undefined
    if (cidrText === undefined)
      throw badRequest('Bad subnets request: a subnetpool must be specified in the absence of a cidr.')
    const loose = parseCidr(cidrText)
    if (!loose || !cidrText.includes('/'))
      throw invalidAttribute('cidr', `'${cidrText}' is not a valid IP subnet`)
    if (!parseCidr(cidrText, true)) {
      throw invalidAttribute(
        'cidr',
        `'${cidrText}' isn't a recognized IP subnet cidr, '${formatCidr(loose)}' is recommended`,
      )
    }
    if (loose.version !== version)
      throw invalidInput(`Cidr ${cidrText} does not match the subnet's ip_version ${version}`)
    const cidr = loose
    if (usableRange(cidr).first > usableRange(cidr).last || (version === 4 && cidr.prefixLen > 30)) {
      throw invalidInput(
        `Invalid CIDR ${cidrText} for IPv${version} subnet: the subnet has no usable addresses`,
      )
    }
    const gateway = this.#gateway(cidr, body)
    const pools = this.#pools(cidr, gateway, body)
    const dns = this.#dnsNameservers(version, body.dns_nameservers)
    const routes = this.#hostRoutes(version, body.host_routes)
    return {
      ...baseDoc(projectId),
      name: '',
      description: '',
      network_id: net.id,
      ip_version: version,
      cidr: formatCidr(cidr),
      gateway_ip: gateway,
      allocation_pools: pools,
      dns_nameservers: dns,
      host_routes: routes,
      enable_dhcp: true,
      ipv6_ra_mode: null,
      ipv6_address_mode: null,
      subnetpool_id: null,
      service_types: [],
      ...pick(body, ['name', 'description', 'enable_dhcp', 'ipv6_ra_mode', 'ipv6_address_mode']),
    }
  }

  #gateway(cidr: Cidr, body: Record<string, unknown>): string | null {
    if (body.gateway_ip === null) return null
    if (body.gateway_ip === undefined) {
      const first = usableRange(cidr).first
      return canonicalIp(
        formatCidr({ ...cidr, network: first, prefixLen: cidr.version === 4 ? 32 : 128 }).split('/')[0]!,
      )!
    }
    const gw = canonicalIp(String(body.gateway_ip))
    if (!gw) throw invalidAttribute('gateway_ip', `'${String(body.gateway_ip)}' is not a valid IP address`)
    if (ipVersionOf(gw) !== cidr.version) throw invalidInput(`Gateway ${gw} is not valid on subnet`)
    const n = ipToBigInt(gw)
    if (cidrContains(cidr, gw) && (n === cidr.network || (cidr.version === 4 && n === broadcast(cidr)))) {
      throw invalidInput(`Gateway is not valid on subnet`)
    }
    return gw
  }

  #pools(cidr: Cidr, gateway: string | null, body: Record<string, unknown>): Pool[] {
    const asked = body.allocation_pools as { start?: string; end?: string }[] | undefined
    if (asked === undefined || asked.length === 0) return defaultPools(cidr, gateway)
    const pools: Pool[] = []
    for (const p of asked) {
      const start = canonicalIp(String(p.start))
      const end = canonicalIp(String(p.end))
      if (
        !start ||
        !end ||
        !cidrContains(cidr, start) ||
        !cidrContains(cidr, end) ||
        ipToBigInt(start) > ipToBigInt(end)
      ) {
        throw conflict(
          'InvalidAllocationPool',
          `The allocation pool ${p.start}-${p.end} spans beyond the subnet cidr ${formatCidr(cidr)}.`,
        )
      }
      for (const q of pools) {
        if (ipToBigInt(start) <= ipToBigInt(q.end) && ipToBigInt(q.start) <= ipToBigInt(end)) {
          throw conflict(
            'OverlappingAllocationPools',
            `Found overlapping allocation pools: ${q.start}-${q.end} and ${start}-${end} for subnet ${formatCidr(cidr)}.`,
          )
        }
      }
      if (gateway && inPools([{ start, end }], gateway)) {
        throw conflict(
          'GatewayConflictWithAllocationPools',
          `Gateway ip ${gateway} conflicts with allocation pool ${start}-${end}.`,
        )
      }
      pools.push({ start, end })
    }
    return pools
  }

  #dnsNameservers(version: number, value: unknown): string[] {
    const list = (value ?? []) as unknown[]
    if (list.length > MAX_DNS_NAMESERVERS) {
      throw conflict(
        'DNSNameServersExhausted',
        `Unable to complete operation for the subnet. The number of DNS nameservers exceeds the limit ${MAX_DNS_NAMESERVERS}.`,
      )
    }
    const out: string[] = []
    for (const d of list) {
      const ip = canonicalIp(String(d))
      if (!ip) throw invalidAttribute('dns_nameservers', `'${String(d)}' is not a valid nameserver`)
      if (out.includes(ip)) throw invalidAttribute('dns_nameservers', `Duplicate nameserver '${ip}'`)
      out.push(ip)
    }
    void version
    return out
  }

  #hostRoutes(version: number, value: unknown): { destination: string; nexthop: string }[] {
    const list = (value ?? []) as { destination?: string; nexthop?: string }[]
    if (list.length > MAX_HOST_ROUTES) {
      throw conflict(
        'HostRoutesExhausted',
        `Unable to complete operation for the subnet. The number of host routes exceeds the limit ${MAX_HOST_ROUTES}.`,
      )
    }
    return list.map((r) => {
      const dest = parseCidr(String(r.destination))
      const hop = canonicalIp(String(r.nexthop))
      if (!dest || !hop || dest.version !== version || ipVersionOf(hop) !== version) {
        throw invalidAttribute('host_routes', `Invalid data format for hostroute: '${JSON.stringify(r)}'`)
      }
      return { destination: formatCidr(dest), nexthop: hop }
    })
  }

  async getSubnet(caller: Caller, id: string): Promise<Doc> {
    const subnet = await this.#store.get('subnets', id)
    if (!subnet) throw subnetNotFound(id)
    const net = await this.#store.get('networks', subnet.network_id as string)
    if (!owns(caller, subnet) && !(net && canSeeSubnetsOf(caller, net))) throw subnetNotFound(id)
    return subnet
  }

  async listSubnets(caller: Caller): Promise<Doc[]> {
    const subnets = await this.#store.list('subnets')
    if (caller.isAdmin) return subnets
    const visible = new Set(
      (await this.#store.list('networks')).filter((n) => canSeeSubnetsOf(caller, n)).map((n) => n.id),
    )
    return subnets.filter((s) => owns(caller, s) || visible.has(s.network_id as string))
  }

  async updateSubnet(caller: Caller, id: string, body: Record<string, unknown>): Promise<Doc> {
    const subnet = await this.getSubnet(caller, id)
    if (!owns(caller, subnet)) throw subnetNotFound(id)
    for (const attr of ['cidr', 'ip_version', 'network_id']) {
      if (body[attr] !== undefined && body[attr] !== subnet[attr]) {
        throw badRequest(`Cannot update read-only attribute ${attr}`)
      }
    }
    const cidr = parseCidr(subnet.cidr as string)!
    const changes = pick(body, ['name', 'description', 'enable_dhcp'])
    if ('gateway_ip' in body) changes.gateway_ip = this.#gateway(cidr, body)
    if (body.allocation_pools !== undefined) {
      changes.allocation_pools = this.#pools(
        cidr,
        (changes.gateway_ip ?? subnet.gateway_ip) as string | null,
        body,
      )
    }
    if (body.dns_nameservers !== undefined)
      changes.dns_nameservers = this.#dnsNameservers(cidr.version, body.dns_nameservers)
    if (body.host_routes !== undefined) changes.host_routes = this.#hostRoutes(cidr.version, body.host_routes)
    const doc = revised(subnet, changes)
    await this.#store.update('subnets', doc)
    if (doc.enable_dhcp === true) {
      const net = await this.#store.get('networks', doc.network_id as string)
      if (net) await this.#ensureDhcpPort(net)
    }
    this.#changed({ kind: 'subnet' })
    return doc
  }

  async deleteSubnet(caller: Caller, id: string): Promise<void> {
    const subnet = await this.getSubnet(caller, id)
    if (!owns(caller, subnet)) throw subnetNotFound(id)
    await this.#store.transaction(async (store) => {
      const allocations = await store.allocations({ subnet_id: id })
      for (const a of allocations) {
        const port = await store.get('ports', a.port_id)
        if (port && port.device_owner !== DEVICE_OWNER_DHCP) throw subnetInUse(id)
      }
      for (const a of allocations) await this.#dropFixedIp(store, a.port_id, id)
      await store.delete('subnets', id)
      await bumpRevision(store, 'networks', subnet.network_id as string)
    })
    this.#changed({ kind: 'subnet' })
  }

  async #dropFixedIp(store: Store, portId: string, subnetId: string): Promise<void> {
    const port = await store.get('ports', portId)
    if (!port) return
    const fixed = (port.fixed_ips as FixedIp[]).filter((f) => f.subnet_id !== subnetId)
    await store.releaseAllocations(
      portId,
      fixed.map((f) => f.ip_address),
    )
    await store.update('ports', revised(port, { fixed_ips: fixed }))
  }

  /** The network's DHCP port (dnsmasq's address), created when a DHCP subnet appears. */
  async #ensureDhcpPort(net: Doc): Promise<void> {
    const ports = await this.#store.list('ports', { network_id: net.id })
    const dhcp = ports.find((p) => p.device_owner === DEVICE_OWNER_DHCP)
    const subnets = (await this.#store.list('subnets', { network_id: net.id })).filter(
      (s) => s.enable_dhcp === true,
    )
    if (!dhcp) {
      await this.createPort(
        { projectId: net.project_id, isAdmin: true },
        {
          network_id: net.id,
          device_owner: DEVICE_OWNER_DHCP,
          device_id: `dhcp-${net.id}`,
          fixed_ips: subnets.map((s) => ({ subnet_id: s.id })),
          project_id: net.project_id,
        },
        { skipQuota: true },
      )
      return
    }
    const have = new Set((dhcp.fixed_ips as FixedIp[]).map((f) => f.subnet_id))
    const missing = subnets.filter((s) => !have.has(s.id))
    if (missing.length === 0) return
    const fixed = [...(dhcp.fixed_ips as FixedIp[]), ...missing.map((s) => ({ subnet_id: s.id }))]
    await this.updatePort({ projectId: net.project_id, isAdmin: true }, dhcp.id, { fixed_ips: fixed })
  }

  // ---- ports ----

  async createPort(
    caller: Caller,
    body: Record<string, unknown>,
    opts: { skipQuota?: boolean } = {},
  ): Promise<Doc> {
    const networkId = body.network_id as string
    const net = await this.#store.get('networks', networkId)
    if (!net || !canSeeNetwork(caller, net)) throw networkNotFound(networkId)
    requireAdminFor(caller, 'create_port', body, ['binding:host_id', 'binding:profile'])
    const projectId = projectFor(caller, body)
    this.#requireNetworkOwnerFor(caller, net, 'create_port', body)
    await this.#requireOwnDevice(caller, projectId, body.device_id, body.device_owner)
    const deviceOwner = (body.device_owner as string | undefined) ?? ''
    const portSecurity =
      (body.port_security_enabled as boolean | undefined) ?? (net.port_security_enabled as boolean)
    const doc: Doc = {
      ...baseDoc(projectId),
      name: '',
      description: '',
      network_id: networkId,
      admin_state_up: true,
      status: 'DOWN',
      mac_address: '',
      fixed_ips: [],
      device_id: '',
      device_owner: '',
      allowed_address_pairs: [],
      extra_dhcp_opts: [],
      security_groups: [],
      port_security_enabled: portSecurity,
      'binding:host_id': '',
      'binding:vnic_type': 'normal',
      'binding:profile': {},
      'binding:vif_type': 'unbound',
      'binding:vif_details': {},
      ip_allocation: 'immediate',
      ...pick(body, [
        'name',
        'description',
        'admin_state_up',
        'device_id',
        'device_owner',
        'binding:host_id',
        'binding:vnic_type',
        'binding:profile',
      ]),
    }
    doc.security_groups = await this.#portGroups(caller, projectId, body, portSecurity, deviceOwner)
    doc.allowed_address_pairs = this.#addressPairs(body.allowed_address_pairs, portSecurity)
    bindingFields(doc)
    const created = await this.#store.transaction(async (store) => {
      if (!opts.skipQuota) await this.#quotas.checkLocked(store, projectId, 'port', 1)
      doc.mac_address = await this.#mac(store, networkId, body.mac_address as string | undefined)
      await store.insert('ports', doc)
      doc.fixed_ips = await this.#allocate(
        store,
        net,
        doc.id,
        body.fixed_ips as FixedIpRequest[] | undefined,
        deviceOwner,
      )
      await store.update('ports', doc)
      return doc
    })
    this.#changed({ kind: 'port', hosts: [created['binding:host_id'] as string] })
    return created
  }

  /**
   * Neutron's attribute policies on ports: a `network:*` device owner,
   * a chosen MAC, port security off, address pairs and a chosen fixed IP
   * are for the network's owner (and admins) only (403 PolicyNotAuthorized).
   */
  #requireNetworkOwnerFor(caller: Caller, net: Doc, action: string, body: Record<string, unknown>): void {
    if (owns(caller, net)) return
    const owner = body.device_owner
    if (typeof owner === 'string' && owner.startsWith(NETWORK_DEVICE_OWNER_PREFIX)) {
      throw policyNotAuthorized(`${action}:device_owner`)
    }
    for (const attr of NETWORK_OWNER_PORT_ATTRIBUTES) {
      if (body[attr] !== undefined) throw policyNotAuthorized(`${action}:${attr}`)
    }
    const fixed = body.fixed_ips
    if (Array.isArray(fixed) && fixed.some((f) => isRecord(f) && f.ip_address !== undefined)) {
      throw policyNotAuthorized(`${action}:fixed_ips:ip_address`)
    }
  }

  /**
   * Neutron's DeviceIDNotOwnedByTenant (409): a non-admin may not point a
   * port at another project's router, nor at another project's server
   * (whose network info would otherwise list the port).
   */
  async #requireOwnDevice(
    caller: Caller,
    projectId: string,
    deviceId: unknown,
    owner: unknown,
  ): Promise<void> {
    if (caller.isAdmin || typeof deviceId !== 'string' || deviceId === '') return
    let deviceProject: string | undefined
    if (typeof owner === 'string' && ROUTER_PORT_OWNERS.includes(owner)) {
      deviceProject = (await this.#store.get('routers', deviceId))?.project_id
    } else {
      deviceProject = await this.deviceProject(deviceId)
    }
    if (deviceProject !== undefined && deviceProject !== projectId) {
      throw conflict(
        'DeviceIDNotOwnedByTenant',
        `The following device_id ${deviceId} is not owned by your tenant or matches another tenants router.`,
      )
    }
  }

  async #portGroups(
    caller: Caller,
    projectId: string,
    body: Record<string, unknown>,
    portSecurity: boolean,
    deviceOwner: string,
  ): Promise<string[]> {
    const asked = body.security_groups as string[] | undefined
    if (asked !== undefined && asked.length > 0 && !portSecurity) {
      throw conflict(
        'PortSecurityAndIPRequiredForSecurityGroups',
        'Port security must be enabled and port must have an IP address in order to use security groups.',
      )
    }
    if (asked !== undefined) {
      for (const id of asked) {
        const sg = await this.#store.get('security_groups', id)
        if (!sg || !owns(caller, sg)) throw securityGroupNotFound(id)
      }
      return [...new Set(asked)]
    }
    if (!portSecurity || deviceOwner.startsWith('network:')) return []
    return [await this.defaultSecurityGroup(caller, projectId)]
  }

  #addressPairs(value: unknown, portSecurity: boolean): { ip_address: string; mac_address?: string }[] {
    const pairs = (value ?? []) as { ip_address?: string; mac_address?: string }[]
    if (pairs.length > 0 && !portSecurity) {
      throw conflict(
        'AddressPairAndPortSecurityRequired',
        'Port Security must be enabled in order to have allowed address pairs on a port.',
      )
    }
    if (pairs.length > MAX_ADDRESS_PAIRS) {
      throw badRequest(`Exceeded maximum amount of allowed address pairs ${MAX_ADDRESS_PAIRS}`)
    }
    return pairs.map((p) => {
      const cidr = parseCidr(String(p.ip_address))
      if (!cidr)
        throw invalidAttribute('allowed_address_pairs', `'${String(p.ip_address)}' is not a valid IP address`)
      if (p.mac_address !== undefined && !isValidMac(p.mac_address)) {
        throw invalidAttribute('allowed_address_pairs', `'${p.mac_address}' is not a valid MAC address`)
      }
      return {
        ip_address: String(p.ip_address),
        ...(p.mac_address ? { mac_address: p.mac_address.toLowerCase() } : {}),
      }
    })
  }

  async #mac(store: Store, networkId: string, asked: string | undefined): Promise<string> {
    const ports = await store.list('ports', { network_id: networkId })
    const taken = new Set(ports.map((p) => p.mac_address))
    if (asked !== undefined) {
      if (!isValidMac(asked)) throw invalidAttribute('mac_address', `'${asked}' is not a valid MAC address`)
      if (taken.has(asked.toLowerCase())) throw macInUse(networkId, asked)
      return asked.toLowerCase()
    }
    for (;;) {
      const mac = randomMac()
      if (!taken.has(mac)) return mac
    }
  }

  /**
   * Allocates the requested fixed IPs, or by default one address of each IP
   * version from the first subnet of that version with a free address.
   */
  async #allocate(
    store: Store,
    net: Doc,
    portId: string,
    requested: readonly FixedIpRequest[] | undefined,
    deviceOwner: string,
  ): Promise<FixedIp[]> {
    const subnets = await store.list('subnets', { network_id: net.id })
    const out: FixedIp[] = []
    if (requested === undefined) {
      for (const version of [4, 6]) {
        const candidates = subnets.filter((s) => s.ip_version === version)
        if (candidates.length === 0) continue
        let got: FixedIp | undefined
        for (const s of candidates) {
          got = await this.#allocateFrom(store, net.id, s, portId)
          if (got) break
        }
        if (!got) throw ipGenerationFailure(net.id)
        out.push(got)
      }
      return out
    }
    for (const r of requested)
      out.push(await this.#allocateRequested(store, net, subnets, portId, r, deviceOwner))
    return out
  }

  async #allocateRequested(
    store: Store,
    net: Doc,
    subnets: readonly Doc[],
    portId: string,
    r: FixedIpRequest,
    deviceOwner: string,
  ): Promise<FixedIp> {
    let subnet = r.subnet_id !== undefined ? subnets.find((s) => s.id === r.subnet_id) : undefined
    if (r.subnet_id !== undefined && !subnet) {
      const exists = await store.get('subnets', r.subnet_id)
      if (!exists) throw subnetNotFound(r.subnet_id)
      throw invalidInput(
        `Failed to create port on network ${net.id}, because fixed_ips included invalid subnet ${r.subnet_id}`,
      )
    }
    if (r.ip_address === undefined) {
      if (!subnet)
        throw badRequest('Invalid input for fixed_ips. Reason: one of subnet_id or ip_address is required.')
      const got = await this.#allocateFrom(store, net.id, subnet, portId)
      if (!got) throw ipGenerationFailure(net.id)
      return got
    }
    const ip = canonicalIp(r.ip_address)
    if (!ip) throw invalidAttribute('fixed_ips', `'${r.ip_address}' is not a valid IP address`)
    if (subnet && !cidrContains(parseCidr(subnet.cidr as string)!, ip)) {
      throw invalid400('InvalidIpForSubnet', `IP address ${ip} is not a valid IP for the specified subnet.`)
    }
    subnet ??= subnets.find((s) => cidrContains(parseCidr(s.cidr as string)!, ip))
    if (!subnet) {
      throw invalid400(
        'InvalidIpForNetwork',
        `IP address ${ip} is not a valid IP for any of the subnets on the specified network.`,
      )
    }
    if (
      ip === subnet.gateway_ip &&
      deviceOwner !== DEVICE_OWNER_ROUTER_INTERFACE &&
      !deviceOwner.startsWith('network:router')
    ) {
      throw ipInUse(net.id, ip)
    }
    try {
      await store.allocate({ network_id: net.id, ip_address: ip, subnet_id: subnet.id, port_id: portId })
    } catch (err) {
      if (err instanceof Conflict) throw ipInUse(net.id, ip)
      throw err
    }
    return { subnet_id: subnet.id, ip_address: ip }
  }

  /** The first free pool address of `subnet`, recorded for the port; undefined when exhausted. */
  async #allocateFrom(
    store: Store,
    networkId: string,
    subnet: Doc,
    portId: string,
  ): Promise<FixedIp | undefined> {
    // Addresses another request took meanwhile: skipped on the next attempts
    // even if its transaction has not committed yet, so every attempt moves on.
    const taken = new Set<string>()
    for (let attempt = 0; attempt < IP_ALLOCATION_ATTEMPTS; attempt++) {
      const used = new Set((await store.allocations({ network_id: networkId })).map((a) => a.ip_address))
      for (const ip of taken) used.add(ip)
      if (subnet.gateway_ip) used.add(subnet.gateway_ip as string)
      const ip = firstFree(subnet.allocation_pools as Pool[], used, subnet.ip_version as 4 | 6)
      if (!ip) return undefined
      try {
        await store.allocate({ network_id: networkId, ip_address: ip, subnet_id: subnet.id, port_id: portId })
        return { subnet_id: subnet.id, ip_address: ip }
      } catch (err) {
        if (!(err instanceof Conflict)) throw err
        taken.add(ip)
      }
    }
    return undefined
  }

  async getPort(caller: Caller, id: string): Promise<Doc> {
    const port = await this.#store.get('ports', id)
    if (!port || !(await this.#canSeePort(caller, port))) throw portNotFound(id)
    return port
  }

  async #canSeePort(caller: Caller, port: Doc): Promise<boolean> {
    if (owns(caller, port)) return true
    const net = await this.#store.get('networks', port.network_id as string)
    return net !== undefined && owns(caller, net)
  }

  async listPorts(caller: Caller, where: Readonly<Record<string, string>> = {}): Promise<Doc[]> {
    const ports = await this.#store.list('ports', where)
    if (caller.isAdmin) return ports
    const ownedNets = new Set(
      (await this.#store.list('networks')).filter((n) => owns(caller, n)).map((n) => n.id),
    )
    return ports.filter((p) => owns(caller, p) || ownedNets.has(p.network_id as string))
  }

  async updatePort(caller: Caller, id: string, body: Record<string, unknown>): Promise<Doc> {
    const port = await this.getPort(caller, id)
    requireAdminFor(caller, 'update_port', body, ['binding:host_id', 'binding:profile'])
    if (body.network_id !== undefined && body.network_id !== port.network_id) {
      throw badRequest('Cannot update read-only attribute network_id')
    }
    if (body.mac_address !== undefined && body.mac_address !== port.mac_address && !caller.isAdmin) {
      throw policyNotAuthorized('update_port:mac_address')
    }
    const net = await this.#store.get('networks', port.network_id as string)
    if (net) this.#requireNetworkOwnerFor(caller, net, 'update_port', withoutUnchanged(body, port))
    if (body.device_id !== undefined || body.device_owner !== undefined) {
      await this.#requireOwnDevice(
        caller,
        port.project_id,
        body.device_id ?? port.device_id,
        body.device_owner ?? port.device_owner,
      )
    }
    const changes: Record<string, unknown> = pick(body, [
      'name',
      'description',
      'admin_state_up',
      'device_id',
      'device_owner',
      'binding:host_id',
      'binding:vnic_type',
      'binding:profile',
      'port_security_enabled',
    ])
    const portSecurity = (changes.port_security_enabled ?? port.port_security_enabled) as boolean
    if (body.security_groups !== undefined) {
      changes.security_groups = await this.#portGroups(
        caller,
        port.project_id,
        body,
        portSecurity,
        port.device_owner as string,
      )
    } else if (!portSecurity && (port.security_groups as string[]).length > 0) {
      throw conflict(
        'PortSecurityPortHasSecurityGroup',
        'Port has security group associated. Cannot disable port security or ip address until security group is removed',
      )
    }
    if (body.allowed_address_pairs !== undefined) {
      changes.allowed_address_pairs = this.#addressPairs(body.allowed_address_pairs, portSecurity)
    } else if (!portSecurity && (port.allowed_address_pairs as unknown[]).length > 0) {
      throw conflict(
        'AddressPairAndPortSecurityRequired',
        'Port Security must be enabled in order to have allowed address pairs on a port.',
      )
    }
    const oldHost = port['binding:host_id'] as string
    const doc = await this.#store.transaction(async (store) => {
      if (body.mac_address !== undefined && body.mac_address !== port.mac_address) {
        changes.mac_address = await this.#mac(store, port.network_id as string, body.mac_address as string)
      }
      if (body.fixed_ips !== undefined) {
        changes.fixed_ips = await this.#reallocate(store, port, body.fixed_ips as FixedIpRequest[])
      }
      const updated = revised(port, changes)
      bindingFields(updated)
      await store.update('ports', updated)
      return updated
    })
    // A server's port got other groups or addresses: compute refreshes the server's view (Neutron's network-changed).
    const refresh = body.security_groups !== undefined || body.fixed_ips !== undefined
    const ports = refresh && String(doc.device_owner ?? '').startsWith('compute:') ? [doc.id] : []
    this.#changed({ kind: 'port', hosts: [oldHost, doc['binding:host_id'] as string], ports })
    return doc
  }

  /** Keeps the requested addresses the port already holds, allocates the new ones, releases the rest. */
  async #reallocate(store: Store, port: Doc, requested: readonly FixedIpRequest[]): Promise<FixedIp[]> {
    const net = (await store.get('networks', port.network_id as string))!
    const current = port.fixed_ips as FixedIp[]
    const keep = current.filter((c) =>
      requested.some((r) => r.ip_address !== undefined && canonicalIp(r.ip_address) === c.ip_address),
    )
    await store.releaseAllocations(
      port.id,
      keep.map((k) => k.ip_address),
    )
    const fresh = requested.filter(
      (r) => r.ip_address === undefined || !keep.some((k) => k.ip_address === canonicalIp(r.ip_address!)),
    )
    const added = await this.#allocate(store, net, port.id, fresh, port.device_owner as string)
    return [...keep, ...added]
  }

  async deletePort(caller: Caller, id: string, opts: { internal?: boolean } = {}): Promise<void> {
    const port = await this.getPort(caller, id)
    if (!owns(caller, port) && !caller.isAdmin) throw portNotFound(id)
    const owner = port.device_owner as string
    if (!opts.internal && (await this.#servesLiveDevice(port))) {
      throw conflict(
        'ServicePortInUse',
        `Port ${id} cannot be deleted directly via the port API: has device owner ${owner}.`,
      )
    }
    await this.#store.transaction(async (store) => {
      for (const fip of await store.list('floating_ips', { port_id: id })) {
        await store.update(
          'floating_ips',
          revised(fip, {
            port_id: null,
            fixed_ip_address: null,
            router_id: null,
            status: 'DOWN',
            port_details: null,
          }),
        )
      }
      await store.releaseAllocations(id)
      await store.delete('ports', id)
    })
    this.#changed({ kind: 'port', hosts: [port['binding:host_id'] as string] })
  }

  /**
   * Whether a router or floating IP port still serves its router or
   * floating IP. One whose device is gone is an orphan that may be deleted
   * (Neutron's prevent_l3_port_deletion lets a stale port go).
   */
  async #servesLiveDevice(port: Doc, store: Store = this.#store): Promise<boolean> {
    const owner = port.device_owner as string
    const deviceId = port.device_id as string
    if (ROUTER_PORT_OWNERS.includes(owner))
      return deviceId !== '' && (await store.get('routers', deviceId)) !== undefined
    if (owner === DEVICE_OWNER_FLOATING_IP) {
      return deviceId !== '' && (await store.get('floating_ips', deviceId)) !== undefined
    }
    return false
  }

  /** Without a data plane nothing wires ports: a bound port is ACTIVE as soon as it is bound. */
  async markBoundActive(): Promise<void> {
    const ports = await this.#store.list('ports')
    // A router's ports are wired by its L3 agent (no binding of their own): up with the router.
    const routerOwned = ports.filter((p) => ROUTER_PORT_OWNERS.includes(p.device_owner as string))
    const routersUp = new Set(
      (await this.#store.list('routers', { id: [...new Set(routerOwned.map((p) => p.device_id as string))] }))
        .filter((r) => r.admin_state_up !== false)
        .map((r) => r.id),
    )
    const wired = ports.filter(
      (p) =>
        p.status !== 'ACTIVE' &&
        (ROUTER_PORT_OWNERS.includes(p.device_owner as string)
          ? routersUp.has(p.device_id as string)
          : Boolean(p['binding:host_id'])),
    )
    await this.markActive(wired.map((p) => p.id))
  }

  /** Marks ports DOWN while their host's data plane holds them down (`admin_state_up` false). */
  markDown(ids: readonly string[]): Promise<void> {
    return this.#markStatus(ids, 'DOWN')
  }

  /** Marks ports ACTIVE once their host's data plane has applied them. */
  markActive(ids: readonly string[]): Promise<void> {
    return this.#markStatus(ids, 'ACTIVE')
  }

  /** Marks ports ERROR: their host's data plane could not apply them (network, tap, filters, DHCP). */
  markError(ids: readonly string[]): Promise<void> {
    return this.#markStatus(ids, 'ERROR')
  }

  async #markStatus(ids: readonly string[], status: 'ACTIVE' | 'DOWN' | 'ERROR'): Promise<void> {
    for (const id of ids) {
      const port = await this.#store.get('ports', id)
      if (port && port.status !== status) await this.#store.update('ports', { ...port, status })
    }
  }
}

interface FixedIp {
  subnet_id: string
  ip_address: string
}

interface FixedIpRequest {
  subnet_id?: string
  ip_address?: string
}

function vlanTaken(networks: readonly Doc[], physnet: string, vid: number): boolean {
  return networks.some(
    (n) =>
      n['provider:network_type'] === 'vlan' &&
      n['provider:physical_network'] === physnet &&
      n['provider:segmentation_id'] === vid,
  )
}

/** `binding:vif_type` follows the host: a bound port is plugged into a Linux bridge. */
function bindingFields(doc: Record<string, unknown>): void {
  const bound = Boolean(doc['binding:host_id'])
  doc['binding:vif_type'] = bound ? 'bridge' : 'unbound'
  doc['binding:vif_details'] = bound ? { port_filter: true, connectivity: 'l2' } : {}
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * The body without what restates the port's current value (no change,
 * nothing to authorize): unchanged attributes, and fixed IPs the port
 * already holds (an update lists the addresses it keeps).
 */
function withoutUnchanged(body: Record<string, unknown>, port: Doc): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(body)) {
    if (JSON.stringify(v) !== JSON.stringify(port[k])) out[k] = v
  }
  if (Array.isArray(out.fixed_ips)) {
    const held = new Set((port.fixed_ips as FixedIp[]).map((f) => f.ip_address))
    out.fixed_ips = out.fixed_ips.filter(
      (f) => !(isRecord(f) && typeof f.ip_address === 'string' && held.has(canonicalIp(f.ip_address) ?? '')),
    )
  }
  return out
}

function invalid400(type: string, message: string) {
  return invalid(type, message)
}
