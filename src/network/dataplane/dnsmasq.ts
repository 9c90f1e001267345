import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { logger } from '../../common/log.ts'
import { bigIntToIp, parseCidr } from '../ipam.ts'
import { inNs, run, type HostNs } from './exec.ts'
import { DHCP_IFNAME, dhcpNetns, dhcpVethName } from './names.ts'
import type { DhcpPlan } from './state.ts'

const log = logger('network.dhcp')

/** Lease time handed to guests (Neutron's dhcp_lease_duration default). */
const LEASE_TIME_S = 86_400
/** How long a SIGTERMed dnsmasq gets before SIGKILL. */
const DNSMASQ_STOP_WAIT_MS = 2_000
const STOP_POLL_MS = 50

/**
 * One dnsmasq per network, as Neutron's DHCP agent runs it: in its own
 * namespace on a veth into the network's bridge, holding the DHCP port's
 * MAC and addresses, answering only the static MAC -> IP entries of the
 * network's ports (no dynamic pool), with its pid file and config in the
 * data plane's state directory. Config changes are applied with SIGHUP.
 */
export class DhcpServer {
  readonly #host: HostNs
  readonly #dir: string
  readonly #plan: DhcpPlan

  constructor(host: HostNs, stateDir: string, plan: DhcpPlan) {
    this.#host = host
    this.#dir = join(stateDir, plan.networkId)
    this.#plan = plan
  }

  /** Creates what is missing and reloads dnsmasq if its files changed. */
  async ensure(bridge: string): Promise<void> {
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 })
    const ns = dhcpNetns(this.#plan.networkId)
    await ensureNetns(ns)
    await this.#ensureVeth(ns, bridge)
    const hostsPath = join(this.#dir, 'host')
    const hostsBefore = existsSync(hostsPath) ? readFileSync(hostsPath, 'utf8') : ''
    const changed = this.#writeFiles()
    const pid = this.pid()
    if (pid !== undefined && isAlive(pid)) {
      if (!changed) return
      if (!dropsHost(hostsBefore, readFileSync(hostsPath, 'utf8'))) {
        process.kill(pid, 'SIGHUP')
        return
      }
      // A removed port's lease stays in dnsmasq's memory (--leasefile-ro) and keeps its
      // address from the next port given it (Neutron's agent runs dhcp_release): restart.
      await stopPid(pid)
      log.debug({ network: this.#plan.networkId }, "dnsmasq restarted to drop removed ports' leases")
    }
    await inNs(ns, 'dnsmasq', this.#args())
    log.debug({ network: this.#plan.networkId }, 'dnsmasq started')
  }

  async #ensureVeth(ns: string, bridge: string): Promise<void> {
    const veth = dhcpVethName(this.#plan.networkId)
    const exists = await this.#host.ipQuiet('link', 'show', veth)
    if (!exists) {
      await this.#host.ip(
        'link',
        'add',
        veth,
        'mtu',
        String(this.#plan.mtu),
        'type',
        'veth',
        'peer',
        'name',
        DHCP_IFNAME,
        'netns',
        ns,
      )
    }
    await this.#host.silenceIpv6(veth)
    await this.#host.ip('link', 'set', veth, 'master', bridge, 'up')
    await run('ip', [
      '-n',
      ns,
      'link',
      'set',
      DHCP_IFNAME,
      'address',
      this.#plan.mac,
      'mtu',
      String(this.#plan.mtu),
      'up',
    ])
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
    const { stdout } = await run('ip', ['-n', ns, '-j', 'addr', 'show', 'dev', DHCP_IFNAME])
    const have = new Set(
      (JSON.parse(stdout) as { addr_info: { local: string; prefixlen: number; scope: string }[] }[])
        .flatMap((l) => l.addr_info)
        .filter((a) => a.scope === 'global')
        .map((a) => `${a.local}/${a.prefixlen}`),
    )
    for (const a of this.#plan.addresses)
      if (!have.has(a)) await run('ip', ['-n', ns, 'addr', 'add', a, 'dev', DHCP_IFNAME])
    for (const a of have)
      if (!this.#plan.addresses.includes(a)) await run('ip', ['-n', ns, 'addr', 'del', a, 'dev', DHCP_IFNAME])
  }

  /** Writes hosts and options files; true if either changed. */
  #writeFiles(): boolean {
    const hosts = this.#plan.hosts.map((h) => `${h.mac},${h.name},${h.ip}\n`).join('')
    const opts = this.#plan.subnets.flatMap((s) => subnetOptions(s)).join('\n') + '\n'
    return [
      writeIfChanged(join(this.#dir, 'host'), hosts),
      writeIfChanged(join(this.#dir, 'opts'), opts),
    ].some(Boolean)
  }

  #args(): string[] {
    const ranges = this.#plan.subnets.flatMap((s) => {
      const c = parseCidr(s.cidr)!
      if (c.version !== 4) return []
      const mask = bigIntToIp(((1n << 32n) - 1n) ^ ((1n << BigInt(32 - c.prefixLen)) - 1n), 4)
      return [`--dhcp-range=set:subnet-${s.id},${bigIntToIp(c.network, 4)},static,${mask},${LEASE_TIME_S}s`]
    })
    return [
      '--conf-file=/dev/null',
      // Its files live under the (0700) state directory, which the unprivileged user dnsmasq
      // switches to by default cannot read; it runs alone in its own namespace.
      '--user=root',
      '--no-hosts',
      '--no-resolv',
      '--port=0',
      '--bind-interfaces',
      `--interface=${DHCP_IFNAME}`,
      '--except-interface=lo',
      `--pid-file=${join(this.#dir, 'pid')}`,
      `--dhcp-hostsfile=${join(this.#dir, 'host')}`,
      `--dhcp-optsfile=${join(this.#dir, 'opts')}`,
      '--leasefile-ro',
      `--log-facility=${join(this.#dir, 'log')}`,
      '--log-dhcp',
      '--dhcp-authoritative',
      `--dhcp-option-force=option:mtu,${this.#plan.mtu}`,
      ...ranges,
    ]
  }

  pid(): number | undefined {
    return readPid(join(this.#dir, 'pid'))
  }
}

function subnetOptions(s: DhcpPlan['subnets'][number]): string[] {
  if (parseCidr(s.cidr)?.version !== 4) return []
  const tag = `tag:subnet-${s.id}`
  const out: string[] = []
  out.push(s.gateway ? `${tag},option:router,${s.gateway}` : `${tag},option:router`)
  if (s.dns.length) out.push(`${tag},option:dns-server,${s.dns.join(',')}`)
  if (s.routes.length) {
    const routes = s.routes.map((r) => `${r.destination},${r.nexthop}`)
    if (s.gateway) routes.push(`0.0.0.0/0,${s.gateway}`)
    out.push(`${tag},option:classless-static-route,${routes.join(',')}`)
  }
  return out
}

function writeIfChanged(path: string, content: string): boolean {
  if (existsSync(path) && readFileSync(path, 'utf8') === content) return false
  writeFileSync(path, content, { mode: 0o600 })
  return true
}

export function readPid(path: string): number | undefined {
  if (!existsSync(path)) return undefined
  const n = Number(readFileSync(path, 'utf8').trim())
  return Number.isInteger(n) && n > 1 ? n : undefined
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Stops the dnsmasq whose pid file is in `dir` (only that pid), then removes the directory. */
export async function stopDhcp(dir: string): Promise<void> {
  const pid = readPid(join(dir, 'pid'))
  if (pid !== undefined && isAlive(pid)) await stopPid(pid)
  rmSync(dir, { recursive: true, force: true })
}

/** SIGTERM, then SIGKILL after DNSMASQ_STOP_WAIT_MS; resolves once the pid is gone. */
async function stopPid(pid: number): Promise<void> {
  process.kill(pid, 'SIGTERM')
  const deadline = Date.now() + DNSMASQ_STOP_WAIT_MS
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, STOP_POLL_MS))
  if (isAlive(pid)) process.kill(pid, 'SIGKILL')
  const killDeadline = Date.now() + DNSMASQ_STOP_WAIT_MS
  while (isAlive(pid) && Date.now() < killDeadline) await new Promise((r) => setTimeout(r, STOP_POLL_MS))
}

/** True when a host entry (MAC, name, address) of `before` is not in `after`. */
export function dropsHost(before: string, after: string): boolean {
  const now = new Set(after.split('\n').filter(Boolean))
  return before.split('\n').some((line) => line !== '' && !now.has(line))
}

export async function ensureNetns(ns: string): Promise<void> {
  const { stdout } = await run('ip', ['netns', 'list'])
  if (stdout.split('\n').some((l) => l.split(' ')[0] === ns)) return
  await run('ip', ['netns', 'add', ns])
}

export async function deleteNetns(ns: string): Promise<void> {
  await run('ip', ['netns', 'del', ns], { okCodes: [1] })
}
