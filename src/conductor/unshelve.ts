import type { Config } from '../common/config.ts'
import type { RequestContext } from '../common/context.ts'
import { NotFound } from '../common/errors.ts'
import { logger } from '../common/log.ts'
import { addFault, EventResult, recordEvents, type EventOp } from '../compute/db/actions.ts'
import { getInstance, updateInstance } from '../compute/db/instances.ts'
import type { ImageMeta } from '../objects/image.ts'
import type { ImageClient } from '../image/client.ts'
import type { Instance } from '../compute/objects.ts'
import type { ComputeRpcApi } from '../compute/rpcapi.ts'
import { TaskState, VmState } from '../compute/states.ts'
import type { Database } from '../db/index.ts'
import type { SchedulerRpcApi } from '../scheduler/rpcapi.ts'
import { requestSpec } from './manager.ts'
import type { UnshelveRequest } from './rpcapi.ts'

const log = logger('conductor.unshelve')

/** Event names of an unshelve in the conductor (Nova's wrap_instance_event and EventReporter names). */
export const UnshelveEvent = {
  CONDUCTOR: 'conductor_unshelve_instance',
  SCHEDULE: 'schedule_instances',
} as const

/** Fault code of an unshelve that found no host (Nova records NoValidHost as 500). */
const UNSHELVE_FAULT_CODE = 500

export interface UnshelveDeps {
  readonly db: Database
  readonly config: Config
  readonly scheduler: SchedulerRpcApi
  readonly compute: ComputeRpcApi
  readonly host: string
  /** The image service's door: the shelved image as the caller sees it. */
  readonly images: ImageClient
}

/**
 * Nova's ComputeTaskManager.unshelve_instance. A SHELVED server is still on
 * its host: the host powers it on. A SHELVED_OFFLOADED one is scheduled
 * like a build (the requested zone and, from 2.91, host), the scheduler
 * records its new host, and that host spawns it from the shelved image. If
 * no host fits, the server stays SHELVED_OFFLOADED with its task cleared
 * and a fault saying why.
 */
export async function unshelveInstance(
  d: UnshelveDeps,
  ctx: RequestContext,
  req: UnshelveRequest,
): Promise<void> {
  const instance = await getInstance(d.db.kysely, req.instanceUuid).catch(() => undefined)
  if (!instance || instance.taskState !== TaskState.UNSHELVING) {
    log.info({ instance: req.instanceUuid }, 'instance no longer waiting for unshelve; skipped')
    return
  }
  await events(d, ctx, instance.uuid, [{ op: 'start', event: UnshelveEvent.CONDUCTOR }])
  try {
    if (instance.vmState === VmState.SHELVED) {
      await d.compute.unshelveInstance(ctx, instance.host!, { instance, imageApiUrl: req.imageApiUrl })
    } else {
      await scheduleAndUnshelve(d, ctx, instance, req)
    }
    await events(d, ctx, instance.uuid, [
      { op: 'finish', event: UnshelveEvent.CONDUCTOR, result: EventResult.SUCCESS },
    ])
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    log.warn({ instance: instance.uuid, reason: message }, 'unshelve failed in the conductor')
    await d.db
      .transaction(async (trx) => {
        await updateInstance(
          trx,
          instance.uuid,
          { taskState: null, host: null, node: null },
          { expectedTaskState: [TaskState.UNSHELVING] },
        )
        await addFault(trx, {
          instanceUuid: instance.uuid,
          code: UNSHELVE_FAULT_CODE,
          message,
          details: err instanceof Error ? err.stack : undefined,
          host: d.host,
        })
      })
      .catch(() => undefined)
    await events(d, ctx, instance.uuid, [
      {
        op: 'finish',
        event: UnshelveEvent.CONDUCTOR,
        result: EventResult.ERROR,
        details: message,
        traceback: err instanceof Error ? err.stack : undefined,
      },
    ])
  }
}

async function scheduleAndUnshelve(
  d: UnshelveDeps,
  ctx: RequestContext,
  instance: Instance,
  req: UnshelveRequest,
): Promise<void> {
  const imageId = instance.systemMetadata.shelved_image_id
  if (!imageId) throw new NotFound(`Instance ${instance.uuid} has no shelved image.`)
  const image: ImageMeta = await d.images.get(ctx, imageId)
  const spec = requestSpec(
    {
      instanceUuids: [instance.uuid],
      image,
      placement: { availabilityZone: req.availabilityZone, schedulerHints: {}, requestedHost: req.host },
      attempt: 1,
      ignoreHosts: [],
    },
    [instance],
  )
  await events(d, ctx, instance.uuid, [{ op: 'start', event: UnshelveEvent.SCHEDULE }])
  let dest
  try {
    const result = await d.scheduler.selectDestinations(ctx, spec, {
      host: req.host,
      defaultZone: d.config.compute.defaultAvailabilityZone,
    })
    dest = result.destinations[0]!
    await events(d, ctx, instance.uuid, [
      {
        op: 'finish',
        event: UnshelveEvent.SCHEDULE,
        result: EventResult.SUCCESS,
        details: JSON.stringify(result.record),
      },
    ])
  } catch (err) {
    await events(d, ctx, instance.uuid, [
      {
        op: 'finish',
        event: UnshelveEvent.SCHEDULE,
        result: EventResult.ERROR,
        details: err instanceof Error ? err.message : String(err),
      },
    ])
    throw err
  }
  await d.compute.unshelveInstance(ctx, dest.host, {
    instance: { ...instance, host: dest.host, node: dest.node },
    node: dest.node,
    image,
    imageApiUrl: req.imageApiUrl,
  })
}

async function events(
  d: UnshelveDeps,
  ctx: RequestContext,
  uuid: string,
  ops: readonly EventOp[],
): Promise<void> {
  await recordEvents(d.db.kysely, { instanceUuid: uuid, requestId: ctx.requestId, host: d.host, ops }).catch(
    (err: unknown) => log.debug({ instance: uuid, err: (err as Error).message }, 'events not recorded'),
  )
}
