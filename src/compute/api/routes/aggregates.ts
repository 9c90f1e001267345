import { Conflict, Invalid, NotFound } from '../../../common/errors.ts'
import { getService } from '../../../db/services.ts'
import type { Queryable } from '../../../db/schema.ts'
import { respond, type Route } from '../../../service/http.ts'
import {
  addAggregateHost,
  aggregatesOfHosts,
  AZ_KEY,
  createAggregate,
  deleteAggregate,
  getAggregate,
  listAggregates,
  removeAggregateHost,
  renameAggregate,
  setAggregateMetadata,
  type Aggregate,
} from '../../db/aggregates.ts'
import { Binary } from '../../host-api.ts'
import { naiveTime, normalizeName, validateInteger, versionedRoute, type ComputeRequest } from '../common.ts'
import type { ApiDeps } from '../deps.ts'
import { azName, fqdn, METADATA_KEY_PATTERN, name } from '../schemas/types.ts'
import { pyRepr, validateBody, type Schema } from '../validation.ts'

/**
 * os-aggregates (Nova's AggregateController and AggregateAPI): admin CRUD,
 * the add_host / remove_host / set_metadata actions, and the
 * `availability_zone` metadata that puts an aggregate's hosts in a zone. A
 * host may be in one zone only; a zone change on hosts that run servers is
 * refused, as Nova's `is_safe_to_update_az` does.
 */
export function aggregateRoutes(deps: ApiDeps): Route[] {
  const r = (method: Route['method'], path: string, handler: (req: ComputeRequest) => unknown) =>
    versionedRoute({ method, path, handler })
  return [
    r('GET', '/v2.1/os-aggregates', (req) => listRoute(deps, req)),
    r('POST', '/v2.1/os-aggregates', (req) => createRoute(deps, req)),
    r('GET', '/v2.1/os-aggregates/:aggregate_id', (req) => showRoute(deps, req)),
    r('PUT', '/v2.1/os-aggregates/:aggregate_id', (req) => updateRoute(deps, req)),
    r('DELETE', '/v2.1/os-aggregates/:aggregate_id', (req) => deleteRoute(deps, req)),
    r('POST', '/v2.1/os-aggregates/:aggregate_id/action', (req) => actionRoute(deps, req)),
  ]
}

const availabilityZone: Schema = { oneOf: [azName, { type: 'null' }] }
const createSchema: Schema = {
  type: 'object',
  properties: {
    aggregate: {
      type: 'object',
      properties: { name, availability_zone: availabilityZone },
      required: ['name'],
      additionalProperties: false,
    },
  },
  required: ['aggregate'],
  additionalProperties: false,
}
const updateSchema: Schema = {
  type: 'object',
  properties: {
    aggregate: {
      type: 'object',
      properties: { name, availability_zone: availabilityZone },
      additionalProperties: false,
      anyOf: [{ required: ['name'] }, { required: ['availability_zone'] }],
    },
  },
  required: ['aggregate'],
  additionalProperties: false,
}
const hostAction = (action: string): Schema => ({
  type: 'object',
  properties: {
    [action]: {
      type: 'object',
      properties: { host: fqdn },
      required: ['host'],
      additionalProperties: false,
    },
  },
  required: [action],
  additionalProperties: false,
})
const setMetadataSchema: Schema = {
  type: 'object',
  properties: {
    set_metadata: {
      type: 'object',
      properties: {
        metadata: {
          type: 'object',
          patternProperties: { [METADATA_KEY_PATTERN]: { type: ['string', 'null'], maxLength: 255 } },
          additionalProperties: false,
        },
      },
      required: ['metadata'],
      additionalProperties: false,
    },
  },
  required: ['set_metadata'],
  additionalProperties: false,
}

/** Nova's `_marshall_aggregate`: every field, `uuid` from 2.41. */
function aggregateView(req: ComputeRequest, a: Aggregate, full = true): Record<string, unknown> {
  const view: Record<string, unknown> = {
    id: a.id,
    name: a.name,
    availability_zone: a.metadata[AZ_KEY] ?? null,
    created_at: naiveTime(a.createdAt),
    updated_at: naiveTime(a.updatedAt),
    deleted_at: null,
    deleted: false,
  }
  if (full) {
    view.hosts = a.hosts
    view.metadata = a.metadata
  }
  if (req.mv.atLeast('2.41')) view.uuid = a.uuid
  return view
}

function authorize(deps: ApiDeps, req: ComputeRequest, rule: string): void {
  deps.policy.authorize(req.api.ctx, `os_compute_api:os-aggregates:${rule}`, {})
}

function aggregateId(req: ComputeRequest): number {
  return validateInteger(req.params.aggregate_id!, 'id')
}

async function listRoute(deps: ApiDeps, req: ComputeRequest) {
  authorize(deps, req, 'index')
  return { aggregates: (await listAggregates(deps.db.kysely)).map((a) => aggregateView(req, a)) }
}

async function createRoute(deps: ApiDeps, req: ComputeRequest) {
  validateBody(createSchema, req.body)
  authorize(deps, req, 'create')
  const body = (req.body as { aggregate: { name: string; availability_zone?: string | null } }).aggregate
  const zone = body.availability_zone ? normalizeName(body.availability_zone) : undefined
  const aggregate = await deps.db.transaction((trx) =>
    createAggregate(trx, normalizeName(body.name), zone ? { [AZ_KEY]: zone } : {}),
  )
  return { aggregate: aggregateView(req, aggregate, false) }
}

async function showRoute(deps: ApiDeps, req: ComputeRequest) {
  authorize(deps, req, 'show')
  return { aggregate: aggregateView(req, await getAggregate(deps.db.kysely, aggregateId(req))) }
}

async function updateRoute(deps: ApiDeps, req: ComputeRequest) {
  validateBody(updateSchema, req.body)
  authorize(deps, req, 'update')
  const id = aggregateId(req)
  const updates = (req.body as { aggregate: { name?: string; availability_zone?: string | null } }).aggregate
  const aggregate = await deps.db.transaction(async (trx) => {
    const current = await getAggregate(trx, id)
    if (updates.name !== undefined) await renameAggregate(trx, id, normalizeName(updates.name))
    if ('availability_zone' in updates) {
      const metadata = { [AZ_KEY]: updates.availability_zone ?? null }
      await checkZoneChange(trx, current, metadata, current.hosts, 'Cannot update aggregate', true)
      await setAggregateMetadata(trx, id, metadata)
    }
    return getAggregate(trx, id)
  })
  return { aggregate: aggregateView(req, aggregate) }
}

async function deleteRoute(deps: ApiDeps, req: ComputeRequest) {
  authorize(deps, req, 'delete')
  const id = aggregateId(req)
  await deps.db.transaction(async (trx) => {
    const aggregate = await getAggregate(trx, id)
    if (aggregate.hosts.length > 0) {
      throw new Invalid(`Cannot remove host from aggregate ${id}. Reason: Host aggregate is not empty.`)
    }
    await deleteAggregate(trx, id)
  })
  return respond(200)
}

type ActionHandler = (deps: ApiDeps, req: ComputeRequest) => Promise<Aggregate>
const ACTIONS: Readonly<Record<string, ActionHandler>> = {
  add_host: addHost,
  remove_host: removeHost,
  set_metadata: setMetadata,
}

async function actionRoute(deps: ApiDeps, req: ComputeRequest) {
  const body = req.body as Record<string, unknown> | undefined
  const action = body && typeof body === 'object' ? Object.keys(body)[0] : undefined
  const handler = action === undefined ? undefined : ACTIONS[action]
  if (!handler) throw new Invalid(`There is no such action: ${action ?? ''}`)
  const aggregate = await handler(deps, req)
  return { aggregate: aggregateView(req, aggregate) }
}

async function addHost(deps: ApiDeps, req: ComputeRequest): Promise<Aggregate> {
  validateBody(hostAction('add_host'), req.body)
  authorize(deps, req, 'add_host')
  const id = aggregateId(req)
  const host = (req.body as { add_host: { host: string } }).add_host.host
  return deps.db.transaction(async (trx) => {
    await computeServiceOf(trx, host)
    const aggregate = await getAggregate(trx, id)
    await checkZoneChange(
      trx,
      aggregate,
      aggregate.metadata,
      [host],
      'Cannot add host to aggregate',
      false,
      true,
    )
    await addAggregateHost(trx, id, host)
    return getAggregate(trx, id)
  })
}

async function removeHost(deps: ApiDeps, req: ComputeRequest): Promise<Aggregate> {
  validateBody(hostAction('remove_host'), req.body)
  authorize(deps, req, 'remove_host')
  const id = aggregateId(req)
  const host = (req.body as { remove_host: { host: string } }).remove_host.host
  return deps.db.transaction(async (trx) => {
    try {
      await computeServiceOf(trx, host)
      await getAggregate(trx, id)
      await removeAggregateHost(trx, id, host)
    } catch (err) {
      if (err instanceof NotFound) throw new NotFound(`Cannot remove host ${host} in aggregate ${id}`)
      throw err
    }
    return getAggregate(trx, id)
  })
}

async function setMetadata(deps: ApiDeps, req: ComputeRequest): Promise<Aggregate> {
  validateBody(setMetadataSchema, req.body)
  authorize(deps, req, 'set_metadata')
  const id = aggregateId(req)
  const metadata = (req.body as { set_metadata: { metadata: Record<string, string | null> } }).set_metadata
    .metadata
  return deps.db.transaction(async (trx) => {
    const aggregate = await getAggregate(trx, id)
    await checkZoneChange(
      trx,
      aggregate,
      metadata,
      aggregate.hosts,
      'Cannot update metadata of aggregate',
      true,
    )
    await setAggregateMetadata(trx, id, metadata)
    return getAggregate(trx, id)
  })
}

/** Nova's `_get_service_in_cell_by_host`: the host must run a compute service (exact name). */
async function computeServiceOf(db: Queryable, host: string): Promise<void> {
  try {
    const service = await getService(db, { host, binary: Binary.COMPUTE })
    if (service.host !== host) throw new NotFound('')
  } catch (err) {
    if (err instanceof NotFound) throw new NotFound(`Compute host ${host} could not be found.`)
    throw err
  }
}

/**
 * Nova's `is_safe_to_update_az`: a zone may not be empty, a host may not
 * end up in two zones, and (for updates) a zone may not change under hosts
 * that run servers. add_host answers 409, the others 400, as Nova maps them.
 */
async function checkZoneChange(
  db: Queryable,
  aggregate: Aggregate,
  metadata: Readonly<Record<string, string | null>>,
  hosts: readonly string[],
  prefix: string,
  checkNoInstances: boolean,
  conflict = false,
): Promise<void> {
  if (!(AZ_KEY in metadata)) return
  const fail = (reason: string) => {
    const message = `${prefix} ${aggregate.id}. Reason: ${reason}.`
    throw conflict ? new Conflict(message) : new Invalid(message)
  }
  const zone = metadata[AZ_KEY]
  if (!zone) fail(`Aggregate ${aggregate.name} does not support empty named availability zone`)
  const others = (await aggregatesOfHosts(db, hosts, AZ_KEY))
    .filter((a) => a.id !== aggregate.id && a.metadata[AZ_KEY] !== zone)
    .map((a) => a.metadata[AZ_KEY]!)
  if (others.length) fail(`One or more hosts already in availability zone(s) ${pyRepr(others)}`)
  if (checkNoInstances && aggregate.metadata[AZ_KEY] !== zone && hosts.length) {
    const row = await db
      .selectFrom('instances')
      .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
      .where('deleted', '=', false)
      .where('host', 'in', hosts)
      .executeTakeFirstOrThrow()
    if (Number(row.n) > 0) fail('One or more hosts contain instances in this zone')
  }
}
