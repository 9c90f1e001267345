import type { Config } from '../common/config.ts'
import type { RequestContext } from '../common/context.ts'
import { NimbusError, NoValidHost } from '../common/errors.ts'
import { logger } from '../common/log.ts'
import { addFault, finishAction, recordEvents, type EventOp } from '../compute/db/actions.ts'
import { getInstance, updateInstance } from '../compute/db/instances.ts'
import {
  evacuationsFrom,
  getMigration,
  setInstanceFlavor,
  updateMigration,
} from '../compute/db/migrations.ts'
import type { ImageClient } from '../image/client.ts'
import type { ImageMeta } from '../objects/image.ts'
import { MigrationStatus, type Migration, type MigrationUpdates } from '../compute/migration.ts'
import { imageOf } from '../compute/move-api.ts'
import type {
  ComputeMoveRpcApi,
  EvacuateArgs,
  MigrateServerArgs,
  MoveStepArgs,
} from '../compute/move-rpcapi.ts'
import type { FlavorSnapshot, Instance } from '../compute/objects.ts'
import { TaskState, VmState } from '../compute/states.ts'
import type { Database } from '../db/index.ts'
import type { Queryable } from '../db/schema.ts'
import type { SchedulerRpcApi } from '../scheduler/rpcapi.ts'
import type { ExcludedHost, RequestSpec } from '../scheduler/types.ts'

const log = logger('conductor.moves')

/** Event names of the conductor's part of a move (Nova's `conductor_` prefix). */
export const MoveEvent = {
  MIGRATE: 'conductor_migrate_server',
  REBUILD: 'conductor_rebuild_server',
  SCHEDULE: 'scheduler_select_destinations',
} as const

/** Fault code Nova records for a failed move (NoValidHost, MigrationError). */
const MOVE_FAULT_CODE = 500

export interface MoveTaskDeps {
  readonly db: Database
  readonly config: Config
  readonly scheduler: SchedulerRpcApi
  readonly compute: ComputeMoveRpcApi
  readonly host: string
  /** The image service's door (a move schedules with the server's image). */
  readonly images: ImageClient
}

/**
 * The conductor's moves (Nova's MigrationTask and the evacuate branch of
 * `rebuild_instance`): schedule with the flavor the server will have,
 * leaving out the hosts the API excluded, record the choice on the
 * migration, and hand the move to the destination host. It also serves
 * `move_step`, the hosts' database access during a move.
 */
export class ConductorMoves {
  readonly #d: MoveTaskDeps

  constructor(deps: MoveTaskDeps) {
    this.#d = deps
  }

  endpoints(): Record<string, (ctx: RequestContext, args: any) => Promise<unknown>> {
    return {
      migrate_server: (ctx, a: MigrateServerArgs) => this.migrateServer(ctx, a),
      rebuild_instance: (ctx, a: EvacuateArgs) => this.evacuate(ctx, a),
      move_step: (ctx, a: MoveStepArgs) => this.moveStep(ctx, a),
      evacuations_from_host: (ctx, a: { host: string }) => evacuationsFrom(this.#d.db.kysely, a.host),
      migration_update: (ctx, a: { uuid: string; updates: MigrationUpdates }) =>
        updateMigration(this.#d.db.kysely, a.uuid, a.updates),
    }
  }

  /** Resize or cold migration: schedule, then cast `prep_resize` to the destination. */
  async migrateServer(ctx: RequestContext, a: MigrateServerArgs): Promise<void> {
    const instance = await getInstance(this.#d.db.kysely, a.instanceUuid)
    let migration = await getMigration(this.#d.db.kysely, a.migrationUuid)
    await this.#events(ctx, instance.uuid, [
      { op: 'start', event: MoveEvent.MIGRATE },
      { op: 'start', event: MoveEvent.SCHEDULE },
    ])
    try {
      const max = this.#d.config.compute.maxAttempts
      if ((a.attempt ?? 1) > max) {
        throw new NoValidHost(
          `Exceeded maximum number of retries. Exceeded max scheduling attempts ${max} for instance ${instance.uuid}. Last exception: ${a.lastFailure ?? 'unknown'}`,
        )
      }
      const image = await this.#image(ctx, instance)
      const spec = moveSpec(instance, a.newFlavor, image, a.ignoreHosts, a.excludedHosts ?? [])
      const result = await this.#d.scheduler.selectDestinations(ctx, spec, {
        host: a.requestedHost,
        migrationUuid: migration.uuid,
      })
      const dest = result.destinations[0]!
      migration = { ...migration, destCompute: dest.host, destNode: dest.node }
      await this.#events(ctx, instance.uuid, [
        {
          op: 'finish',
          event: MoveEvent.SCHEDULE,
          result: 'Success',
          details: JSON.stringify(result.record),
        },
        { op: 'finish', event: MoveEvent.MIGRATE, result: 'Success' },
      ])
      await this.#d.compute.prepResize(ctx, dest.host, { instance, migration, image, request: a })
    } catch (err) {
      await this.#failMove(ctx, instance, migration, err)
    }
  }

  /**
   * Nova's `_set_vm_state_and_notify` after a failed schedule: the server
   * keeps its vm_state, its task ends, the migration is `error`, and a fault
   * says why (NoValidHost with the filters' numbers).
   */
  async #failMove(
    ctx: RequestContext,
    instance: Instance,
    migration: Migration,
    err: unknown,
  ): Promise<void> {
    const record = err instanceof NimbusError ? err.detail.decisionRecord : undefined
    const message = messageOf(err)
    log.warn({ instance: instance.uuid, reason: message }, 'move failed in the conductor')
    await this.#d.db.transaction(async (trx) => {
      await updateMigration(trx, migration.uuid, { status: MigrationStatus.ERROR })
      await updateInstance(trx, instance.uuid, { taskState: null }).catch(() => undefined)
      await addFault(trx, {
        instanceUuid: instance.uuid,
        code: MOVE_FAULT_CODE,
        message,
        details: stackOf(err),
        host: this.#d.host,
      })
      await this.#recordEvents(trx, ctx, instance.uuid, [
        {
          op: 'finish',
          event: MoveEvent.SCHEDULE,
          result: 'Error',
          details: record === undefined ? message : JSON.stringify(record),
        },
        {
          op: 'finish',
          event: MoveEvent.MIGRATE,
          result: 'Error',
          details: message,
          traceback: stackOf(err),
        },
      ])
      await finishAction(trx, instance.uuid, ctx.requestId).catch(() => undefined)
    })
  }

  /**
   * Evacuation: a forced host is taken as named; otherwise the scheduler
   * picks one (and allocates it on the instance, as for a build), leaving
   * out the failed source. Then `rebuild_instance` goes to that host. No
   * valid host leaves the server in ERROR with a fault, as in Nova.
   */
  async evacuate(ctx: RequestContext, a: EvacuateArgs): Promise<void> {
    const instance = await getInstance(this.#d.db.kysely, a.instanceUuid)
    const migration = await getMigration(this.#d.db.kysely, a.migrationUuid)
    await this.#events(ctx, instance.uuid, [{ op: 'start', event: MoveEvent.REBUILD }])
    try {
      const image = await this.#image(ctx, instance)
      let dest: { host: string; node: string }
      if (a.force && a.host) {
        dest = await this.#forcedDestination(instance, a.host)
      } else {
        await this.#events(ctx, instance.uuid, [{ op: 'start', event: MoveEvent.SCHEDULE }])
        // The failed host is left out as itself, not as an earlier failed attempt of this move.
        const source: ExcludedHost[] = instance.host
          ? [{ host: instance.host, reason: 'the host being evacuated' }]
          : []
        const spec = moveSpec(instance, instance.flavor, image, [], source)
        const result = await this.#d.scheduler.selectDestinations(ctx, spec, { host: a.host })
        dest = result.destinations[0]!
        await this.#events(ctx, instance.uuid, [
          {
            op: 'finish',
            event: MoveEvent.SCHEDULE,
            result: 'Success',
            details: JSON.stringify(result.record),
          },
        ])
      }
      const moving = await updateMigration(this.#d.db.kysely, migration.uuid, {
        status: MigrationStatus.PRE_MIGRATING,
        destCompute: dest.host,
        destNode: dest.node,
      })
      await this.#events(ctx, instance.uuid, [{ op: 'finish', event: MoveEvent.REBUILD, result: 'Success' }])
      await this.#d.compute.rebuildInstance(ctx, dest.host, {
        instance: { ...instance, host: dest.host, node: dest.node },
        migration: moving,
        image,
        adminPassword: a.adminPassword,
        originalVmState: a.originalVmState,
      })
    } catch (err) {
      const message = messageOf(err)
      log.warn({ instance: instance.uuid, reason: message }, 'evacuation failed in the conductor')
      await this.#d.db.transaction(async (trx) => {
        await updateMigration(trx, migration.uuid, { status: MigrationStatus.ERROR })
        await updateInstance(trx, instance.uuid, { vmState: VmState.ERROR, taskState: null })
        await addFault(trx, {
          instanceUuid: instance.uuid,
          code: MOVE_FAULT_CODE,
          message,
          details: stackOf(err),
          host: this.#d.host,
        })
        await this.#recordEvents(trx, ctx, instance.uuid, [
          { op: 'finish', event: MoveEvent.SCHEDULE, result: 'Error', details: message },
          {
            op: 'finish',
            event: MoveEvent.REBUILD,
            result: 'Error',
            details: message,
            traceback: stackOf(err),
          },
        ])
        await finishAction(trx, instance.uuid, ctx.requestId).catch(() => undefined)
      })
    }
  }

  /** A forced evacuation host: its first node, recorded on the instance (the allocation) without the filters. */
  async #forcedDestination(instance: Instance, host: string): Promise<{ host: string; node: string }> {
    const node = await this.#d.db.kysely
      .selectFrom('compute_nodes')
      .select(['host', 'hypervisor_hostname'])
      .where('host', '=', host)
      .orderBy('id')
      .executeTakeFirst()
    if (!node) throw new NimbusError(`Compute host ${host} could not be found.`)
    await updateInstance(this.#d.db.kysely, instance.uuid, {
      host: node.host,
      node: node.hypervisor_hostname,
    })
    return { host: node.host, node: node.hypervisor_hostname }
  }

  /** A host's step of a move: everything in one transaction; a refused guarded update is thrown. */
  async moveStep(ctx: RequestContext, a: MoveStepArgs): Promise<Instance | null> {
    return this.#d.db.transaction(async (trx) => {
      let instance: Instance | null = null
      if (a.flavor) await setInstanceFlavor(trx, a.instanceUuid, a.flavor)
      if (a.update) {
        instance = await updateInstance(trx, a.instanceUuid, a.update.updates, {
          expectedTaskState: a.update.expectedTaskState,
          expectedVmState: a.update.expectedVmState,
        })
      } else if (a.flavor) {
        instance = await getInstance(trx, a.instanceUuid)
      }
      if (a.migration)
        await updateMigration(trx, a.migration.uuid, a.migration.updates, a.migration.expectedStatus)
      if (a.fault) await addFault(trx, { ...a.fault, instanceUuid: a.instanceUuid })
      if (a.events?.length) {
        await recordEvents(trx, {
          instanceUuid: a.instanceUuid,
          requestId: ctx.requestId,
          host: a.host,
          ops: a.events,
        })
      }
      if (a.finishAction) await finishAction(trx, a.instanceUuid, ctx.requestId).catch(() => undefined)
      return instance
    })
  }

  /** The server's image: from the image service while it exists, else as its system metadata recorded it. */
  async #image(ctx: RequestContext, instance: Instance): Promise<ImageMeta> {
    try {
      return await this.#d.images.get(ctx, instance.imageRef)
    } catch {
      return imageOf(instance)
    }
  }

  async #events(ctx: RequestContext, instanceUuid: string, ops: readonly EventOp[]): Promise<void> {
    await this.#recordEvents(this.#d.db.kysely, ctx, instanceUuid, ops)
  }

  async #recordEvents(db: Queryable, ctx: RequestContext, instanceUuid: string, ops: readonly EventOp[]) {
    try {
      await recordEvents(db, { instanceUuid, requestId: ctx.requestId, host: this.#d.host, ops })
    } catch (err) {
      log.debug({ instance: instanceUuid, err: messageOf(err) }, 'events not recorded')
    }
  }
}

/** The scheduler's request for a move: the flavor the server will have, the hosts failed or excluded. */
function moveSpec(
  instance: Instance,
  flavor: FlavorSnapshot,
  image: ImageMeta,
  ignoreHosts: readonly string[],
  excludedHosts: readonly ExcludedHost[],
): RequestSpec {
  return {
    instanceUuids: [instance.uuid],
    projectId: instance.projectId,
    flavor: {
      id: flavor.flavorid,
      name: flavor.name,
      memoryMb: flavor.memoryMb,
      vcpus: flavor.vcpus,
      rootGb: flavor.rootGb,
      ephemeralGb: flavor.ephemeralGb,
      swapMb: flavor.swapMb,
      extraSpecs: flavor.extraSpecs,
    },
    image: {
      id: image.id,
      properties: image.properties,
      minRamMb: image.minRamMb,
      minDiskGb: image.minDiskGb,
      sizeBytes: image.sizeBytes,
    },
    availabilityZone: undefined,
    schedulerHints: {},
    ignoreHosts,
    excludedHosts,
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function stackOf(err: unknown): string | undefined {
  return err instanceof Error ? err.stack : undefined
}

/** Task states a move's steps expect (re-exported for the host side). */
export const RESIZE_TASK_STATES = [
  TaskState.RESIZE_PREP,
  TaskState.RESIZE_MIGRATING,
  TaskState.RESIZE_MIGRATED,
  TaskState.RESIZE_FINISH,
] as const
