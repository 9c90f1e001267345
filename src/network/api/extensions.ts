import type { Route } from '../../service/http.ts'
import { notFound } from '../errors.ts'

/**
 * The API extensions Nimbus implements, by Neutron alias. Clients
 * (openstacksdk, the CLI, Tempest) decide what to send by this list, so it
 * names only what the API really does.
 */
const EXTENSIONS: readonly [alias: string, name: string, description: string][] = [
  ['agent', 'agent', 'The agent management extension.'],
  ['dhcp_agent_scheduler', 'DHCP Agent Scheduler', 'Schedule networks among dhcp agents'],
  ['l3_agent_scheduler', 'L3 Agent Scheduler', 'Schedule routers among l3 agents'],
  ['allowed-address-pairs', 'Allowed Address Pairs', 'Provides allowed address pairs'],
  ['binding', 'Port Binding', 'Expose port bindings of a virtual port to external application'],
  ['external-net', 'Neutron external network', 'Adds external network attribute to network resource.'],
  [
    'ext-gw-mode',
    'Neutron L3 Configurable external gateway mode',
    'Extension of the router abstraction for specifying whether SNAT should occur on the external gateway',
  ],
  ['extraroute', 'Neutron Extra Route', 'Extra routes configuration for L3 router'],
  [
    'fip-port-details',
    'Floating IP Port Details Extension',
    'Add port_details attribute to Floating IP resource',
  ],
  [
    'ip-substring-filtering',
    'IP address substring filtering',
    'Provides IP address substring filtering when listing ports',
  ],
  ['net-mtu', 'Network MTU', 'Provides MTU attribute for a network resource.'],
  ['net-mtu-writable', 'Network MTU (writable)', 'Provides a writable MTU attribute for a network resource.'],
  ['pagination', 'Pagination support', 'Extension that indicates that pagination is enabled.'],
  ['port-security', 'Port Security', 'Provides port security'],
  ['project-id', 'project_id field enabled', 'Extension that indicates that project_id field is enabled.'],
  ['provider', 'Provider Network', 'Expose mapping of virtual networks to physical networks'],
  ['quotas', 'Quota management support', 'Expose functions for quotas management per project'],
  [
    'quota_details',
    'Quota details management support',
    'Expose functions for quotas usage statistics per project',
  ],
  [
    'router',
    'Neutron L3 Router',
    'Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.',
  ],
  ['security-group', 'security-group', 'The security groups extension.'],
  ['sorting', 'Sorting support', 'Extension that indicates that sorting is enabled.'],
  [
    'standard-attr-description',
    'standard-attr-description',
    'Extension to add descriptions to standard attributes',
  ],
  [
    'standard-attr-revisions',
    'Resource revision numbers',
    'This extension will display the revision number of neutron resources.',
  ],
  [
    'standard-attr-timestamp',
    'Resource timestamps',
    'Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.',
  ],
  [
    'stateful-security-group',
    'Stateful security group',
    'Indicates if the security group is stateful or not',
  ],
]

const UPDATED = '2017-01-01T10:00:00-00:00'

function render(alias: string, name: string, description: string) {
  return { alias, name, description, updated: UPDATED, links: [] }
}

export const extensionRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/v2.0/extensions',
    handler: () => ({ extensions: EXTENSIONS.map(([a, n, d]) => render(a, n, d)) }),
  },
  {
    method: 'GET',
    path: '/v2.0/extensions/:alias',
    handler: (req) => {
      const found = EXTENSIONS.find(([a]) => a === req.params.alias)
      if (!found)
        throw notFound('HTTPNotFound', `Extension with alias ${String(req.params.alias)} does not exist`)
      return { extension: render(...found) }
    },
  },
]

export function hasExtension(alias: string): boolean {
  return EXTENSIONS.some(([a]) => a === alias)
}
