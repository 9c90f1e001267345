/**
 * os-multinic (Nova's `addFixedIp` / `removeFixedIp` server actions, gone
 * from 2.44): one more address on the instance's port on a network, from
 * the network's first subnet that still has one, or an address taken off
 * the port that holds it. Nova casts both to the compute host, so the API
 * answers 202 once the request is valid and a failure is only logged; the
 * server's addresses follow through Neutron's network-changed.
 */
import { logger } from '../../../common/log.ts'
import { NotFound } from '../../../common/errors.ts'
import { callerOf } from '../../../network/authz.ts'
import type { Instance } from '../../objects.ts'
import type { ComputeRequest } from '../common.ts'
import type { ApiDeps } from '../deps.ts'
import { validateBody, type Schema } from '../validation.ts'

const log = logger('compute.api.multinic')

/** The first microversion without the multinic actions. */
const MULTINIC_REMOVED_AT = '2.44'

const addBody: Schema = {
  type: 'object',
  properties: {
    addFixedIp: {
      type: 'object',
      properties: { networkId: { type: ['string', 'integer'], minLength: 1 } },
      required: ['networkId'],
      additionalProperties: false,
    },
  },
  required: ['addFixedIp'],
  additionalProperties: false,
}

const removeBody: Schema = {
  type: 'object',
  properties: {
    removeFixedIp: {
      type: 'object',
      properties: { address: { type: 'string', anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }] } },
      required: ['address'],
      additionalProperties: false,
    },
  },
  required: ['removeFixedIp'],
  additionalProperties: false,
}

interface FixedIp {
  readonly subnet_id: string
  readonly ip_address: string
}

/** What both actions check first (microversion, policy, body); then the caller for Neutron. */
function multinicCaller(deps: ApiDeps, req: ComputeRequest, instance: Instance, rule: string, body: Schema) {
  if (req.mv.atLeast(MULTINIC_REMOVED_AT)) throw new NotFound('The resource could not be found.')
  deps.policy.authorize(req.api.ctx, `os_compute_api:os-multinic:${rule}`, { project_id: instance.projectId })
  validateBody(body, req.body)
  return callerOf(req.api.ctx)
}

export async function addFixedIpAction(
  deps: ApiDeps,
  req: ComputeRequest,
  instance: Instance,
): Promise<void> {
  const caller = multinicCaller(deps, req, instance, 'add', addBody)
  const networkId = String((req.body as { addFixedIp: { networkId: string | number } }).addFixedIp.networkId)
  const core = deps.network.plugin.core
  const subnets = (await core.listSubnets(caller)).filter((s) => s.network_id === networkId)
  const ports = await core.listPorts(caller, {
    device_id: instance.uuid,
    project_id: instance.projectId,
    network_id: networkId,
  })
  for (const port of ports) {
    for (const subnet of subnets) {
      try {
        await core.updatePort(caller, port.id, {
          fixed_ips: [...(port.fixed_ips as FixedIp[]), { subnet_id: subnet.id }],
        })
        return
      } catch (err) {
        log.debug({ err, port: port.id, subnet: subnet.id }, 'no fixed IP from this subnet')
      }
    }
  }
  log.warn({ instance: instance.uuid, network: networkId }, 'addFixedIp: network not found for the instance')
}

export async function removeFixedIpAction(
  deps: ApiDeps,
  req: ComputeRequest,
  instance: Instance,
): Promise<void> {
  const caller = multinicCaller(deps, req, instance, 'remove', removeBody)
  const { address } = (req.body as { removeFixedIp: { address: string } }).removeFixedIp
  const core = deps.network.plugin.core
  for (const port of await core.listPorts(caller, {
    device_id: instance.uuid,
    project_id: instance.projectId,
  })) {
    const fixed = port.fixed_ips as FixedIp[]
    if (!fixed.some((f) => f.ip_address === address)) continue
    await core.updatePort(caller, port.id, { fixed_ips: fixed.filter((f) => f.ip_address !== address) })
    return
  }
  log.warn({ instance: instance.uuid, address }, 'removeFixedIp: the address is not on the instance')
}
