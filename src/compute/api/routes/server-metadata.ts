import { Conflict, Invalid, NotFound } from '../../../common/errors.ts'
import { respond, type Route } from '../../../service/http.ts'
import { InstanceIsLocked, MetadataLimitExceeded } from '../../api.ts'
import { UnexpectedTaskState, updateInstance } from '../../db/instances.ts'
import type { Instance } from '../../objects.ts'
import { VmState } from '../../states.ts'
import { versionedRoute, type ComputeRequest } from '../common.ts'
import { instanceForCaller, type ApiDeps } from '../deps.ts'
import { derive, metadata as metadataSchema } from '../schemas/types.ts'
import { validateBody, type Schema } from '../validation.ts'

/**
 * Server metadata (Nova's ServerMetadataController): list, merge (POST),
 * replace (PUT), and one key at a time. Changes need the server in a
 * settled state (active, paused, suspended or stopped, no task) and not
 * locked (admins excepted), and the result must fit `metadata_items`.
 */
export function serverMetadataRoutes(deps: ApiDeps): Route[] {
  const r = (method: Route['method'], path: string, handler: (req: ComputeRequest) => unknown) =>
    versionedRoute({ method, path, handler })
  const base = '/v2.1/servers/:server_id/metadata'
  return [
    r('GET', base, (req) => listMetadata(deps, req)),
    r('POST', base, (req) => changeMetadata(deps, req, 'create')),
    r('PUT', base, (req) => changeMetadata(deps, req, 'update_all')),
    r('GET', `${base}/:key`, (req) => showItem(deps, req)),
    r('PUT', `${base}/:key`, (req) => updateItem(deps, req)),
    r('DELETE', `${base}/:key`, (req) => deleteItem(deps, req)),
  ]
}

/** States in which Nova's compute API changes metadata (`check_instance_state`, task_state None). */
const CHANGEABLE_STATES: readonly string[] = [
  VmState.ACTIVE,
  VmState.PAUSED,
  VmState.SUSPENDED,
  VmState.STOPPED,
]

const create: Schema = {
  type: 'object',
  properties: { metadata: metadataSchema },
  required: ['metadata'],
  additionalProperties: false,
}
const updateOne: Schema = {
  type: 'object',
  properties: {
    meta: derive(metadataSchema, (s) => Object.assign(s, { minProperties: 1, maxProperties: 1 })),
  },
  required: ['meta'],
  additionalProperties: false,
}

function authorize(deps: ApiDeps, req: ComputeRequest, instance: Instance, rule: string): void {
  deps.policy.authorize(req.api.ctx, `os_compute_api:server-metadata:${rule}`, {
    project_id: instance.projectId,
  })
}

async function listMetadata(deps: ApiDeps, req: ComputeRequest) {
  const instance = await instanceForCaller(deps, req.api.ctx, req.params.server_id!)
  authorize(deps, req, instance, 'index')
  return { metadata: instance.metadata }
}

async function showItem(deps: ApiDeps, req: ComputeRequest) {
  const instance = await instanceForCaller(deps, req.api.ctx, req.params.server_id!)
  authorize(deps, req, instance, 'show')
  const key = req.params.key!
  if (!Object.hasOwn(instance.metadata, key)) throw new NotFound('Metadata item was not found')
  return { meta: { [key]: instance.metadata[key] } }
}

/** POST merges into the current metadata; PUT replaces it. */
async function changeMetadata(deps: ApiDeps, req: ComputeRequest, rule: 'create' | 'update_all') {
  validateBody(create, req.body)
  const instance = await instanceForCaller(deps, req.api.ctx, req.params.server_id!)
  authorize(deps, req, instance, rule)
  const given = (req.body as { metadata: Record<string, string> }).metadata
  const next = rule === 'create' ? { ...instance.metadata, ...given } : given
  await saveMetadata(deps, req, instance, next, 'update metadata')
  return { metadata: next }
}

async function updateItem(deps: ApiDeps, req: ComputeRequest) {
  validateBody(updateOne, req.body)
  const instance = await instanceForCaller(deps, req.api.ctx, req.params.server_id!)
  authorize(deps, req, instance, 'update')
  const meta = (req.body as { meta: Record<string, string> }).meta
  const key = req.params.key!
  if (!Object.hasOwn(meta, key)) throw new Invalid('Request body and URI mismatch')
  await saveMetadata(deps, req, instance, { ...instance.metadata, ...meta }, 'update metadata')
  return { meta }
}

async function deleteItem(deps: ApiDeps, req: ComputeRequest) {
  const instance = await instanceForCaller(deps, req.api.ctx, req.params.server_id!)
  authorize(deps, req, instance, 'delete')
  const key = req.params.key!
  if (!Object.hasOwn(instance.metadata, key)) throw new NotFound('Metadata item was not found')
  const { [key]: _removed, ...rest } = instance.metadata
  await saveMetadata(deps, req, instance, rest, 'delete metadata', false)
  return respond(204)
}

/**
 * Nova's `update_instance_metadata` / `delete_instance_metadata`: the lock,
 * the state, the `metadata_items` limit (403), then one guarded UPDATE so a
 * task that started meanwhile wins.
 */
async function saveMetadata(
  deps: ApiDeps,
  req: ComputeRequest,
  instance: Instance,
  next: Readonly<Record<string, string>>,
  action: string,
  checkQuota = true,
): Promise<void> {
  const ctx = req.api.ctx
  if (instance.lockedBy !== null && !ctx.isAdmin) {
    throw new InstanceIsLocked(`Instance ${instance.uuid} is locked`)
  }
  checkState(instance, action)
  if (checkQuota) {
    const allowed = (await deps.quotas.limits(deps.db.kysely, instance.projectId)).metadata_items
    if (allowed >= 0 && Object.keys(next).length > allowed) {
      throw new MetadataLimitExceeded(`Maximum number of metadata items exceeds ${allowed}`)
    }
  }
  try {
    await updateInstance(
      deps.db.kysely,
      instance.uuid,
      { metadata: next },
      { expectedTaskState: [null], expectedVmState: CHANGEABLE_STATES },
    )
  } catch (err) {
    if (!(err instanceof UnexpectedTaskState)) throw err
    checkState(await instanceForCaller(deps, ctx, instance.uuid), action)
    throw err
  }
}

function checkState(instance: Instance, action: string): void {
  if (!CHANGEABLE_STATES.includes(instance.vmState)) {
    throw new Conflict(
      `Cannot '${action}' instance ${instance.uuid} while it is in vm_state ${instance.vmState}`,
    )
  }
  if (instance.taskState !== null) {
    throw new Conflict(
      `Cannot '${action}' instance ${instance.uuid} while it is in task_state ${instance.taskState}`,
    )
  }
}
