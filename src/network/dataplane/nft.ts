import { ipVersionOf, parseCidr } from '../ipam.ts'
import { protocolNumber } from '../security-groups.ts'
import type { HostState, PortPlan, RulePlan } from './state.ts'

/**
 * The host's filtering as two nftables tables of Nimbus's own, replaced
 * atomically in one `nft -f` transaction on every change:
 *
 * - `bridge <name>`: per-port anti-spoofing on frames entering the bridge
 *   from a guest (source MAC, ARP sender, IPv4/IPv6 source must be the
 *   port's, no DHCP or router-advertisement serving), and tagging: the
 *   in-port index goes in the low 16 bits of the packet mark, the out-port
 *   index in the high 16 bits.
 * - `inet <name>`: the security groups. Bridged IP traffic reaches the inet
 *   forward hook through br_netfilter, where conntrack runs (the bridge
 *   family's own conntrack is often not built), so rules are stateful:
 *   established/related traffic passes, new traffic must match a rule of
 *   the sending port's groups (egress) and of the receiving port's groups
 *   (ingress); anything else is dropped.
 */
const MARK_PORT_BITS = 16
const MAX_PORT_INDEX = (1 << MARK_PORT_BITS) - 1
/** Priorities: tag before br_netfilter's hooks (0), egress before ingress in the inet forward hook. */
const BRIDGE_PREROUTING_PRIORITY = -300
const BRIDGE_FORWARD_PRIORITY = -200
const INET_EGRESS_PRIORITY = -10
const INET_INGRESS_PRIORITY = 0

/** ICMPv6 that IPv6 needs to work at all (Neutron always allows it). */
const ICMPV6_ALLOWED = 'nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert, mld-listener-query'
const ICMPV6_EGRESS_ALLOWED =
  'nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, mld-listener-report, mld2-listener-report'

const hex = (n: number) => `0x${n.toString(16)}`
/** The out-port tag of an index (arithmetic, not `<<`: JS shifts are signed 32-bit). */
const high = (n: number) => n * 2 ** MARK_PORT_BITS

/** The script that replaces both tables (creating them first so `delete` cannot fail). */
export function renderRuleset(table: string, state: HostState): string {
  const filtered = state.ports.filter((p) => p.portSecurity)
  if (filtered.length > MAX_PORT_INDEX)
    throw new Error(`more than ${MAX_PORT_INDEX} filtered ports on one host`)
  const indexed = filtered.map((port, i) => ({ port, index: i + 1 }))
  return [
    `table bridge ${table} {}`,
    `delete table bridge ${table}`,
    `table inet ${table} {}`,
    `delete table inet ${table}`,
    renderBridge(table, indexed),
    renderInet(table, state, indexed),
    '',
  ].join('\n')
}

/** Removes both tables (nothing else). */
export function renderTeardown(table: string): string {
  return [
    `table bridge ${table} {}`,
    `delete table bridge ${table}`,
    `table inet ${table} {}`,
    `delete table inet ${table}`,
    '',
  ].join('\n')
}

interface Indexed {
  readonly port: PortPlan
  readonly index: number
}

function renderBridge(table: string, ports: readonly Indexed[]): string {
  const lines = [`table bridge ${table} {`]
  lines.push(
    `  chain prerouting {`,
    `    type filter hook prerouting priority ${BRIDGE_PREROUTING_PRIORITY}; policy accept;`,
  )
  if (ports.length)
    lines.push(
      `    iifname vmap { ${ports.map((p) => `"${p.port.tap}" : jump from_${p.index}`).join(', ')} }`,
    )
  lines.push('  }')
  lines.push(
    `  chain forward {`,
    `    type filter hook forward priority ${BRIDGE_FORWARD_PRIORITY}; policy accept;`,
  )
  if (ports.length)
    lines.push(`    oifname vmap { ${ports.map((p) => `"${p.port.tap}" : jump to_${p.index}`).join(', ')} }`)
  lines.push('  }')
  for (const { port, index } of ports) {
    lines.push(`  chain from_${index} {`, ...antiSpoofing(port, index).map((l) => `    ${l}`), '  }')
    lines.push(`  chain to_${index} {`, `    meta mark set meta mark | ${hex(high(index))}`, '  }')
  }
  lines.push('}')
  return lines.join('\n')
}

function antiSpoofing(port: PortPlan, index: number): string[] {
  const macs = [port.mac, ...port.pairMacs]
  const v4 = [...port.ips, ...port.pairIps].filter((a) => ipVersionOf(a.split('/')[0]!) === 4)
  const v6 = [...port.ips, ...port.pairIps].filter((a) => ipVersionOf(a.split('/')[0]!) === 6)
  const set = (xs: readonly string[]) => `{ ${xs.join(', ')} }`
  const lines = [
    `meta mark set ${hex(index)}`,
    `ether saddr != ${set(macs)} drop`,
    `ether type arp arp saddr ether != ${set(macs)} drop`,
  ]
  lines.push(v4.length ? `ether type arp arp saddr ip != ${set(v4)} drop` : 'ether type arp drop')
  // DHCP discovery comes from 0.0.0.0 before the guest has its address.
  lines.push('ether type ip ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept')
  lines.push('ether type ip udp sport 67 udp dport 68 drop')
  lines.push(v4.length ? `ether type ip ip saddr != ${set(v4)} drop` : 'ether type ip drop')
  lines.push(`ether type ip6 ip6 saddr != ${set(['::', 'fe80::/10', ...v6])} drop`)
  lines.push('ether type ip6 icmpv6 type nd-router-advert drop')
  lines.push('ether type ip6 udp sport 547 udp dport 546 drop')
  return lines
}

function renderInet(table: string, state: HostState, ports: readonly Indexed[]): string {
  const lines = [`table inet ${table} {`]
  for (const [group, members] of state.remoteGroups) {
    for (const version of [4, 6] as const) {
      const addrs = members.filter((m) => ipVersionOf(m.split('/')[0]!) === version)
      const elements = addrs.length ? ` elements = { ${addrs.join(', ')} };` : ''
      lines.push(
        `  set ${setName(group, version)} { type ipv${version}_addr; flags interval; auto-merge;${elements} }`,
      )
    }
  }
  lines.push(
    `  chain from_ports {`,
    `    type filter hook forward priority ${INET_EGRESS_PRIORITY}; policy accept;`,
  )
  if (ports.length) {
    lines.push(
      `    meta mark & ${hex(MAX_PORT_INDEX)} vmap { ${ports.map((p) => `${hex(p.index)} : jump egress_${p.index}`).join(', ')} }`,
    )
  }
  lines.push('  }')
  lines.push(
    `  chain to_ports {`,
    `    type filter hook forward priority ${INET_INGRESS_PRIORITY}; policy accept;`,
  )
  if (ports.length) {
    const mask = hex(high(MAX_PORT_INDEX))
    lines.push(
      `    meta mark & ${mask} vmap { ${ports.map((p) => `${hex(high(p.index))} : jump ingress_${p.index}`).join(', ')} }`,
    )
  }
  lines.push('  }')
  for (const { port, index } of ports) {
    const rules = port.groups.flatMap((g) => state.rules.get(g) ?? [])
    lines.push(`  chain egress_${index} {`, ...chainBody(rules, 'egress').map((l) => `    ${l}`), '  }')
    lines.push(`  chain ingress_${index} {`, ...chainBody(rules, 'ingress').map((l) => `    ${l}`), '  }')
  }
  lines.push('}')
  return lines.join('\n')
}

function chainBody(rules: readonly RulePlan[], direction: 'ingress' | 'egress'): string[] {
  const lines = ['ct state established,related accept', 'ct state invalid drop']
  if (direction === 'ingress') {
    lines.push('meta nfproto ipv4 udp sport 67 udp dport 68 accept')
    lines.push(`meta nfproto ipv6 meta l4proto ipv6-icmp icmpv6 type { ${ICMPV6_ALLOWED} } accept`)
  } else {
    lines.push('meta nfproto ipv4 udp sport 68 udp dport 67 accept')
    lines.push(`meta nfproto ipv6 meta l4proto ipv6-icmp icmpv6 type { ${ICMPV6_EGRESS_ALLOWED} } accept`)
  }
  for (const r of rules) if (r.direction === direction) lines.push(`${ruleMatch(r)} accept comment "${r.id}"`)
  lines.push('drop')
  return lines
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
