import { NotFound } from '../../../common/errors.ts'
import { callerOf } from '../../../network/authz.ts'
import type { Doc } from '../../../network/store.ts'
import type { Route } from '../../../service/http.ts'
import { networkProxyRoute, type ComputeRequest } from '../common.ts'
import type { ApiDeps } from '../deps.ts'

/**
 * Nova's os-networks proxy (networks.py) over Neutron: list and show the
 * networks the caller sees, with the two fields Nova still fills (`id`,
 * `label`) and the rest null, as Nova does since nova-network is gone.
 * 404 beyond 2.35; create, delete and the actions answer 410 as in Nova.
 */
export function networkRoutes(deps: ApiDeps): Route[] {
  return [
    networkProxyRoute('GET', '/v2.1/os-networks', 200, (req) => listNetworks(deps, req)),
    networkProxyRoute('GET', '/v2.1/os-networks/:id', 200, (req) => showNetwork(deps, req)),
  ]
}

const FIELDS = [
  'id',
  'cidr',
  'netmask',
  'gateway',
  'broadcast',
  'dns1',
  'dns2',
  'cidr_v6',
  'gateway_v6',
  'label',
  'netmask_v6',
]
const ADMIN_FIELDS = [
  'created_at',
  'updated_at',
  'deleted_at',
  'deleted',
  'injected',
  'bridge',
  'vlan',
  'vpn_public_address',
  'vpn_public_port',
  'vpn_private_address',
  'dhcp_start',
  'project_id',
  'host',
  'bridge_interface',
  'multi_host',
  'priority',
  'rxtx_base',
  'mtu',
  'dhcp_server',
  'enable_dhcp',
  'share_address',
]

/** Nova's `network_dict`. */
function networkView(net: Doc, isAdmin: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const field of isAdmin ? [...FIELDS, ...ADMIN_FIELDS] : FIELDS) {
    out[field] = field === 'id' ? net.id : field === 'label' ? net.name : null
  }
  return out
}

async function listNetworks(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-networks:list')
  const nets = await deps.network.plugin.core.listNetworks(callerOf(ctx))
  return { networks: nets.map((n) => networkView(n, ctx.isAdmin)) }
}

async function showNetwork(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-networks:show')
  let net: Doc
  try {
    net = await deps.network.plugin.core.getNetwork(callerOf(ctx), req.params.id!)
  } catch (err) {
    if (err instanceof NotFound) throw new NotFound('Network not found')
    throw err
  }
  return { network: networkView(net, ctx.isAdmin) }
}
