import type { RequestContext } from '../../../common/context.ts'
import { Conflict, Invalid, NotFound } from '../../../common/errors.ts'
import { respond, type Route } from '../../../service/http.ts'
import { finishAction, startAction } from '../../db/actions.ts'
import { networkInfoOf } from '../../db/info-caches.ts'
import type { Instance, VifInfo } from '../../objects.ts'
import { VmState } from '../../states.ts'
import { versionedRoute, type ComputeRequest } from '../common.ts'
import { instanceForCaller, type ApiDeps } from '../deps.ts'
import { validateBody, type Schema } from '../validation.ts'

/**
 * Nova's os-interface (attach_interfaces.py): a server's ports as
 * `interfaceAttachment`s, listed and shown from Neutron; attach (a call to
 * the server's host, which gets the port from the network service and
 * hot-plugs it) and detach (a cast: 202 at once).
 */
export function interfaceRoutes(deps: ApiDeps): Route[] {
  const r = (
    method: Route['method'],
    path: string,
    status: number,
    handler: (req: ComputeRequest) => unknown,
  ) => versionedRoute({ method, path, status, handler })
  const base = '/v2.1/servers/:server_id/os-interface'
  return [
    r('GET', base, 200, (req) => listInterfaces(deps, req)),
    r('POST', base, 200, (req) => attachInterface(deps, req)),
    r('GET', `${base}/:port_id`, 200, (req) => showInterface(deps, req)),
    r('DELETE', `${base}/:port_id`, 202, (req) => detachInterface(deps, req)),
  ]
}

/**
 * States Nova's attach/detach_interface accept (`check_instance_state`),
 * with no task running. Not SHELVED_OFFLOADED: Nova attaches those at the
 * API without a host, which Nimbus does not do yet (409).
 */
const INTERFACE_STATES: readonly string[] = [
  VmState.ACTIVE,
  VmState.PAUSED,
  VmState.STOPPED,
  VmState.SUSPENDED,
  VmState.SHELVED,
]

const createSchema: Schema = {
  type: 'object',
  properties: {
    interfaceAttachment: {
      type: 'object',
      properties: {
        net_id: { type: 'string', format: 'uuid' },
        port_id: { type: 'string', format: 'uuid' },
        fixed_ips: {
          type: 'array',
          minItems: 1,
          maxItems: 1,
          items: {
            type: 'object',
            properties: { ip_address: { type: 'string', anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }] } },
            required: ['ip_address'],
            additionalProperties: false,
          },
        },
        tag: { type: 'string', minLength: 1, maxLength: 60, pattern: '^[^,/]*$' },
      },
      additionalProperties: false,
    },
  },
  additionalProperties: false,
}

/** A port as Nova's `_translate_interface_attachment_view` shows it (`tag` from 2.70). */
function attachmentView(req: ComputeRequest, port: Record<string, unknown>, tag: string | null | undefined) {
  const view: Record<string, unknown> = {
    net_id: port.network_id,
    port_id: port.id,
    mac_addr: port.mac_address,
    port_state: port.status,
    fixed_ips: port.fixed_ips ?? null,
  }
  if (req.mv.atLeast('2.70')) view.tag = tag ?? null
  return view
}

async function listInterfaces(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  const instance = await instanceForCaller(deps, ctx, req.params.server_id!)
  deps.policy.authorize(ctx, 'os_compute_api:os-attach-interfaces:list', { project_id: instance.projectId })
  const ports = await deps.network.portsOfInstance(instance)
  const tags = await cachedTags(deps, instance.uuid)
  return { interfaceAttachments: ports.map((p) => attachmentView(req, p, tags.get(p.id))) }
}

async function showInterface(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  const instance = await instanceForCaller(deps, ctx, req.params.server_id!)
  deps.policy.authorize(ctx, 'os_compute_api:os-attach-interfaces:show', { project_id: instance.projectId })
  return { interfaceAttachment: await attachment(deps, req, instance, req.params.port_id!) }
}

async function attachment(deps: ApiDeps, req: ComputeRequest, instance: Instance, portId: string) {
  const port = await deps.network.portForCaller(req.api.ctx, portId)
  if (port.device_id !== instance.uuid || port.project_id !== instance.projectId) {
    throw new NotFound(`Instance ${instance.uuid} does not have a port with id ${portId}`)
  }
  return attachmentView(req, port, (await cachedTags(deps, instance.uuid)).get(portId))
}

async function attachInterface(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  const instance = await instanceForCaller(deps, ctx, req.params.server_id!)
  deps.policy.authorize(ctx, 'os_compute_api:os-attach-interfaces:create', { project_id: instance.projectId })
  if (req.body !== undefined && req.body !== null) validateBody(createSchema, req.body)
  const a = ((req.body ?? {}) as { interfaceAttachment?: Record<string, any> }).interfaceAttachment ?? {}
  const networkId = (a.net_id as string | undefined) || undefined
  const portId = (a.port_id as string | undefined) || undefined
  const address = (a.fixed_ips as { ip_address: string }[] | undefined)?.[0]?.ip_address
  const tag = req.mv.atLeast('2.49') ? (a.tag as string | undefined) : undefined
  if (networkId && portId) throw new Invalid('Must not input both network_id and port_id')
  if (address && !networkId) throw new Invalid('Must input network_id when request IP address')
  checkState(ctx, instance, 'attach_interface')
  await deps.network.checkAttachable(ctx, { networkId, portId, address })
  const vif = await withAction(deps, ctx, instance, 'attach_interface', () =>
    deps.computeRpc.attachInterface(ctx, instance, { networkId, portId, address, tag }),
  )
  return { interfaceAttachment: await attachment(deps, req, instance, vif.portId) }
}

async function detachInterface(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  const instance = await instanceForCaller(deps, ctx, req.params.server_id!)
  deps.policy.authorize(ctx, 'os_compute_api:os-attach-interfaces:delete', { project_id: instance.projectId })
  const portId = req.params.port_id!
  checkState(ctx, instance, 'detach_interface')
  const vifs = await deps.network.networkInfo(instance, await cachedVifs(deps, instance.uuid))
  const vif = vifs.find((v) => v.portId === portId)
  if (!vif) throw new NotFound(`Port ${portId} is not attached`)
  await startAction(deps.db.kysely, actionStart(ctx, instance, 'detach_interface'))
  await deps.computeRpc.detachInterface(ctx, instance, vif)
  return respond(202)
}

/** Nova's lock and `check_instance_state` refusals (409). */
function checkState(ctx: RequestContext, instance: Instance, action: string): void {
  if (instance.lockedBy !== null && !ctx.isAdmin) throw new Conflict(`Instance ${instance.uuid} is locked`)
  if (!INTERFACE_STATES.includes(instance.vmState) || instance.host === null) {
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

/** Runs a host call as an instance action (`os-instance-actions` shows it). */
async function withAction<T>(
  deps: ApiDeps,
  ctx: RequestContext,
  instance: Instance,
  action: string,
  fn: () => Promise<T>,
): Promise<T> {
  await startAction(deps.db.kysely, actionStart(ctx, instance, action))
  try {
    return await fn()
  } finally {
    await finishAction(deps.db.kysely, instance.uuid, ctx.requestId)
  }
}

function actionStart(ctx: RequestContext, instance: Instance, action: string) {
  return {
    instanceUuid: instance.uuid,
    action,
    requestId: ctx.requestId,
    userId: ctx.userId ?? null,
    projectId: ctx.projectId ?? null,
  }
}

async function cachedVifs(deps: ApiDeps, uuid: string): Promise<VifInfo[]> {
  return (await networkInfoOf(deps.db.kysely, [uuid])).get(uuid) ?? []
}

async function cachedTags(deps: ApiDeps, uuid: string): Promise<Map<string, string | null | undefined>> {
  return new Map((await cachedVifs(deps, uuid)).map((v) => [v.portId, v.tag]))
}
