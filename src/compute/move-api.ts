import { randomInt } from 'node:crypto'
import type { ComputeConfig } from '../common/config.ts'
import type { RequestContext } from '../common/context.ts'
import { Conflict, Invalid, NotFound, registerErrorClass } from '../common/errors.ts'
import { logger } from '../common/log.ts'
import type { Database } from '../db/index.ts'
import type { Queryable } from '../db/schema.ts'
import { InstanceIsLocked, snapshotOf } from './api.ts'
import { startAction } from './db/actions.ts'
import { getFlavor, hasFlavorAccess } from './db/flavors.ts'
import { countUsage, getInstance, updateInstance } from './db/instances.ts'
import {
  createMigration,
  holdingMigrations,
  migrationByInstanceAndStatus,
  MigrationNotFound,
  unconfirmedOlderThan,
  updateMigration,
} from './db/migrations.ts'
import { checkFlavorFitsImage } from './flavor-image.ts'
import type { HostApi } from './host-api.ts'
import type { ImageMeta } from '../objects/image.ts'
import { MigrationStatus, MigrationType, type Migration } from './migration.ts'
import type { ComputeMoveRpcApi, ConductorMoveRpcApi } from './move-rpcapi.ts'
import type { FlavorSnapshot, Instance } from './objects.ts'
import { TooManyInstances, type QuotaEngine } from './quota.ts'
import { TaskState, VmState } from './states.ts'
import type { ExcludedHost } from '../scheduler/types.ts'

const log = logger('compute.moves')

/**
 * The compute API's moves (Nova's `compute.api.API.resize`, `confirm_resize`,
 * `revert_resize`, `evacuate`): the checks Nova makes before anything moves,
 * the task state, the migration record and the instance action in one
 * transaction, then one cast (to the conductor, or to the host that acts).
 */

/** Nova's CannotResizeToSameFlavor (400). */
export class CannotResizeToSameFlavor extends Invalid {}
registerErrorClass(CannotResizeToSameFlavor)
/** Nova's CannotMigrateToSameHost (400). */
export class CannotMigrateToSameHost extends Invalid {}
registerErrorClass(CannotMigrateToSameHost)
/** Nova's InstanceInvalidState, as the API renders it (409 naming the state). */
export class InstanceInvalidState extends Conflict {}
registerErrorClass(InstanceInvalidState)
/** Nova's ServiceUnavailable as the move APIs render it (409). */
export class MoveServiceUnavailable extends Conflict {}
registerErrorClass(MoveServiceUnavailable)
/** Nova's ComputeServiceInUse: evacuate needs the source host's service down (400, as Nova's evacuate API). */
export class ComputeServiceInUse extends Invalid {}
registerErrorClass(ComputeServiceInUse)

/** The system metadata key Nova keeps the vm_state in while a server moves. */
const OLD_VM_STATE_KEY = 'old_vm_state'
/** Characters and length of a generated admin password (Nova's generate_password). */
const PASSWORD_CHARS = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789'
const PASSWORD_LENGTH = 12

export interface MoveApiDeps {
  readonly db: Database
  readonly config: ComputeConfig
  readonly quotas: QuotaEngine
  readonly hosts: HostApi
  readonly conductor: ConductorMoveRpcApi
  readonly compute: ComputeMoveRpcApi
}

export interface ResizeRequest {
  /** Absent: a cold migration (same flavor, another host). */
  readonly flavorId?: string | undefined
  readonly autoDiskConfig?: boolean | undefined
  /** 2.56 `host` of a cold migration. */
  readonly host?: string | undefined
}

export interface EvacuateRequest {
  readonly host?: string | undefined
  readonly force: boolean
  readonly adminPassword?: string | undefined
}

export class ComputeMoveApi {
  readonly #d: MoveApiDeps

  constructor(deps: MoveApiDeps) {
    this.#d = deps
  }

  // ---- resize and cold migration ----

  /**
   * Nova's `resize` (a cold migration when no flavor is given): checks the
   * lock, the state, the host's service, the flavor, the quota delta and the
   * image, then records RESIZE_PREP, the migration and the action, and casts
   * `migrate_server` to the conductor.
   */
  async resize(ctx: RequestContext, instance: Instance, req: ResizeRequest): Promise<Migration> {
    const action = req.flavorId === undefined ? 'migrate' : 'resize'
    checkLock(ctx, instance)
    checkState(instance, action, [VmState.ACTIVE, VmState.STOPPED], [null])
    await this.#checkHostUp(instance)
    if (req.host !== undefined) await this.#checkColdMigrateHost(instance, req.host)
    const current = instance.flavor
    const flavor = req.flavorId === undefined ? current : await this.#flavorForResize(ctx, req.flavorId)
    if (flavor.rootGb === 0 && current.rootGb !== 0) {
      throw new Invalid(
        'Server disk was unable to be resized because: Resize to zero disk flavor is not allowed.',
      )
    }
    const sameFlavor = flavor.id === current.id
    if (sameFlavor && req.flavorId !== undefined) {
      throw new CannotResizeToSameFlavor('When resizing, instances must change flavor!')
    }
    if (!sameFlavor) checkFlavorFitsImage(flavor, imageOf(instance), true)
    const excludedHosts = this.#sourceExclusion(instance, sameFlavor)
    const migration = await this.#d.db.transaction(async (trx) => {
      if (req.flavorId !== undefined) await this.#checkQuotaForUpsize(trx, instance, current, flavor)
      await updateInstance(
        trx,
        instance.uuid,
        {
          taskState: TaskState.RESIZE_PREP,
          progress: 0,
          autoDiskConfig: req.autoDiskConfig ?? false,
          systemMetadata: { ...instance.systemMetadata, [OLD_VM_STATE_KEY]: instance.vmState },
        },
        { expectedTaskState: [null] },
      )
      await startAction(trx, actionStart(ctx, instance, action))
      return createMigration(trx, {
        instanceUuid: instance.uuid,
        migrationType: sameFlavor ? MigrationType.MIGRATION : MigrationType.RESIZE,
        status: MigrationStatus.PRE_MIGRATING,
        sourceCompute: instance.host,
        sourceNode: instance.node,
        oldFlavor: current,
        newFlavor: flavor,
        userId: instance.userId,
        projectId: instance.projectId,
      })
    })
    await this.#d.conductor.migrateServer(ctx, {
      instanceUuid: instance.uuid,
      migrationUuid: migration.uuid,
      newFlavor: flavor,
      ignoreHosts: [],
      excludedHosts,
      requestedHost: req.host,
    })
    log.info(
      { instance: instance.uuid, migration: migration.uuid, action, flavor: flavor.flavorid },
      'move requested',
    )
    return migration
  }

  /** Nova's `confirm_resize`: the source host drops the original and its claim (the API answers 204). */
  async confirmResize(ctx: RequestContext, instance: Instance, given?: Migration): Promise<void> {
    checkLock(ctx, instance)
    checkState(instance, 'confirmResize', [VmState.RESIZED], [null])
    const migration = given ?? (await this.#finishedMigration(instance))
    const source = migration.sourceCompute
      ? await this.#d.hosts.computeService(migration.sourceCompute)
      : undefined
    if (!source?.up) throw new MoveServiceUnavailable('Service is unavailable at this time.')
    const confirming = await this.#d.db.transaction(async (trx) => {
      const m = await updateMigration(trx, migration.uuid, { status: MigrationStatus.CONFIRMING }, [
        MigrationStatus.FINISHED,
      ])
      await startAction(trx, actionStart(ctx, instance, 'confirmResize'))
      return m
    })
    await this.#d.compute.confirmResize(ctx, migration.sourceCompute!, { instance, migration: confirming })
  }

  /** Nova's `revert_resize`: the destination destroys the new guest, then the source restores the old one. */
  async revertResize(ctx: RequestContext, instance: Instance): Promise<void> {
    checkLock(ctx, instance)
    checkState(instance, 'revertResize', [VmState.RESIZED], [null])
    const migration = await this.#finishedMigration(instance)
    const reverting = await this.#d.db.transaction(async (trx) => {
      // A revert of a downsize is an upsize back to the old flavor: the quota must still allow it.
      if (migration.oldFlavor && migration.newFlavor)
        await this.#checkQuotaForUpsize(trx, instance, migration.newFlavor, migration.oldFlavor)
      await updateInstance(
        trx,
        instance.uuid,
        { taskState: TaskState.RESIZE_REVERTING },
        { expectedTaskState: [null] },
      )
      const m = await updateMigration(trx, migration.uuid, { status: MigrationStatus.REVERTING }, [
        MigrationStatus.FINISHED,
      ])
      await startAction(trx, actionStart(ctx, instance, 'revertResize'))
      return m
    })
    await this.#d.compute.revertResize(ctx, migration.destCompute!, {
      instance: { ...instance, taskState: TaskState.RESIZE_REVERTING },
      migration: reverting,
    })
  }

  /**
   * Nova's `_poll_unconfirmed_resizes` (run by the conductor here): confirms
   * every resize in VERIFY_RESIZE longer than `resize_confirm_window_s`.
   * Returns how many it confirmed.
   */
  async confirmUnconfirmed(ctx: RequestContext): Promise<number> {
    const windowS = this.#d.config.resizeConfirmWindowS
    if (windowS <= 0) return 0
    const cutoff = new Date(Date.now() - windowS * 1000).toISOString()
    let confirmed = 0
    for (const migration of await unconfirmedOlderThan(this.#d.db.kysely, cutoff)) {
      try {
        const instance = await getInstance(this.#d.db.kysely, migration.instanceUuid)
        await this.confirmResize(ctx, instance, migration)
        confirmed++
        log.info(
          { instance: migration.instanceUuid, migration: migration.uuid },
          'resize confirmed automatically',
        )
      } catch (err) {
        log.warn(
          { instance: migration.instanceUuid, err: (err as Error).message },
          'automatic resize confirmation skipped',
        )
      }
    }
    return confirmed
  }

  // ---- evacuate ----

  /**
   * Nova's `evacuate`: only from a host whose compute service is down
   * (ComputeServiceInUse otherwise); the server is rebuilt elsewhere with
   * its uuid. Returns the admin password the rebuilt server gets.
   */
  async evacuate(ctx: RequestContext, instance: Instance, req: EvacuateRequest): Promise<string> {
    checkState(instance, 'evacuate', [VmState.ACTIVE, VmState.STOPPED, VmState.ERROR], [null])
    const source = instance.host ? await this.#d.hosts.computeService(instance.host) : undefined
    if (source?.up) throw new ComputeServiceInUse(`Compute service of ${instance.host} is still in use.`)
    const password = req.adminPassword ?? generatePassword()
    const migration = await this.#d.db.transaction(async (trx) => {
      await updateInstance(
        trx,
        instance.uuid,
        { taskState: TaskState.REBUILDING },
        { expectedTaskState: [null] },
      )
      await startAction(trx, actionStart(ctx, instance, 'evacuate'))
      return createMigration(trx, {
        instanceUuid: instance.uuid,
        migrationType: MigrationType.EVACUATION,
        status: MigrationStatus.ACCEPTED,
        sourceCompute: instance.host,
        sourceNode: instance.node,
        destCompute: req.host ?? null,
        oldFlavor: instance.flavor,
        newFlavor: instance.flavor,
        userId: instance.userId,
        projectId: instance.projectId,
      })
    })
    await this.#d.conductor.evacuate(ctx, {
      instanceUuid: instance.uuid,
      migrationUuid: migration.uuid,
      host: req.host,
      force: req.force,
      adminPassword: password,
      originalVmState: instance.vmState,
    })
    log.info(
      { instance: instance.uuid, from: instance.host, to: req.host ?? '(scheduler)' },
      'evacuation requested',
    )
    return password
  }

  // ---- delete ----

  /**
   * When a server in the middle of a move is deleted: the move ends (a
   * finished resize is confirmed, as Nova's `_confirm_resize_on_deleting`;
   * anything else is marked error) and the other host drops what it kept.
   */
  async onDelete(ctx: RequestContext, instance: Instance): Promise<void> {
    for (const m of await holdingMigrations(this.#d.db.kysely, instance.uuid)) {
      const status = m.status === MigrationStatus.FINISHED ? MigrationStatus.CONFIRMED : MigrationStatus.ERROR
      await updateMigration(this.#d.db.kysely, m.uuid, { status }).catch(() => undefined)
      for (const host of new Set([m.sourceCompute, m.destCompute])) {
        if (host) await this.#d.compute.dropMoveClaim(ctx, host, { instance, migration: m })
      }
    }
  }

  // ---- checks ----

  /**
   * The server's own host, left out of a move unless the operator allows it
   * to stay (`allow_resize_to_same_host` for a resize, `allow_migrate_to_same_host`
   * for a cold migration; both on by default on an all-in-one cloud). Nova
   * excludes it through `ignore_hosts`; here the exclusion carries the option
   * that caused it, so a NoValidHost on a one-host cloud names it.
   */
  #sourceExclusion(instance: Instance, coldMigration: boolean): ExcludedHost[] {
    if (!instance.host) return []
    const [allowed, option, move] = coldMigration
      ? [this.#d.config.allowMigrateToSameHost, 'allow_migrate_to_same_host', 'a cold migration']
      : [this.#d.config.allowResizeToSameHost, 'allow_resize_to_same_host', 'a resize']
    if (allowed) return []
    return [
      {
        host: instance.host,
        reason: `the server's own host; ${move} may stay on its host only with [compute] ${option} = true`,
      },
    ]
  }

  async #checkHostUp(instance: Instance): Promise<void> {
    if (!instance.host) throw new Conflict(`Instance ${instance.uuid} is not ready`)
    const service = await this.#d.hosts.computeService(instance.host)
    if (!service?.up) throw new MoveServiceUnavailable('Service is unavailable at this time.')
  }

  async #checkColdMigrateHost(instance: Instance, host: string): Promise<void> {
    if (host === instance.host)
      throw new CannotMigrateToSameHost('Cannot migrate to the host where the server exists.')
    const nodes = await this.#d.hosts.computeNodes()
    if (!nodes.some((n) => n.host === host)) throw new Invalid(`Compute host ${host} could not be found.`)
  }

  /** The flavor as the caller may see it; a missing, private or disabled one is Nova's FlavorNotFound (400 here). */
  async #flavorForResize(ctx: RequestContext, flavorId: string): Promise<FlavorSnapshot> {
    const notFound = () => new Invalid(`Flavor ${flavorId} could not be found.`)
    let flavor
    try {
      flavor = await getFlavor(this.#d.db.kysely, flavorId)
    } catch (err) {
      if (err instanceof NotFound) throw notFound()
      throw err
    }
    const visible = ctx.isAdmin || (await hasFlavorAccess(this.#d.db.kysely, flavor, ctx.projectId))
    if (!visible || flavor.disabled) throw notFound()
    return snapshotOf(flavor)
  }

  /**
   * Nova's `_check_quota_for_upsize` (legacy quota): only the growth in
   * cores and RAM is checked, against the project's limits and usage.
   */
  async #checkQuotaForUpsize(
    db: Queryable,
    instance: Instance,
    current: FlavorSnapshot,
    next: FlavorSnapshot,
  ): Promise<void> {
    const deltas = { cores: next.vcpus - current.vcpus, ram: next.memoryMb - current.memoryMb }
    if (deltas.cores <= 0 && deltas.ram <= 0) return
    const limits = await this.#d.quotas.limits(db, instance.projectId)
    const used = await countUsage(db, instance.projectId)
    const overs = (['cores', 'ram'] as const).filter(
      (r) => deltas[r] > 0 && limits[r] >= 0 && used[r] + deltas[r] > limits[r],
    )
    if (overs.length === 0) return
    throw new TooManyInstances(
      `Quota exceeded for ${overs.join(', ')}: Requested ${overs.map((r) => deltas[r]).join(', ')}, ` +
        `but already used ${overs.map((r) => used[r]).join(', ')} of ${overs.map((r) => limits[r]).join(', ')} ${overs.join(', ')}`,
      { overs },
    )
  }

  async #finishedMigration(instance: Instance): Promise<Migration> {
    try {
      return await migrationByInstanceAndStatus(this.#d.db.kysely, instance.uuid, MigrationStatus.FINISHED)
    } catch (err) {
      if (err instanceof MigrationNotFound) throw new Invalid('Instance has not been resized.')
      throw err
    }
  }
}

// ---- helpers ----

/** Nova's `check_instance_lock`: a locked server refuses everyone but an admin. */
function checkLock(ctx: RequestContext, instance: Instance): void {
  if (instance.lockedBy !== null && !ctx.isAdmin)
    throw new InstanceIsLocked(`Instance ${instance.uuid} is locked`)
}

/** Nova's `check_instance_state` with the API's 409 wording. */
export function checkState(
  instance: Instance,
  action: string,
  vmStates: readonly string[],
  taskStates: readonly (string | null)[],
): void {
  if (!vmStates.includes(instance.vmState)) {
    throw new InstanceInvalidState(
      `Cannot '${action}' instance ${instance.uuid} while it is in vm_state ${instance.vmState}`,
    )
  }
  if (!taskStates.includes(instance.taskState)) {
    throw new InstanceInvalidState(
      `Cannot '${action}' instance ${instance.uuid} while it is in task_state ${instance.taskState}`,
    )
  }
}

function actionStart(ctx: RequestContext, instance: Instance, action: string) {
  return {
    instanceUuid: instance.uuid,
    action,
    requestId: ctx.requestId,
    userId: ctx.userId ?? null,
    projectId: ctx.projectId ?? null,
  }
}

/** The image the server was built from, as its system metadata recorded it (Nova's `get_image_from_system_metadata`). */
export function imageOf(instance: Instance): ImageMeta {
  const sm = instance.systemMetadata
  const properties: Record<string, string> = {}
  for (const [k, v] of Object.entries(sm)) {
    if (!k.startsWith('image_')) continue
    const key = k.slice('image_'.length)
    if (['min_ram', 'min_disk', 'disk_format', 'container_format', 'base_image_ref'].includes(key)) continue
    properties[key] = v
  }
  return {
    id: instance.imageRef,
    name: null,
    status: 'active',
    minRamMb: Number(sm.image_min_ram ?? 0),
    minDiskGb: Number(sm.image_min_disk ?? 0),
    sizeBytes: 0,
    diskFormat: sm.image_disk_format ?? null,
    containerFormat: sm.image_container_format ?? null,
    properties,
  }
}

export function generatePassword(): string {
  let out = ''
  for (let i = 0; i < PASSWORD_LENGTH; i++) out += PASSWORD_CHARS[randomInt(PASSWORD_CHARS.length)]
  return out
}

/** Whether the vm_state recorded before a move asks for a running guest afterwards. */
export function wasRunning(instance: Instance): boolean {
  return (instance.systemMetadata[OLD_VM_STATE_KEY] ?? VmState.ACTIVE) !== VmState.STOPPED
}
