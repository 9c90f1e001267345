import { NotFound } from '../common/errors.ts'
import { ringLinesFor } from '../common/log.ts'
import { getAction, listEvents } from '../compute/db/actions.ts'
import type { InstanceAction, InstanceActionEvent } from '../compute/objects.ts'
import type { Queryable } from '../db/schema.ts'
import type { DecisionRecord } from '../scheduler/types.ts'

/** The scheduler event whose details hold the decision record (as JSON). */
const SCHEDULER_EVENT = 'scheduler_select_destinations'
/** Hosts of the weighed order an explanation shows (best first). */
export const EXPLAIN_TOP_WEIGHED = 3
/** Log lines of one request an explanation carries at most (the newest). */
export const EXPLAIN_MAX_LOG_LINES = 200
/** Characters of a fault's details (the stack) an explanation keeps. */
export const EXPLAIN_FAULT_DETAILS_MAX_CHARS = 2000

/** One step of the action, with its duration. */
export interface ExplainedStep {
  readonly event: string
  readonly host: string | null
  readonly startTime: string
  readonly finishTime: string | null
  /** null while the step runs. */
  readonly durationMs: number | null
  readonly result: string | null
  /** The event's details: the decision summary for the scheduler, the error (or sub-steps) for a host step. */
  readonly details?: unknown
}

/** One filter's part in the decision. */
export interface ExplainedFilter {
  readonly name: string
  readonly hostsIn: number
  readonly hostsOut: number
  /** host -> why, with the numbers */
  readonly rejected: Readonly<Record<string, string>>
}

export interface ExplainedDecision {
  readonly hostsConsidered: number
  readonly filters: readonly ExplainedFilter[]
  /** The best hosts of the first pick with each weigher's part. */
  readonly topWeighed: readonly {
    readonly host: string
    readonly total: number
    readonly weights: Readonly<Record<string, number>>
  }[]
  readonly chosen: readonly string[]
  /** Set when no host was valid: one summary per rejecting filter. */
  readonly failure?: string | undefined
}

/** The story of one action on one server, as `nimbus explain` and the API extension give it. */
export interface Explanation {
  readonly server: {
    readonly id: string
    readonly name: string
    readonly vmState: string
    readonly taskState: string | null
    readonly host: string | null
  }
  readonly action: {
    readonly action: string
    readonly requestId: string
    readonly userId: string | null
    readonly projectId: string | null
    readonly startTime: string
    readonly finishTime: string | null
    /** Nova's action message: `Error` when a step failed. */
    readonly message: string | null
    /** The API's microversion for it, from the API's own log line (when the log still has it). */
    readonly microversion?: string | undefined
  }
  /** Every step in time order. */
  readonly steps: readonly ExplainedStep[]
  /** The scheduler's decision, when this action was scheduled. */
  readonly decision?: ExplainedDecision | undefined
  /**
   * The step where the action went wrong: the earliest failed step that does
   * not enclose another failed one (a build's wrapper event fails with its
   * spawn; a reschedule's final "no host left" follows the first failure).
   */
  readonly failedStep?: string | undefined
  /** The server's fault recorded during this action, if any. */
  readonly fault?:
    | {
        readonly code: number
        readonly message: string
        readonly host: string | null
        readonly createdAt: string
        readonly details?: string | undefined
      }
    | undefined
  /** Where the log lines come from: this process's log ring, or none (another process has them). */
  readonly logSource: 'ring' | 'none'
  /** The log lines carrying the request id, oldest first (parsed JSON). */
  readonly logs: readonly Record<string, unknown>[]
}

export interface ExplainOptions {
  /** A request id (`req-...`); default: the server's newest action. */
  readonly requestId?: string | undefined
  /** Read this process's log ring (true where the API runs in the same process as the services). */
  readonly withRing?: boolean | undefined
}

/** The id of the server that has an action with `requestId`; NotFound if none. */
export async function serverOfRequest(db: Queryable, requestId: string): Promise<string> {
  const row = await db
    .selectFrom('instance_actions')
    .select('instance_uuid')
    .where('request_id', '=', requestId)
    .orderBy('start_time', 'desc')
    .executeTakeFirst()
  if (!row) throw new NotFound(`No server action has request id ${requestId}.`)
  return row.instance_uuid
}

/** The server's id from an id or a unique name (deleted servers included: their story still exists). */
export async function resolveServer(db: Queryable, nameOrId: string): Promise<string> {
  const byId = await db.selectFrom('instances').select('uuid').where('uuid', '=', nameOrId).executeTakeFirst()
  if (byId) return byId.uuid
  const byName = await db
    .selectFrom('instances')
    .select(['uuid', 'deleted'])
    .where('display_name', '=', nameOrId)
    .orderBy('created_at', 'desc')
    .execute()
  const live = byName.filter((r) => !r.deleted)
  const pick = live.length ? live : byName
  if (pick.length === 0) throw new NotFound(`No server with name or ID '${nameOrId}' exists.`)
  if (pick.length > 1)
    throw new NotFound(
      `More than one server exists with the name '${nameOrId}': use its id (${pick.map((r) => r.uuid).join(', ')}).`,
    )
  return pick[0]!.uuid
}

/**
 * The story of one action of a server from what the services recorded: the
 * action row (who, when), its events in time order with durations (the
 * scheduler's decision record is the details of its event, a failed host
 * step carries the error), the fault it left, and the log lines carrying its
 * request id when this process has them.
 */
export async function explainAction(
  db: Queryable,
  serverId: string,
  opts: ExplainOptions = {},
): Promise<Explanation> {
  const server = await db
    .selectFrom('instances')
    .select(['uuid', 'display_name', 'vm_state', 'task_state', 'host'])
    .where('uuid', '=', serverId)
    .executeTakeFirst()
  if (!server) throw new NotFound(`Instance ${serverId} could not be found.`)
  const action = await pickAction(db, serverId, opts.requestId)
  const events = await listEvents(db, action.id)
  const steps = events.map(stepOf).sort(
    // Time order; a step that encloses others (started with them, ends later) first.
    (a, b) =>
      a.startTime.localeCompare(b.startTime) || (b.finishTime ?? '~').localeCompare(a.finishTime ?? '~'),
  )
  const schedulerEvent = events.filter((e) => e.event === SCHEDULER_EVENT).at(-1)
  const decision = schedulerEvent ? decisionOf(schedulerEvent.details) : undefined
  const failed = rootFailure(steps)
  const fault = await db
    .selectFrom('instance_faults')
    .selectAll()
    .where('instance_uuid', '=', serverId)
    .where('created_at', '>=', action.startTime)
    .orderBy('created_at', 'desc')
    .executeTakeFirst()
  const logs = opts.withRing ? ringLinesFor(action.requestId).slice(-EXPLAIN_MAX_LOG_LINES) : []
  const microversion = logs.map((l) => l.microversion).find((v): v is string => typeof v === 'string')
  return {
    server: {
      id: server.uuid,
      name: server.display_name,
      vmState: server.vm_state,
      taskState: server.task_state,
      host: server.host,
    },
    action: {
      action: action.action,
      requestId: action.requestId,
      userId: action.userId,
      projectId: action.projectId,
      startTime: action.startTime,
      finishTime: action.finishTime,
      message: action.message,
      ...(microversion ? { microversion } : {}),
    },
    steps,
    ...(decision ? { decision } : {}),
    ...(failed ? { failedStep: failed.event } : {}),
    ...(fault
      ? {
          fault: {
            code: fault.code,
            message: fault.message,
            host: fault.host,
            createdAt: fault.created_at,
            ...(fault.details ? { details: fault.details.slice(0, EXPLAIN_FAULT_DETAILS_MAX_CHARS) } : {}),
          },
        }
      : {}),
    logSource: opts.withRing ? 'ring' : 'none',
    logs,
  }
}

function rootFailure(steps: readonly ExplainedStep[]): ExplainedStep | undefined {
  const end = (s: ExplainedStep) => (s.finishTime ? Date.parse(s.finishTime) : Infinity)
  const start = (s: ExplainedStep) => Date.parse(s.startTime)
  const encloses = (outer: ExplainedStep, inner: ExplainedStep) =>
    outer !== inner &&
    start(outer) <= start(inner) &&
    end(outer) >= end(inner) &&
    (start(outer) < start(inner) || end(outer) > end(inner))
  const errors = steps.filter((s) => s.result === 'Error')
  return errors.find((e) => !errors.some((inner) => encloses(e, inner)))
}

async function pickAction(
  db: Queryable,
  serverId: string,
  requestId: string | undefined,
): Promise<InstanceAction> {
  if (requestId) {
    const action = await getAction(db, serverId, requestId)
    if (!action) throw new NotFound(`Action ${requestId} not found`)
    return action
  }
  const row = await db
    .selectFrom('instance_actions')
    .select('request_id')
    .where('instance_uuid', '=', serverId)
    .orderBy('start_time', 'desc')
    .orderBy('id', 'desc')
    .executeTakeFirst()
  if (!row) throw new NotFound(`Server ${serverId} has no recorded action.`)
  return (await getAction(db, serverId, row.request_id))!
}

function stepOf(e: InstanceActionEvent): ExplainedStep {
  const durationMs = e.finishTime ? Math.max(0, Date.parse(e.finishTime) - Date.parse(e.startTime)) : null
  let details: unknown = e.details ?? undefined
  if (e.event === SCHEDULER_EVENT && e.details) {
    // The full record is the decision below; the step keeps its one-line outcome.
    const d = decisionOf(e.details)
    details = d?.failure ?? (d ? `chose ${d.chosen.join(', ')}` : e.details)
  } else if (typeof details === 'string' && details.startsWith('{')) {
    try {
      details = JSON.parse(details)
    } catch {
      // plain text that starts with a brace
    }
  }
  return {
    event: e.event,
    host: e.host,
    startTime: e.startTime,
    finishTime: e.finishTime,
    durationMs,
    result: e.result,
    ...(details === undefined ? {} : { details }),
  }
}

function decisionOf(details: string | null): ExplainedDecision | undefined {
  if (!details?.startsWith('{')) return undefined
  let record: DecisionRecord
  try {
    record = JSON.parse(details) as DecisionRecord
  } catch {
    return undefined
  }
  const firstPick = record.weighed.filter((w) => (w.instanceIndex ?? 0) === 0)
  return {
    hostsConsidered: record.hostsConsideredCount ?? record.hostsConsidered.length,
    filters: record.filters.map((f) => ({
      name: f.name,
      hostsIn: f.hostsInCount ?? f.hostsIn.length,
      hostsOut: f.hostsOutCount ?? f.hostsOut.length,
      rejected: f.reasons,
    })),
    topWeighed: firstPick
      .slice(0, EXPLAIN_TOP_WEIGHED)
      .map((w) => ({ host: w.host, total: w.total, weights: w.weights })),
    chosen: record.chosen,
    ...(record.failure ? { failure: record.failure } : {}),
  }
}
