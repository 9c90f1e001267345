import { Invalid } from '../../../common/errors.ts'
import { respond } from '../../../service/http.ts'
import type { Instance, InstanceUpdates } from '../../objects.ts'
import type { PowerAction } from '../../rpcapi.ts'
import { ServerActionsApi, type UnshelveOptions } from '../../server-actions.ts'
import { normalizeName, type ComputeRequest } from '../common.ts'
import type { ApiDeps } from '../deps.ts'
import { schemaFor, validateBody } from '../validation.ts'
import { showView, type ShowOptions } from '../views/servers.ts'
import {
  changePassword,
  createBackup,
  createImage,
  getConsoleOutput,
  reboot,
  REBUILD_SCHEMAS,
  rescue,
  UNSHELVE_SCHEMAS,
} from './schemas.ts'

/**
 * The HTTP side of the server actions that involve a host (Nova's
 * servers.py, pause_server.py, suspend_server.py, rescue.py, shelve.py,
 * create_backup.py, admin_password.py, console_output.py): validate the
 * body for the microversion, authorize with Nova's policy name, call
 * ServerActionsApi, answer as Nova does. servers.ts dispatches to them by
 * the body's key; a handler's return value is the response (202 without one).
 */
export type ServerActionHandler = (deps: ApiDeps, req: ComputeRequest, instance: Instance) => Promise<unknown>

const owner = (i: Instance) => ({ user_id: i.userId, project_id: i.projectId })
const project = (i: Instance) => ({ project_id: i.projectId })

function powerHandler(
  action: PowerAction,
  policy: string,
  target: (i: Instance) => Record<string, string>,
): ServerActionHandler {
  return async (deps, req, instance) => {
    deps.policy.authorize(req.api.ctx, policy, target(instance))
    await deps.actions.power(req.api.ctx, instance, action)
  }
}

export const SERVER_ACTIONS: Readonly<Record<string, ServerActionHandler>> = {
  reboot: async (deps, req, instance) => {
    validateBody(reboot, req.body)
    deps.policy.authorize(req.api.ctx, 'os_compute_api:servers:reboot', project(instance))
    const type = String(req.body.reboot.type).toUpperCase() as 'SOFT' | 'HARD'
    await deps.actions.reboot(req.api.ctx, instance, type)
  },
  'os-stop': async (deps, req, instance) => {
    deps.policy.authorize(req.api.ctx, 'os_compute_api:servers:stop', project(instance))
    await deps.actions.stop(req.api.ctx, instance)
  },
  'os-start': async (deps, req, instance) => {
    deps.policy.authorize(req.api.ctx, 'os_compute_api:servers:start', project(instance))
    await deps.actions.start(req.api.ctx, instance)
  },
  pause: powerHandler('pause', 'os_compute_api:os-pause-server:pause', owner),
  unpause: powerHandler('unpause', 'os_compute_api:os-pause-server:unpause', project),
  suspend: powerHandler('suspend', 'os_compute_api:os-suspend-server:suspend', owner),
  resume: powerHandler('resume', 'os_compute_api:os-suspend-server:resume', project),
  rescue: rescueAction,
  unrescue: async (deps, req, instance) => {
    deps.policy.authorize(req.api.ctx, 'os_compute_api:os-unrescue', project(instance))
    await deps.actions.unrescue(req.api.ctx, instance)
  },
  rebuild: rebuildAction,
  createImage: createImageAction,
  createBackup: createBackupAction,
  shelve: async (deps, req, instance) => {
    deps.policy.authorize(req.api.ctx, 'os_compute_api:os-shelve:shelve', owner(instance))
    await deps.actions.shelve(req.api.ctx, instance)
  },
  shelveOffload: async (deps, req, instance) => {
    deps.policy.authorize(req.api.ctx, 'os_compute_api:os-shelve:shelve_offload', project(instance))
    await deps.actions.shelveOffload(req.api.ctx, instance)
  },
  unshelve: unshelveAction,
  changePassword: async (deps, req, instance) => {
    validateBody(changePassword, req.body)
    deps.policy.authorize(req.api.ctx, 'os_compute_api:os-admin-password', owner(instance))
    await deps.actions.setAdminPassword(req.api.ctx, instance, req.body.changePassword.adminPass)
  },
  'os-getConsoleOutput': consoleOutputAction,
  restore: async (deps, req, instance) => {
    deps.policy.authorize(req.api.ctx, 'os_compute_api:os-deferred-delete:restore', project(instance))
    await deps.actions.restore(req.api.ctx, instance)
  },
}

/** Rescue answers 200 with the password (Nova kept 200 for compatibility), `{}` when passwords are disabled. */
async function rescueAction(deps: ApiDeps, req: ComputeRequest, instance: Instance) {
  validateBody(rescue, req.body)
  const ctx = req.api.ctx
  const body = (req.body.rescue ?? {}) as { adminPass?: string; rescue_image_ref?: string }
  const password = body.adminPass ?? ServerActionsApi.generatePassword()
  deps.policy.authorize(ctx, 'os_compute_api:os-rescue', owner(instance))
  await deps.actions.rescue(ctx, instance, password, body.rescue_image_ref)
  return respond(200, deps.config.compute.enableInstancePassword ? { adminPass: password } : {})
}

async function rebuildAction(deps: ApiDeps, req: ComputeRequest, instance: Instance) {
  const mv = req.mv
  validateBody(schemaFor(REBUILD_SCHEMAS, mv)!, req.body)
  const ctx = req.api.ctx
  const r = req.body.rebuild as Record<string, any>
  deps.policy.authorize(ctx, 'os_compute_api:servers:rebuild', owner(instance))
  if (mv.atLeast('2.63') && 'trusted_image_certificates' in r)
    deps.policy.authorize(ctx, 'os_compute_api:servers:rebuild:trusted_certs', owner(instance))
  const password = r.adminPass ?? ServerActionsApi.generatePassword()
  const updates: { -readonly [K in keyof InstanceUpdates]: InstanceUpdates[K] } = {}
  if ('name' in r) updates.displayName = normalizeName(r.name)
  if (mv.atLeast('2.19') && 'description' in r) updates.displayDescription = r.description
  if ('metadata' in r) updates.metadata = r.metadata
  if ('accessIPv4' in r) updates.accessIpV4 = r.accessIPv4
  if ('accessIPv6' in r) updates.accessIpV6 = r.accessIPv6
  if ('OS-DCF:diskConfig' in r) updates.autoDiskConfig = r['OS-DCF:diskConfig'] === 'AUTO'
  if (mv.atLeast('2.57') && 'user_data' in r) updates.userData = r.user_data
  if (mv.atLeast('2.90') && 'hostname' in r) updates.hostname = r.hostname
  const updated = await deps.actions.rebuild(ctx, instance, {
    imageRef: r.imageRef,
    adminPassword: password,
    preserveEphemeral: r.preserve_ephemeral === true || String(r.preserve_ephemeral).toLowerCase() === 'true',
    updates,
    keyName: mv.atLeast('2.54') && 'key_name' in r ? (r.key_name as string | null) : undefined,
  })
  // Nova answers with the server as it is after the API's part, in the view of the microversion.
  const full = mv.atLeast('2.75')
  const extras = await deps.compute.extras([updated], { hostStatus: false, tags: mv.atLeast('2.26') })
  const opts: ShowOptions = {
    isAdmin: ctx.isAdmin,
    showExtendedAttrs:
      full && deps.policy.can(ctx, 'os_compute_api:os-extended-server-attributes', project(updated)),
    showExtraSpecs:
      mv.atLeast('2.47') &&
      deps.policy.can(ctx, 'os_compute_api:servers:show:flavor-extra-specs', project(updated)),
    full,
    showServerGroups: mv.atLeast('2.71'),
  }
  const server = showView(req, updated, extras, opts) as Record<string, unknown>
  // Nova's rebuild view leaves the extended user_data out (show_user_data=False); 2.57 adds `user_data`.
  delete server['OS-EXT-SRV-ATTR:user_data']
  if (mv.atLeast('2.54')) server.key_name = updated.keyName
  if (deps.config.compute.enableInstancePassword) server.adminPass = password
  if (mv.atLeast('2.57')) server.user_data = updated.userData
  const self = (server.links as { rel: string; href: string }[])[0]!.href
  return respond(202, { server }, { location: self })
}

/** 2.45 answers `{image_id}`; earlier, an empty 202 with the image's Location. */
async function createImageAction(deps: ApiDeps, req: ComputeRequest, instance: Instance) {
  validateBody(createImage, req.body)
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:servers:create_image', project(instance))
  const entity = req.body.createImage as { name: string; metadata?: Record<string, string> }
  const { imageId, imageApiUrl } = await deps.actions.snapshot(
    ctx,
    instance,
    normalizeName(entity.name),
    entity.metadata ?? {},
    !req.mv.atLeast('2.39'),
  )
  if (req.mv.atLeast('2.45')) return respond(202, { image_id: imageId })
  return respond(202, undefined, { location: `${imageApiUrl}/images/${imageId}` })
}

async function createBackupAction(deps: ApiDeps, req: ComputeRequest, instance: Instance) {
  validateBody(createBackup, req.body)
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-create-backup', project(instance))
  const entity = req.body.createBackup as {
    name: string
    backup_type: string
    rotation: number | string
    metadata?: Record<string, string>
  }
  const rotation = Number(entity.rotation)
  const { imageId, imageApiUrl } = await deps.actions.backup(ctx, instance, {
    name: normalizeName(entity.name),
    backupType: entity.backup_type,
    rotation,
    metadata: entity.metadata ?? {},
  })
  if (req.mv.atLeast('2.45')) return respond(202, { image_id: imageId })
  return respond(202, undefined, rotation > 0 ? { location: `${imageApiUrl}/images/${imageId}` } : {})
}

async function unshelveAction(deps: ApiDeps, req: ComputeRequest, instance: Instance) {
  validateBody(schemaFor(UNSHELVE_SCHEMAS, req.mv)!, req.body)
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-shelve:unshelve', project(instance))
  const body = req.body.unshelve as { availability_zone?: string | null; host?: string } | null
  const options: { -readonly [K in keyof UnshelveOptions]: UnshelveOptions[K] } = {}
  if (body && req.mv.atLeast('2.77') && 'availability_zone' in body)
    options.availabilityZone = body.availability_zone
  if (body && req.mv.atLeast('2.91') && body.host) {
    deps.policy.authorize(ctx, 'os_compute_api:os-shelve:unshelve_to_host', owner(instance))
    options.host = body.host
  }
  await deps.actions.unshelve(ctx, instance, options)
}

/** `length`: an integer or a string of digits; -1 and null mean the whole log. */
async function consoleOutputAction(deps: ApiDeps, req: ComputeRequest, instance: Instance) {
  validateBody(getConsoleOutput, req.body)
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-console-output', project(instance))
  const raw = (req.body['os-getConsoleOutput'] as { length?: number | string | null }).length
  const length = raw === undefined || raw === null ? null : Number(raw)
  if (length !== null && (!Number.isInteger(length) || length < -1))
    throw new Invalid(`Invalid input for field/attribute length. Value: ${raw}.`)
  const output = await deps.actions.consoleOutput(ctx, instance, length)
  return respond(200, { output })
}
