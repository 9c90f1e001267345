import { setTimeout as sleep } from 'node:timers/promises'
import type { RequestContext } from '../common/context.ts'
import { NimbusError, NotFound, registerErrorClass } from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import { logger } from '../common/log.ts'
import type { ConductorRpcApi, InstanceUpdateArgs } from '../conductor/rpcapi.ts'
import type { NetworkRpcApi } from '../network/rpcapi.ts'
import { ActionsHost } from './actions-host.ts'
import { metadataVifs, sourceOf } from '../metadata/instance-source.ts'
import { instanceDiagnostics } from './diagnostics.ts'
import { checkFlavorFitsImage } from './flavor-image.ts'
import type { ImageMeta } from '../objects/image.ts'
import type { ComputeImageApi } from './image.ts'
import type { EventOp, ExternalEvent, Instance, InstanceUpdates, VifInfo } from './objects.ts'
import type { ResourceTracker } from './resource-tracker.ts'
import { Reverter } from './reverter.ts'
import type { BuildAndRunArgs, InterfaceRequest } from './rpcapi.ts'
import { PowerState, TaskState, VmState } from './states.ts'
import { VirtInstanceNotFound, type VirtDriver, type VirtInstance, type VirtNic } from './virt/driver.ts'

const log = logger('compute.manager')

/**
 * A compute host (Nova's ComputeManager): builds and destroys guests
 * through its virt driver, claims resources in its resource tracker, gets
 * fixed IPs from the network manager, and reaches the database only through
 * the conductor. Every build step is an instance action event, so the
 * build's timeline and any failure are visible in `server event show`.
 */

/** Event names of the build and delete steps on a host (Nova's `compute_` prefix). */
import { HostEvent } from './objects.ts'
export { HostEvent }

/** A build step failed in a way another host would not fix (Nova's BuildAbortException). */
export class BuildAbort extends NimbusError {}
registerErrorClass(BuildAbort)

/** The driver could not plug an attached interface (Nova's InterfaceAttachFailed, a 500). */
export class InterfaceAttachFailed extends NimbusError {}
registerErrorClass(InterfaceAttachFailed)

/** A build step failed in a way another host might not (Nova's RescheduledException). */
export class BuildReschedule extends NimbusError {}
registerErrorClass(BuildReschedule)

/** The network did not report a guest's ports wired in time (Nova's VirtualInterfaceCreateException). */
export class VirtualInterfaceCreateFailed extends NimbusError {}
registerErrorClass(VirtualInterfaceCreateFailed)

/** Fault code Nova records for build failures. */
const BUILD_FAULT_CODE = 500
/** Root device name the fake and libvirt drivers give the first disk. */
const ROOT_DEVICE_NAME = '/dev/vda'

export interface ComputeManagerDeps {
  readonly host: string
  readonly driver: VirtDriver
  readonly tracker: ResourceTracker
  readonly conductor: ConductorRpcApi
  readonly network: NetworkRpcApi
  /** The image service's door: the image as the build's caller sees it. */
  readonly images: ComputeImageApi
  /** Makes every host's network agent sync now (a guest's new taps are waiting to be wired). */
  readonly wakeNetworkAgents?: (() => void) | undefined
  /** Called after claims change, so the node report follows (debounced by the caller). */
  readonly onUsageChanged?: (() => void) | undefined
}

export class ComputeManager {
  readonly #d: ComputeManagerDeps
  /** Per-instance queue: a build and a delete of one instance never run at once (Nova's instance lock). */
  readonly #locks = new Map<string, Promise<unknown>>()
  /** Consecutive failed builds per node, reported for the build failure weigher. */
  readonly #failedBuilds = new Map<string, number>()

  /** The server actions (reboot, stop, rescue, shelve, snapshot ...): actions-host.ts. */
  readonly #actions: ActionsHost

  constructor(deps: ComputeManagerDeps) {
    this.#d = deps
    this.#actions = new ActionsHost({
      host: deps.host,
      driver: deps.driver,
      conductor: deps.conductor,
      network: deps.network,
      withLock: (uuid, fn) => this.#withLock(uuid, fn),
      claim: (instance, node) => {
        deps.tracker.claim(instance, node)
        deps.onUsageChanged?.()
      },
      dropClaim: (uuid) => this.#dropClaim(uuid),
      virtInstance,
      virtNic,
    })
  }

  get host(): string {
    return this.#d.host
  }

  /** The RPC methods, by wire name. */
  endpoints(): Record<string, (ctx: RequestContext, args: any) => Promise<unknown>> {
    return {
      build_and_run_instance: (ctx, a: BuildAndRunArgs) => this.buildAndRunInstance(ctx, a),
      terminate_instance: (ctx, a: { instance: Instance }) => this.terminateInstance(ctx, a.instance),
      get_console_output: (ctx, a: { instance: Instance }) =>
        this.#d.driver.getConsoleOutput(virtInstance(a.instance)),
      get_host_uptime: () => this.#d.driver.getHostUptime(),
      attach_interface: (ctx, a: { instance: Instance; nic: InterfaceRequest }) =>
        this.attachInterface(ctx, a.instance, a.nic),
      detach_interface: (ctx, a: { instance: Instance; vif: VifInfo }) =>
        this.detachInterface(ctx, a.instance, a.vif),
      get_instance_diagnostics: (ctx, a: { instance: Instance }) =>
        instanceDiagnostics(this.#d.driver, a.instance, virtInstance(a.instance)),
      external_instance_event: (ctx, a: { instances: Instance[]; events: ExternalEvent[] }) =>
        this.externalInstanceEvent(ctx, a.instances, a.events),
      ...this.#actions.endpoints(),
    }
  }

  /**
   * Events other services report about instances here. Nothing waits for
   * them yet (no spawn waits for network-vif-plugged: the drivers do not
   * wait for the data plane to wire a tap), so they are logged; the hook
   * is where a waiting spawn will be woken.
   */
  async externalInstanceEvent(
    ctx: RequestContext,
    instances: readonly Instance[],
    events: readonly ExternalEvent[],
  ): Promise<void> {
    const known = new Set(instances.map((i) => i.uuid))
    for (const e of events) {
      if (!known.has(e.instanceUuid)) continue
      log.info(
        { ctx: ctx.requestId, instance: e.instanceUuid, event: e.name, tag: e.tag, status: e.status },
        'external instance event',
      )
    }
  }

  // ---- build ----

  /** Builds one instance; on failure reschedules it or leaves it in ERROR with a fault (never stuck in BUILD). */
  buildAndRunInstance(ctx: RequestContext, args: BuildAndRunArgs): Promise<void> {
    return this.#withLock(args.instance.uuid, () => this.#build(ctx, args))
  }

  async #build(ctx: RequestContext, args: BuildAndRunArgs): Promise<void> {
    const build = new BuildSteps(this.#d.conductor, ctx, args.instance.uuid, this.host)
    const revert = new Reverter()
    try {
      const instance = await this.#runBuild(ctx, args, build, revert)
      revert.success()
      this.#recordBuild(ctx, args.node, false)
      log.info({ instance: instance.uuid, node: args.node }, 'instance active')
    } catch (err) {
      await revert.fail()
      await build.fail(err)
      await this.#handleBuildFailure(ctx, args, err)
    }
  }

  /**
   * The steps of a build. The host's own quick steps (the claim, the block
   * devices) are timed here and reported with the next transition; each
   * transition is one conductor call that reports the steps since the last
   * one, moves the task state on (guarded, so a delete meanwhile stops the
   * build) and starts the next remote step. Each step adds its undo to
   * `revert`.
   */
  async #runBuild(
    ctx: RequestContext,
    args: BuildAndRunArgs,
    build: BuildSteps,
    revert: Reverter,
  ): Promise<Instance> {
    const { node } = args
    let instance = args.instance
    build.local(HostEvent.CLAIM, reschedulable, () => {
      this.#d.tracker.claim(instance, node)
      revert.add('drop claim', () => this.#dropClaim(instance.uuid))
      this.#d.onUsageChanged?.()
    })
    instance = await build.next(HostEvent.NETWORK, {
      updates: { taskState: TaskState.NETWORKING, launchedOn: this.host },
      expectedTaskState: [TaskState.SCHEDULING],
    })
    const nics = await build.run(
      abortWith('Failed to allocate the network(s), not rescheduling.'),
      async () => {
        // Registered first: a lost reply may still have made ports, and deallocation is idempotent.
        revert.add('release ports', () => this.#d.network.deallocateForInstance(ctx, deallocation(instance)))
        return this.#d.network.allocateForInstance(ctx, {
          instanceUuid: instance.uuid,
          projectId: instance.projectId,
          host: this.host,
          requestedNetworks: instance.requestedNetworks,
          securityGroups: instance.securityGroups.filter((g) => g !== 'default'),
          availabilityZone: instance.availabilityZone,
        })
      },
    )
    instance = await build.next(HostEvent.IMAGE, {
      updates: { taskState: TaskState.BLOCK_DEVICE_MAPPING },
      expectedTaskState: [TaskState.NETWORKING],
    })
    const image = await build.run(abort, () => this.#prepareImage(ctx, instance, args.image))
    build.done()
    // No volumes yet: the root disk comes from the image, so there is nothing to map.
    build.local(HostEvent.BLOCK_DEVICES, abortWith('Failure prepping block device.'), () => undefined)
    instance = await build.next(HostEvent.SPAWN, {
      updates: { taskState: TaskState.SPAWNING, rootDeviceName: ROOT_DEVICE_NAME },
      expectedTaskState: [TaskState.BLOCK_DEVICE_MAPPING],
    })
    const driverSteps: { step: string; elapsedMs: number }[] = []
    await build.run(spawnFailure, async () => {
      await this.#d.driver.spawn({
        instance: virtInstance(instance),
        image: {
          id: image.id,
          name: image.name ?? undefined,
          sizeBytes: image.sizeBytes,
          properties: image.properties,
          checksum: image.checksum ?? undefined,
          osHashAlgo: image.osHashAlgo ?? undefined,
          osHashValue: image.osHashValue ?? undefined,
        },
        nics: nics.map(virtNic),
        adminPassword: args.request.adminPassword,
        configDrive: instance.configDrive === 'True',
        metadata: sourceOf(instance, { vifs: metadataVifs(nics) }),
        vifsPlugged: () =>
          this.#waitForVifsPlugged(
            ctx,
            nics.map((n) => n.portId),
          ),
        onStep: (step, elapsedMs) => driverSteps.push({ step, elapsedMs }),
      })
      build.detail(JSON.stringify({ driverSteps }))
      revert.add('destroy guest', () => this.#d.driver.destroy(virtInstance(instance)))
    })
    return build.end({
      updates: {
        vmState: VmState.ACTIVE,
        taskState: null,
        powerState: PowerState.RUNNING,
        launchedAt: new Date().toISOString(),
      },
      expectedTaskState: [TaskState.SPAWNING],
    })
  }

  /**
   * Nova's network-vif-plugged wait: resolves once every port is ACTIVE
   * (the data plane has put its tap on the bridge and loaded its filters).
   * The agents are woken first, so the new taps are wired within
   * milliseconds rather than at their next periodic resync.
   */
  async #waitForVifsPlugged(ctx: RequestContext, portIds: readonly string[]): Promise<void> {
    if (portIds.length === 0) return
    this.#d.wakeNetworkAgents?.()
    const deadline = Date.now() + limits.vifPluggingTimeoutMs
    for (;;) {
      const inactive = await this.#d.network.inactivePorts(ctx, { portIds })
      if (inactive.length === 0) return
      if (Date.now() >= deadline)
        throw new VirtualInterfaceCreateFailed(
          `Virtual Interface creation failed: port(s) ${inactive.join(', ')} not plugged within ${limits.vifPluggingTimeoutMs / 1000} s`,
        )
      await sleep(limits.vifPluggedPollIntervalMs)
    }
  }

  /** The image as the caller sees it now: it must still exist, be active and fit the flavor. */
  async #prepareImage(ctx: RequestContext, instance: Instance, given: ImageMeta): Promise<ImageMeta> {
    const image = await this.#d.images.get(ctx, given.id || instance.imageRef)
    if (image.status !== 'active') throw new BuildAbort(`Image ${image.id} is not active.`)
    checkFlavorFitsImage(instance.flavor, image, true)
    return image
  }

  /**
   * After a failed build: nothing if the instance was deleted meanwhile;
   * otherwise a reschedule (the conductor tries another host, or gives up
   * with a fault when attempts run out) or ERROR with a fault naming the
   * step and why.
   */
  async #handleBuildFailure(ctx: RequestContext, args: BuildAndRunArgs, err: unknown): Promise<void> {
    const uuid = args.instance.uuid
    if (isGone(err)) {
      log.info({ instance: uuid, reason: messageOf(err) }, 'instance deleted during build; cleaned up')
      return
    }
    this.#recordBuild(ctx, args.node, true)
    const reason = messageOf(err)
    if (err instanceof BuildReschedule) {
      await this.#reschedule(ctx, args, reason)
      return
    }
    await this.#setError(ctx, uuid, `Build of instance ${uuid} aborted: ${reason}`, err)
  }

  async #reschedule(ctx: RequestContext, args: BuildAndRunArgs, reason: string): Promise<void> {
    const uuid = args.instance.uuid
    try {
      const current = await this.#d.conductor.instanceGet(ctx, uuid)
      await this.#d.conductor.instanceUpdate(ctx, {
        uuid,
        updates: { host: null, node: null, taskState: TaskState.SCHEDULING },
        expectedTaskState: [current.taskState],
        expectedVmState: [VmState.BUILDING],
      })
    } catch (err) {
      log.info(
        { instance: uuid, err: messageOf(err) },
        'instance changed before its reschedule; not rescheduled',
      )
      return
    }
    log.info({ instance: uuid, host: this.host, reason }, 'build failed; rescheduling')
    await this.#d.conductor.buildInstances(ctx, {
      ...args.request,
      instanceUuids: [uuid],
      attempt: args.request.attempt + 1,
      ignoreHosts: [...args.request.ignoreHosts, this.host],
      // Nova keeps the bare reason (retry['exc_reason']) for MaxRetriesExceeded's message.
      lastFailure: reason,
    })
  }

  async #setError(ctx: RequestContext, uuid: string, message: string, err: unknown): Promise<void> {
    try {
      await this.#d.conductor.instanceUpdate(ctx, {
        uuid,
        updates: { vmState: VmState.ERROR, taskState: null, host: null, node: null },
        expectedVmState: [VmState.BUILDING],
      })
      await this.#d.conductor.instanceFaultCreate(ctx, {
        instanceUuid: uuid,
        code: BUILD_FAULT_CODE,
        message,
        details: stackOf(err),
        host: this.host,
      })
      log.warn({ instance: uuid, reason: message }, 'build failed; instance set to ERROR')
    } catch (e) {
      log.info({ instance: uuid, err: messageOf(e) }, 'instance changed before it could be set to ERROR')
    }
  }

  #recordBuild(ctx: RequestContext, node: string, failed: boolean): void {
    const before = this.#failedBuilds.get(node) ?? 0
    if (!failed && before === 0) return
    this.#failedBuilds.set(node, failed ? before + 1 : 0)
    this.#d.conductor.recordBuildResult(ctx, { host: this.host, node, failed }).catch((err: unknown) => {
      log.warn({ err: messageOf(err), node }, 'build result not recorded')
    })
  }

  // ---- delete ----

  /**
   * Destroys the guest, releases its fixed IPs and claim, then has the
   * conductor mark the instance deleted. Each step succeeds if its part is
   * already gone, so a repeated delete completes.
   */
  terminateInstance(ctx: RequestContext, instance: Instance): Promise<void> {
    return this.#withLock(instance.uuid, async () => {
      const uuid = instance.uuid
      const startedAt = now()
      try {
        await this.#d.driver.destroy(virtInstance(instance))
        await this.#d.network.deallocateForInstance(ctx, deallocation(instance))
        this.#dropClaim(uuid)
        await this.#d.conductor.instanceDestroy(ctx, uuid, [
          { op: 'start', event: HostEvent.TERMINATE, at: startedAt },
          { op: 'finish', event: HostEvent.TERMINATE, result: 'Success', at: now() },
        ])
        log.info({ instance: uuid }, 'instance deleted')
      } catch (err) {
        await this.#d.conductor
          .instanceStep(ctx, {
            instanceUuid: uuid,
            host: this.host,
            events: [
              { op: 'start', event: HostEvent.TERMINATE, at: startedAt },
              {
                op: 'finish',
                event: HostEvent.TERMINATE,
                result: 'Error',
                details: messageOf(err),
                traceback: stackOf(err),
              },
            ],
            update: { updates: { vmState: VmState.ERROR, taskState: null } },
          })
          .catch(() => undefined)
        await this.#d.conductor
          .instanceFaultCreate(ctx, {
            instanceUuid: uuid,
            code: BUILD_FAULT_CODE,
            message: `Delete of instance ${uuid} failed: ${messageOf(err)}`,
            details: stackOf(err),
            host: this.host,
          })
          .catch(() => undefined)
        throw err
      }
    })
  }

  // ---- interfaces (os-interface) ----

  /**
   * Nova's attach_interface: a port from the network service (a new one on
   * a network, or the given one), hot-plugged by the driver. If the plug
   * fails the port is released again and the API answers 500.
   */
  attachInterface(ctx: RequestContext, instance: Instance, nic: InterfaceRequest): Promise<VifInfo> {
    return this.#withLock(instance.uuid, async () => {
      const startedAt = now()
      const vif = await this.#d.network.allocatePortForInstance(ctx, {
        instanceUuid: instance.uuid,
        projectId: instance.projectId,
        host: this.host,
        availabilityZone: instance.availabilityZone,
        nic,
      })
      try {
        await this.#d.driver.attachInterface(virtInstance(instance), virtNic(vif))
      } catch (err) {
        await this.#d.network
          .deallocatePortForInstance(ctx, {
            instanceUuid: instance.uuid,
            projectId: instance.projectId,
            portId: vif.portId,
          })
          .catch((e: unknown) => log.warn({ err: messageOf(e), port: vif.portId }, 'port not released'))
        await this.#interfaceEvent(ctx, instance.uuid, HostEvent.ATTACH_INTERFACE, startedAt, err)
        log.warn({ instance: instance.uuid, err: messageOf(err) }, 'interface attach failed')
        throw new InterfaceAttachFailed(`Failed to attach network adapter device to ${instance.uuid}`)
      }
      await this.#interfaceEvent(ctx, instance.uuid, HostEvent.ATTACH_INTERFACE, startedAt)
      return vif
    })
  }

  /** Nova's detach_interface: unplugged by the driver, then the port released (deleted or unbound). */
  detachInterface(ctx: RequestContext, instance: Instance, vif: VifInfo): Promise<void> {
    return this.#withLock(instance.uuid, async () => {
      const startedAt = now()
      try {
        await this.#d.driver.detachInterface(virtInstance(instance), virtNic(vif))
        await this.#d.network.deallocatePortForInstance(ctx, {
          instanceUuid: instance.uuid,
          projectId: instance.projectId,
          portId: vif.portId,
        })
      } catch (err) {
        await this.#interfaceEvent(ctx, instance.uuid, HostEvent.DETACH_INTERFACE, startedAt, err)
        log.warn({ instance: instance.uuid, err: messageOf(err) }, 'interface detach failed')
        return
      }
      await this.#interfaceEvent(ctx, instance.uuid, HostEvent.DETACH_INTERFACE, startedAt)
    })
  }

  async #interfaceEvent(
    ctx: RequestContext,
    uuid: string,
    event: string,
    startedAt: string,
    err?: unknown,
  ): Promise<void> {
    const finish: EventOp =
      err === undefined
        ? { op: 'finish', event, result: 'Success', at: now() }
        : {
            op: 'finish',
            event,
            result: 'Error',
            details: messageOf(err),
            traceback: stackOf(err),
            at: now(),
          }
    await this.#d.conductor
      .instanceStep(ctx, {
        instanceUuid: uuid,
        host: this.host,
        events: [{ op: 'start', event, at: startedAt }, finish],
      })
      .catch((e: unknown) =>
        log.debug({ instance: uuid, err: messageOf(e) }, 'interface events not recorded'),
      )
  }

  // ---- periodic work (called by the host service) ----

  /** Nova's `_poll_shelved_instances` (actions-host.ts). */
  offloadShelvedInstances(ctx: RequestContext, offloadTimeS: number): Promise<number> {
    return this.#actions.offloadShelved(ctx, offloadTimeS)
  }

  /**
   * Nova's `_sync_power_states`: records the hypervisor's power state of
   * each idle instance; a guest found stopped while ACTIVE becomes STOPPED.
   */
  async syncPowerStates(ctx: RequestContext): Promise<number> {
    const instances = await this.#d.conductor.instancesOnHost(ctx, this.host)
    let changed = 0
    for (const instance of instances) {
      if (instance.taskState !== null || instance.vmState === VmState.BUILDING) continue
      const power = await this.#d.driver
        .getInfo(virtInstance(instance))
        .then((info) => info.powerState)
        .catch((err: unknown) => (err instanceof VirtInstanceNotFound ? PowerState.NOSTATE : undefined))
      if (power === undefined || power === instance.powerState) continue
      const updates: InstanceUpdates =
        instance.vmState === VmState.ACTIVE && (power === PowerState.SHUTDOWN || power === PowerState.CRASHED)
          ? { powerState: power, vmState: VmState.STOPPED }
          : { powerState: power }
      await this.#d.conductor
        .instanceUpdate(ctx, { uuid: instance.uuid, updates, expectedTaskState: [null] })
        .then(() => changed++)
        .catch(() => undefined)
    }
    return changed
  }

  // ---- helpers ----

  #dropClaim(uuid: string): void {
    if (!this.#d.tracker.hasClaim(uuid)) return
    this.#d.tracker.drop(uuid)
    this.#d.onUsageChanged?.()
  }

  /** Runs `fn` under the instance's lock (moves take the same lock as builds and deletes). */
  withInstanceLock<T>(uuid: string, fn: () => Promise<T>): Promise<T> {
    return this.#withLock(uuid, fn)
  }

  async #withLock<T>(uuid: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(uuid) ?? Promise.resolve()
    const run = previous.then(fn, fn)
    const tail = run.catch(() => undefined)
    this.#locks.set(uuid, tail)
    try {
      return await run
    } finally {
      if (this.#locks.get(uuid) === tail) this.#locks.delete(uuid)
    }
  }
}

// ---- build steps ----

type Classify = (step: string, err: unknown) => NimbusError

/**
 * The event bookkeeping of one build: the step running now, the event
 * operations not yet reported (each with its time), the transitions (one
 * conductor call each) and the failure record. A step's failure is rethrown
 * as its kind (abort or reschedule) with the step named.
 */
class BuildSteps {
  readonly #conductor: ConductorRpcApi
  readonly #ctx: RequestContext
  readonly #uuid: string
  readonly #host: string
  readonly #pending: EventOp[]
  #current: string | undefined
  #detail: string | undefined

  constructor(conductor: ConductorRpcApi, ctx: RequestContext, uuid: string, host: string) {
    this.#conductor = conductor
    this.#ctx = ctx
    this.#uuid = uuid
    this.#host = host
    this.#pending = [{ op: 'start', event: HostEvent.BUILD, at: now() }]
  }

  /** Runs a quick step of this host now; its events go with the next transition. */
  local(step: string, classify: Classify, fn: () => void): void {
    this.#pending.push({ op: 'start', event: step, at: now() })
    this.#current = step
    try {
      fn()
    } catch (err) {
      throw this.#classified(classify, err)
    }
    this.done()
  }

  /** The current step succeeded (reported with the next transition). */
  done(): void {
    if (this.#current === undefined) return
    const details = this.#detail
    this.#pending.push({
      op: 'finish',
      event: this.#current,
      result: 'Success',
      at: now(),
      ...(details ? { details } : {}),
    })
    this.#current = undefined
    this.#detail = undefined
  }

  /** Details for the current step's event when it succeeds (the driver's own steps of a spawn). */
  detail(text: string): void {
    this.#detail = text
  }

  /** Reports the steps so far, applies `update` (guarded) and starts `step`. */
  async next(step: string, update: Omit<InstanceUpdateArgs, 'uuid'>): Promise<Instance> {
    this.done()
    const events = this.#pending.splice(0)
    const instance = await this.#conductor.instanceStep(this.#ctx, {
      instanceUuid: this.#uuid,
      host: this.#host,
      events,
      update,
      next: [{ op: 'start', event: step, at: now() }],
    })
    this.#current = step
    return instance!
  }

  /** Reports the last steps and the build's success with the final update. */
  async end(update: Omit<InstanceUpdateArgs, 'uuid'>): Promise<Instance> {
    this.done()
    const events = this.#pending.splice(0)
    const instance = await this.#conductor.instanceStep(this.#ctx, {
      instanceUuid: this.#uuid,
      host: this.#host,
      events,
      update,
      next: [{ op: 'finish', event: HostEvent.BUILD, result: 'Success', at: now() }],
    })
    return instance!
  }

  /** Runs the current (remote) step's work. */
  async run<T>(classify: Classify, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw this.#classified(classify, err)
    }
  }

  /** Records the failure: what is pending, the running step (if any) and the build end in Error. */
  async fail(err: unknown): Promise<void> {
    const failed = (event: string): EventOp => ({
      op: 'finish',
      event,
      result: 'Error',
      details: messageOf(err),
      traceback: stackOf(err),
      at: now(),
    })
    const events = [
      ...this.#pending.splice(0),
      ...(this.#current ? [failed(this.#current)] : []),
      failed(HostEvent.BUILD),
    ]
    this.#current = undefined
    await this.#conductor
      .instanceStep(this.#ctx, { instanceUuid: this.#uuid, host: this.#host, events })
      .catch((e: unknown) =>
        log.debug({ instance: this.#uuid, err: messageOf(e) }, 'failure events not recorded'),
      )
  }

  #classified(classify: Classify, err: unknown): unknown {
    if (isGone(err) || this.#current === undefined) return err
    return classify(this.#current, err)
  }
}

function now(): string {
  return new Date().toISOString()
}

// ---- failure kinds ----

/** Claims that do not fit and failed spawns may work on another host (Nova reschedules them). */
function reschedulable(step: string, err: unknown): NimbusError {
  return new BuildReschedule(stepFailure(step, err))
}

/**
 * `compute_spawn (spawn:define): <driver error>`: the build step and, when
 * the virt driver said which of its own steps failed, that one too, so the
 * fault names where the build stopped rather than only what was said.
 */
function stepFailure(step: string, err: unknown): string {
  const driverStep = err instanceof NimbusError ? err.detail.step : undefined
  return `${step}${typeof driverStep === 'string' ? ` (${driverStep})` : ''}: ${messageOf(err)}`
}

/** Spawn failures are rescheduled, except ports never wired (Nova aborts: another host would not fix the network). */
function spawnFailure(step: string, err: unknown): NimbusError {
  if (err instanceof VirtualInterfaceCreateFailed)
    return abortWith('Failed to allocate the network(s), not rescheduling.')(step, err)
  return reschedulable(step, err)
}

function abort(step: string, err: unknown): NimbusError {
  return new BuildAbort(stepFailure(step, err))
}

function abortWith(summary: string): (step: string, err: unknown) => NimbusError {
  return (step, err) => new BuildAbort(`${step}: ${summary} (${messageOf(err)})`)
}

/** The instance was deleted (or is being deleted) while we worked on it. */
function isGone(err: unknown): boolean {
  if (!(err instanceof NimbusError)) return false
  return (
    (err instanceof NotFound && err.name === 'InstanceNotFound') ||
    err.name === 'UnexpectedDeletingTaskState' ||
    err.name === 'UnexpectedTaskState'
  )
}

// ---- views for the driver ----

export function virtInstance(instance: Instance): VirtInstance {
  return {
    uuid: instance.uuid,
    name: `instance-${instance.uuid.slice(0, 8)}`,
    hostname: instance.hostname,
    memoryMb: instance.flavor.memoryMb,
    vcpus: instance.flavor.vcpus,
    rootGb: instance.flavor.rootGb,
    ephemeralGb: instance.flavor.ephemeralGb,
    swapMb: instance.flavor.swapMb,
    imageRef: instance.imageRef,
    userData: instance.userData,
    keyData: instance.keyData,
    metadata: instance.metadata,
  }
}

/** What the driver plugs for one port: its tap, bridge and MAC, and its first address. */
export function virtNic(vif: VifInfo): VirtNic {
  const first = vif.fixedIps[0]
  return {
    networkId: vif.networkId,
    networkLabel: vif.networkLabel,
    macAddress: vif.macAddress,
    address: first?.address ?? '',
    version: first?.version ?? 4,
    portId: vif.portId,
    devname: vif.devname,
    bridge: vif.bridge,
    mtu: vif.mtu,
  }
}

/** What to release for an instance: all its ports, keeping the ones it was given (`port` NICs). */
function deallocation(instance: Instance) {
  const requested = instance.requestedNetworks
  const preserve =
    requested === 'auto' || requested === 'none' ? [] : requested.flatMap((n) => (n.portId ? [n.portId] : []))
  return { instanceUuid: instance.uuid, projectId: instance.projectId, preserve }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function stackOf(err: unknown): string | null {
  return err instanceof Error ? (err.stack ?? null) : null
}
