import type { RequestContext } from '../../../common/context.ts'
import { Invalid, NotFound } from '../../../common/errors.ts'
import { MarkerNotFound } from '../../../db/errors.ts'
import { respond, type Route } from '../../../service/http.ts'
import { InstanceIsLocked as InstanceLocked } from '../../api.ts'
import type { Runtime } from '../../../service/runtime.ts'
import {
  listMigrations,
  migrationByIdAndInstance,
  MigrationNotFound,
  type MigrationFilter,
} from '../../db/migrations.ts'
import type { Migration } from '../../migration.ts'
import { checkState, ComputeMoveApi } from '../../move-api.ts'
import { ComputeMoveRpcApi, ConductorMoveRpcApi } from '../../move-rpcapi.ts'
import type { Instance } from '../../objects.ts'
import { TaskState, VmState } from '../../states.ts'
import {
  boolFromString,
  collectionLinks,
  first,
  idFromHref,
  limitAndMarker,
  naiveTime,
  versionedRoute,
  type ComputeRequest,
} from '../common.ts'
import { instanceForCaller, type ApiDeps } from '../deps.ts'
import { adminPassword, boolean, diskConfig, flavorRef, fqdn } from '../schemas/types.ts'
import { parseIsoTime, validateBody, type Schema } from '../validation.ts'

/**
 * Moves as the compute API serves them: the server actions `resize`,
 * `confirmResize`, `revertResize`, `migrate` and `evacuate` (registered in
 * servers.ts's action table), `GET /os-migrations`, and the server
 * migrations sub-resource (`/servers/{id}/migrations`), which in Nova only
 * ever shows live migrations in progress: Nimbus has none, so cold moves
 * answer there exactly as Nova answers for them.
 */

const MOVE_APIS = new WeakMap<ApiDeps, ComputeMoveApi>()

/** The move API of these handler deps (built by `migrationRoutes`). */
export function movesOf(deps: ApiDeps): ComputeMoveApi {
  const api = MOVE_APIS.get(deps)
  if (!api) throw new Error('migrationRoutes(deps, rt) was not called for these deps')
  return api
}

export function migrationRoutes(deps: ApiDeps, rt: Runtime): Route[] {
  MOVE_APIS.set(
    deps,
    new ComputeMoveApi({
      db: deps.db,
      config: deps.config.compute,
      quotas: deps.quotas,
      hosts: deps.hosts,
      conductor: new ConductorMoveRpcApi(rt.transport),
      compute: new ComputeMoveRpcApi(rt.transport),
    }),
  )
  const r = (
    method: Route['method'],
    path: string,
    status: number,
    handler: (req: ComputeRequest) => unknown,
  ) => versionedRoute({ method, path, status, handler })
  return [
    r('GET', '/v2.1/os-migrations', 200, (req) => listAll(deps, req)),
    r('GET', '/v2.1/servers/:server_id/migrations', 200, (req) => listOfServer(deps, req)),
    r('GET', '/v2.1/servers/:server_id/migrations/:migration_id', 200, (req) => showOfServer(deps, req)),
    r('DELETE', '/v2.1/servers/:server_id/migrations/:migration_id', 202, (req) => abortOfServer(deps, req)),
    r('POST', '/v2.1/servers/:server_id/migrations/:migration_id/action', 202, (req) =>
      forceCompleteOfServer(deps, req),
    ),
  ]
}

// ---- server actions ----

const resizeSchema: Schema = {
  type: 'object',
  properties: {
    resize: {
      type: 'object',
      properties: { flavorRef, 'OS-DCF:diskConfig': diskConfig },
      required: ['flavorRef'],
      additionalProperties: false,
    },
  },
  required: ['resize'],
  additionalProperties: false,
}

/** Nova's confirm_resize / revert_resize / pre-2.56 migrate bodies: the key is required, its value is not checked. */
const anyValueAction = (name: string): Schema => ({
  type: 'object',
  properties: { [name]: {} },
  required: [name],
  additionalProperties: false,
})

/** Nova's force_complete body: the value must be null. */
const forceCompleteSchema: Schema = {
  type: 'object',
  properties: { force_complete: { type: 'null' } },
  required: ['force_complete'],
  additionalProperties: false,
}

const migrateV256: Schema = {
  type: 'object',
  properties: {
    migrate: {
      type: ['object', 'null'],
      properties: { host: { ...fqdn, type: ['string', 'null'] } },
      additionalProperties: false,
    },
  },
  required: ['migrate'],
  additionalProperties: false,
}

function evacuateSchema(req: ComputeRequest): Schema {
  const props: Record<string, Schema> = { host: fqdn, adminPass: adminPassword }
  const required: string[] = []
  if (!req.mv.atLeast('2.14')) {
    props.onSharedStorage = boolean
    required.push('onSharedStorage')
  }
  if (req.mv.atLeast('2.29') && !req.mv.atLeast('2.68')) props.force = boolean
  return {
    type: 'object',
    properties: { evacuate: { type: 'object', properties: props, required, additionalProperties: false } },
    required: ['evacuate'],
    additionalProperties: false,
  }
}

function serverTarget(instance: Instance) {
  return { user_id: instance.userId, project_id: instance.projectId }
}

export async function resizeAction(deps: ApiDeps, req: ComputeRequest, instance: Instance): Promise<void> {
  validateBody(resizeSchema, req.body)
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:servers:resize', serverTarget(instance))
  const body = (req.body as { resize: { flavorRef: string | number; 'OS-DCF:diskConfig'?: string } }).resize
  const disk = body['OS-DCF:diskConfig']
  await movesOf(deps).resize(ctx, instance, {
    flavorId: idFromHref(body.flavorRef),
    autoDiskConfig: disk === undefined ? undefined : disk === 'AUTO',
  })
}

export async function confirmResizeAction(deps: ApiDeps, req: ComputeRequest, instance: Instance) {
  validateBody(anyValueAction('confirmResize'), req.body)
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:servers:confirm_resize', { project_id: instance.projectId })
  await movesOf(deps).confirmResize(ctx, instance)
  return respond(204)
}

export async function revertResizeAction(
  deps: ApiDeps,
  req: ComputeRequest,
  instance: Instance,
): Promise<void> {
  validateBody(anyValueAction('revertResize'), req.body)
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:servers:revert_resize', { project_id: instance.projectId })
  await movesOf(deps).revertResize(ctx, instance)
}

export async function migrateAction(deps: ApiDeps, req: ComputeRequest, instance: Instance): Promise<void> {
  // Before 2.56 Nova validates no migrate body at all.
  if (req.mv.atLeast('2.56')) validateBody(migrateV256, req.body)
  const ctx = req.api.ctx
  const body = (req.body as { migrate: { host?: string | null } | null }).migrate
  const host = req.mv.atLeast('2.56') ? (body?.host ?? undefined) : undefined
  deps.policy.authorize(
    ctx,
    host ? 'os_compute_api:os-migrate-server:migrate:host' : 'os_compute_api:os-migrate-server:migrate',
    { project_id: instance.projectId },
  )
  await movesOf(deps).resize(ctx, instance, { host })
}

export async function evacuateAction(deps: ApiDeps, req: ComputeRequest, instance: Instance) {
  validateBody(evacuateSchema(req), req.body)
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-evacuate', serverTarget(instance))
  const body = (req.body as { evacuate: Record<string, unknown> }).evacuate
  const host = body.host as string | undefined
  let force = !req.mv.atLeast('2.29') && host !== undefined
  if (req.mv.atLeast('2.29') && !req.mv.atLeast('2.68')) {
    force = boolFromString(body.force ?? false, true) ?? false
    if (force && !host) throw new Invalid("Can't force to a non-provided destination")
  }
  let adminPass = body.adminPass as string | undefined
  if (!req.mv.atLeast('2.14')) {
    const shared = boolFromString(body.onSharedStorage, true)
    if (shared && adminPass !== undefined)
      throw new Invalid("admin password can't be changed on existing disk")
    if (shared) adminPass = undefined
  }
  if (host !== undefined) {
    const service = await deps.hosts.computeService(host)
    if (!service) throw new NotFound(`Compute host ${host} not found.`)
  }
  if (instance.host === host) throw new Invalid("The target host can't be the same one.")
  const password = await movesOf(deps).evacuate(ctx, instance, { host, force, adminPassword: adminPass })
  // Before 2.14 the password comes back when [compute] enable_instance_password allows (Nova's [api] option).
  return req.mv.atLeast('2.14') || !deps.config.compute.enableInstancePassword
    ? respond(200)
    : respond(200, { adminPass: password })
}

// ---- os-migrations ----

/** Query parameters each microversion accepts (before 2.59 any others are ignored). */
const QUERY_V259 = [
  'hidden',
  'host',
  'instance_uuid',
  'source_compute',
  'status',
  'migration_type',
  'limit',
  'marker',
  'changes-since',
]

async function listAll(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-migrations:index')
  const mv = req.mv
  const allowed = [
    ...QUERY_V259,
    ...(mv.atLeast('2.66') ? ['changes-before'] : []),
    ...(mv.atLeast('2.80') ? ['user_id', 'project_id'] : []),
  ]
  if (mv.atLeast('2.59')) {
    const unknown = Object.keys(req.query).filter((k) => !allowed.includes(k))
    if (unknown.length) {
      throw new Invalid(
        `Additional properties are not allowed ('${unknown.join("', '")}' ${unknown.length > 1 ? 'were' : 'was'} unexpected)`,
      )
    }
  }
  const q = (k: string) => first(req.query, k)
  const time = (k: string) => {
    const v = q(k)
    if (v === undefined) return undefined
    const parsed = parseIsoTime(v)
    if (!parsed)
      throw new Invalid(`Invalid input for query parameters ${k}. Value: ${v}. '${v}' is not a 'date-time'`)
    return parsed
  }
  const hidden = q('hidden')
  const filter: MigrationFilter = {
    status: q('status'),
    host: q('host'),
    sourceCompute: q('source_compute'),
    migrationType: q('migration_type'),
    hidden: hidden === undefined ? undefined : (boolFromString(hidden) ?? false),
    instanceUuid: q('instance_uuid'),
    userId: mv.atLeast('2.80') ? q('user_id') : undefined,
    projectId: mv.atLeast('2.80') ? q('project_id') : undefined,
    changesSince: mv.atLeast('2.59') ? time('changes-since') : undefined,
    changesBefore: mv.atLeast('2.66') ? time('changes-before') : undefined,
  }
  if (filter.changesSince && filter.changesBefore && filter.changesBefore < filter.changesSince) {
    throw new Invalid('The value of changes-since must be less than or equal to changes-before.')
  }
  const page = mv.atLeast('2.59') ? limitAndMarker(req) : undefined
  let result
  try {
    result = await listMigrations(deps.db.kysely, filter, page)
  } catch (err) {
    if (err instanceof MarkerNotFound) throw new Invalid(`Marker ${page?.marker} could not be found.`)
    throw err
  }
  const items = result.items.filter((m) => !m.hidden).map((m) => migrationView(req, m, { links: true }))
  const body: Record<string, unknown> = { migrations: items }
  if (mv.atLeast('2.59')) {
    const links = collectionLinks(req, 'os-migrations', result.items.length, result.items.at(-1)?.uuid)
    if (links.length) body.migrations_links = links
  }
  return body
}

/** Nova's `MigrationsController._output` for one migration, per microversion. */
function migrationView(req: ComputeRequest, m: Migration, opts: { links: boolean }): Record<string, unknown> {
  const mv = req.mv
  const view: Record<string, unknown> = {
    created_at: naiveTime(m.createdAt),
    dest_compute: m.destCompute,
    dest_host: m.destHost,
    dest_node: m.destNode,
    id: m.id,
    instance_uuid: m.instanceUuid,
    new_instance_type_id: m.newInstanceTypeId,
    old_instance_type_id: m.oldInstanceTypeId,
    source_compute: m.sourceCompute,
    source_node: m.sourceNode,
    status: m.status,
    updated_at: naiveTime(m.updatedAt),
  }
  // Links only for live migrations in progress, which Nimbus never runs.
  if (opts.links && mv.atLeast('2.23')) view.migration_type = m.migrationType
  if (mv.atLeast('2.59')) view.uuid = m.uuid
  if (mv.atLeast('2.80')) {
    view.user_id = m.userId
    view.project_id = m.projectId
  }
  return view
}

// ---- /servers/{id}/migrations (live migrations in progress only, as Nova) ----

async function serverFor(deps: ApiDeps, req: ComputeRequest, rule: string): Promise<Instance> {
  if (
    !req.mv.atLeast(rule.endsWith(':delete') ? '2.24' : rule.endsWith(':force_complete') ? '2.22' : '2.23')
  ) {
    throw new NotFound('The resource could not be found.')
  }
  const ctx: RequestContext = req.api.ctx
  const instance = await instanceForCaller(deps, ctx, req.params.server_id!)
  deps.policy.authorize(ctx, rule, { project_id: instance.projectId })
  return instance
}

async function listOfServer(deps: ApiDeps, req: ComputeRequest) {
  await serverFor(deps, req, 'os_compute_api:servers:migrations:index')
  // Nova lists only in-progress live migrations here; cold moves never appear.
  return { migrations: [] }
}

async function migrationOf(deps: ApiDeps, instance: Instance, id: string): Promise<Migration | undefined> {
  if (!/^\d+$/.test(id)) return undefined
  try {
    return await migrationByIdAndInstance(deps.db.kysely, Number(id), instance.uuid)
  } catch (err) {
    if (err instanceof MigrationNotFound) return undefined
    throw err
  }
}

async function showOfServer(deps: ApiDeps, req: ComputeRequest) {
  const instance = await serverFor(deps, req, 'os_compute_api:servers:migrations:show')
  const id = req.params.migration_id!
  const migration = await migrationOf(deps, instance, id)
  if (!migration)
    throw new NotFound(`In-progress live migration ${id} is not found for server ${instance.uuid}.`)
  throw new NotFound(`Migration ${id} for server ${instance.uuid} is not live-migration.`)
}

/** Nova's `live_migrate_abort`: only a live migration in task_state migrating can be aborted. */
async function abortOfServer(deps: ApiDeps, req: ComputeRequest) {
  const instance = await serverFor(deps, req, 'os_compute_api:servers:migrations:delete')
  checkLockForAbort(req.api.ctx, instance)
  checkState(instance, 'abort live migration', Object.values(VmState), [TaskState.MIGRATING])
  const id = req.params.migration_id!
  throw new NotFound(`Migration ${id} not found for instance ${instance.uuid}`)
}

/** Nova's `live_migrate_force_complete`: ACTIVE and migrating, else 409; a cold move is never `running` (400). */
async function forceCompleteOfServer(deps: ApiDeps, req: ComputeRequest) {
  const body = req.body as Record<string, unknown> | undefined
  if (!body || typeof body !== 'object' || !('force_complete' in body)) {
    throw new Invalid(
      `There is no such action: ${body && typeof body === 'object' ? (Object.keys(body)[0] ?? '') : ''}`,
    )
  }
  validateBody(forceCompleteSchema, body)
  const instance = await serverFor(deps, req, 'os_compute_api:servers:migrations:force_complete')
  checkLockForAbort(req.api.ctx, instance)
  checkState(instance, 'force_complete', [VmState.ACTIVE], [TaskState.MIGRATING])
  const id = req.params.migration_id!
  const migration = await migrationOf(deps, instance, id)
  if (!migration) throw new Invalid(`Migration ${id} not found for instance ${instance.uuid}`)
  throw new Invalid(
    `Migration ${id} state of instance ${instance.uuid} is ${migration.status}. Cannot force complete while the migration is in this state.`,
  )
}

function checkLockForAbort(ctx: RequestContext, instance: Instance): void {
  if (instance.lockedBy !== null && !ctx.isAdmin) {
    throw new InstanceLocked(`Instance ${instance.uuid} is locked`)
  }
}
