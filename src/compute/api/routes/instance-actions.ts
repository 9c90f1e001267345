import { Invalid, NotFound } from '../../../common/errors.ts'
import type { Route } from '../../../service/http.ts'
import { getAction, listActions, listEvents } from '../../db/actions.ts'
import type { InstanceAction, InstanceActionEvent } from '../../objects.ts'
import {
  collectionLinks,
  limitAndMarker,
  last,
  naiveTime,
  versionedRoute,
  type ComputeRequest,
} from '../common.ts'
import { instanceForCaller, type ApiDeps } from '../deps.ts'
import { derive, singleParam, nonNegativeInteger } from '../schemas/types.ts'
import { parseIsoTime, validateQuery, type Schema } from '../validation.ts'
import { hostId } from '../views/servers.ts'
import { explainAction } from '../../../ops/explain.ts'

/** os-instance-actions: each request on a server and, for show, its steps (the build timeline). */
export function instanceActionRoutes(deps: ApiDeps): Route[] {
  return [
    versionedRoute({
      method: 'GET',
      path: '/v2.1/servers/:server_id/os-instance-actions',
      handler: (req) => listInstanceActions(deps, req),
    }),
    versionedRoute({
      method: 'GET',
      path: '/v2.1/servers/:server_id/os-instance-actions/:request_id',
      handler: (req) => showInstanceAction(deps, req),
    }),
  ]
}

const LIST_QUERY_V258: Schema = {
  type: 'object',
  properties: {
    limit: singleParam(nonNegativeInteger),
    marker: singleParam({ type: 'string' }),
    'changes-since': singleParam({ type: 'string', format: 'date-time' }),
  },
  additionalProperties: false,
}
const LIST_QUERY_V266 = derive(LIST_QUERY_V258, (s) => {
  s.properties['changes-before'] = singleParam({ type: 'string', format: 'date-time' })
})

function actionView(req: ComputeRequest, a: InstanceAction) {
  return {
    action: a.action,
    instance_uuid: a.instanceUuid,
    request_id: a.requestId,
    user_id: a.userId,
    project_id: a.projectId,
    start_time: naiveTime(a.startTime),
    message: a.message,
    ...(req.mv.atLeast('2.58') ? { updated_at: naiveTime(a.updatedAt) } : {}),
  }
}

async function listInstanceActions(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  const paged = req.mv.atLeast('2.58')
  if (paged) validateQuery(req.mv.atLeast('2.66') ? LIST_QUERY_V266 : LIST_QUERY_V258, req.query)
  const instance = await instanceForCaller(deps, ctx, req.params.server_id!, req.mv.atLeast('2.21'))
  deps.policy.authorize(ctx, 'os_compute_api:os-instance-actions:list', { project_id: instance.projectId })
  if (!paged) {
    const all = await listActions(deps.db.kysely, instance.uuid)
    return { instanceActions: all.items.map((a) => actionView(req, a)) }
  }
  const since = optionalTime(last(req.query, 'changes-since'))
  const before = optionalTime(last(req.query, 'changes-before'))
  if (since && before && before < since) {
    throw new Invalid('The value of changes-since must be less than or equal to changes-before.')
  }
  const { limit, marker } = limitAndMarker(req)
  let page
  try {
    page = await listActions(deps.db.kysely, instance.uuid, {
      limit,
      marker,
      changesSince: since,
      changesBefore: before,
    })
  } catch (err) {
    if (err instanceof NotFound && marker !== undefined) throw new Invalid(err.message)
    throw err
  }
  const instanceActions = page.items.map((a) => actionView(req, a))
  const links = collectionLinks(
    req,
    `servers/${instance.uuid}/os-instance-actions`,
    page.items.length,
    page.items.at(-1)?.requestId,
  )
  return links.length ? { instanceActions, links } : { instanceActions }
}

function optionalTime(value: string | undefined): string | undefined {
  return value === undefined ? undefined : parseIsoTime(value)
}

async function showInstanceAction(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  const mv = req.mv
  const instance = await instanceForCaller(deps, ctx, req.params.server_id!, mv.atLeast('2.21'))
  const target = { project_id: instance.projectId }
  deps.policy.authorize(ctx, 'os_compute_api:os-instance-actions:show', target)
  // Nimbus extension (`?explain=true`): the same story `nimbus explain` prints, from the same
  // events, plus this process's log lines of the request. Admin only, as event tracebacks and hosts are.
  const explain = wantsExplanation(req)
  if (explain) deps.policy.authorize(ctx, 'os_compute_api:os-instance-actions:events', target)
  const requestId = req.params.request_id!
  const action = await getAction(deps.db.kysely, instance.uuid, requestId)
  if (!action) throw new NotFound(`Action ${requestId} not found`)
  const view: Record<string, unknown> = actionView(req, action)
  const privileged = deps.policy.can(ctx, 'os_compute_api:os-instance-actions:events', target)
  if (!privileged && !mv.atLeast('2.51')) return { instanceAction: view }
  const show = {
    traceback: privileged,
    host: privileged && mv.atLeast('2.62'),
    hostId: mv.atLeast('2.62'),
    details:
      mv.atLeast('2.84') && deps.policy.can(ctx, 'os_compute_api:os-instance-actions:events:details', target),
  }
  const projectId = action.projectId ?? instance.projectId
  view.events = (await listEvents(deps.db.kysely, action.id)).map((e) => eventView(e, projectId, show))
  if (explain)
    view[EXPLANATION_KEY] = await explainAction(deps.db.kysely, instance.uuid, { requestId, withRing: true })
  return { instanceAction: view }
}

/** Where the extension puts the explanation; Nova clients ignore unknown keys, Tempest never asks for it. */
export const EXPLANATION_KEY = 'nimbus:explanation'

function wantsExplanation(req: ComputeRequest): boolean {
  const value = last(req.query, 'explain')
  if (value === undefined) return false
  if (['true', '1', 'yes'].includes(value.toLowerCase())) return true
  if (['false', '0', 'no'].includes(value.toLowerCase())) return false
  throw new Invalid(`Invalid value '${value}' for explain: use true or false.`)
}

function eventView(
  e: InstanceActionEvent,
  projectId: string,
  show: { traceback: boolean; host: boolean; hostId: boolean; details: boolean },
) {
  const view: Record<string, unknown> = {
    event: e.event,
    start_time: naiveTime(e.startTime),
    finish_time: naiveTime(e.finishTime),
    result: e.result,
  }
  if (show.traceback) view.traceback = e.traceback
  if (show.host) view.host = e.host
  if (show.hostId) view.hostId = hostId(e.host, projectId)
  if (show.details) view.details = e.details
  return view
}
