import { ipVersionOf, parseCidr } from '../ipam.ts'
import { protocolNumber } from '../security-groups.ts'
import type { HostState, PortPlan, RulePlan } from './state.ts'

/**
 * The host's filtering as two nftables tables of Nimbus's own, replaced
 * atomically in one `nft -f` transaction on every change:
 *
 * - `bridge <name>`: anti-spoofing on frames entering the bridge from a
 *   guest with port security: source MAC, ARP sender and IPv4/IPv6 source
 *   must be the port's (or its allowed address pairs'), and guests may not
 *   serve DHCP or send router advertisements. The checks are a handful of
 *   rules over named sets keyed by interface, so their cost does not grow
 *   with the number of ports. Frames are tagged: the in-port index in the
 *   low 16 bits of the packet mark, the out-port index in the high 16.
 * - `inet <name>`: the security groups. Bridged IP traffic reaches the inet
 *   forward hook through br_netfilter, where conntrack runs (the bridge
 *   family's own conntrack is often not built), so rules are stateful:
 *   established/related traffic passes; new traffic must match a rule of
 *   one of the sending port's groups (egress) and one of the receiving
 *   port's groups (ingress); anything else is dropped. Each group's rules
 *   are one chain, shared by all its ports.
 */
const MARK_PORT_BITS = 16
const MAX_PORT_INDEX = (1 << MARK_PORT_BITS) - 1
/** Priorities: tag before br_netfilter's hooks (0), egress before ingress in the inet forward hook. */
const BRIDGE_PREROUTING_PRIORITY = -300
const BRIDGE_FORWARD_PRIORITY = -200
const INET_EGRESS_PRIORITY = -10
const INET_INGRESS_PRIORITY = 0

/** ICMPv6 that IPv6 needs to work at all (Neutron always allows it). */
const ICMPV6_ALWAYS =
  'nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert, nd-router-solicit, mld-listener-query, mld-listener-report, mld2-listener-report'

const hex = (n: number) => `0x${n.toString(16)}`
/** The out-port tag of an index (arithmetic, not `<<`: JS shifts are signed 32-bit). */
const high = (n: number) => n * 2 ** MARK_PORT_BITS

interface Indexed {
  readonly port: PortPlan
  readonly index: number
}

/** The script that replaces both tables (creating them first so `delete` cannot fail). */
export function renderRuleset(table: string, state: HostState): string {
  const filtered = state.ports.filter((p) => p.portSecurity)
  if (filtered.length > MAX_PORT_INDEX)
    throw new Error(`more than ${MAX_PORT_INDEX} filtered ports on one host`)
  const indexed = filtered.map((port, i) => ({ port, index: i + 1 }))
  return [renderTeardown(table), renderBridge(table, indexed), renderInet(table, state, indexed), ''].join(
    '\n',
  )
}

/** Removes both tables (nothing else). */
export function renderTeardown(table: string): string {
  return [
    `table bridge ${table} {}`,
    `delete table bridge ${table}`,
    `table inet ${table} {}`,
    `delete table inet ${table}`,
  ].join('\n')
}

const elements = (xs: readonly string[]) => (xs.length ? ` elements = { ${xs.join(', ')} };` : '')
const addressesOf = (p: PortPlan, version: 4 | 6) =>
  [...p.ips, ...p.pairIps].filter((a) => ipVersionOf(a.split('/')[0]!) === version)

function renderBridge(table: string, ports: readonly Indexed[]): string {
  const tap = (p: PortPlan) => `"${p.tap}"`
  const macs = ports.flatMap(({ port }) => [port.mac, ...port.pairMacs].map((m) => `${tap(port)} . ${m}`))
  const v4 = ports.flatMap(({ port }) => addressesOf(port, 4).map((a) => `${tap(port)} . ${a}`))
  const v6 = ports.flatMap(({ port }) => addressesOf(port, 6).map((a) => `${tap(port)} . ${a}`))
  const lines = [`table bridge ${table} {`]
  lines.push(`  set ports { type ifname;${elements(ports.map(({ port }) => tap(port)))} }`)
  lines.push(`  set macs { type ifname . ether_addr;${elements(macs)} }`)
  lines.push(`  set ipv4 { type ifname . ipv4_addr; flags interval;${elements(v4)} }`)
  lines.push(`  set ipv6 { type ifname . ipv6_addr; flags interval;${elements(v6)} }`)
  lines.push(
    `  map in_tags { type ifname : mark;${elements(ports.map(({ port, index }) => `${tap(port)} : ${hex(index)}`))} }`,
  )
  lines.push(
    '  chain prerouting {',
    `    type filter hook prerouting priority ${BRIDGE_PREROUTING_PRIORITY}; policy accept;`,
  )
  for (const rule of [
    'iifname != @ports accept',
    'meta mark set iifname map @in_tags',
    'iifname . ether saddr != @macs drop',
    'ether type arp iifname . arp saddr ether != @macs drop',
    'ether type arp iifname . arp saddr ip != @ipv4 drop',
    // DHCP discovery comes from 0.0.0.0 before the guest has its address.
    'ether type ip ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept',
    'ether type ip udp sport 67 udp dport 68 drop',
    'ether type ip iifname . ip saddr != @ipv4 drop',
    'ether type ip6 icmpv6 type nd-router-advert drop',
    'ether type ip6 udp sport 547 udp dport 546 drop',
    'ether type ip6 ip6 saddr { ::, fe80::/10 } accept',
    'ether type ip6 iifname . ip6 saddr != @ipv6 drop',
  ]) {
    lines.push(`    ${rule}`)
  }
  lines.push('  }')
  lines.push(
    '  chain forward {',
    `    type filter hook forward priority ${BRIDGE_FORWARD_PRIORITY}; policy accept;`,
  )
  if (ports.length)
    lines.push(
      `    oifname vmap { ${ports.map(({ port, index }) => `${tap(port)} : jump to_${index}`).join(', ')} }`,
    )
  lines.push('  }')
  for (const { index } of ports)
    lines.push(`  chain to_${index} {`, `    meta mark set meta mark | ${hex(high(index))}`, '  }')
  lines.push('}')
  return lines.join('\n')
}

function renderInet(table: string, state: HostState, ports: readonly Indexed[]): string {
  const lines = [`table inet ${table} {`]
  for (const [group, members] of state.remoteGroups) {
    for (const version of [4, 6] as const) {
      const addrs = members.filter((m) => ipVersionOf(m.split('/')[0]!) === version)
      lines.push(
        `  set ${setName(group, version)} { type ipv${version}_addr; flags interval; auto-merge;${elements(addrs)} }`,
      )
    }
  }
  const always = (direction: 'ingress' | 'egress') => [
    'ct state established,related accept',
    'ct state invalid drop',
    direction === 'egress'
      ? 'meta nfproto ipv4 udp sport 68 udp dport 67 accept'
      : 'meta nfproto ipv4 udp sport 67 udp dport 68 accept',
    `meta nfproto ipv6 meta l4proto ipv6-icmp icmpv6 type { ${ICMPV6_ALWAYS} } accept`,
  ]
  lines.push(
    '  chain from_ports {',
    `    type filter hook forward priority ${INET_EGRESS_PRIORITY}; policy accept;`,
  )
  if (ports.length) {
    lines.push(...always('egress').map((l) => `    ${l}`))
    lines.push(
      `    meta mark & ${hex(MAX_PORT_INDEX)} vmap { ${ports.map((p) => `${hex(p.index)} : jump egress_${p.index}`).join(', ')} }`,
    )
  }
  lines.push('  }')
  lines.push(
    '  chain to_ports {',
    `    type filter hook forward priority ${INET_INGRESS_PRIORITY}; policy accept;`,
  )
  if (ports.length) {
    lines.push(...always('ingress').map((l) => `    ${l}`))
    const mask = hex(high(MAX_PORT_INDEX))
    lines.push(
      `    meta mark & ${mask} vmap { ${ports.map((p) => `${hex(high(p.index))} : jump ingress_${p.index}`).join(', ')} }`,
    )
  }
  lines.push('  }')
  const groups = [...new Set(ports.flatMap(({ port }) => port.groups))]
  for (const g of groups) {
    const rules = state.rules.get(g) ?? []
    for (const direction of ['egress', 'ingress'] as const) {
      lines.push(`  chain ${groupChain(g, direction)} {`)
      for (const r of rules)
        if (r.direction === direction) lines.push(`    ${ruleMatch(r)} accept comment "${r.id}"`)
      lines.push('  }')
    }
  }
  for (const { port, index } of ports) {
    for (const direction of ['egress', 'ingress'] as const) {
      lines.push(`  chain ${direction}_${index} {`)
      for (const g of port.groups) lines.push(`    jump ${groupChain(g, direction)}`)
      lines.push('    drop', '  }')
    }
  }
  lines.push('}')
  return lines.join('\n')
}

function groupChain(groupId: string, direction: 'ingress' | 'egress'): string {
  return `sg_${groupId.replace(/-/g, '')}_${direction}`
}

/** One security group rule as an nft match. */
export function ruleMatch(r: RulePlan): string {
  const v6 = r.ethertype === 'IPv6'
  const parts = [v6 ? 'meta nfproto ipv6' : 'meta nfproto ipv4']
  const proto = protocolNumber(r.protocol)
  if (proto !== undefined) {
    const isIcmp = proto === 1 || proto === 58
    const l4 = isIcmp ? (v6 ? 'ipv6-icmp' : 'icmp') : String(proto)
    parts.push(`meta l4proto ${l4}`)
    if (isIcmp) {
      const kw = v6 ? 'icmpv6' : 'icmp'
      if (r.portMin !== null) parts.push(`${kw} type ${r.portMin}`)
      if (r.portMax !== null) parts.push(`${kw} code ${r.portMax}`)
    } else if (r.portMin !== null) {
      parts.push(r.portMin === r.portMax ? `th dport ${r.portMin}` : `th dport ${r.portMin}-${r.portMax}`)
    }
  }
  const addrDir = r.direction === 'ingress' ? 'saddr' : 'daddr'
  const family = v6 ? 'ip6' : 'ip'
  if (r.remotePrefix && !isAnyPrefix(r.remotePrefix)) parts.push(`${family} ${addrDir} ${r.remotePrefix}`)
  if (r.remoteGroup) parts.push(`${family} ${addrDir} @${setName(r.remoteGroup, v6 ? 6 : 4)}`)
  return parts.join(' ')
}

function isAnyPrefix(prefix: string): boolean {
  return parseCidr(prefix)?.prefixLen === 0
}

function setName(groupId: string, version: 4 | 6): string {
  return `sg_${groupId.replace(/-/g, '')}_v${version}`
}
