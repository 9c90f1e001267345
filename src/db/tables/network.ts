import type { Selectable } from 'kysely'

/**
 * The Neutron resources. Each table keeps the columns the network service
 * joins, filters or constrains on as real columns, and the rest of the
 * resource as one JSON document (`attrs`): Neutron lets a client filter and
 * sort on almost any attribute, so those run over the visible rows in the
 * service, while integrity rules (one IP per network, one default group per
 * project) are unique keys the database enforces.
 */
interface ResourceColumns {
  id: string
  project_id: string
  /** The resource's API representation, without derived fields (JSON). */
  attrs: string
  created_at: string
  updated_at: string | null
}

export type NetworksTable = ResourceColumns

export interface SubnetsTable extends ResourceColumns {
  network_id: string
}

export interface PortsTable extends ResourceColumns {
  network_id: string
  device_id: string
  /** `binding:host_id`: the host whose data plane wires this port ('' if unbound). */
  host: string
}

/** One row per fixed IP: the primary key refuses a second holder of an address on a network. */
export interface IpAllocationsTable {
  network_id: string
  ip_address: string
  subnet_id: string
  port_id: string
}

export type SecurityGroupsTable = ResourceColumns

export interface SecurityGroupRulesTable extends ResourceColumns {
  security_group_id: string
}

/** The project's `default` group: the primary key makes its creation race-free. */
export interface DefaultSecurityGroupsTable {
  project_id: string
  security_group_id: string
}

export interface FloatingIpsTable extends ResourceColumns {
  floating_network_id: string
  port_id: string | null
}

export type RoutersTable = ResourceColumns

/** Per-project quota overrides; a resource without a row has the default limit. */
export interface NetworkQuotasTable {
  project_id: string
  resource: string
  hard_limit: number
}

/** Neutron's agents: one row per (agent type, host), kept alive by the host's heartbeats. */
export interface NetworkAgentsTable {
  id: string
  host: string
  /** `Linux bridge agent`, `DHCP agent`, `L3 agent`, `Metadata agent`. */
  agent_type: string
  binary: string
  topic: string
  admin_state_up: boolean
  description: string | null
  availability_zone: string | null
  /** The agent's `configurations` (JSON object). */
  configurations: string
  started_at: string
  heartbeat_at: string
  created_at: string
  updated_at: string | null
}

/** A network scheduled to a DHCP agent (`kind` dhcp) or a router to an L3 agent (`kind` l3). */
export interface NetworkAgentBindingsTable {
  agent_id: string
  kind: string
  resource_id: string
  /** False once an admin removed it (the resource is then not scheduled again by itself). */
  bound: boolean
  created_at: string
}

/** The tables of this area, merged into `Schema`. */
export interface NetworkTables {
  networks: NetworksTable
  subnets: SubnetsTable
  ports: PortsTable
  ip_allocations: IpAllocationsTable
  security_groups: SecurityGroupsTable
  security_group_rules: SecurityGroupRulesTable
  default_security_groups: DefaultSecurityGroupsTable
  floating_ips: FloatingIpsTable
  routers: RoutersTable
  network_quotas: NetworkQuotasTable
  network_agents: NetworkAgentsTable
  network_agent_bindings: NetworkAgentBindingsTable
}

export type PortRow = Selectable<PortsTable>
