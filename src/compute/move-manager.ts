import type { RequestContext } from '../common/context.ts'
import { logger } from '../common/log.ts'
import type { ImageMeta } from '../objects/image.ts'
import type { NetworkRpcApi } from '../network/rpcapi.ts'
import { virtInstance, virtNic } from './manager.ts'
import { MigrationStatus, moveClaimKey, type Migration } from './migration.ts'
import { wasRunning } from './move-api.ts'
import type {
  ComputeMoveRpcApi,
  ConductorMoveRpcApi,
  MoveArgs,
  MoveStepArgs,
  RebuildArgs,
} from './move-rpcapi.ts'
import type { EventOp, Instance, VifInfo } from './objects.ts'
import type { ResourceTracker } from './resource-tracker.ts'
import { PowerState, TaskState, VmState } from './states.ts'
import type { VirtDriver, VirtImage, VirtInstance } from './virt/driver.ts'

const log = logger('compute.moves')

/** Event names of a move's host steps (Nova's `compute_` prefix, from wrap_instance_event). */
export const MoveHostEvent = {
  PREP_RESIZE: 'compute_prep_resize',
  RESIZE_INSTANCE: 'compute_resize_instance',
  FINISH_RESIZE: 'compute_finish_resize',
  CONFIRM_RESIZE: 'compute_confirm_resize',
  REVERT_RESIZE: 'compute_revert_resize',
  FINISH_REVERT_RESIZE: 'compute_finish_revert_resize',
  REBUILD: 'compute_rebuild_instance',
} as const

/** Fault code Nova records for a failed move step. */
const MOVE_FAULT_CODE = 500

export interface ComputeMovesDeps {
  readonly host: string
  readonly driver: VirtDriver
  readonly tracker: ResourceTracker
  readonly conductor: ConductorMoveRpcApi
  readonly compute: ComputeMoveRpcApi
  /** Ports follow the guest: rebound to the host it runs on after each move. */
  readonly network: NetworkRpcApi
  /** The manager's per-instance lock: a move step never overlaps a build or delete of the instance. */
  readonly withLock: <T>(uuid: string, fn: () => Promise<T>) => Promise<T>
  readonly onUsageChanged?: (() => void) | undefined
}

/**
 * A compute host's part of moves (Nova's ComputeManager `prep_resize`,
 * `resize_instance`, `finish_resize`, `confirm_resize`, `revert_resize`,
 * `finish_revert_resize` and `rebuild_instance` for evacuations). Claims
 * follow the flavor at each step: the destination claims the new flavor at
 * prep, the source keeps the old one until confirm; a revert drops the
 * destination's. A failed step leaves the server in ERROR with a fault (or,
 * before anything moved, back in its state) and frees the destination claim.
 */
export class ComputeMoves {
  readonly #d: ComputeMovesDeps

  constructor(deps: ComputeMovesDeps) {
    this.#d = deps
  }

  endpoints(): Record<string, (ctx: RequestContext, args: any) => Promise<unknown>> {
    const locked =
      (fn: (ctx: RequestContext, a: MoveArgs) => Promise<void>) => (ctx: RequestContext, a: MoveArgs) =>
        this.#d.withLock(a.instance.uuid, () => fn.call(this, ctx, a))
    return {
      prep_resize: locked(this.prepResize),
      resize_instance: locked(this.resizeInstance),
      finish_resize: locked(this.finishResize),
      confirm_resize: locked(this.confirmResize),
      revert_resize: locked(this.revertResize),
      finish_revert_resize: locked(this.finishRevertResize),
      rebuild_instance: (ctx, a: RebuildArgs) =>
        this.#d.withLock(a.instance.uuid, () => this.rebuildInstance(ctx, a)),
      drop_move_claim: locked(this.dropMoveClaim),
    }
  }

  // ---- resize / cold migration ----

  /** Destination: claim the new flavor, then hand over to the source. A claim that does not fit ends the move. */
  async prepResize(ctx: RequestContext, a: MoveArgs): Promise<void> {
    const { instance, migration: m } = a
    const step = new Step(this.#d, ctx, instance.uuid, MoveHostEvent.PREP_RESIZE)
    const key = this.#d.tracker.hasClaim(instance.uuid) ? moveClaimKey(m.uuid) : instance.uuid
    try {
      this.#d.tracker.claimFlavor(key, m.newFlavor!, m.destNode!)
      this.#usageChanged()
    } catch (err) {
      if (a.request) {
        // Nova's _reschedule_resize_or_reraise: another host may fit; the conductor counts the attempts.
        await step.failed(err, {
          migration: { uuid: m.uuid, updates: { destCompute: null, destNode: null } },
        })
        await this.#d.conductor.migrateServer(ctx, {
          ...a.request,
          ignoreHosts: [...a.request.ignoreHosts, this.#d.host],
          attempt: (a.request.attempt ?? 1) + 1,
          lastFailure: err instanceof Error ? err.message : String(err),
        })
        return
      }
      // Nothing moved yet: the server stays as it was (Nova's reverts_task_state), the migration is error.
      await step.fail(err, {
        update: { updates: { taskState: null }, expectedTaskState: [TaskState.RESIZE_PREP] },
        migration: { uuid: m.uuid, updates: { status: MigrationStatus.ERROR } },
      })
      return
    }
    const destHost = await this.#d.driver
      .getAvailableResource(m.destNode!)
      .then((r) => r.hostIp)
      .catch(() => null)
    await step.done({ migration: { uuid: m.uuid, updates: { destHost } } }, false)
    await this.#d.compute.resizeInstance(ctx, m.sourceCompute!, { ...a, migration: { ...m, destHost } })
  }

  /** Source: power off and hand the disk over; the instance now belongs to the destination, which finishes. */
  async resizeInstance(ctx: RequestContext, a: MoveArgs): Promise<void> {
    const { instance, migration: m } = a
    const step = new Step(this.#d, ctx, instance.uuid, MoveHostEvent.RESIZE_INSTANCE)
    try {
      await step.begin({
        update: {
          updates: { taskState: TaskState.RESIZE_MIGRATING },
          expectedTaskState: [TaskState.RESIZE_PREP],
        },
        migration: { uuid: m.uuid, updates: { status: MigrationStatus.MIGRATING } },
      })
      await this.#d.driver.migrateDiskAndPowerOff(virtInstance(instance), m.destCompute!)
      const moved = await step.done(
        {
          update: {
            updates: {
              taskState: TaskState.RESIZE_MIGRATED,
              host: m.destCompute,
              node: m.destNode,
              powerState: PowerState.SHUTDOWN,
            },
            expectedTaskState: [TaskState.RESIZE_MIGRATING],
          },
          migration: { uuid: m.uuid, updates: { status: MigrationStatus.POST_MIGRATING } },
        },
        false,
      )
      await this.#d.compute.finishResize(ctx, m.destCompute!, { ...a, instance: moved ?? instance })
    } catch (err) {
      await step.fail(err, errorOut(m))
      await this.#d.compute.dropMoveClaim(ctx, m.destCompute!, a)
    }
  }

  /** Destination: start the guest with the new flavor; the server waits in VERIFY_RESIZE. */
  async finishResize(ctx: RequestContext, a: MoveArgs): Promise<void> {
    const { instance, migration: m } = a
    const step = new Step(this.#d, ctx, instance.uuid, MoveHostEvent.FINISH_RESIZE)
    const resized = { ...instance, flavor: m.newFlavor! }
    let created = false
    try {
      await step.begin({
        update: {
          updates: { taskState: TaskState.RESIZE_FINISH },
          expectedTaskState: [TaskState.RESIZE_MIGRATED],
        },
        flavor: m.newFlavor!,
      })
      await this.#bindPorts(ctx, instance)
      const powerOn = wasRunning(instance)
      await this.#d.driver.finishMigration({
        instance: virtInstance(resized),
        image: virtImage(a.image, instance),
        sourceHost: m.sourceCompute!,
        powerOn,
      })
      created = true
      await step.done({
        update: {
          updates: {
            vmState: VmState.RESIZED,
            taskState: null,
            powerState: powerOn ? PowerState.RUNNING : PowerState.SHUTDOWN,
            launchedAt: new Date().toISOString(),
          },
          expectedTaskState: [TaskState.RESIZE_FINISH],
        },
        migration: { uuid: m.uuid, updates: { status: MigrationStatus.FINISHED } },
      })
      log.info(
        { instance: instance.uuid, migration: m.uuid, flavor: m.newFlavor!.flavorid },
        'resize finished',
      )
    } catch (err) {
      // The original stays on the source: the server goes back there, in ERROR, with its old flavor.
      if (created && m.sourceCompute !== this.#d.host)
        await this.#d.driver.destroy(virtInstance(resized)).catch(() => undefined)
      this.#dropDestClaim(instance, m)
      await step.fail(err, {
        ...errorOut(m),
        flavor: m.oldFlavor ?? undefined,
        update: {
          updates: { vmState: VmState.ERROR, taskState: null, host: m.sourceCompute, node: m.sourceNode },
        },
      })
    }
  }

  /** Source: drop the original and its claim (the destination's claim becomes the instance's). */
  async confirmResize(ctx: RequestContext, a: MoveArgs): Promise<void> {
    const { instance, migration: m } = a
    const step = new Step(this.#d, ctx, instance.uuid, MoveHostEvent.CONFIRM_RESIZE)
    try {
      await this.#d.driver.confirmMigration(virtInstance(instance))
      this.#d.tracker.drop(instance.uuid)
      this.#d.tracker.rekey(moveClaimKey(m.uuid), instance.uuid)
      this.#usageChanged()
      const running = instance.powerState === PowerState.RUNNING
      await step.done({
        update: {
          updates: { vmState: running ? VmState.ACTIVE : VmState.STOPPED, taskState: null },
          expectedVmState: [VmState.RESIZED],
        },
        migration: { uuid: m.uuid, updates: { status: MigrationStatus.CONFIRMED } },
      })
    } catch (err) {
      await step.fail(err, errorOut(m))
    }
  }

  /** Destination: destroy the new guest and drop its claim, then the source restores the original. */
  async revertResize(ctx: RequestContext, a: MoveArgs): Promise<void> {
    const { instance, migration: m } = a
    const step = new Step(this.#d, ctx, instance.uuid, MoveHostEvent.REVERT_RESIZE)
    try {
      // On one host the original and the new guest share the hypervisor's name: the source swaps them back.
      if (m.sourceCompute !== this.#d.host) await this.#d.driver.destroy(virtInstance(instance))
      this.#dropDestClaim(instance, m)
      const back = await step.done(
        {
          update: {
            updates: { host: m.sourceCompute, node: m.sourceNode },
            expectedTaskState: [TaskState.RESIZE_REVERTING],
          },
        },
        false,
      )
      await this.#d.compute.finishRevertResize(ctx, m.sourceCompute!, { ...a, instance: back ?? instance })
    } catch (err) {
      await step.fail(err, errorOut(m))
    }
  }

  /** Source: the original guest runs again with the old flavor. */
  async finishRevertResize(ctx: RequestContext, a: MoveArgs): Promise<void> {
    const { instance, migration: m } = a
    const step = new Step(this.#d, ctx, instance.uuid, MoveHostEvent.FINISH_REVERT_RESIZE)
    const old = { ...instance, flavor: m.oldFlavor ?? instance.flavor }
    try {
      await this.#bindPorts(ctx, instance)
      const powerOn = wasRunning(instance)
      await this.#d.driver.finishRevertMigration(virtInstance(old), powerOn)
      await step.done({
        flavor: old.flavor,
        update: {
          updates: {
            vmState: powerOn ? VmState.ACTIVE : VmState.STOPPED,
            taskState: null,
            powerState: powerOn ? PowerState.RUNNING : PowerState.SHUTDOWN,
          },
          expectedTaskState: [TaskState.RESIZE_REVERTING],
        },
        migration: { uuid: m.uuid, updates: { status: MigrationStatus.REVERTED } },
      })
      log.info({ instance: instance.uuid, migration: m.uuid }, 'resize reverted')
    } catch (err) {
      await step.fail(err, errorOut(m))
    }
  }

  /** A move ended without this host's part (failure elsewhere, delete): drop its claim and any original kept here. */
  async dropMoveClaim(_ctx: RequestContext, a: MoveArgs): Promise<void> {
    const { instance, migration: m } = a
    if (m.sourceCompute === this.#d.host && m.destCompute !== this.#d.host) {
      await this.#d.driver.confirmMigration(virtInstance(instance)).catch(() => undefined)
    }
    this.#dropDestClaim(instance, m)
    if (instance.host !== this.#d.host && m.sourceCompute === this.#d.host) {
      this.#d.tracker.drop(instance.uuid)
      this.#usageChanged()
    }
  }

  // ---- evacuate ----

  /**
   * Nova's `rebuild_instance` with `recreate`: claim here, spawn the guest
   * from its image (same uuid), and the server is ACTIVE here (STOPPED if it
   * was), with its ports rebound to this host (Nova's
   * `setup_instance_network_on_host`).
   */
  async rebuildInstance(ctx: RequestContext, a: RebuildArgs): Promise<void> {
    const { instance, migration: m } = a
    const step = new Step(this.#d, ctx, instance.uuid, MoveHostEvent.REBUILD)
    const node = m.destNode ?? instance.node!
    let claimed = false
    let spawned = false
    try {
      await step.begin({
        update: {
          updates: { taskState: TaskState.REBUILD_SPAWNING, host: this.#d.host, node },
          expectedTaskState: [TaskState.REBUILDING],
        },
      })
      this.#d.tracker.claim(instance, node)
      claimed = true
      this.#usageChanged()
      const vifs = await this.#bindPorts(ctx, instance)
      await this.#d.driver.spawn({
        instance: virtInstance(instance),
        image: virtImage(a.image, instance),
        nics: vifs.map(virtNic),
        adminPassword: a.adminPassword,
        configDrive: instance.configDrive === 'True',
      })
      spawned = true
      const stopped = a.originalVmState === VmState.STOPPED
      if (stopped) await this.#d.driver.powerOff(virtInstance(instance))
      await step.done({
        update: {
          updates: {
            vmState: stopped ? VmState.STOPPED : VmState.ACTIVE,
            taskState: null,
            powerState: stopped ? PowerState.SHUTDOWN : PowerState.RUNNING,
            launchedOn: this.#d.host,
            launchedAt: new Date().toISOString(),
          },
          expectedTaskState: [TaskState.REBUILD_SPAWNING],
        },
        migration: { uuid: m.uuid, updates: { status: MigrationStatus.DONE } },
      })
      log.info({ instance: instance.uuid, from: m.sourceCompute, to: this.#d.host }, 'instance evacuated')
    } catch (err) {
      if (spawned) await this.#d.driver.destroy(virtInstance(instance)).catch(() => undefined)
      if (claimed) {
        this.#d.tracker.drop(instance.uuid)
        this.#usageChanged()
      }
      await step.fail(err, {
        update: { updates: { vmState: VmState.ERROR, taskState: null } },
        migration: { uuid: m.uuid, updates: { status: MigrationStatus.FAILED } },
      })
    }
  }

  /**
   * At start-up (Nova's `_destroy_evacuated_instances`): guests this host
   * still has of servers evacuated elsewhere while it was down are destroyed,
   * their claims dropped, and the evacuations marked `completed`. A server
   * still on this host (its evacuation never left) is left alone.
   */
  async destroyEvacuatedInstances(ctx: RequestContext): Promise<number> {
    const here = new Set(await this.#d.driver.listInstances())
    let destroyed = 0
    for (const { migration: m, instanceHost } of await this.#d.conductor.evacuationsFromHost(
      ctx,
      this.#d.host,
    )) {
      if (instanceHost === this.#d.host) continue
      if (here.has(m.instanceUuid)) {
        await this.#d.driver.destroy(staleGuest(m.instanceUuid))
        destroyed++
      }
      this.#d.tracker.drop(m.instanceUuid)
      await this.#d.conductor.migrationUpdate(ctx, m.uuid, { status: MigrationStatus.COMPLETED })
      log.info(
        { instance: m.instanceUuid, migration: m.uuid },
        'evacuated instance cleaned up on its old host',
      )
    }
    if (destroyed) this.#usageChanged()
    return destroyed
  }

  // ---- helpers ----

  /**
   * The instance's ports bound to this host (the network service's
   * allocation is idempotent: existing ports come back, rebound here).
   */
  #bindPorts(ctx: RequestContext, instance: Instance): Promise<VifInfo[]> {
    return this.#d.network.allocateForInstance(ctx, {
      instanceUuid: instance.uuid,
      projectId: instance.projectId,
      host: this.#d.host,
      requestedNetworks: instance.requestedNetworks,
      securityGroups: instance.securityGroups.filter((g) => g !== 'default'),
      availabilityZone: instance.availabilityZone,
    })
  }

  /** The destination's claim for this move: under the migration's key on a same-host move, else the instance's. */
  #dropDestClaim(instance: Instance, m: Migration): void {
    const key = moveClaimKey(m.uuid)
    if (this.#d.tracker.hasClaim(key)) this.#d.tracker.drop(key)
    else if (m.destCompute === this.#d.host && m.sourceCompute !== this.#d.host)
      this.#d.tracker.drop(instance.uuid)
    this.#usageChanged()
  }

  #usageChanged(): void {
    this.#d.onUsageChanged?.()
  }
}

/** A failed step after the guest started moving: ERROR, with the migration in error. */
function errorOut(m: Migration): Omit<MoveStepArgs, 'instanceUuid' | 'host'> {
  return {
    update: { updates: { vmState: VmState.ERROR, taskState: null } },
    migration: { uuid: m.uuid, updates: { status: MigrationStatus.ERROR } },
  }
}

type StepExtra = Omit<MoveStepArgs, 'instanceUuid' | 'host' | 'events'>

/** One host step of a move: its event (start, then Success or Error) reported with the step's updates. */
class Step {
  readonly #d: ComputeMovesDeps
  readonly #ctx: RequestContext
  readonly #uuid: string
  readonly #event: string
  readonly #pending: EventOp[]

  constructor(d: ComputeMovesDeps, ctx: RequestContext, uuid: string, event: string) {
    this.#d = d
    this.#ctx = ctx
    this.#uuid = uuid
    this.#event = event
    this.#pending = [{ op: 'start', event, at: new Date().toISOString() }]
  }

  /** Reports the start with the step's first updates (guarded: a delete meanwhile stops the move). */
  async begin(extra: StepExtra): Promise<Instance | null> {
    return this.#send(extra)
  }

  /** Reports success with the step's last updates; `finish` also ends the request's action. */
  async done(extra: StepExtra, finish = true): Promise<Instance | null> {
    this.#pending.push({ op: 'finish', event: this.#event, result: 'Success', at: new Date().toISOString() })
    return this.#send({ ...extra, finishAction: finish })
  }

  /** Reports the step's event in Error with the updates given, and nothing else (the move goes on elsewhere). */
  async failed(err: unknown, extra: StepExtra): Promise<void> {
    this.#pending.push({
      op: 'finish',
      event: this.#event,
      result: 'Error',
      details: err instanceof Error ? err.message : String(err),
      traceback: err instanceof Error ? (err.stack ?? null) : null,
      at: new Date().toISOString(),
    })
    log.info({ instance: this.#uuid, step: this.#event }, 'move step refused here; rescheduling')
    await this.#send(extra)
  }

  /** Reports the failure: the event in Error, a fault naming the step, the updates given, the action ended. */
  async fail(err: unknown, extra: StepExtra): Promise<void> {
    const message = err instanceof Error ? err.message : String(err)
    this.#pending.push({
      op: 'finish',
      event: this.#event,
      result: 'Error',
      details: message,
      traceback: err instanceof Error ? (err.stack ?? null) : null,
      at: new Date().toISOString(),
    })
    log.warn({ instance: this.#uuid, step: this.#event, reason: message }, 'move step failed')
    await this.#send({
      ...extra,
      fault: {
        code: MOVE_FAULT_CODE,
        message: `${this.#event}: ${message}`,
        details: err instanceof Error ? (err.stack ?? null) : null,
        host: this.#d.host,
      },
      finishAction: true,
    }).catch((e: unknown) =>
      log.warn({ instance: this.#uuid, err: (e as Error).message }, 'move failure not recorded'),
    )
  }

  async #send(extra: StepExtra): Promise<Instance | null> {
    return this.#d.conductor.moveStep(this.#ctx, {
      ...extra,
      instanceUuid: this.#uuid,
      host: this.#d.host,
      events: this.#pending.splice(0),
    })
  }
}

/** What the driver needs to destroy a guest it only knows by uuid. */
function staleGuest(uuid: string): VirtInstance {
  return {
    uuid,
    name: `instance-${uuid.slice(0, 8)}`,
    hostname: '',
    memoryMb: 0,
    vcpus: 0,
    rootGb: 0,
    ephemeralGb: 0,
    swapMb: 0,
    imageRef: '',
  }
}

function virtImage(image: ImageMeta | undefined, instance: Instance): VirtImage {
  return {
    id: image?.id ?? instance.imageRef,
    name: image?.name ?? undefined,
    sizeBytes: image?.sizeBytes ?? 0,
    properties: image?.properties ?? {},
  }
}
