import { setTimeout as sleep } from 'node:timers/promises'
import type { Config } from '../common/config.ts'
import { adminContext, currentContext, type RequestContext } from '../common/context.ts'
import { imageClientFor, type ImageClient } from '../image/client.ts'
import { bridgeName } from '../network/dataplane/names.ts'
import { limits } from '../common/limits.ts'
import { logger } from '../common/log.ts'
import { ConductorRpcApi } from '../conductor/rpcapi.ts'
import { AgentNotifier } from '../network/notifier.ts'
import { NetworkRpcApi } from '../network/rpcapi.ts'
import { RpcServer, type Transport } from '../rpc/index.ts'
import type { Runtime } from '../service/runtime.ts'
import type { Service } from '../service/service.ts'
import { ComputeManager } from './manager.ts'
import { ComputeMoves } from './move-manager.ts'
import { ComputeMoveRpcApi, ConductorMoveRpcApi } from './move-rpcapi.ts'
import { PeriodicTasks } from './periodic.ts'
import { ResourceTracker } from './resource-tracker.ts'
import { COMPUTE_TOPIC } from './rpcapi.ts'
import type { VirtDriver } from './virt/driver.ts'
import { FakeDriver } from './virt/fake/driver.ts'
import { libvirtDriverFromConfig } from './virt/libvirt/factory.ts'
import { CachedImageApi } from './image.ts'
import type { ImageSource } from './virt/libvirt/image-cache.ts'

const log = logger('compute.service')

/** Nova's binary name for a compute host, as os-services lists it. */
export const COMPUTE_BINARY = 'nova-compute'

const REGISTER_RETRY_DELAY_MS = 1_000
/** Delay between a claim change and the node report that follows it (reports are batched). */
const USAGE_REPORT_DELAY_MS = 200

/**
 * One compute host: a virt driver, its resource tracker and manager, an RPC
 * server on `compute.<host>`, and the periodic tasks (heartbeat, resource
 * report, power-state sync). It reaches the database only through the
 * conductor.
 */
export class ComputeHost {
  readonly host: string
  readonly driver: VirtDriver
  readonly tracker: ResourceTracker
  readonly manager: ComputeManager
  readonly moves: ComputeMoves
  readonly #conductor: ConductorRpcApi
  readonly #server: RpcServer
  readonly #periodic = new PeriodicTasks()
  #reportTimer: NodeJS.Timeout | undefined
  #stopped = false

  constructor(host: string, driver: VirtDriver, config: Config, transport: Transport, images: ImageClient) {
    this.host = host
    this.driver = driver
    this.#conductor = new ConductorRpcApi(transport)
    const agents = new AgentNotifier(transport, host, undefined)
    this.tracker = new ResourceTracker(host, config.compute)
    this.manager = new ComputeManager({
      host,
      driver,
      tracker: this.tracker,
      conductor: this.#conductor,
      network: new NetworkRpcApi(transport),
      images: new CachedImageApi(images),
      wakeNetworkAgents: () => agents.notify('port'),
      onUsageChanged: () => this.#scheduleReport(),
    })
    this.moves = new ComputeMoves({
      host,
      driver,
      tracker: this.tracker,
      conductor: new ConductorMoveRpcApi(transport),
      compute: new ComputeMoveRpcApi(transport),
      network: new NetworkRpcApi(transport),
      withLock: (uuid, fn) => this.manager.withInstanceLock(uuid, fn),
      onUsageChanged: () => this.#scheduleReport(),
    })
    this.#server = new RpcServer(transport, { topic: COMPUTE_TOPIC, server: host }, hostEndpoints(this))
    const c = config.compute
    this.#periodic.add('heartbeat', c.reportIntervalS * 1000, () => this.#heartbeat())
    this.#periodic.add('update_available_resource', c.updateResourcesIntervalS * 1000, () =>
      this.updateResources(),
    )
    // Only when SHELVED servers wait for an offload (0 offloads at shelve, -1 never).
    if (c.shelvedOffloadTime > 0) {
      this.#periodic.add('shelved_offload', c.shelvedPollIntervalS * 1000, async () => {
        await this.manager.offloadShelvedInstances(adminContext(), c.shelvedOffloadTime)
      })
    }
    this.#periodic.add('sync_power_states', c.syncPowerStateIntervalS * 1000, () =>
      this.manager.syncPowerStates(adminContext()),
    )
  }

  async start(): Promise<void> {
    await this.driver.initHost(this.host)
    await this.#register()
    const ctx = adminContext()
    for (const node of await this.driver.getAvailableNodes()) {
      this.tracker.setNode(await this.driver.getAvailableResource(node))
    }
    await this.moves
      .destroyEvacuatedInstances(ctx)
      .catch((err: unknown) =>
        log.warn({ host: this.host, err: (err as Error).message }, 'evacuation clean-up failed'),
      )
    this.tracker.restore(await this.#conductor.instancesOnHost(ctx, this.host))
    await this.#report()
    await this.#server.start()
    this.#periodic.start()
    log.info({ host: this.host, driver: this.driver.name }, 'compute host started')
  }

  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#reportTimer) clearTimeout(this.#reportTimer)
    await this.#periodic.stop()
    await this.#server.stop()
    await this.driver.cleanupHost()
  }

  /** Refreshes the node totals from the driver and reports them (Nova's `update_available_resource`). */
  async updateResources(): Promise<void> {
    for (const node of await this.driver.getAvailableNodes()) {
      this.tracker.setNode(await this.driver.getAvailableResource(node))
    }
    await this.#report()
  }

  /** Runs a periodic task now (tests). */
  runPeriodic(
    name: 'heartbeat' | 'update_available_resource' | 'sync_power_states' | 'shelved_offload',
  ): Promise<void> {
    return this.#periodic.runNow(name)
  }

  async #register(): Promise<void> {
    const ref = { host: this.host, binary: COMPUTE_BINARY, topic: COMPUTE_TOPIC }
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#conductor.serviceCreate(adminContext(), ref)
        await this.#heartbeat()
        return
      } catch (err) {
        if (attempt >= limits.computeRegisterAttemptsMax) throw err
        log.warn(
          { host: this.host, attempt, err: (err as Error).message },
          'conductor not reachable yet; retrying',
        )
        await sleep(REGISTER_RETRY_DELAY_MS)
      }
    }
  }

  async #heartbeat(): Promise<void> {
    await this.#conductor.serviceHeartbeat(adminContext(), {
      host: this.host,
      binary: COMPUTE_BINARY,
      topic: COMPUTE_TOPIC,
    })
  }

  async #report(): Promise<void> {
    const ctx = adminContext()
    for (const report of this.tracker.reports()) await this.#conductor.computeNodeUpdate(ctx, report)
  }

  #scheduleReport(): void {
    if (this.#reportTimer || this.#stopped) return
    this.#reportTimer = setTimeout(() => {
      this.#reportTimer = undefined
      this.#report().catch((err: unknown) => log.warn({ err, host: this.host }, 'resource report failed'))
    }, USAGE_REPORT_DELAY_MS)
    this.#reportTimer.unref()
  }
}

/**
 * One host's RPC methods. `rebuild_instance` is one method in Nova for a
 * rebuild on the server's host and an evacuation to this one (`recreate`):
 * a request carrying a migration is an evacuation (move-manager.ts), else
 * a rebuild (actions-host.ts).
 */
function hostEndpoints(h: ComputeHost): Record<string, (ctx: RequestContext, args: any) => Promise<unknown>> {
  const own = h.manager.endpoints()
  const moves = h.moves.endpoints()
  const rebuild = own.rebuild_instance!
  const evacuate = moves.rebuild_instance!
  return {
    ...own,
    ...moves,
    rebuild_instance: (ctx, a: { migration?: unknown }) => (a.migration ? evacuate(ctx, a) : rebuild(ctx, a)),
  }
}

/** The names of the compute hosts this process runs: the configured host, or N numbered fake hosts. */
export function computeHostNames(config: Config): string[] {
  // One libvirt host per process: it is this machine.
  const n = config.compute.virtDriver === 'libvirt' ? 1 : config.compute.fakeHosts
  if (n === 1) return [config.host]
  return Array.from({ length: n }, (_, i) => `${config.host}-${i + 1}`)
}

/**
 * The host's virt driver, as `[compute] virt_driver` says. libvirt fetches
 * base images through the image service's door (in process under `nimbus
 * up`, Glance's HTTP API when the image service runs elsewhere) and puts
 * each NIC on its network's data-plane bridge.
 */
function makeDriver(rt: Runtime, images: ImageClient): VirtDriver {
  const config = rt.config
  const c = config.compute
  if (c.virtDriver === 'libvirt') {
    return libvirtDriverFromConfig(config, hostImages(images), (nic) => bridgeName(nic.networkId))
  }
  return new FakeDriver({
    forceConfigDrive: c.forceConfigDrive,
    vcpus: c.fakeVcpus,
    memoryMb: c.fakeMemoryMb,
    localGb: c.fakeLocalGb,
    delaysMs: c.fakeSpawnDelayMs ? { 'spawn:start': c.fakeSpawnDelayMs } : undefined,
  })
}

/** The `compute` service: one or more compute hosts in this process (`nimbus up --fake-hosts N`). */
export class ComputeService implements Service {
  readonly name = 'compute'
  readonly hosts: readonly ComputeHost[]

  constructor(rt: Runtime) {
    const images = imageClientFor(rt)
    this.hosts = computeHostNames(rt.config).map(
      (name) => new ComputeHost(name, makeDriver(rt, images), rt.config, rt.transport, images),
    )
  }

  /** One host by name (tests reach its fake driver through it). */
  host(name: string): ComputeHost {
    const found = this.hosts.find((h) => h.host === name)
    if (!found) throw new Error(`no compute host ${name} in this process`)
    return found
  }

  async start(): Promise<void> {
    await Promise.all(this.hosts.map((h) => h.start()))
  }

  async stop(): Promise<void> {
    await Promise.all(this.hosts.map((h) => h.stop()))
  }
}

export function createComputeService(rt: Runtime): Service {
  return new ComputeService(rt)
}

/**
 * Image data through the image client, as the caller of the RPC call that
 * needs it (its token travels in the message, as Nova's context does; the
 * RPC server makes it the current context). Work no user asked for reads
 * as the admin (in process only: over HTTP that has no token).
 */
function hostImages(images: ImageClient): ImageSource {
  return {
    async open(image) {
      const data = await images.openData(currentContext() ?? adminContext(), image.id)
      return { stream: data.stream, checksum: data.checksum }
    },
  }
}
