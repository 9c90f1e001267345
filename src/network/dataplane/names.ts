/**
 * Names of everything the data plane creates. Linux limits interface names
 * to 15 characters, so names carry a short prefix and the head of the
 * resource's uuid; every prefix starts with `nb` (or the Nova convention
 * `tap` for guest interfaces, which compute creates) so what Nimbus made is
 * recognisable and nothing else is ever touched.
 */
export const IFNAME_MAX_CHARS = 15
const ID_CHARS = 12

const head = (id: string, n = ID_CHARS) => id.replace(/-/g, '').slice(0, n)

/** The Linux bridge of a network. */
export const bridgeName = (networkId: string) => `nb-${head(networkId)}`
/** The VLAN sub-interface of a `vlan` network on its physical interface. */
export const vlanName = (networkId: string) => `nv-${head(networkId)}`
/** Host side of the DHCP namespace's veth. */
export const dhcpVethName = (networkId: string) => `nd-${head(networkId)}`
/** Host side of a router interface's veth (tenant bridge). */
export const routerPortVethName = (portId: string) => `nr-${head(portId)}`
/** Host side of a router gateway's veth (external bridge). */
export const gatewayVethName = (portId: string) => `ng-${head(portId)}`
/** A guest's interface, as Nova names it: `tap` + the first 11 characters of the port id. */
export const tapName = (portId: string) => `tap${portId.slice(0, 11)}`

/** Interface names inside the DHCP and router namespaces (namespaced, so short and fixed). */
export const DHCP_IFNAME = 'ns-dhcp'
export const routerIfname = (portId: string) => `qr-${portId.slice(0, 11)}`
export const gatewayIfname = (portId: string) => `qg-${portId.slice(0, 11)}`

export const DHCP_NETNS_PREFIX = 'nimbus-dhcp-'
export const ROUTER_NETNS_PREFIX = 'nimbus-router-'
export const dhcpNetns = (networkId: string) => `${DHCP_NETNS_PREFIX}${networkId}`
export const routerNetns = (routerId: string) => `${ROUTER_NETNS_PREFIX}${routerId}`

/** Interface prefixes the data plane owns in the host namespace. */
export const OWNED_LINK_PREFIXES = ['nb-', 'nv-', 'nd-', 'nr-', 'ng-'] as const
