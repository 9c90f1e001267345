import type { Config } from '../common/config.ts'
import type { RequestContext } from '../common/context.ts'
import { NimbusError, NoValidHost, NotFound } from '../common/errors.ts'
import { logger } from '../common/log.ts'
import {
  addFault,
  EventResult,
  finishAction,
  finishEvent,
  lastFinishedEvent,
  recordEvents,
  type EventOp,
  startEvent,
} from '../compute/db/actions.ts'
import { recordBuildResult, upsertComputeNode } from '../compute/db/compute-nodes.ts'
import {
  buildsOlderThan,
  getInstance,
  instancesByUuids,
  instancesOnHost,
  markInstanceDeleted,
  updateInstance,
} from '../compute/db/instances.ts'
import { networkInfoOf, saveNetworkInfo, setInstanceSecurityGroups } from '../compute/db/info-caches.ts'
import type { NetworkRpcApi } from '../network/rpcapi.ts'
import type { ImageClient } from '../image/client.ts'
import type { ImageMeta } from '../objects/image.ts'
import type { ComputeNodeReport, Instance } from '../compute/objects.ts'
import type { ComputeRpcApi } from '../compute/rpcapi.ts'
import { TaskState, VmState } from '../compute/states.ts'
import type { Database } from '../db/index.ts'
import type { Queryable } from '../db/schema.ts'
import { recordHeartbeat, registerService, type ServiceRow } from '../db/services.ts'
import type { SchedulerRpcApi } from '../scheduler/rpcapi.ts'
import type { RequestSpec } from '../scheduler/types.ts'
import type {
  BuildRequest,
  BuildResultArgs,
  EventArgs,
  EventFinishArgs,
  FaultArgs,
  InfoCacheUpdateArgs,
  InstanceProject,
  InstanceUpdateArgs,
  ServiceRef,
  StepArgs,
  ServiceState,
  UnshelveRequest,
} from './rpcapi.ts'
import { unshelveInstance } from './unshelve.ts'

const log = logger('conductor')

/** Event names of the build timeline (`openstack server event show`). */
export const BuildEvent = {
  CONDUCTOR: 'conductor_schedule_and_build_instances',
  SCHEDULE: 'scheduler_select_destinations',
} as const

/** Fault code of a build failure (Nova records 500 for NoValidHost and MaxRetriesExceeded). */
const BUILD_FAULT_CODE = 500

export interface ConductorDeps {
  readonly db: Database
  readonly config: Config
  readonly scheduler: SchedulerRpcApi
  readonly compute: ComputeRpcApi
  /** The conductor's own host name (events record where a step ran). */
  readonly host: string
  /** Releases the ports of builds that fail here (no host left, deadline passed). */
  readonly network?: NetworkRpcApi | undefined
  /** The image service's door (unshelve reads the shelved image). */
  readonly images: ImageClient
}

/**
 * The conductor (Nova's ComputeTaskManager + ConductorManager): it
 * orchestrates builds (schedule, then hand each instance to its host) and
 * is the only way compute hosts reach the database.
 */
export class ConductorManager {
  readonly #d: ConductorDeps

  constructor(deps: ConductorDeps) {
    this.#d = deps
  }

  /** The RPC methods, by wire name. */
  endpoints(): Record<string, (ctx: RequestContext, args: any) => Promise<unknown>> {
    return {
      build_instances: (ctx, a: BuildRequest) => this.buildInstances(ctx, a),
      unshelve_instance: (ctx, a: UnshelveRequest) => unshelveInstance(this.#d, ctx, a),
      instance_update: (ctx, a: InstanceUpdateArgs) => this.instanceUpdate(a),
      instance_get: (ctx, a: { uuid: string; readDeleted?: boolean }) =>
        getInstance(this.#d.db.kysely, a.uuid, { readDeleted: a.readDeleted }),
      instances_on_host: (ctx, a: { host: string }) => instancesOnHost(this.#d.db.kysely, a.host),
      instance_destroy: (ctx, a: { uuid: string; events?: EventOp[] }) =>
        this.instanceDestroy(ctx, a.uuid, a.events),
      instance_step: (ctx, a: StepArgs) => this.instanceStep(ctx, a),
      action_event_start: (ctx, a: EventArgs) => this.eventStart(ctx, a),
      action_event_finish: (ctx, a: EventFinishArgs) => this.eventFinish(ctx, a),
      action_finish: (ctx, a: { instanceUuid: string }) =>
        finishAction(this.#d.db.kysely, a.instanceUuid, ctx.requestId),
      instance_fault_create: (ctx, a: FaultArgs) => addFault(this.#d.db.kysely, a),
      instance_info_cache_get: async (ctx, a: { instanceUuid: string }) =>
        (await networkInfoOf(this.#d.db.kysely, [a.instanceUuid])).get(a.instanceUuid) ?? [],
      instance_info_cache_update: (ctx, a: InfoCacheUpdateArgs) => this.infoCacheUpdate(a),
      instance_projects: async (ctx, a: { uuids: readonly string[] }): Promise<InstanceProject[]> =>
        (await instancesByUuids(this.#d.db.kysely, a.uuids)).map((i) => ({
          uuid: i.uuid,
          projectId: i.projectId,
        })),
      compute_node_update: (ctx, a: { report: ComputeNodeReport }) => this.computeNodeUpdate(a.report),
      record_build_result: (ctx, a: BuildResultArgs) =>
        recordBuildResult(this.#d.db.kysely, a.host, a.node, a.failed),
      service_create: (ctx, a: ServiceRef) => this.serviceCreate(a),
      service_heartbeat: (ctx, a: ServiceRef) => this.serviceHeartbeat(a),
    }
  }

  // ---- the build ----

  /**
   * Schedules the instances and casts each to its host. Every failure here
   * (no valid host, attempts used up, the scheduler unreachable) ends the
   * instances in ERROR with a fault that says why; an instance deleted
   * meanwhile is left alone.
   */
  async buildInstances(ctx: RequestContext, req: BuildRequest): Promise<void> {
    const instances = await this.#stillBuilding(req.instanceUuids)
    if (instances.length === 0) return
    for (const i of instances)
      await this.#events(ctx, i.uuid, [
        { op: 'start', event: BuildEvent.CONDUCTOR },
        { op: 'start', event: BuildEvent.SCHEDULE },
      ])
    try {
      if (req.attempt > this.#d.config.compute.maxAttempts)
        throw maxRetriesExceeded(this.#d.config, instances[0]!, req)
      const { destinations, details } = await this.#schedule(ctx, req, instances)
      for (const [index, instance] of instances.entries()) {
        const dest = destinations[index]!
        await this.#d.compute.buildAndRunInstance(ctx, dest.host, {
          // What the scheduler recorded, without reading the row back.
          instance: {
            ...instance,
            host: dest.host,
            node: dest.node,
            availabilityZone:
              instance.availabilityZone ?? dest.zone ?? this.#d.config.compute.defaultAvailabilityZone,
          },
          image: req.image,
          node: dest.node,
          request: req,
        })
        await this.#events(ctx, instance.uuid, [
          { op: 'finish', event: BuildEvent.SCHEDULE, result: EventResult.SUCCESS, details },
          { op: 'finish', event: BuildEvent.CONDUCTOR, result: EventResult.SUCCESS },
        ])
      }
    } catch (err) {
      await this.#failBuild(ctx, instances, retryOutcome(req, instances, err))
    }
  }

  async #stillBuilding(uuids: readonly string[]): Promise<Instance[]> {
    const out: Instance[] = []
    for (const uuid of uuids) {
      // Deleted meanwhile: skipped. Any other error (the database still away
      // after the retries) fails the message loudly, not as a silent skip.
      const instance = await getInstance(this.#d.db.kysely, uuid).catch((err: unknown) => {
        if (err instanceof NotFound) return undefined
        throw err
      })
      if (instance && instance.vmState === VmState.BUILDING && instance.taskState === TaskState.SCHEDULING) {
        out.push(instance)
      } else {
        log.info({ instance: uuid }, 'instance no longer waiting for scheduling; skipped')
      }
    }
    return out
  }

  /** Calls the scheduler (which also allocates the chosen hosts); its decision becomes the event's details. */
  async #schedule(ctx: RequestContext, req: BuildRequest, instances: readonly Instance[]) {
    const spec = requestSpec(req, instances)
    try {
      const result = await this.#d.scheduler.selectDestinations(ctx, spec, {
        host: req.placement.requestedHost ?? req.placement.forceHost,
        node: req.placement.requestedNode ?? req.placement.forceNode,
        defaultZone: this.#d.config.compute.defaultAvailabilityZone,
      })
      return { destinations: result.destinations, details: JSON.stringify(result.record) }
    } catch (err) {
      const record = err instanceof NimbusError ? err.detail.decisionRecord : undefined
      const details = record === undefined ? messageOf(err) : JSON.stringify(record)
      for (const i of instances) {
        await this.#events(ctx, i.uuid, [
          {
            op: 'finish',
            event: BuildEvent.SCHEDULE,
            result: EventResult.ERROR,
            details,
            traceback: stackOf(err),
          },
        ])
      }
      throw err
    }
  }

  /** ERROR with a fault for every instance still building; the scheduler's allocations are dropped. */
  async #failBuild(ctx: RequestContext, instances: readonly Instance[], err: unknown): Promise<void> {
    const message = messageOf(err)
    log.warn({ instances: instances.map((i) => i.uuid), reason: message }, 'build failed in the conductor')
    for (const instance of instances) {
      try {
        await this.#d.db.transaction(async (trx) => {
          await updateInstance(
            trx,
            instance.uuid,
            { vmState: VmState.ERROR, taskState: null, host: null, node: null },
            { expectedVmState: [VmState.BUILDING] },
          )
          await addFault(trx, {
            instanceUuid: instance.uuid,
            code: BUILD_FAULT_CODE,
            message,
            details: stackOf(err),
            host: this.#d.host,
          })
        })
        await this.#releasePorts(ctx, instance)
      } catch (e) {
        log.info(
          { instance: instance.uuid, err: messageOf(e) },
          'instance changed while failing its build; left as is',
        )
      }
      await this.#events(ctx, instance.uuid, [
        {
          op: 'finish',
          event: BuildEvent.CONDUCTOR,
          result: EventResult.ERROR,
          details: message,
          traceback: stackOf(err),
        },
      ])
    }
  }

  // ---- object proxy ----

  /** The network service's findings about one instance, into compute's own tables (one transaction). */
  async infoCacheUpdate(a: InfoCacheUpdateArgs): Promise<void> {
    await this.#d.db.kysely.transaction().execute(async (tx) => {
      await saveNetworkInfo(tx, a.instanceUuid, a.networkInfo)
      if (a.securityGroups) await setInstanceSecurityGroups(tx, a.instanceUuid, a.securityGroups)
    })
  }

  instanceUpdate(a: InstanceUpdateArgs): Promise<Instance> {
    return updateInstance(this.#d.db.kysely, a.uuid, a.updates, {
      expectedTaskState: a.expectedTaskState,
      expectedVmState: a.expectedVmState,
    })
  }

  /** The host destroyed the guest: mark the instance deleted and finish the delete action. */
  async instanceDestroy(
    ctx: RequestContext,
    uuid: string,
    events: readonly EventOp[] = [],
  ): Promise<Instance> {
    return this.#d.db.transaction(async (trx) => {
      await recordEvents(trx, {
        instanceUuid: uuid,
        requestId: ctx.requestId,
        host: null,
        ops: events,
      }).catch(() => undefined)
      const deleted = await markInstanceDeleted(trx, uuid)
      await finishAction(trx, uuid, ctx.requestId).catch(() => undefined)
      return deleted
    })
  }

  /**
   * A step transition (see StepArgs): in one transaction when it updates
   * the instance, so the update and its events stand or fall together.
   */
  async instanceStep(ctx: RequestContext, a: StepArgs): Promise<Instance | null> {
    const apply = async (db: Queryable) => {
      let instance: Instance | null = null
      let refused: unknown
      if (a.update) {
        try {
          instance = await updateInstance(db, a.instanceUuid, a.update.updates, {
            expectedTaskState: a.update.expectedTaskState,
            expectedVmState: a.update.expectedVmState,
          })
        } catch (err) {
          refused = err
        }
      }
      const ops = [...(a.events ?? []), ...(refused === undefined ? (a.next ?? []) : [])]
      await recordEvents(db, {
        instanceUuid: a.instanceUuid,
        requestId: ctx.requestId,
        host: a.host,
        ops,
      }).catch((err: unknown) =>
        log.debug({ instance: a.instanceUuid, err: messageOf(err) }, 'events not recorded'),
      )
      return { instance, refused }
    }
    const outcome = a.update
      ? await this.#d.db.transaction((trx) => apply(trx))
      : await apply(this.#d.db.kysely)
    if (outcome.refused !== undefined) throw outcome.refused
    return outcome.instance
  }

  async eventStart(ctx: RequestContext, a: EventArgs): Promise<void> {
    await startEvent(this.#d.db.kysely, { ...a, requestId: ctx.requestId })
  }

  async eventFinish(ctx: RequestContext, a: EventFinishArgs): Promise<void> {
    await finishEvent(this.#d.db.kysely, { ...a, requestId: ctx.requestId })
  }

  async computeNodeUpdate(report: ComputeNodeReport): Promise<void> {
    await upsertComputeNode(this.#d.db.kysely, report)
  }

  async serviceCreate(ref: ServiceRef): Promise<ServiceState> {
    return serviceState(await registerService(this.#d.db.kysely, ref))
  }

  async serviceHeartbeat(ref: ServiceRef): Promise<ServiceState> {
    return serviceState(await recordHeartbeat(this.#d.db.kysely, { host: ref.host, binary: ref.binary }))
  }

  // ---- periodic ----

  /**
   * Moves every instance still in BUILD longer than `build_timeout_s` to
   * ERROR, with a fault naming the last build step that completed, and
   * frees its scheduler allocation and fixed IPs. A host still working on
   * it finds the instance in ERROR at its next step and cleans up.
   */
  async checkBuildTimeouts(ctx: RequestContext): Promise<number> {
    const timeoutS = this.#d.config.compute.buildTimeoutS
    const cutoff = new Date(Date.now() - timeoutS * 1000).toISOString()
    const stuck = await buildsOlderThan(this.#d.db.kysely, cutoff)
    let failed = 0
    for (const instance of stuck) {
      const step = await lastFinishedEvent(this.#d.db.kysely, instance.uuid)
      const message = `Build of instance ${instance.uuid} timed out after ${timeoutS} seconds in task state ${instance.taskState ?? 'none'}; last completed step: ${step ?? 'none'}.`
      try {
        await this.#d.db.transaction(async (trx) => {
          await updateInstance(
            trx,
            instance.uuid,
            { vmState: VmState.ERROR, taskState: null, host: null, node: null },
            { expectedVmState: [VmState.BUILDING] },
          )
          await addFault(trx, {
            instanceUuid: instance.uuid,
            code: BUILD_FAULT_CODE,
            message,
            host: instance.host,
          })
        })
        await this.#releasePorts(ctx, instance)
        failed++
        log.warn(
          { ctx: ctx.requestId, instance: instance.uuid, step },
          'build deadline passed; instance set to ERROR',
        )
      } catch (err) {
        log.debug({ instance: instance.uuid, err: messageOf(err) }, 'instance left BUILD meanwhile')
      }
    }
    return failed
  }

  /**
   * A failed build's ports (a host that died mid-build may have left some);
   * the ones the server was given are unbound, not deleted. Best effort:
   * the instance is in ERROR already and a delete releases them again.
   */
  async #releasePorts(ctx: RequestContext, instance: Instance): Promise<void> {
    const requested = instance.requestedNetworks
    const preserve = Array.isArray(requested) ? requested.flatMap((n) => (n.portId ? [n.portId] : [])) : []
    await this.#d.network
      ?.deallocateForInstance(ctx, { instanceUuid: instance.uuid, projectId: instance.projectId, preserve })
      .catch((err: unknown) =>
        log.warn({ err: messageOf(err), instance: instance.uuid }, 'ports not released'),
      )
  }

  // ---- events, tolerant of a deleted instance ----

  async #events(ctx: RequestContext, instanceUuid: string, ops: readonly EventOp[]): Promise<void> {
    try {
      await recordEvents(this.#d.db.kysely, {
        instanceUuid,
        requestId: ctx.requestId,
        host: this.#d.host,
        ops,
      })
    } catch (err) {
      log.debug({ instance: instanceUuid, err: messageOf(err) }, 'events not recorded')
    }
  }
}

/** What the scheduler needs: the request spec built from the instances, image and placement hints. */
export function requestSpec(req: BuildRequest, instances: readonly Instance[]): RequestSpec {
  const first = instances[0]!
  const f = first.flavor
  return {
    instanceUuids: instances.map((i) => i.uuid),
    projectId: first.projectId,
    flavor: {
      id: f.flavorid,
      name: f.name,
      memoryMb: f.memoryMb,
      vcpus: f.vcpus,
      rootGb: f.rootGb,
      ephemeralGb: f.ephemeralGb,
      swapMb: f.swapMb,
      extraSpecs: f.extraSpecs,
    },
    image: imageSpec(req.image),
    availabilityZone: req.placement.availabilityZone,
    schedulerHints: req.placement.schedulerHints,
    ignoreHosts: req.ignoreHosts,
    forceHost: req.placement.forceHost,
  }
}

function imageSpec(image: ImageMeta) {
  return {
    id: image.id,
    properties: image.properties,
    minRamMb: image.minRamMb,
    minDiskGb: image.minDiskGb,
    sizeBytes: image.sizeBytes,
  }
}

/** Nova's MaxRetriesExceeded, worded as Nova words it. */
function maxRetriesExceeded(config: Config, instance: Instance, req: BuildRequest): NoValidHost {
  const max = config.compute.maxAttempts
  return new NoValidHost(
    `Exceeded maximum number of retries. Exceeded max scheduling attempts ${max} for instance ${instance.uuid}. Last exception: ${req.lastFailure ?? 'unknown'}`,
  )
}

/**
 * A reschedule that finds no other host has run out of hosts, not of luck:
 * Nova reports MaxRetriesExceeded ("Exhausted all hosts ..."); the last
 * build failure is kept so the fault still names the step and why.
 */
function retryOutcome(req: BuildRequest, instances: readonly Instance[], err: unknown): unknown {
  if (req.attempt <= 1 || !(err instanceof NoValidHost) || err.message.startsWith('Exceeded maximum'))
    return err
  return new NoValidHost(
    `Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures for instance ${instances[0]!.uuid}. Last exception: ${req.lastFailure ?? err.message}`,
    err.detail,
  )
}

function serviceState(row: ServiceRow): ServiceState {
  return {
    id: row.id,
    uuid: row.uuid,
    disabled: row.disabled,
    forcedDown: row.forced_down,
    reportCount: row.report_count,
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function stackOf(err: unknown): string | undefined {
  return err instanceof Error ? err.stack : undefined
}
