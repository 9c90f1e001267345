import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { logger } from '../../common/log.ts'
import type { Store } from '../store.ts'
import { HostNs, run } from './exec.ts'
import { deleteNetns, DhcpServer, stopDhcp } from './dnsmasq.ts'
import { dhcpNetns, OWNED_LINK_PREFIXES, routerNetns, vlanName } from './names.ts'
import { renderRuleset, renderTeardown } from './nft.ts'
import { ensureMetadataProxy, MetadataRelay, stopMetadataProxy } from './metadata.ts'
import { ensureRouter } from './router.ts'
import { planHost, type HostState, type NetworkPlan } from './state.ts'

const log = logger('network.dataplane')

/** A full resync runs this often even without change events (other processes' changes, late taps). */
export const RESYNC_INTERVAL_MS = 2_000
/** Changes arriving within this window are applied in one sync. */
const CHANGE_DEBOUNCE_MS = 10

export interface AgentOptions {
  /** This host's name: ports with `binding:host_id` equal to it are wired here. */
  readonly host: string
  /** Also serve DHCP and routers (single host or network node). */
  readonly networkNode: boolean
  /** Where pid files and dnsmasq config live. */
  readonly stateDir: string
  readonly nftTable: string
  /** physnet -> host interface (bridged for flat, VLAN sub-interface for vlan). */
  readonly interfaceMappings: Readonly<Record<string, string>>
  /** Namespace standing in for the host (tests); undefined is the host itself. */
  readonly hostNetns?: string | undefined
  /** The metadata service guests reach as 169.254.169.254 (base URL). */
  readonly metadataUrl: string
  /** Signs X-Instance-ID for the metadata service (`[metadata] metadata_proxy_shared_secret`). */
  readonly metadataSecret?: string | undefined
  /** Routers the L3 scheduling has put on another agent or on none (not served here). */
  readonly routersElsewhere?: () => Promise<ReadonlySet<string>>
  /** Told which ports are held down (`admin_state_up` false). */
  readonly onPortsDown?: (portIds: readonly string[]) => Promise<void>
  /** Told which ports are wired (tap on its bridge, filters loaded). */
  readonly onPortsActive?: (portIds: readonly string[]) => Promise<void>
  /** Told which ports could not be wired (their network, tap, filters or DHCP server failed). */
  readonly onPortsError?: (portIds: readonly string[]) => Promise<void>
  /** Told each router served here: `ERROR` when its namespace could not be set up, else `ACTIVE`. */
  readonly onRoutersStatus?: (status: ReadonlyMap<string, 'ACTIVE' | 'ERROR'>) => Promise<void>
}

/** What one sync could not apply, by resource: `network:<id>`, `port:<id>`, `router:<id>`, `dhcp:<network id>`. */
export type SyncFailures = ReadonlyMap<string, string>

interface Link {
  readonly ifname: string
  readonly master?: string
  readonly operstate?: string
  readonly flags?: readonly string[]
}

/**
 * The network agent of one host: makes the kernel match the database.
 * Each sync plans the host (`state.ts`) and applies the difference:
 * bridges (with VLAN sub-interfaces or the physical interface as uplink),
 * guest taps onto their bridges, one atomic nftables replacement, DHCP
 * servers and router namespaces. API changes in this process trigger a
 * sync within milliseconds; a periodic resync catches everything else.
 * Everything it makes is named with its prefixes and listed under
 * `stateDir`, and `teardown()` removes exactly that.
 */
export class DataplaneAgent {
  readonly #store: Store
  readonly #opts: AgentOptions
  readonly #host: HostNs
  readonly #metadata: MetadataRelay
  #timer: NodeJS.Timeout | undefined
  #debounce: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #again = false
  #lastRuleset = ''
  #stopped = false
  /**
   * Resources that failed to apply, with the error: one bad resource (a
   * network whose MTU the kernel refuses, a port whose filters do not load)
   * is skipped and reported on its port or router, and every other resource
   * of the host is still applied. Logged when a failure starts or changes,
   * and when it clears, not on every resync.
   */
  readonly #failures = new Map<string, string>()
  /** What the last sync could not apply (key: `kind:id`, value: the error). */
  get failures(): SyncFailures {
    return this.#failures
  }

  /** Wall time of the last completed sync, for tests and benchmarks. */
  lastSyncAt = 0
  /** Sequence number of completed syncs. */
  syncs = 0

  constructor(store: Store, opts: AgentOptions) {
    this.#store = store
    this.#opts = opts
    this.#host = new HostNs(opts.hostNetns)
    this.#metadata = new MetadataRelay(store, opts.stateDir, opts.metadataUrl, opts.metadataSecret)
  }

  /** Points the metadata relay at another metadata service URL (tests, after it listens). */
  set metadataUrl(url: string) {
    this.#metadata.target = url
  }

  get dhcpDir(): string {
    return join(this.#opts.stateDir, 'dhcp')
  }

  get routersDir(): string {
    return join(this.#opts.stateDir, 'routers')
  }

  /**
   * One empty file per bridge or VLAN interface this agent made (or
   * adopted, for a bridge of its plan that already existed). Another cloud
   * on the same machine (its own state directory) uses the same name
   * prefixes: only what is listed here is ever removed.
   */
  get linksDir(): string {
    return join(this.#opts.stateDir, 'links')
  }

  #own(name: string): void {
    mkdirSync(this.linksDir, { recursive: true, mode: 0o700 })
    writeFileSync(join(this.linksDir, name), '')
  }

  #disown(name: string): void {
    rmSync(join(this.linksDir, name), { force: true })
  }

  #owned(): Set<string> {
    return new Set(existsSync(this.linksDir) ? readdirSync(this.linksDir) : [])
  }

  async start(): Promise<void> {
    mkdirSync(this.dhcpDir, { recursive: true, mode: 0o700 })
    mkdirSync(this.routersDir, { recursive: true, mode: 0o700 })
    this.#stopped = false
    await this.#metadata.start()
    await this.sync()
    this.#timer = setInterval(() => this.changed(), RESYNC_INTERVAL_MS)
    this.#timer.unref()
  }

  /** Stops syncing; leaves the kernel as it is (guests keep their network). */
  async stop(): Promise<void> {
    this.#stopped = true
    clearInterval(this.#timer)
    clearTimeout(this.#debounce)
    await this.#running
    await this.#metadata.stop()
  }

  /** Something changed: sync soon. */
  changed(): void {
    if (this.#stopped || this.#debounce) return
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined
      void this.sync().catch((err: unknown) => log.error({ err }, 'data plane sync failed'))
    }, CHANGE_DEBOUNCE_MS)
  }

  /** Runs one sync now (or after the one in progress, which then runs again). */
  async sync(): Promise<void> {
    if (this.#running) {
      this.#again = true
      return this.#running
    }
    this.#running = (async () => {
      try {
        do {
          this.#again = false
          await this.#syncOnce()
        } while (this.#again && !this.#stopped)
      } finally {
        this.#running = undefined
      }
    })()
    return this.#running
  }

  async #syncOnce(): Promise<void> {
    const plan = await planHost(this.#store, {
      host: this.#opts.host,
      networkNode: this.#opts.networkNode,
      routersElsewhere: await this.#opts.routersElsewhere?.(),
    })
    const failed = new Map<string, string>()
    const links = await this.#links()
    const goodNets = new Set<string>()
    for (const net of plan.networks.values()) {
      if (await this.#attempt(failed, `network:${net.id}`, () => this.#ensureBridge(net, links))) {
        goodNets.add(net.id)
      }
    }
    const attached = await this.#attachTaps(plan, links, goodNets, failed)
    const filtered = await this.#applyRuleset(plan, attached, failed)
    await this.#syncDhcp(plan, goodNets, failed)
    const routers = await this.#syncRouters(plan, failed)
    await this.#attempt(failed, 'links', async () => this.#removeStaleLinks(plan, await this.#links()))
    this.#report(failed)
    const errored = [...failed.keys()].flatMap((k) =>
      k.startsWith('port:') ? [k.slice('port:'.length)] : [],
    )
    const wired = attached.wired.filter((id) => filtered.has(id))
    const down = attached.down.filter((id) => filtered.has(id))
    if (wired.length && this.#opts.onPortsActive) await this.#opts.onPortsActive(wired)
    if (down.length && this.#opts.onPortsDown) await this.#opts.onPortsDown(down)
    if (errored.length && this.#opts.onPortsError) await this.#opts.onPortsError(errored)
    if (routers.size && this.#opts.onRoutersStatus) await this.#opts.onRoutersStatus(routers)
    this.lastSyncAt = Date.now()
    this.syncs++
  }

  /** Runs one resource's step; a failure is recorded under `key` (and its ports) instead of thrown. */
  async #attempt(failed: Map<string, string>, key: string, step: () => Promise<unknown>): Promise<boolean> {
    try {
      await step()
      return true
    } catch (err) {
      failed.set(key, err instanceof Error ? err.message : String(err))
      return false
    }
  }

  /** Logs failures that started or changed since the last sync, and the ones that cleared (once each). */
  #report(failed: ReadonlyMap<string, string>): void {
    for (const [key, error] of failed) {
      if (this.#failures.get(key) !== error)
        log.error({ resource: key, error }, 'data plane resource not applied')
    }
    for (const key of this.#failures.keys()) {
      if (!failed.has(key)) log.info({ resource: key }, 'data plane resource applied again')
    }
    this.#failures.clear()
    for (const [key, error] of failed) this.#failures.set(key, error)
  }

  /**
   * Loads the filters of every attached port in one atomic replacement. If
   * the kernel refuses the whole ruleset, each port's part is checked alone
   * (`nft -c`, nothing applied) and the ports it refuses are left out,
   * reported failed and their taps held down: a port without its filters
   * would pass unfiltered (ports the ruleset does not know are accepted).
   * Returns the ports whose filters are loaded.
   */
  async #applyRuleset(
    plan: HostState,
    attached: { readonly wired: readonly string[]; readonly down: readonly string[] },
    failed: Map<string, string>,
  ): Promise<Set<string>> {
    const ok = new Set([...attached.wired, ...attached.down])
    const load = async (ports: ReadonlySet<string>): Promise<void> => {
      const ruleset = renderRuleset(this.#opts.nftTable, withPorts(plan, ports))
      if (ruleset === this.#lastRuleset) return
      await this.#host.nft(ruleset)
      this.#lastRuleset = ruleset
    }
    try {
      await load(ok)
      return ok
    } catch (err) {
      log.debug({ err }, 'host ruleset refused; checking each port alone')
    }
    for (const id of [...ok]) {
      const alone = renderRuleset(this.#opts.nftTable, withPorts(plan, new Set([id])))
      try {
        await this.#host.nftCheck(alone)
      } catch (err) {
        ok.delete(id)
        failed.set(`port:${id}`, `filters not loaded: ${err instanceof Error ? err.message : String(err)}`)
        const tap = plan.ports.find((p) => p.id === id)?.tap
        if (tap) await this.#host.ipQuiet('link', 'set', tap, 'down')
      }
    }
    if (!(await this.#attempt(failed, 'filters', () => load(ok)))) {
      for (const id of ok) failed.set(`port:${id}`, 'filters not loaded: the host ruleset was refused')
      return new Set()
    }
    return ok
  }

  async #links(): Promise<Map<string, Link>> {
    const { stdout } = await this.#host.ip('-j', 'link', 'show')
    return new Map((JSON.parse(stdout) as Link[]).map((l) => [l.ifname, l]))
  }

  async #ensureBridge(net: NetworkPlan, links: ReadonlyMap<string, Link>): Promise<void> {
    this.#own(net.bridge)
    if (!links.has(net.bridge)) {
      await this.#host.ip('link', 'add', net.bridge, 'mtu', String(net.mtu), 'type', 'bridge')
      // As Neutron's linuxbridge agent (disable_ipv6 on its bridges): the
      // host's IP stack takes no part in tenant networks, so the bridge gets
      // no IPv6 link-local address of its own, and none appears on the host.
      await this.#host.ip('link', 'set', net.bridge, 'addrgenmode', 'none')
      await this.#host.ip('link', 'set', net.bridge, 'up')
    }
    const uplink = net.physnet ? this.#opts.interfaceMappings[net.physnet] : undefined
    if (!uplink) return
    try {
      await this.#ensureUplink(net, uplink, links)
    } catch (err) {
      // One network's uplink (a missing interface, a kernel without 802.1Q) must not stop every other port's wiring.
      log.error({ err, network: net.id, uplink }, 'cannot attach the physical network to the bridge')
    }
  }

  async #ensureUplink(net: NetworkPlan, uplink: string, links: ReadonlyMap<string, Link>): Promise<void> {
    if (net.type === 'vlan' && net.vlan !== null) {
      const vlan = vlanName(net.id)
      this.#own(vlan)
      if (!links.has(vlan)) {
        await this.#host.ip(
          'link',
          'add',
          'link',
          uplink,
          'name',
          vlan,
          'type',
          'vlan',
          'id',
          String(net.vlan),
        )
      }
      if (links.get(vlan)?.master !== net.bridge)
        await this.#host.ip('link', 'set', vlan, 'master', net.bridge, 'up')
    } else if (net.type === 'flat' && links.get(uplink)?.master !== net.bridge) {
      await this.#host.ip('link', 'set', uplink, 'master', net.bridge, 'up')
    }
  }

  /**
   * Puts each guest's tap on its bridge, up, or down for a port whose
   * `admin_state_up` is false (as Neutron's linuxbridge agent); returns the
   * ports wired up and the ports held down.
   */
  async #attachTaps(
    plan: HostState,
    links: ReadonlyMap<string, Link>,
    goodNets: ReadonlySet<string>,
    failed: Map<string, string>,
  ): Promise<{ wired: string[]; down: string[] }> {
    const wired: string[] = []
    const down: string[] = []
    for (const port of plan.ports) {
      if (!goodNets.has(port.networkId)) {
        failed.set(`port:${port.id}`, `network ${port.networkId} not applied`)
        continue
      }
      const tap = links.get(port.tap)
      if (!tap) continue
      const bridge = plan.networks.get(port.networkId)!.bridge
      const isDown = tap.operstate === 'DOWN' || tap.flags?.includes('UP') === false
      const plugged = await this.#attempt(failed, `port:${port.id}`, async () => {
        if (tap.master !== bridge || isDown === port.adminUp) {
          await this.#host.silenceIpv6(port.tap)
          await this.#host.ip('link', 'set', port.tap, 'master', bridge, port.adminUp ? 'up' : 'down')
        }
      })
      if (plugged) (port.adminUp ? wired : down).push(port.id)
    }
    return { wired, down }
  }

  /** DHCP servers of the networks applied here; a server that fails marks its DHCP port failed. */
  async #syncDhcp(
    plan: HostState,
    goodNets: ReadonlySet<string>,
    failed: Map<string, string>,
  ): Promise<void> {
    const wanted = new Set(plan.dhcp.map((d) => d.networkId))
    for (const d of plan.dhcp) {
      const net = plan.networks.get(d.networkId)
      if (!net || !goodNets.has(d.networkId)) continue
      const ok = await this.#attempt(failed, `dhcp:${d.networkId}`, () =>
        new DhcpServer(this.#host, this.dhcpDir, d).ensure(net.bridge),
      )
      if (!ok) failed.set(`port:${d.portId}`, failed.get(`dhcp:${d.networkId}`)!)
    }
    for (const id of existsSync(this.dhcpDir) ? readdirSync(this.dhcpDir) : []) {
      if (wanted.has(id)) continue
      await this.#attempt(failed, `dhcp:${id}`, async () => {
        await stopDhcp(join(this.dhcpDir, id))
        await deleteNetns(dhcpNetns(id))
      })
    }
  }

  /** Router namespaces; returns each planned router's status (ERROR when its setup failed). */
  async #syncRouters(plan: HostState, failed: Map<string, string>): Promise<Map<string, 'ACTIVE' | 'ERROR'>> {
    const status = new Map<string, 'ACTIVE' | 'ERROR'>()
    const wanted = new Set(plan.routers.map((r) => r.id))
    for (const r of plan.routers) {
      const ok = await this.#attempt(failed, `router:${r.id}`, async () => {
        const dir = join(this.routersDir, r.id)
        mkdirSync(dir, { recursive: true })
        await ensureRouter(this.#host, r, plan.networks)
        if (r.interfaces.length) ensureMetadataProxy(r.id, dir, this.#metadata.socketPath)
      })
      status.set(r.id, ok ? 'ACTIVE' : 'ERROR')
    }
    for (const id of existsSync(this.routersDir) ? readdirSync(this.routersDir) : []) {
      if (wanted.has(id)) continue
      await this.#attempt(failed, `router:${id}`, async () => {
        stopMetadataProxy(join(this.routersDir, id))
        await deleteNetns(routerNetns(id))
        await run('rm', ['-rf', join(this.routersDir, id)])
      })
    }
    return status
  }

  /**
   * Bridges and veths of ours that the plan no longer needs: veths (DHCP,
   * router) on one of our bridges that left the plan, then those bridges and
   * VLAN interfaces. Links of another agent on this machine (not listed in
   * `linksDir`, on a bridge not listed there) are left alone.
   */
  async #removeStaleLinks(plan: HostState, links: ReadonlyMap<string, Link>): Promise<void> {
    const planned = new Set([...plan.networks.values()].map((n) => n.bridge))
    const owned = this.#owned()
    for (const [name, link] of links) {
      if (!OWNED_LINK_PREFIXES.some((p) => name.startsWith(p)) || owned.has(name)) continue
      if (link.master && owned.has(link.master) && !planned.has(link.master))
        await this.#host.ipQuiet('link', 'del', name)
    }
    for (const name of owned) {
      const link = links.get(name)
      const keep = name.startsWith('nb-') ? planned.has(name) : !!link?.master && planned.has(link.master)
      if (keep) continue
      if (link) await this.#host.ipQuiet('link', 'del', name)
      this.#disown(name)
    }
  }

  /**
   * Removes everything this agent made: dnsmasq processes (by their pid
   * files), DHCP and router namespaces, bridges and veths, and its nft
   * tables. Guests' taps are left (compute owns them), detached.
   */
  async teardown(): Promise<void> {
    await this.stop()
    for (const id of existsSync(this.dhcpDir) ? readdirSync(this.dhcpDir) : []) {
      await stopDhcp(join(this.dhcpDir, id))
      await deleteNetns(dhcpNetns(id))
    }
    for (const id of existsSync(this.routersDir) ? readdirSync(this.routersDir) : []) {
      stopMetadataProxy(join(this.routersDir, id))
      await deleteNetns(routerNetns(id))
    }
    await run('rm', ['-rf', this.routersDir])
    const links = await this.#links()
    const owned = this.#owned()
    for (const [name, link] of links) {
      if (!OWNED_LINK_PREFIXES.some((p) => name.startsWith(p)) || owned.has(name)) continue
      if (link.master && owned.has(link.master)) await this.#host.ipQuiet('link', 'del', name)
    }
    for (const name of owned) if (links.has(name)) await this.#host.ipQuiet('link', 'del', name)
    rmSync(this.linksDir, { recursive: true, force: true })
    await this.#host.nft(renderTeardown(this.#opts.nftTable))
    this.#lastRuleset = ''
  }
}

/** The plan with only these ports (the ruleset of the ports that can be filtered). */
function withPorts(plan: HostState, ids: ReadonlySet<string>): HostState {
  return { ...plan, ports: plan.ports.filter((p) => ids.has(p.id)) }
}
