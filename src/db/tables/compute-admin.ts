import type { Generated, Selectable } from 'kysely'

/**
 * Server groups and host aggregates (Nova's API database), created by
 * migration 0011-compute-groups-aggregates. Column conventions as in
 * schema.ts.
 */

/** A server group: a placement policy for its members. */
export interface ServerGroupsTable {
  uuid: string
  name: string
  project_id: string
  user_id: string
  /** `affinity`, `anti-affinity`, `soft-affinity` or `soft-anti-affinity`. */
  policy: string
  /** JSON object, e.g. `{"max_server_per_host": 2}` (2.64); `{}` when none. */
  rules: string
  created_at: string
  updated_at: string | null
}

/** One server in one group; members whose instance is deleted no longer count. */
export interface ServerGroupMembersTable {
  group_uuid: string
  instance_uuid: string
  created_at: string
}

/** A host aggregate; Nova's API exposes its integer id (and its uuid from 2.41). */
export interface AggregatesTable {
  id: Generated<number>
  uuid: string
  name: string
  created_at: string
  updated_at: string | null
}

export interface AggregateHostsTable {
  aggregate_id: number
  host: string
  created_at: string
}

/** Key/value metadata of an aggregate; `availability_zone` makes its hosts a zone. */
export interface AggregateMetadataTable {
  aggregate_id: number
  key: string
  value: string
  created_at: string
}

export interface ComputeAdminTables {
  server_groups: ServerGroupsTable
  server_group_members: ServerGroupMembersTable
  aggregates: AggregatesTable
  aggregate_hosts: AggregateHostsTable
  aggregate_metadata: AggregateMetadataTable
}

export type ServerGroupRow = Selectable<ServerGroupsTable>
export type AggregateRow = Selectable<AggregatesTable>
