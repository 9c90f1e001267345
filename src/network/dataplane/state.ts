import { DEVICE_OWNER_DHCP, DEVICE_OWNER_ROUTER_GATEWAY, DEVICE_OWNER_ROUTER_INTERFACE } from '../core.ts'
import { ipVersionOf, parseCidr } from '../ipam.ts'
import type { Doc, Store } from '../store.ts'
import { bridgeName, tapName } from './names.ts'

/**
 * What one host's kernel should hold, computed from the database: the
 * bridges, the filtered guest ports, the security groups they use, and (on
 * a network node) the DHCP servers and routers. Pure data; `agent.ts`
 * makes the kernel match it.
 */
export interface NetworkPlan {
  readonly id: string
  readonly bridge: string
  readonly type: string
  readonly physnet: string | null
  readonly vlan: number | null
  readonly mtu: number
}

export interface PortPlan {
  readonly id: string
  readonly tap: string
  readonly networkId: string
  readonly mac: string
  readonly ips: readonly string[]
  /** allowed_address_pairs: extra source addresses (CIDRs) and MACs the guest may use. */
  readonly pairIps: readonly string[]
  readonly pairMacs: readonly string[]
  readonly portSecurity: boolean
  readonly groups: readonly string[]
  /** `admin_state_up`: an administratively down port passes no traffic (its tap is set down). */
  readonly adminUp: boolean
}

export interface RulePlan {
  readonly id: string
  readonly direction: 'ingress' | 'egress'
  readonly ethertype: 'IPv4' | 'IPv6'
  readonly protocol: string | null
  readonly portMin: number | null
  readonly portMax: number | null
  readonly remotePrefix: string | null
  readonly remoteGroup: string | null
}

export interface DhcpPlan {
  readonly networkId: string
  readonly portId: string
  readonly mac: string
  /** The DHCP port's addresses with prefix lengths (`192.0.2.2/24`). */
  readonly addresses: readonly string[]
  readonly mtu: number
  readonly subnets: readonly {
    readonly id: string
    readonly cidr: string
    readonly gateway: string | null
    readonly dns: readonly string[]
    readonly routes: readonly { destination: string; nexthop: string }[]
  }[]
  readonly hosts: readonly { readonly mac: string; readonly ip: string; readonly name: string }[]
}

export interface RouterPortPlan {
  readonly portId: string
  readonly networkId: string
  readonly mac: string
  /** Address with prefix length (`192.0.2.1/24`). */
  readonly addresses: readonly string[]
}

export interface RouterPlan {
  readonly id: string
  readonly interfaces: readonly RouterPortPlan[]
  readonly gateway: (RouterPortPlan & { readonly nexthop: string | null }) | null
  readonly snat: boolean
  readonly internalCidrs: readonly string[]
  readonly floatingIps: readonly { readonly floating: string; readonly fixed: string }[]
}

export interface HostState {
  readonly networks: ReadonlyMap<string, NetworkPlan>
  readonly ports: readonly PortPlan[]
  readonly rules: ReadonlyMap<string, readonly RulePlan[]>
  /** Member addresses of each group some rule names as `remote_group_id`. */
  readonly remoteGroups: ReadonlyMap<string, readonly string[]>
  readonly dhcp: readonly DhcpPlan[]
  readonly routers: readonly RouterPlan[]
}

interface FixedIp {
  readonly subnet_id: string
  readonly ip_address: string
}

export interface PlanOptions {
  readonly host: string
  /** Serve DHCP and routers for every network (a single-host or network-node agent). */
  readonly networkNode: boolean
  /** Routers scheduled away from this host's L3 agent (not served here). */
  readonly routersElsewhere?: ReadonlySet<string> | undefined
}

/** Reads everything the host needs in a handful of queries and plans it. */
export async function planHost(store: Store, opts: PlanOptions): Promise<HostState> {
  const [networks, subnets, ports, groups, rules, routers, fips] = await Promise.all([
    store.list('networks'),
    store.list('subnets'),
    store.list('ports'),
    store.list('security_groups'),
    store.list('security_group_rules'),
    store.list('routers'),
    store.list('floating_ips'),
  ])
  return buildPlan({ networks, subnets, ports, groups, rules, routers, fips }, opts)
}

export interface Snapshot {
  readonly networks: readonly Doc[]
  readonly subnets: readonly Doc[]
  readonly ports: readonly Doc[]
  readonly groups: readonly Doc[]
  readonly rules: readonly Doc[]
  readonly routers: readonly Doc[]
  readonly fips: readonly Doc[]
}

export function buildPlan(s: Snapshot, opts: PlanOptions): HostState {
  const subnetById = new Map(s.subnets.map((x) => [x.id, x]))
  const guestPorts = s.ports.filter(
    (p) => p['binding:host_id'] === opts.host && !String(p.device_owner).startsWith('network:'),
  )
  const networkIds = new Set(guestPorts.map((p) => p.network_id as string))
  const dhcp = opts.networkNode ? dhcpPlans(s, subnetById) : []
  // A router scheduled to another L3 agent, or administratively down, has no namespace here (as Neutron's L3 agent).
  const served = {
    ...s,
    routers: s.routers.filter((r) => r.admin_state_up !== false && !opts.routersElsewhere?.has(r.id)),
  }
  const routers = opts.networkNode ? routerPlans(served, subnetById) : []
  for (const d of dhcp) networkIds.add(d.networkId)
  for (const r of routers) {
    for (const i of r.interfaces) networkIds.add(i.networkId)
    if (r.gateway) networkIds.add(r.gateway.networkId)
  }
  const networks = new Map<string, NetworkPlan>()
  for (const n of s.networks) if (networkIds.has(n.id)) networks.set(n.id, networkPlan(n))
  const ports = guestPorts.filter((p) => networks.has(p.network_id as string)).map(portPlan)
  const usedGroups = new Set(ports.filter((p) => p.portSecurity).flatMap((p) => p.groups))
  const rules = new Map<string, RulePlan[]>()
  for (const g of usedGroups) rules.set(g, s.rules.filter((r) => r.security_group_id === g).map(rulePlan))
  const remote = new Set([...rules.values()].flat().flatMap((r) => (r.remoteGroup ? [r.remoteGroup] : [])))
  const remoteGroups = new Map<string, string[]>()
  for (const g of remote) remoteGroups.set(g, groupMembers(s.ports, g))
  return { networks, ports, rules, remoteGroups, dhcp, routers }
}

function networkPlan(n: Doc): NetworkPlan {
  return {
    id: n.id,
    bridge: bridgeName(n.id),
    type: n['provider:network_type'] as string,
    physnet: (n['provider:physical_network'] as string | null) ?? null,
    vlan: (n['provider:segmentation_id'] as number | null) ?? null,
    mtu: n.mtu as number,
  }
}

function portPlan(p: Doc): PortPlan {
  const pairs = (p.allowed_address_pairs ?? []) as { ip_address: string; mac_address?: string }[]
  return {
    id: p.id,
    tap: tapName(p.id),
    networkId: p.network_id as string,
    mac: p.mac_address as string,
    ips: (p.fixed_ips as FixedIp[]).map((f) => f.ip_address),
    pairIps: pairs.map((a) => a.ip_address),
    pairMacs: pairs.flatMap((a) => (a.mac_address ? [a.mac_address] : [])),
    portSecurity: p.port_security_enabled === true,
    groups: (p.security_groups ?? []) as string[],
    adminUp: p.admin_state_up !== false,
  }
}

function rulePlan(r: Doc): RulePlan {
  return {
    id: r.id,
    direction: r.direction as 'ingress' | 'egress',
    ethertype: r.ethertype as 'IPv4' | 'IPv6',
    protocol: (r.protocol as string | null) ?? null,
    portMin: (r.port_range_min as number | null) ?? null,
    portMax: (r.port_range_max as number | null) ?? null,
    remotePrefix: (r.normalized_cidr as string | null) ?? (r.remote_ip_prefix as string | null) ?? null,
    remoteGroup: (r.remote_group_id as string | null) ?? null,
  }
}

/** Addresses of every port in a group, on any host: what `remote_group_id` matches. */
function groupMembers(ports: readonly Doc[], groupId: string): string[] {
  const out = new Set<string>()
  for (const p of ports) {
    if (!((p.security_groups ?? []) as string[]).includes(groupId)) continue
    for (const f of p.fixed_ips as FixedIp[]) out.add(f.ip_address)
    for (const a of (p.allowed_address_pairs ?? []) as { ip_address: string }[]) out.add(a.ip_address)
  }
  return [...out]
}

function withPrefix(ip: string, subnet: Doc | undefined): string {
  const len = subnet ? parseCidr(subnet.cidr as string)!.prefixLen : ipVersionOf(ip) === 4 ? 32 : 128
  return `${ip}/${len}`
}

function dhcpPlans(s: Snapshot, subnetById: ReadonlyMap<string, Doc>): DhcpPlan[] {
  const out: DhcpPlan[] = []
  for (const port of s.ports.filter((p) => p.device_owner === DEVICE_OWNER_DHCP)) {
    const net = s.networks.find((n) => n.id === port.network_id)
    const subnets = s.subnets.filter((x) => x.network_id === port.network_id && x.enable_dhcp === true)
    if (!net || subnets.length === 0) continue
    const fixed = port.fixed_ips as FixedIp[]
    const hosts = s.ports
      .filter((p) => p.network_id === port.network_id && p.id !== port.id)
      .flatMap((p) =>
        (p.fixed_ips as FixedIp[])
          .filter((f) => subnets.some((x) => x.id === f.subnet_id))
          .map((f) => ({
            mac: p.mac_address as string,
            ip: f.ip_address,
            name: `host-${f.ip_address.replace(/[.:]/g, '-')}`,
          })),
      )
    out.push({
      networkId: net.id,
      portId: port.id,
      mac: port.mac_address as string,
      addresses: fixed.map((f) => withPrefix(f.ip_address, subnetById.get(f.subnet_id))),
      mtu: net.mtu as number,
      subnets: subnets.map((x) => ({
        id: x.id,
        cidr: x.cidr as string,
        gateway: (x.gateway_ip as string | null) ?? null,
        dns: x.dns_nameservers as string[],
        routes: x.host_routes as { destination: string; nexthop: string }[],
      })),
      hosts,
    })
  }
  return out
}

function routerPortPlan(p: Doc, subnetById: ReadonlyMap<string, Doc>): RouterPortPlan {
  return {
    portId: p.id,
    networkId: p.network_id as string,
    mac: p.mac_address as string,
    addresses: (p.fixed_ips as FixedIp[]).map((f) => withPrefix(f.ip_address, subnetById.get(f.subnet_id))),
  }
}

function routerPlans(s: Snapshot, subnetById: ReadonlyMap<string, Doc>): RouterPlan[] {
  return s.routers.map((r) => {
    const own = s.ports.filter((p) => p.device_id === r.id)
    const ifaces = own.filter((p) => p.device_owner === DEVICE_OWNER_ROUTER_INTERFACE)
    const gwPort = own.find((p) => p.device_owner === DEVICE_OWNER_ROUTER_GATEWAY)
    const info = r.external_gateway_info as { enable_snat?: boolean } | null
    const gwSubnet = gwPort ? subnetById.get((gwPort.fixed_ips as FixedIp[])[0]?.subnet_id ?? '') : undefined
    const internalCidrs = ifaces.flatMap((p) =>
      (p.fixed_ips as FixedIp[]).flatMap((f) => {
        const sub = subnetById.get(f.subnet_id)
        return sub ? [sub.cidr as string] : []
      }),
    )
    return {
      id: r.id,
      interfaces: ifaces.map((p) => routerPortPlan(p, subnetById)),
      gateway: gwPort
        ? { ...routerPortPlan(gwPort, subnetById), nexthop: (gwSubnet?.gateway_ip as string | null) ?? null }
        : null,
      snat: info?.enable_snat !== false,
      internalCidrs,
      floatingIps: s.fips
        .filter((f) => f.router_id === r.id && f.fixed_ip_address)
        .map((f) => ({ floating: f.floating_ip_address as string, fixed: f.fixed_ip_address as string })),
    }
  })
}
