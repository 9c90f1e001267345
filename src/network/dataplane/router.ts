import { run, type HostNs } from './exec.ts'
import { ensureNetns } from './dnsmasq.ts'
import { METADATA_ADDRESS, METADATA_PROXY_PORT } from './metadata.ts'
import { gatewayIfname, gatewayVethName, routerIfname, routerNetns, routerPortVethName } from './names.ts'
import type { NetworkPlan, RouterPlan, RouterPortPlan } from './state.ts'

/** The nft table inside each router namespace (the namespace is Nimbus's, so is the table). */
const ROUTER_TABLE = 'nimbus'

/**
 * A router as a network namespace (Neutron's qrouter): one veth per
 * interface into the tenant network's bridge holding the subnet's gateway
 * address, one into the external network's bridge holding the gateway and
 * floating addresses, IPv4 forwarding on, and NAT in one nft table:
 * DNAT floating -> fixed, SNAT fixed -> floating, and SNAT of everything
 * else from the internal subnets to the gateway address.
 */
export async function ensureRouter(
  host: HostNs,
  plan: RouterPlan,
  networks: ReadonlyMap<string, NetworkPlan>,
): Promise<void> {
  const ns = routerNetns(plan.id)
  await ensureNetns(ns)
  await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
  await run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'])
  const wanted = new Set<string>()
  for (const port of plan.interfaces) {
    const name = routerIfname(port.portId)
    wanted.add(name)
    await ensurePort(host, ns, port, routerPortVethName(port.portId), name, networks, port.addresses)
  }
  if (plan.gateway) {
    const name = gatewayIfname(plan.gateway.portId)
    wanted.add(name)
    const fipAddrs = plan.floatingIps.map((f) => `${f.floating}/32`)
    await ensurePort(host, ns, plan.gateway, gatewayVethName(plan.gateway.portId), name, networks, [
      ...plan.gateway.addresses,
      ...fipAddrs,
    ])
    if (plan.gateway.nexthop)
      await run('ip', ['-n', ns, 'route', 'replace', 'default', 'via', plan.gateway.nexthop, 'dev', name])
  }
  await removeStalePorts(ns, wanted)
  await run('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: natRuleset(plan) })
}

async function ensurePort(
  host: HostNs,
  ns: string,
  port: RouterPortPlan,
  veth: string,
  inner: string,
  networks: ReadonlyMap<string, NetworkPlan>,
  addresses: readonly string[],
): Promise<void> {
  const net = networks.get(port.networkId)
  if (!net) return
  if (!(await host.ipQuiet('link', 'show', veth))) {
    await host.ip(
      'link',
      'add',
      veth,
      'mtu',
      String(net.mtu),
      'type',
      'veth',
      'peer',
      'name',
      inner,
      'netns',
      ns,
    )
  }
  await host.silenceIpv6(veth)
  await host.ip('link', 'set', veth, 'master', net.bridge, 'up')
  await run('ip', ['-n', ns, 'link', 'set', inner, 'address', port.mac, 'mtu', String(net.mtu), 'up'])
  const have = await globalAddresses(ns, inner)
  for (const a of addresses) if (!have.has(a)) await run('ip', ['-n', ns, 'addr', 'add', a, 'dev', inner])
  for (const a of have)
    if (!addresses.includes(a)) await run('ip', ['-n', ns, 'addr', 'del', a, 'dev', inner])
}

async function globalAddresses(ns: string, dev: string): Promise<Set<string>> {
  const { stdout } = await run('ip', ['-n', ns, '-j', 'addr', 'show', 'dev', dev])
  const links = JSON.parse(stdout) as { addr_info: { local: string; prefixlen: number; scope: string }[] }[]
  return new Set(
    links
      .flatMap((l) => l.addr_info)
      .filter((a) => a.scope === 'global')
      .map((a) => `${a.local}/${a.prefixlen}`),
  )
}

/** Deleting the inner end of a veth deletes its host end too. */
async function removeStalePorts(ns: string, wanted: ReadonlySet<string>): Promise<void> {
  const { stdout } = await run('ip', ['-n', ns, '-j', 'link', 'show'])
  for (const l of JSON.parse(stdout) as { ifname: string }[]) {
    if ((l.ifname.startsWith('qr-') || l.ifname.startsWith('qg-')) && !wanted.has(l.ifname)) {
      await run('ip', ['-n', ns, 'link', 'del', l.ifname])
    }
  }
}

export function natRuleset(plan: RouterPlan): string {
  const lines = [
    `table ip ${ROUTER_TABLE} {}`,
    `delete table ip ${ROUTER_TABLE}`,
    `table ip ${ROUTER_TABLE} {`,
  ]
  lines.push('  chain prerouting {', '    type nat hook prerouting priority dstnat; policy accept;')
  for (const f of plan.floatingIps) lines.push(`    ip daddr ${f.floating} dnat to ${f.fixed}`)
  // Guests' metadata requests go to this namespace's proxy (metadata.ts).
  if (plan.interfaces.length) {
    lines.push(`    ip daddr ${METADATA_ADDRESS} tcp dport 80 redirect to :${METADATA_PROXY_PORT}`)
  }
  lines.push('  }')
  lines.push('  chain output {', '    type nat hook output priority -100; policy accept;')
  for (const f of plan.floatingIps) lines.push(`    ip daddr ${f.floating} dnat to ${f.fixed}`)
  lines.push('  }')
  lines.push('  chain postrouting {', '    type nat hook postrouting priority srcnat; policy accept;')
  if (plan.gateway) {
    const qg = gatewayIfname(plan.gateway.portId)
    for (const f of plan.floatingIps)
      lines.push(`    ip saddr ${f.fixed} oifname "${qg}" snat to ${f.floating}`)
    const gwV4 = plan.gateway.addresses.find((a) => a.includes('.'))
    const internal = plan.internalCidrs.filter((c) => c.includes('.'))
    if (plan.snat && gwV4 && internal.length) {
      lines.push(`    ip saddr { ${internal.join(', ')} } oifname "${qg}" snat to ${gwV4.split('/')[0]!}`)
    }
  }
  lines.push('  }', '}', '')
  return lines.join('\n')
}
