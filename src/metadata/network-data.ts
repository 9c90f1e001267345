/**
 * network_data.json (Nova's `nova/virt/netutils.py` get_network_metadata):
 * `links` (one per NIC: the tap name, the port id, `bridge`, MTU, MAC),
 * `networks` (one per address family of each NIC: `ipv4_dhcp` when the
 * subnet runs DHCP, else a static `ipv4`/`ipv6` entry with netmask, routes
 * and DNS) and `services` (DNS servers, once each).
 */

/** A subnet as the metadata needs it; absent when the caller only knows the address (then DHCP is assumed). */
export interface MetadataSubnet {
  readonly cidr: string
  readonly gatewayIp: string | null
  readonly enableDhcp: boolean
  readonly dnsNameservers: readonly string[]
  readonly hostRoutes: readonly { readonly destination: string; readonly nexthop: string }[]
}

/** One NIC of the instance (Nova's VIF in network_info). */
export interface MetadataVif {
  readonly portId: string
  /** The host tap name (`devname`); absent: `interface<N>`. */
  readonly devname?: string | undefined
  readonly macAddress: string
  readonly mtu: number | null
  readonly networkId: string
  readonly fixedIps: readonly {
    readonly address: string
    readonly version: 4 | 6
    readonly subnet?: MetadataSubnet | undefined
  }[]
  readonly floatingIps: readonly string[]
}

export interface NetworkLink {
  readonly id: string
  readonly vif_id: string
  readonly type: string
  readonly mtu: number | null
  readonly ethernet_mac_address: string
}

export type NetworkEntry = Record<string, unknown> & { readonly id: string; readonly type: string }

export interface NetworkData {
  readonly links: NetworkLink[]
  readonly networks: NetworkEntry[]
  readonly services: { readonly type: 'dns'; readonly address: string }[]
}

export function buildNetworkData(vifs: readonly MetadataVif[]): NetworkData {
  const links: NetworkLink[] = []
  const networks: NetworkEntry[] = []
  const services: { type: 'dns'; address: string }[] = []
  let netNum = -1
  vifs.forEach((vif, ifcNum) => {
    const v4 = vif.fixedIps.find((ip) => ip.version === 4)
    const v6 = vif.fixedIps.find((ip) => ip.version === 6)
    if (!v4 && !v6) return
    const dhcp = vif.fixedIps.some((ip) => ip.subnet === undefined || ip.subnet.enableDhcp)
    const link: NetworkLink = {
      id: vif.devname || `interface${ifcNum}`,
      vif_id: vif.portId,
      type: 'bridge',
      // Nova leaves the MTU to DHCP when a subnet has a DHCP server.
      mtu: dhcp ? null : vif.mtu,
      ethernet_mac_address: vif.macAddress,
    }
    links.push(link)
    for (const ip of [v4, v6]) {
      if (!ip) continue
      netNum += 1
      networks.push(networkEntry(vif, ip, netNum, link.id))
      for (const address of ip.subnet?.dnsNameservers ?? []) {
        if (!services.some((s) => s.address === address)) services.push({ type: 'dns', address })
      }
    }
  })
  return { links, networks, services }
}

function networkEntry(
  vif: MetadataVif,
  ip: MetadataVif['fixedIps'][number],
  netNum: number,
  linkId: string,
): NetworkEntry {
  const id = `network${netNum}`
  const subnet = ip.subnet
  if (!subnet || (subnet.enableDhcp && ip.version === 4)) {
    return { id, type: `ipv${ip.version}_dhcp`, link: linkId, network_id: vif.networkId }
  }
  const routes: { network: string; netmask: string; gateway: string }[] = []
  if (subnet.gatewayIp) {
    routes.push(
      ip.version === 4
        ? { network: '0.0.0.0', netmask: '0.0.0.0', gateway: subnet.gatewayIp }
        : { network: '::', netmask: '::', gateway: subnet.gatewayIp },
    )
  }
  for (const r of subnet.hostRoutes) {
    const [network = '', prefix = '0'] = r.destination.split('/')
    routes.push({ network, netmask: netmaskOf(Number(prefix), ip.version), gateway: r.nexthop })
  }
  const prefix = Number(subnet.cidr.split('/')[1] ?? (ip.version === 4 ? 32 : 128))
  return {
    id,
    type: `ipv${ip.version}`,
    link: linkId,
    ip_address: ip.address,
    netmask: netmaskOf(prefix, ip.version),
    routes,
    network_id: vif.networkId,
    services: subnet.dnsNameservers.map((address) => ({ type: 'dns', address })),
  }
}

/** Dotted (v4) or colon (v6, compressed) netmask of a prefix length. */
export function netmaskOf(prefix: number, version: 4 | 6): string {
  if (version === 4) {
    const bits = prefix <= 0 ? 0 : (0xffffffff << (32 - Math.min(prefix, 32))) >>> 0
    return [24, 16, 8, 0].map((s) => (bits >>> s) & 0xff).join('.')
  }
  const groups: string[] = []
  for (let i = 0; i < 8; i++) {
    const take = Math.max(0, Math.min(16, prefix - i * 16))
    groups.push(((0xffff << (16 - take)) & 0xffff).toString(16))
  }
  // Compress the trailing run of zero groups, as Python's ipaddress prints it.
  const firstZero = groups.indexOf('0')
  if (firstZero === -1) return groups.join(':')
  const head = groups.slice(0, firstZero).join(':')
  return firstZero === 0 ? '::' : `${head}::`
}
