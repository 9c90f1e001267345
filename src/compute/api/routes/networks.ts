import { NotFound } from '../../../common/errors.ts'
import { callerOf } from '../../../network/authz.ts'
import type { Doc } from '../../../network/store.ts'
import type { Route } from '../../../service/http.ts'
import { networkProxyRoute, type ComputeRequest } from '../common.ts'
import type { ApiDeps } from '../deps.ts'

/**
 * Nova's os-networks and os-tenant-networks proxies (networks.py,
 * tenant_networks.py) over Neutron: list and show the networks the caller
 * sees, with the fields Nova still fills (`id`, `label`) and the rest null
 * (os-tenant-networks: its historical `cidr` string "None"), as Nova does
 * since nova-network is gone. 404 beyond 2.35.
 */
export function networkRoutes(deps: ApiDeps): Route[] {
  return [
    networkProxyRoute('GET', '/v2.1/os-networks', 200, (req) => listNetworks(deps, req)),
    networkProxyRoute('GET', '/v2.1/os-networks/:id', 200, (req) => showNetwork(deps, req)),
    networkProxyRoute('GET', '/v2.1/os-tenant-networks', 200, (req) => listTenantNetworks(deps, req)),
    networkProxyRoute('GET', '/v2.1/os-tenant-networks/:id', 200, (req) => showTenantNetwork(deps, req)),
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

/**
 * Nova's tenant_networks `network_dict`: `cidr` is the string "None"
 * (Python's `str(None)`), what the API has returned since Neutron.
 */
function tenantNetworkView(net: Doc): Record<string, unknown> {
  return { id: net.id, cidr: 'None', label: net.name }
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
  return { network: networkView(await getNetwork(deps, req), ctx.isAdmin) }
}

async function listTenantNetworks(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-tenant-networks:list')
  const nets = await deps.network.plugin.core.listNetworks(callerOf(ctx))
  return { networks: nets.map(tenantNetworkView) }
}

async function showTenantNetwork(deps: ApiDeps, req: ComputeRequest) {
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-tenant-networks:show')
  return { network: tenantNetworkView(await getNetwork(deps, req)) }
}

/** The network of the path as the caller sees it; Nova's 404 'Network not found' otherwise. */
async function getNetwork(deps: ApiDeps, req: ComputeRequest): Promise<Doc> {
  try {
    return await deps.network.plugin.core.getNetwork(callerOf(req.api.ctx), req.params.id!)
  } catch (err) {
    if (err instanceof NotFound) throw new NotFound('Network not found')
    throw err
  }
}
