import { respond, type Route } from '../../../service/http.ts'
import { instancesByUuids } from '../../db/instances.ts'
import type { ExternalEvent } from '../../objects.ts'
import { versionedRoute, type ComputeRequest } from '../common.ts'
import type { ApiDeps } from '../deps.ts'
import { derive } from '../schemas/types.ts'
import { schemaFor, validateBody, type Schema } from '../validation.ts'

/** os-server-external-events: what Neutron (and Cinder, Cyborg) report about instances. */
export function externalEventRoutes(deps: ApiDeps): Route[] {
  return [
    versionedRoute({
      method: 'POST',
      path: '/v2.1/os-server-external-events',
      handler: (req) => createEvents(deps, req),
    }),
  ]
}

const EVENT_STATUSES = ['failed', 'completed', 'in-progress']
/** Events that mean nothing without the volume, power state or request they are about. */
const TAG_REQUIRED: ReadonlySet<string> = new Set([
  'volume-extended',
  'power-update',
  'accelerator-request-bound',
])

const create: Schema = {
  type: 'object',
  properties: {
    events: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        properties: {
          server_uuid: { type: 'string', format: 'uuid' },
          name: {
            type: 'string',
            enum: ['network-changed', 'network-vif-plugged', 'network-vif-unplugged', 'network-vif-deleted'],
          },
          status: { type: 'string', enum: EVENT_STATUSES },
          tag: { type: 'string', maxLength: 255 },
        },
        required: ['server_uuid', 'name'],
        additionalProperties: false,
      },
    },
  },
  required: ['events'],
  additionalProperties: false,
}
/** Each microversion that added an event name. */
const withName = (base: Schema, name: string) =>
  derive(base, (s) => s.properties.events.items.properties.name.enum.push(name))
const v251 = withName(create, 'volume-extended')
const v276 = withName(v251, 'power-update')
const v282 = withName(v276, 'accelerator-request-bound')
const v293 = withName(v282, 'volume-reimaged')
const CREATE_SCHEMAS: readonly [string, string | undefined, Schema][] = [
  ['2.1', '2.50', create],
  ['2.51', '2.75', v251],
  ['2.76', '2.81', v276],
  ['2.82', '2.92', v282],
  ['2.93', undefined, v293],
]

interface BodyEvent {
  server_uuid: string
  name: string
  status?: string
  tag?: string
  code?: number
}

/**
 * Accepts each event whose instance exists and has a host (200), answers
 * the others in place with their code (404 unknown, 400 tag missing, 422
 * no host) and the whole request 207 if any was refused, as Nova does.
 */
async function createEvents(deps: ApiDeps, req: ComputeRequest) {
  validateBody(schemaFor(CREATE_SCHEMAS, req.mv)!, req.body)
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-server-external-events:create', {})
  const body = (req.body as { events: BodyEvent[] }).events
  const instances = new Map(
    (await instancesByUuids(deps.db.kysely, [...new Set(body.map((e) => e.server_uuid))])).map((i) => [
      i.uuid,
      i,
    ]),
  )
  const accepted: ExternalEvent[] = []
  let status = 200
  const refuse = (e: BodyEvent, code: number) => {
    e.status = 'failed'
    e.code = code
    status = 207
  }
  for (const e of body) {
    const instance = instances.get(e.server_uuid)
    if (!instance) refuse(e, 404)
    else if (TAG_REQUIRED.has(e.name) && e.tag === undefined) refuse(e, 400)
    else if (!instance.host) refuse(e, 422)
    else {
      accepted.push({
        instanceUuid: e.server_uuid,
        name: e.name,
        status: e.status ?? 'completed',
        tag: e.tag ?? null,
      })
      e.status = 'completed'
      e.code = 200
    }
  }
  if (accepted.length) {
    const uuids = new Set(accepted.map((e) => e.instanceUuid))
    const targets = [...instances.values()].filter((i) => uuids.has(i.uuid))
    await deps.compute.externalInstanceEvent(ctx, targets, accepted)
  }
  return respond(status, { events: body })
}
