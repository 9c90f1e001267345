import type { RequestContext } from '../common/context.ts'
import { NimbusError, NotFound } from '../common/errors.ts'
import { logger } from '../common/log.ts'
import type { ConductorRpcApi } from '../conductor/rpcapi.ts'
import type { NetworkRpcApi } from '../network/rpcapi.ts'
import { GlanceClient } from './glance.ts'
import type { ImageMeta } from '../objects/image.ts'
import type { EventOp, Instance, InstanceUpdates, VifInfo } from './objects.ts'
import type {
  BackupArgs,
  PowerAction,
  RebuildArgs,
  RescueArgs,
  ShelveArgs,
  SnapshotArgs,
  UnshelveArgs,
} from './rpcapi.ts'
import { PowerState, TaskState, VmState } from './states.ts'
import type { RebootType, VirtDriver, VirtImage, VirtInstance, VirtNic } from './virt/driver.ts'

const log = logger('compute.actions')

/**
 * The host side of the server actions (Nova's ComputeManager methods of the
 * same names). Each runs under the instance's lock, records its
 * `compute_<method>` event (start, then finish with the result), moves the
 * task state on with guarded updates (so a delete meanwhile wins), and on
 * failure records the event as Error with why, an instance fault, and puts
 * the instance back in a sane state: the task state cleared, or ERROR where
 * Nova does so (reboot, rebuild).
 */

/** Event names, as Nova's `wrap_instance_event(prefix='compute')` writes them. */
export const ActionEvent = {
  REBOOT: 'compute_reboot_instance',
  STOP: 'compute_stop_instance',
  START: 'compute_start_instance',
  PAUSE: 'compute_pause_instance',
  UNPAUSE: 'compute_unpause_instance',
  SUSPEND: 'compute_suspend_instance',
  RESUME: 'compute_resume_instance',
  RESCUE: 'compute_rescue_instance',
  UNRESCUE: 'compute_unrescue_instance',
  REBUILD: 'compute_rebuild_instance',
  SNAPSHOT: 'compute_snapshot_instance',
  BACKUP: 'compute_backup_instance',
  SHELVE: 'compute_shelve_instance',
  SHELVE_OFFLOAD: 'compute_shelve_offload_instance',
  UNSHELVE: 'compute_unshelve_instance',
  SET_PASSWORD: 'compute_set_admin_password',
} as const

/** Fault code of a failed action (Nova records 500 for unexpected errors). */
const ACTION_FAULT_CODE = 500

/** The power actions: the driver call, the task state the API set, and where they end. */
const POWER_ACTIONS: Readonly<
  Record<
    PowerAction,
    { event: string; task: TaskState; vmState: VmState; powerState: PowerState; call: keyof VirtDriver }
  >
> = {
  pause: {
    event: ActionEvent.PAUSE,
    task: TaskState.PAUSING,
    vmState: VmState.PAUSED,
    powerState: PowerState.PAUSED,
    call: 'pause',
  },
  unpause: {
    event: ActionEvent.UNPAUSE,
    task: TaskState.UNPAUSING,
    vmState: VmState.ACTIVE,
    powerState: PowerState.RUNNING,
    call: 'unpause',
  },
  suspend: {
    event: ActionEvent.SUSPEND,
    task: TaskState.SUSPENDING,
    vmState: VmState.SUSPENDED,
    powerState: PowerState.SUSPENDED,
    call: 'suspend',
  },
  resume: {
    event: ActionEvent.RESUME,
    task: TaskState.RESUMING,
    vmState: VmState.ACTIVE,
    powerState: PowerState.RUNNING,
    call: 'resume',
  },
}

export interface ActionsHostDeps {
  readonly host: string
  readonly driver: VirtDriver
  readonly conductor: ConductorRpcApi
  readonly network: NetworkRpcApi
  /** Runs `fn` under the instance's lock (the manager's per-instance queue). */
  withLock<T>(uuid: string, fn: () => Promise<T>): Promise<T>
  /** Claims the instance's resources on `node` (unshelve); throws if they do not fit. */
  claim(instance: Instance, node: string): void
  /** Drops the instance's claim (offload); a no-op without one. */
  dropClaim(uuid: string): void
  /** The driver's view of an instance. */
  virtInstance(instance: Instance): VirtInstance
  /** The driver's view of a port. */
  virtNic(vif: VifInfo): VirtNic
}

/** What one action does between its start and finish events. */
interface ActionSpec {
  readonly event: string
  /** Task states the action owns: the final and the error updates are guarded by them. */
  readonly owned: readonly (string | null)[]
  /** The work; `step` moves the task state on (guarded) and returns the instance. */
  work(step: Step): Promise<InstanceUpdates>
  /** The update after a failure (default: the task state cleared). */
  onError?: ((err: unknown) => InstanceUpdates) | undefined
  /** Undo after a failure (e.g. delete a queued image, drop a claim). */
  cleanup?: (() => Promise<void> | void) | undefined
  /** A call: the caller gets the error back. */
  readonly rethrow?: boolean | undefined
}

type Step = (updates: InstanceUpdates, expected: readonly (string | null)[]) => Promise<Instance>

export class ActionsHost {
  readonly #d: ActionsHostDeps

  constructor(deps: ActionsHostDeps) {
    this.#d = deps
  }

  /** The RPC methods, by wire name (merged into the manager's endpoints). */
  endpoints(): Record<string, (ctx: RequestContext, args: any) => Promise<unknown>> {
    return {
      reboot_instance: (ctx, a: { instance: Instance; rebootType: RebootType }) =>
        this.reboot(ctx, a.instance, a.rebootType),
      stop_instance: (ctx, a: { instance: Instance }) => this.stop(ctx, a.instance),
      start_instance: (ctx, a: { instance: Instance }) => this.start(ctx, a.instance),
      pause_instance: (ctx, a: { instance: Instance }) => this.power(ctx, a.instance, 'pause'),
      unpause_instance: (ctx, a: { instance: Instance }) => this.power(ctx, a.instance, 'unpause'),
      suspend_instance: (ctx, a: { instance: Instance }) => this.power(ctx, a.instance, 'suspend'),
      resume_instance: (ctx, a: { instance: Instance }) => this.power(ctx, a.instance, 'resume'),
      rescue_instance: (ctx, a: RescueArgs & { instance: Instance }) => this.rescue(ctx, a.instance, a),
      unrescue_instance: (ctx, a: { instance: Instance }) => this.unrescue(ctx, a.instance),
      rebuild_instance: (ctx, a: RebuildArgs & { instance: Instance }) => this.rebuild(ctx, a.instance, a),
      snapshot_instance: (ctx, a: SnapshotArgs & { instance: Instance }) => this.snapshot(ctx, a.instance, a),
      backup_instance: (ctx, a: BackupArgs & { instance: Instance }) => this.backup(ctx, a.instance, a),
      shelve_instance: (ctx, a: ShelveArgs & { instance: Instance }) => this.shelve(ctx, a.instance, a),
      shelve_offload_instance: (ctx, a: { instance: Instance }) => this.shelveOffload(ctx, a.instance),
      unshelve_instance: (ctx, a: UnshelveArgs) => this.unshelve(ctx, a),
      set_admin_password: (ctx, a: { instance: Instance; password: string }) =>
        this.setAdminPassword(ctx, a.instance, a.password),
      get_console_log: (ctx, a: { instance: Instance; tailLength: number | null }) =>
        this.consoleLog(a.instance, a.tailLength),
    }
  }

  // ---- power ----

  /** Nova's reboot_instance: REBOOT_STARTED(_HARD), the driver's reboot, ACTIVE; ERROR on failure. */
  reboot(ctx: RequestContext, instance: Instance, type: RebootType): Promise<void> {
    const soft = type === 'SOFT'
    const started = soft ? TaskState.REBOOT_STARTED : TaskState.REBOOT_STARTED_HARD
    const requested = soft
      ? [TaskState.REBOOTING, TaskState.REBOOT_PENDING]
      : [TaskState.REBOOTING_HARD, TaskState.REBOOT_PENDING_HARD]
    return this.#act(ctx, instance, {
      event: ActionEvent.REBOOT,
      owned: [...requested, started],
      work: async (step) => {
        await step({ taskState: started }, requested)
        await this.#d.driver.reboot(this.#vi(instance), type)
        return { vmState: VmState.ACTIVE, powerState: PowerState.RUNNING }
      },
      onError: () => ({ vmState: VmState.ERROR, taskState: null }),
    })
  }

  stop(ctx: RequestContext, instance: Instance): Promise<void> {
    return this.#act(ctx, instance, {
      event: ActionEvent.STOP,
      owned: [TaskState.POWERING_OFF],
      work: async () => {
        await this.#d.driver.powerOff(this.#vi(instance))
        return { vmState: VmState.STOPPED, powerState: PowerState.SHUTDOWN }
      },
    })
  }

  start(ctx: RequestContext, instance: Instance): Promise<void> {
    return this.#act(ctx, instance, {
      event: ActionEvent.START,
      owned: [TaskState.POWERING_ON],
      work: async () => {
        await this.#d.driver.powerOn(this.#vi(instance))
        return { vmState: VmState.ACTIVE, powerState: PowerState.RUNNING }
      },
    })
  }

  power(ctx: RequestContext, instance: Instance, action: PowerAction): Promise<void> {
    const spec = POWER_ACTIONS[action]
    return this.#act(ctx, instance, {
      event: spec.event,
      owned: [spec.task],
      work: async () => {
        const vi = this.#vi(instance)
        if (action === 'pause') await this.#d.driver.pause(vi)
        else if (action === 'unpause') await this.#d.driver.unpause(vi)
        else if (action === 'suspend') await this.#d.driver.suspend(vi)
        else await this.#d.driver.resume(vi)
        return { vmState: spec.vmState, powerState: spec.powerState }
      },
    })
  }

  // ---- rescue ----

  rescue(ctx: RequestContext, instance: Instance, args: RescueArgs): Promise<void> {
    return this.#act(ctx, instance, {
      event: ActionEvent.RESCUE,
      owned: [TaskState.RESCUING],
      work: async () => {
        const nics = await this.#nics(ctx, instance)
        await this.#d.driver.rescue({
          instance: this.#vi(instance),
          image: virtImage(args.image),
          nics,
          adminPassword: args.adminPassword,
        })
        return { vmState: VmState.RESCUED, powerState: PowerState.RUNNING }
      },
    })
  }

  unrescue(ctx: RequestContext, instance: Instance): Promise<void> {
    return this.#act(ctx, instance, {
      event: ActionEvent.UNRESCUE,
      owned: [TaskState.UNRESCUING],
      work: async () => {
        await this.#d.driver.unrescue(this.#vi(instance))
        return { vmState: VmState.ACTIVE, powerState: PowerState.RUNNING }
      },
    })
  }

  // ---- rebuild ----

  /**
   * Nova's `_rebuild_default_impl`: destroy the guest, then spawn it again
   * from the new image (a new overlay on it), through
   * REBUILDING -> REBUILD_BLOCK_DEVICE_MAPPING -> REBUILD_SPAWNING; a server
   * that was stopped is stopped again. A failure leaves it in ERROR.
   */
  rebuild(ctx: RequestContext, instance: Instance, args: RebuildArgs): Promise<void> {
    const wasStopped = instance.vmState === VmState.STOPPED
    return this.#act(ctx, instance, {
      event: ActionEvent.REBUILD,
      owned: [TaskState.REBUILDING, TaskState.REBUILD_BLOCK_DEVICE_MAPPING, TaskState.REBUILD_SPAWNING],
      work: async (step) => {
        const vi = this.#vi(instance)
        await this.#d.driver.destroy(vi)
        await step({ taskState: TaskState.REBUILD_BLOCK_DEVICE_MAPPING }, [TaskState.REBUILDING])
        const nics = await this.#nics(ctx, instance)
        const current = await step({ taskState: TaskState.REBUILD_SPAWNING }, [
          TaskState.REBUILD_BLOCK_DEVICE_MAPPING,
        ])
        const respawned = this.#vi(current)
        await this.#d.driver.spawn({
          instance: respawned,
          image: virtImage(args.image),
          nics,
          adminPassword: args.adminPassword,
          configDrive: current.configDrive === 'True',
        })
        const launchedAt = new Date().toISOString()
        if (wasStopped) {
          await this.#d.driver.powerOff(respawned)
          return { vmState: VmState.STOPPED, powerState: PowerState.SHUTDOWN, launchedAt }
        }
        return { vmState: VmState.ACTIVE, powerState: PowerState.RUNNING, launchedAt }
      },
      onError: () => ({ vmState: VmState.ERROR, taskState: null }),
    })
  }

  // ---- images: snapshot, backup, shelve ----

  /** createImage: IMAGE_SNAPSHOT -> IMAGE_PENDING_UPLOAD -> IMAGE_UPLOADING -> done; the image is deleted on failure. */
  snapshot(ctx: RequestContext, instance: Instance, args: SnapshotArgs): Promise<void> {
    const glance = new GlanceClient(args.imageApiUrl)
    return this.#act(ctx, instance, {
      event: ActionEvent.SNAPSHOT,
      owned: snapshotTasks(TaskState.IMAGE_SNAPSHOT_PENDING),
      work: async (step) => {
        await this.#upload(ctx, instance, glance, args.imageId, step, TaskState.IMAGE_SNAPSHOT_PENDING)
        return {}
      },
      cleanup: () => glance.delete(ctx, args.imageId),
    })
  }

  /** createBackup: a snapshot, then the oldest backups of that type beyond `rotation` are deleted. */
  backup(ctx: RequestContext, instance: Instance, args: BackupArgs): Promise<void> {
    const glance = new GlanceClient(args.imageApiUrl)
    return this.#act(ctx, instance, {
      event: ActionEvent.BACKUP,
      owned: snapshotTasks(TaskState.IMAGE_BACKUP),
      work: async (step) => {
        await this.#upload(ctx, instance, glance, args.imageId, step, TaskState.IMAGE_BACKUP)
        await rotateBackups(ctx, glance, instance.uuid, args.backupType, args.rotation)
        return {}
      },
      cleanup: () => glance.delete(ctx, args.imageId),
    })
  }

  /**
   * Nova's shelve_instance: power off, snapshot into the `<name>-shelved`
   * image, SHELVED with the image id in system metadata; with
   * `shelved_offload_time` 0 it is offloaded in the same step.
   */
  shelve(ctx: RequestContext, instance: Instance, args: ShelveArgs): Promise<void> {
    const glance = new GlanceClient(args.imageApiUrl)
    return this.#act(ctx, instance, {
      event: ActionEvent.SHELVE,
      owned: [
        TaskState.SHELVING,
        TaskState.SHELVING_IMAGE_PENDING_UPLOAD,
        TaskState.SHELVING_IMAGE_UPLOADING,
        TaskState.SHELVING_OFFLOADING,
      ],
      work: async (step) => {
        const vi = this.#vi(instance)
        await this.#d.driver.powerOff(vi)
        await step({ taskState: TaskState.SHELVING_IMAGE_PENDING_UPLOAD }, [TaskState.SHELVING])
        await this.#d.driver.snapshot(vi, args.imageId, async (data) => {
          await step({ taskState: TaskState.SHELVING_IMAGE_UPLOADING }, [
            TaskState.SHELVING_IMAGE_PENDING_UPLOAD,
          ])
          await glance.update(ctx, args.imageId, this.#imageFormat())
          await glance.upload(ctx, args.imageId, data)
        })
        const systemMetadata = {
          ...instance.systemMetadata,
          shelved_at: new Date().toISOString(),
          shelved_image_id: args.imageId,
          shelved_host: this.#d.host,
        }
        const shelved: InstanceUpdates = {
          vmState: VmState.SHELVED,
          powerState: PowerState.SHUTDOWN,
          systemMetadata,
        }
        if (!args.offload) return shelved
        await step({ ...shelved, taskState: TaskState.SHELVING_OFFLOADING }, [
          TaskState.SHELVING_IMAGE_UPLOADING,
        ])
        return this.#offload(vi, instance.uuid)
      },
      cleanup: () => glance.delete(ctx, args.imageId),
    })
  }

  /** Nova's shelve_offload_instance: destroy the guest, free the claim and the host. */
  shelveOffload(ctx: RequestContext, instance: Instance): Promise<void> {
    return this.#act(ctx, instance, {
      event: ActionEvent.SHELVE_OFFLOAD,
      owned: [TaskState.SHELVING_OFFLOADING],
      work: async () => {
        const vi = this.#vi(instance)
        await this.#d.driver.powerOff(vi)
        return this.#offload(vi, instance.uuid)
      },
    })
  }

  /**
   * Nova's unshelve_instance. A SHELVED server (still here) is powered on;
   * an offloaded one was scheduled here by the conductor: claim, NICs, spawn
   * from the shelved image. Either way the shelved image is deleted after.
   * An offloaded server that fails stays SHELVED_OFFLOADED, without a host.
   */
  unshelve(ctx: RequestContext, args: UnshelveArgs): Promise<void> {
    const { instance } = args
    const glance = new GlanceClient(args.imageApiUrl)
    const offloaded = args.node !== undefined
    const imageId = instance.systemMetadata.shelved_image_id
    let claimed = false
    return this.#act(ctx, instance, {
      event: ActionEvent.UNSHELVE,
      owned: [TaskState.UNSHELVING, TaskState.SPAWNING],
      work: async (step) => {
        if (!offloaded) {
          await this.#d.driver.powerOn(this.#vi(instance))
        } else {
          this.#d.claim(instance, args.node!)
          claimed = true
          const nics = await this.#nics(ctx, instance)
          const current = await step({ taskState: TaskState.SPAWNING, launchedOn: this.#d.host }, [
            TaskState.UNSHELVING,
          ])
          if (!args.image)
            throw new NotFound(`Instance ${instance.uuid} has no shelved image to unshelve from.`)
          await this.#d.driver.spawn({
            instance: this.#vi(current),
            image: virtImage(args.image),
            nics,
            configDrive: current.configDrive === 'True',
          })
        }
        if (imageId) {
          await glance
            .delete(ctx, imageId)
            .catch((err: unknown) =>
              log.warn(
                { instance: instance.uuid, image: imageId, err: messageOf(err) },
                'shelved image not deleted',
              ),
            )
        }
        const {
          shelved_at: _a,
          shelved_image_id: _i,
          shelved_host: _h,
          ...systemMetadata
        } = instance.systemMetadata
        return { vmState: VmState.ACTIVE, powerState: PowerState.RUNNING, systemMetadata }
      },
      onError: () =>
        offloaded
          ? { vmState: VmState.SHELVED_OFFLOADED, taskState: null, host: null, node: null }
          : { taskState: null },
      cleanup: () => {
        if (claimed) this.#d.dropClaim(instance.uuid)
      },
    })
  }

  /**
   * Nova's `_poll_shelved_instances`: offloads this host's SHELVED servers
   * shelved more than `offloadTimeS` seconds ago (each guarded, so one an
   * API request moved on meanwhile is left alone). Returns how many.
   */
  async offloadShelved(ctx: RequestContext, offloadTimeS: number): Promise<number> {
    const cutoffMs = Date.now() - offloadTimeS * 1000
    let offloaded = 0
    for (const instance of await this.#d.conductor.instancesOnHost(ctx, this.#d.host)) {
      const shelvedAt = Date.parse(instance.systemMetadata.shelved_at ?? '')
      if (instance.vmState !== VmState.SHELVED || instance.taskState !== null) continue
      if (!(shelvedAt <= cutoffMs)) continue
      let offloading: Instance
      try {
        offloading = await this.#d.conductor.instanceUpdate(ctx, {
          uuid: instance.uuid,
          updates: { taskState: TaskState.SHELVING_OFFLOADING },
          expectedTaskState: [null],
          expectedVmState: [VmState.SHELVED],
        })
      } catch {
        continue
      }
      await this.shelveOffload(ctx, offloading)
      offloaded++
    }
    return offloaded
  }

  // ---- password and console ----

  /** A call: the API answers 202, or the driver's refusal (501 / 409). */
  setAdminPassword(ctx: RequestContext, instance: Instance, password: string): Promise<void> {
    return this.#act(ctx, instance, {
      event: ActionEvent.SET_PASSWORD,
      owned: [TaskState.UPDATING_PASSWORD],
      work: async () => {
        await this.#d.driver.setAdminPassword(this.#vi(instance), password)
        return {}
      },
      rethrow: true,
    })
  }

  /** Nova's get_console_output: the driver's log, its last `tailLength` lines when given (0: nothing). */
  async consoleLog(instance: Instance, tailLength: number | null): Promise<string> {
    const output = await this.#d.driver.getConsoleOutput(this.#vi(instance))
    if (tailLength === null || tailLength < 0) return output
    if (tailLength === 0) return ''
    return output.split('\n').slice(-tailLength).join('\n')
  }

  // ---- the common frame ----

  #act(ctx: RequestContext, instance: Instance, spec: ActionSpec): Promise<void> {
    return this.#d.withLock(instance.uuid, () => this.#run(ctx, instance, spec))
  }

  async #run(ctx: RequestContext, instance: Instance, spec: ActionSpec): Promise<void> {
    const c = this.#d.conductor
    const uuid = instance.uuid
    const host = this.#d.host
    let current: string | null = instance.taskState
    const step: Step = async (updates, expected) => {
      const updated = await c.instanceUpdate(ctx, { uuid, updates, expectedTaskState: expected })
      current = updated.taskState
      return updated
    }
    try {
      await c.instanceStep(ctx, {
        instanceUuid: uuid,
        host,
        events: [{ op: 'start', event: spec.event, at: now() }],
      })
      const updates = await spec.work(step)
      await c.instanceStep(ctx, {
        instanceUuid: uuid,
        host,
        events: [{ op: 'finish', event: spec.event, result: 'Success', at: now() }],
        update: { updates: { ...updates, taskState: null }, expectedTaskState: [current] },
      })
      log.info({ instance: uuid, event: spec.event }, 'action done')
    } catch (err) {
      await this.#failed(ctx, instance, spec, err)
      if (spec.rethrow) throw err
    }
  }

  async #failed(ctx: RequestContext, instance: Instance, spec: ActionSpec, err: unknown): Promise<void> {
    const uuid = instance.uuid
    const gone = isGone(err)
    try {
      await spec.cleanup?.()
    } catch (e) {
      log.warn({ instance: uuid, err: messageOf(e) }, 'cleanup after a failed action failed')
    }
    const finish: EventOp = {
      op: 'finish',
      event: spec.event,
      result: 'Error',
      details: messageOf(err),
      traceback: stackOf(err),
      at: now(),
    }
    // The fault first: a server shown in ERROR already has it.
    if (!gone) {
      await this.#d.conductor
        .instanceFaultCreate(ctx, {
          instanceUuid: uuid,
          code: err instanceof NimbusError && err.status < 500 ? err.status : ACTION_FAULT_CODE,
          message: messageOf(err),
          details: stackOf(err),
          host: this.#d.host,
        })
        .catch(() => undefined)
    }
    await this.#d.conductor
      .instanceStep(ctx, {
        instanceUuid: uuid,
        host: this.#d.host,
        events: [finish],
        ...(gone
          ? {}
          : { update: { updates: (spec.onError ?? clearTask)(err), expectedTaskState: spec.owned } }),
      })
      .catch((e: unknown) =>
        log.info(
          { instance: uuid, err: messageOf(e) },
          'instance changed before its action failure was recorded',
        ),
      )
    if (gone) return
    log.warn({ instance: uuid, event: spec.event, err: messageOf(err) }, 'action failed')
  }

  // ---- helpers ----

  async #upload(
    ctx: RequestContext,
    instance: Instance,
    glance: GlanceClient,
    imageId: string,
    step: Step,
    requested: TaskState,
  ): Promise<void> {
    await step({ taskState: TaskState.IMAGE_SNAPSHOT }, [requested])
    await step({ taskState: TaskState.IMAGE_PENDING_UPLOAD }, [TaskState.IMAGE_SNAPSHOT])
    await this.#d.driver.snapshot(this.#vi(instance), imageId, async (data) => {
      await step({ taskState: TaskState.IMAGE_UPLOADING }, [TaskState.IMAGE_PENDING_UPLOAD])
      await glance.update(ctx, imageId, this.#imageFormat())
      await glance.upload(ctx, imageId, data)
    })
  }

  /** The disk and container format of the driver's snapshots (libvirt: one qcow2; fake: raw bytes). */
  #imageFormat(): Record<string, string> {
    return { disk_format: this.#d.driver.name === 'libvirt' ? 'qcow2' : 'raw', container_format: 'bare' }
  }

  async #offload(vi: VirtInstance, uuid: string): Promise<InstanceUpdates> {
    await this.#d.driver.destroy(vi)
    this.#d.dropClaim(uuid)
    return { vmState: VmState.SHELVED_OFFLOADED, powerState: PowerState.SHUTDOWN, host: null, node: null }
  }

  /** The instance's NICs (allocation is idempotent per instance: its existing ports). */
  async #nics(ctx: RequestContext, instance: Instance): Promise<VirtNic[]> {
    const vifs = await this.#d.network.allocateForInstance(ctx, {
      instanceUuid: instance.uuid,
      projectId: instance.projectId,
      host: this.#d.host,
      requestedNetworks: instance.requestedNetworks,
      securityGroups: instance.securityGroups.filter((g) => g !== 'default'),
      availabilityZone: instance.availabilityZone,
    })
    return vifs.map((vif) => this.#d.virtNic(vif))
  }

  #vi(instance: Instance): VirtInstance {
    return this.#d.virtInstance(instance)
  }
}

function snapshotTasks(requested: TaskState): TaskState[] {
  return [requested, TaskState.IMAGE_SNAPSHOT, TaskState.IMAGE_PENDING_UPLOAD, TaskState.IMAGE_UPLOADING]
}

/** Nova's `_rotate_backups`: keep the newest `rotation` backups of this type of this instance. */
async function rotateBackups(
  ctx: RequestContext,
  glance: GlanceClient,
  instanceUuid: string,
  backupType: string,
  rotation: number,
): Promise<void> {
  const images = await glance.list(ctx, { instance_uuid: instanceUuid, backup_type: backupType })
  const backups = images
    .filter((i) => i.image_type === 'backup')
    .sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0))
  for (const old of backups.slice(rotation)) {
    log.info({ instance: instanceUuid, image: old.id }, 'deleting backup beyond rotation')
    await glance.delete(ctx, old.id)
  }
}

function virtImage(image: ImageMeta): VirtImage {
  return {
    id: image.id,
    name: image.name ?? undefined,
    diskFormat: image.diskFormat ?? undefined,
    containerFormat: image.containerFormat ?? undefined,
    sizeBytes: image.sizeBytes,
    properties: image.properties,
  }
}

function clearTask(): InstanceUpdates {
  return { taskState: null }
}

/** The instance was deleted (or is being deleted) while the action ran. */
function isGone(err: unknown): boolean {
  if (!(err instanceof NimbusError)) return false
  return (
    (err instanceof NotFound && err.name === 'InstanceNotFound') || err.name === 'UnexpectedDeletingTaskState'
  )
}

function now(): string {
  return new Date().toISOString()
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function stackOf(err: unknown): string | null {
  return err instanceof Error ? (err.stack ?? null) : null
}
