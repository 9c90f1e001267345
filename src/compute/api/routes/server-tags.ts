import { Conflict, Invalid, NotFound } from '../../../common/errors.ts'
import { respond, type Route } from '../../../service/http.ts'
import { tagsOf } from '../../db/instances.ts'
import type { Instance } from '../../objects.ts'
import { VmState } from '../../states.ts'
import { apiRoot, versionedRoute, type ComputeRequest } from '../common.ts'
import { instanceForCaller, type ApiDeps } from '../deps.ts'
import { tag as tagSchema, TAGS_PER_SERVER_MAX } from '../schemas/types.ts'
import { validateBody, type Schema } from '../validation.ts'

/** Server tags (2.26): list, replace, add, check, remove. */
export function serverTagRoutes(deps: ApiDeps): Route[] {
  const r = (method: Route['method'], path: string, handler: (req: ComputeRequest) => unknown) =>
    versionedRoute({ method, path, handler })
  return [
    r('GET', '/v2.1/servers/:server_id/tags', (req) => withTags(deps, req, listTags)),
    r('PUT', '/v2.1/servers/:server_id/tags', (req) => withTags(deps, req, replaceTags)),
    r('DELETE', '/v2.1/servers/:server_id/tags', (req) => withTags(deps, req, deleteAllTags)),
    r('GET', '/v2.1/servers/:server_id/tags/:tag', (req) => withTags(deps, req, checkTag)),
    r('PUT', '/v2.1/servers/:server_id/tags/:tag', (req) => withTags(deps, req, addTag)),
    r('DELETE', '/v2.1/servers/:server_id/tags/:tag', (req) => withTags(deps, req, deleteTag)),
  ]
}

const TAGGABLE_STATES: readonly string[] = [
  VmState.ACTIVE,
  VmState.PAUSED,
  VmState.SUSPENDED,
  VmState.STOPPED,
]

const updateAll: Schema = {
  type: 'object',
  properties: { tags: { type: 'array', items: tagSchema, maxItems: TAGS_PER_SERVER_MAX } },
  required: ['tags'],
  additionalProperties: false,
}

type TagHandler = (deps: ApiDeps, req: ComputeRequest, instance: Instance, tags: string[]) => Promise<unknown>

async function withTags(deps: ApiDeps, req: ComputeRequest, handler: TagHandler) {
  // The routes do not exist before 2.26.
  if (!req.mv.atLeast('2.26')) throw new NotFound('The resource could not be found.')
  const instance = await instanceForCaller(deps, req.api.ctx, req.params.server_id!)
  const tags = (await tagsOf(deps.db.kysely, [instance.uuid])).get(instance.uuid) ?? []
  return handler(deps, req, instance, tags)
}

function authorize(deps: ApiDeps, req: ComputeRequest, instance: Instance, rule: string): void {
  deps.policy.authorize(req.api.ctx, `os_compute_api:os-server-tags:${rule}`, {
    project_id: instance.projectId,
  })
}

function checkState(instance: Instance, action: string): void {
  if (!TAGGABLE_STATES.includes(instance.vmState)) {
    throw new Conflict(
      `Cannot '${action}' instance ${instance.uuid} while it is in vm_state ${instance.vmState}`,
    )
  }
}

async function listTags(deps: ApiDeps, req: ComputeRequest, instance: Instance, tags: string[]) {
  authorize(deps, req, instance, 'index')
  return { tags }
}

async function replaceTags(deps: ApiDeps, req: ComputeRequest, instance: Instance) {
  authorize(deps, req, instance, 'update_all')
  validateBody(updateAll, req.body)
  checkState(instance, 'update tags')
  const tags = [...new Set((req.body as { tags: string[] }).tags)]
  await deps.compute.setTags(instance, tags)
  return { tags: [...tags].sort() }
}

async function deleteAllTags(deps: ApiDeps, req: ComputeRequest, instance: Instance) {
  authorize(deps, req, instance, 'delete_all')
  checkState(instance, 'delete tags')
  await deps.compute.setTags(instance, [])
  return respond(204)
}

async function checkTag(deps: ApiDeps, req: ComputeRequest, instance: Instance, tags: string[]) {
  authorize(deps, req, instance, 'show')
  const tag = req.params.tag!
  if (!tags.includes(tag)) throw new NotFound(`Server ${instance.uuid} has no tag '${tag}'`)
  return respond(204)
}

async function addTag(deps: ApiDeps, req: ComputeRequest, instance: Instance, tags: string[]) {
  authorize(deps, req, instance, 'update')
  if (req.body !== undefined && req.body !== null) validateBody({ type: 'null' }, req.body)
  checkState(instance, 'update tag')
  const tag = req.params.tag!
  if (tag.length < 1 || tag.length > 60 || /[,/]/.test(tag)) {
    throw new Invalid(
      `Tag '${tag}' is invalid. It must be a non empty string without characters '/' and ','. Validation error message: '${tag}' does not match '^[^,/]*$'`,
    )
  }
  if (tags.length >= TAGS_PER_SERVER_MAX) {
    throw new Invalid(`The number of tags exceeded the per-server limit ${TAGS_PER_SERVER_MAX}`)
  }
  if (tags.includes(tag)) return respond(204)
  await deps.compute.setTags(instance, [...tags, tag])
  return respond(201, undefined, {
    location: `${apiRoot(req)}/servers/${instance.uuid}/tags/${encodeURIComponent(tag)}`,
  })
}

async function deleteTag(deps: ApiDeps, req: ComputeRequest, instance: Instance, tags: string[]) {
  authorize(deps, req, instance, 'delete')
  checkState(instance, 'delete tag')
  const tag = req.params.tag!
  if (!tags.includes(tag)) throw new NotFound(`Instance ${instance.uuid} has no tag '${tag}'`)
  await deps.compute.setTags(
    instance,
    tags.filter((t) => t !== tag),
  )
  return respond(204)
}
