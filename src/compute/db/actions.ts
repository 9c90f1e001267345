import { randomUUID } from 'node:crypto'
import { NotFound, registerErrorClass } from '../../common/errors.ts'
import { paginate } from '../../db/paginate.ts'
import type { Queryable } from '../../db/schema.ts'
import type { InstanceActionEventRow, InstanceActionRow } from '../../db/tables/compute.ts'
import { newId, nowIso } from '../../db/values.ts'
import {
  HostEvent,
  type EventOp,
  type InstanceAction,
  type InstanceActionEvent,
  type InstanceFault,
} from '../objects.ts'

export type { EventOp }

/**
 * Instance actions (one per user request on a server), their events (one
 * per step, with start, finish, result, traceback and details) and instance
 * faults (why a server is in ERROR). Together they are the build timeline
 * `openstack server event list/show` prints and the `fault` of a server.
 */

/** No action for this request on this instance (Nova's InstanceActionNotFound). */
export class InstanceActionNotFound extends NotFound {}
registerErrorClass(InstanceActionNotFound)

export const EventResult = { SUCCESS: 'Success', ERROR: 'Error' } as const

/** Longest fault message kept (Nova's column is 255 characters). */
const FAULT_MESSAGE_MAX_CHARS = 255

function actionFromRow(row: InstanceActionRow): InstanceAction {
  return {
    id: row.id,
    action: row.action,
    instanceUuid: row.instance_uuid,
    requestId: row.request_id,
    userId: row.user_id,
    projectId: row.project_id,
    startTime: row.start_time,
    finishTime: row.finish_time,
    message: row.message,
    updatedAt: row.updated_at,
  }
}

function eventFromRow(row: InstanceActionEventRow): InstanceActionEvent {
  return {
    event: row.event,
    startTime: row.start_time,
    finishTime: row.finish_time,
    result: row.result,
    traceback: row.traceback,
    host: row.host,
    details: row.details,
  }
}

export interface ActionStart {
  readonly instanceUuid: string
  readonly action: string
  readonly requestId: string
  readonly userId: string | null
  readonly projectId: string | null
}

/** Records the start of an action (Nova's `InstanceAction.action_start`). */
export async function startAction(db: Queryable, a: ActionStart): Promise<void> {
  const now = nowIso()
  await db
    .insertInto('instance_actions')
    .values({
      id: newId(),
      action: a.action,
      instance_uuid: a.instanceUuid,
      request_id: a.requestId,
      user_id: a.userId,
      project_id: a.projectId,
      start_time: now,
      finish_time: null,
      message: null,
      created_at: now,
      updated_at: null,
    })
    .execute()
}

/**
 * Marks the action of (instance, request) as just updated and returns its
 * id: one statement does the lookup and the `updated_at` Nova keeps on
 * every event.
 */
async function touchAction(
  db: Queryable,
  instanceUuid: string,
  requestId: string,
  now: string,
): Promise<string> {
  const row = await db
    .updateTable('instance_actions')
    .set({ updated_at: now })
    .where('instance_uuid', '=', instanceUuid)
    .where('request_id', '=', requestId)
    .returning('id')
    .executeTakeFirst()
  if (!row) {
    throw new InstanceActionNotFound(
      `Action for request_id ${requestId} on instance ${instanceUuid} not found`,
    )
  }
  return row.id
}

export interface EventStart {
  readonly instanceUuid: string
  readonly requestId: string
  readonly event: string
  readonly host: string | null
}

/** Records the start of one step of the action `requestId` started. */
export async function startEvent(db: Queryable, e: EventStart): Promise<void> {
  await recordEvents(db, {
    instanceUuid: e.instanceUuid,
    requestId: e.requestId,
    host: e.host,
    ops: [{ op: 'start', event: e.event }],
  })
}

export interface EventFinish {
  readonly instanceUuid: string
  readonly requestId: string
  readonly event: string
  readonly result: 'Success' | 'Error'
  readonly traceback?: string | null | undefined
  readonly details?: string | null | undefined
}

/**
 * Finishes the latest unfinished event of that name (Nova's
 * `event_finish_with_failure`); a failed event marks its action `Error`.
 */
export async function finishEvent(db: Queryable, e: EventFinish): Promise<void> {
  await recordEvents(db, {
    instanceUuid: e.instanceUuid,
    requestId: e.requestId,
    host: null,
    ops: [{ op: 'finish', event: e.event, result: e.result, traceback: e.traceback, details: e.details }],
  })
}

/** Event operations on one action, applied in order. */
export interface EventBatch {
  readonly instanceUuid: string
  readonly requestId: string
  readonly host: string | null
  readonly ops: readonly EventOp[]
}

/**
 * Applies event operations of one action with one action lookup: what a
 * step transition records (a host batches the ends and starts of its steps,
 * each with the time it happened).
 */
export async function recordEvents(db: Queryable, batch: EventBatch): Promise<void> {
  if (batch.ops.length === 0) return
  const now = nowIso()
  const actionId = await touchAction(db, batch.instanceUuid, batch.requestId, now)
  const ops = coalesce(batch.ops)
  for (let i = 0; i < ops.length;) {
    const op = ops[i]!
    if (op.op === 'start') {
      // Consecutive starts go in one statement, in order; a finish in between
      // waits for them (it may finish an event started just before it).
      const starts: StartOp[] = []
      for (let next = ops[i]; next?.op === 'start'; next = ops[++i]) starts.push(next)
      await db
        .insertInto('instance_action_events')
        .values(starts.map((start) => eventRow(actionId, batch.host, start, now)))
        .execute()
      if (starts.some((start) => start.finish?.result === EventResult.ERROR))
        await markActionError(db, actionId)
      continue
    }
    i++
    const at = op.at ?? now
    await db
      .updateTable('instance_action_events')
      .set({
        finish_time: at,
        result: op.result,
        traceback: op.traceback ?? null,
        details: op.details ?? null,
        updated_at: at,
      })
      .where('id', '=', (eb) =>
        eb
          .selectFrom('instance_action_events')
          .select('id')
          .where('action_id', '=', actionId)
          .where('event', '=', op.event)
          .where('finish_time', 'is', null)
          .orderBy('created_at', 'desc')
          .orderBy('id', 'desc')
          .limit(1),
      )
      .execute()
    if (op.result === EventResult.ERROR) await markActionError(db, actionId)
  }
}

/** The row of a started event (finished too, when its finish came in the same batch). */
function eventRow(actionId: string, host: string | null, op: StartOp, now: string) {
  const at = op.at ?? now
  const end = op.finish
  const endAt = end ? (end.at ?? now) : null
  return {
    id: timeOrderedId(),
    action_id: actionId,
    event: op.event,
    start_time: at,
    finish_time: endAt,
    result: end?.result ?? null,
    traceback: end?.traceback ?? null,
    host,
    details: end?.details ?? null,
    created_at: at,
    updated_at: endAt,
  }
}

type FinishOp = Extract<EventOp, { op: 'finish' }>
type StartOp = Extract<EventOp, { op: 'start' }> & { readonly finish?: FinishOp }
type CoalescedOp = FinishOp | StartOp

/**
 * Pairs a start with the finish of the same event later in the batch, so a
 * step that began and ended between two reports is written as one finished
 * row (what the start-then-finish statements would have left).
 */
function coalesce(ops: readonly EventOp[]): CoalescedOp[] {
  const out: CoalescedOp[] = []
  const open = new Map<string, number>()
  for (const op of ops) {
    const startedAt = op.op === 'finish' ? open.get(op.event) : undefined
    if (op.op === 'finish' && startedAt !== undefined) {
      out[startedAt] = { ...(out[startedAt] as Extract<EventOp, { op: 'start' }>), finish: op }
      open.delete(op.event)
      continue
    }
    if (op.op === 'start') open.set(op.event, out.length)
    out.push(op)
  }
  return out
}

/** A failed event marks its action `Error` (Nova's `event_finish_with_failure`). */
async function markActionError(db: Queryable, actionId: string): Promise<void> {
  await db
    .updateTable('instance_actions')
    .set({ message: EventResult.ERROR })
    .where('id', '=', actionId)
    .execute()
}

let lastMs = 0
let sequence = 0
/**
 * A time-ordered uuid (version 7, with a per-process sequence in the
 * random-a bits), so events recorded in the same millisecond keep their
 * order when sorted by id.
 */
export function timeOrderedId(): string {
  const ms = Date.now()
  sequence = ms === lastMs ? (sequence + 1) & 0xfff : 0
  lastMs = ms
  const hex = ms.toString(16).padStart(12, '0')
  // The variant and random-b bits of a v4 uuid (randomUUID draws from a
  // pre-filled entropy buffer: far cheaper than randomBytes per id).
  const tail = randomUUID().slice(19)
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${sequence.toString(16).padStart(3, '0')}-${tail}`
}

/** Marks an action finished (Nova's `action_finish`). */
export async function finishAction(db: Queryable, instanceUuid: string, requestId: string): Promise<void> {
  const now = nowIso()
  await db
    .updateTable('instance_actions')
    .set({ finish_time: now, updated_at: now })
    .where('instance_uuid', '=', instanceUuid)
    .where('request_id', '=', requestId)
    .execute()
}

export interface ActionListOptions {
  readonly limit?: number | undefined
  readonly marker?: string | undefined
  readonly changesSince?: string | undefined
  readonly changesBefore?: string | undefined
}

/**
 * Actions of an instance, newest first (Nova sorts by created_at desc, id
 * desc); the marker is a request id.
 */
export async function listActions(
  db: Queryable,
  instanceUuid: string,
  opts: ActionListOptions = {},
): Promise<{ readonly items: InstanceAction[]; readonly hasMore: boolean }> {
  let markerId: string | undefined
  if (opts.marker !== undefined) {
    const row = await db
      .selectFrom('instance_actions')
      .select('id')
      .where('instance_uuid', '=', instanceUuid)
      .where('request_id', '=', opts.marker)
      .executeTakeFirst()
    if (!row) throw new NotFound(`Marker ${opts.marker} could not be found.`, { markerNotFound: true })
    markerId = row.id
  }
  let q = db.selectFrom('instance_actions').selectAll().where('instance_uuid', '=', instanceUuid)
  if (opts.changesSince) q = q.where('updated_at', '>=', opts.changesSince)
  if (opts.changesBefore) q = q.where('updated_at', '<=', opts.changesBefore)
  const page = await paginate(db, q, {
    table: 'instance_actions',
    sort: [{ column: 'created_at', direction: 'desc' }],
    limit: opts.limit,
    marker: markerId,
    idColumn: 'id',
  })
  return { items: page.items.map(actionFromRow), hasMore: page.hasMore }
}

/** One action of an instance by request id, or undefined. */
export async function getAction(
  db: Queryable,
  instanceUuid: string,
  requestId: string,
): Promise<InstanceAction | undefined> {
  const row = await db
    .selectFrom('instance_actions')
    .selectAll()
    .where('instance_uuid', '=', instanceUuid)
    .where('request_id', '=', requestId)
    .orderBy('created_at', 'desc')
    .executeTakeFirst()
  return row ? actionFromRow(row) : undefined
}

/** The events of an action, oldest first. */
export async function listEvents(db: Queryable, actionId: string): Promise<InstanceActionEvent[]> {
  const rows = await db
    .selectFrom('instance_action_events')
    .selectAll()
    .where('action_id', '=', actionId)
    .orderBy('created_at')
    .orderBy('id')
    .execute()
  return rows.map(eventFromRow)
}

/** The last finished build step of the instance's `create` action (for the BUILD deadline fault). */

/** A build's steps in the order the compute host runs them: several can finish in the same millisecond. */
const BUILD_STEP_ORDER: readonly string[] = [
  HostEvent.BUILD,
  HostEvent.CLAIM,
  HostEvent.NETWORK,
  HostEvent.IMAGE,
  HostEvent.BLOCK_DEVICES,
  HostEvent.SPAWN,
]

export async function lastFinishedEvent(db: Queryable, instanceUuid: string): Promise<string | undefined> {
  const rows = await db
    .selectFrom('instance_action_events')
    .innerJoin('instance_actions', 'instance_actions.id', 'instance_action_events.action_id')
    .select(['instance_action_events.event', 'instance_action_events.finish_time'])
    .where('instance_actions.instance_uuid', '=', instanceUuid)
    .where('instance_actions.action', '=', 'create')
    .where('instance_action_events.result', '=', EventResult.SUCCESS)
    .execute()
  const rank = (event: string) => BUILD_STEP_ORDER.indexOf(event)
  const last = rows.sort((a, b) => {
    const byTime = String(a.finish_time ?? '').localeCompare(String(b.finish_time ?? ''))
    return byTime !== 0 ? byTime : rank(a.event) - rank(b.event)
  })
  return last.at(-1)?.event
}

export interface NewFault {
  readonly instanceUuid: string
  readonly code: number
  readonly message: string
  readonly details?: string | null | undefined
  readonly host?: string | null | undefined
}

/** Records why an instance failed (Nova's `add_instance_fault_from_exc`). */
export async function addFault(db: Queryable, f: NewFault): Promise<void> {
  await db
    .insertInto('instance_faults')
    .values({
      id: newId(),
      instance_uuid: f.instanceUuid,
      code: f.code,
      message: f.message.slice(0, FAULT_MESSAGE_MAX_CHARS),
      details: f.details ?? null,
      host: f.host ?? null,
      created_at: nowIso(),
    })
    .execute()
}

/** The latest fault of each instance that has one. */
export async function latestFaults(
  db: Queryable,
  uuids: readonly string[],
): Promise<Map<string, InstanceFault>> {
  const out = new Map<string, InstanceFault>()
  if (uuids.length === 0) return out
  const rows = await db
    .selectFrom('instance_faults')
    .selectAll()
    .where('instance_uuid', 'in', uuids)
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .execute()
  for (const r of rows) {
    if (out.has(r.instance_uuid)) continue
    out.set(r.instance_uuid, {
      code: r.code,
      message: r.message,
      details: r.details,
      host: r.host,
      createdAt: r.created_at,
    })
  }
  return out
}
