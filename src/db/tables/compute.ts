import type { Generated, Insertable, Selectable, Updateable } from 'kysely'

/**
 * The compute area's tables (Nova's main and API databases, flattened into
 * one): instances and what hangs off them (faults, actions and their events,
 * tags, fixed-IP records), flavors (with extra specs and project access),
 * key pairs, per-project quota overrides and compute nodes.
 *
 * Column conventions as in schema.ts: uuids and timestamps are text, JSON
 * documents are text (`toJsonText`/`fromJsonText`), floats (allocation
 * ratios, rxtx_factor) are text so both backends round-trip them exactly.
 */

/** One server. Rows are soft-deleted (`deleted = true`), as Nova does, so `changes-since` lists them. */
export interface InstancesTable {
  /** Insertion order: breaks ties in the default sort (created_at desc, id desc), as in Nova. */
  id: Generated<number>
  uuid: string
  display_name: string
  display_description: string | null
  hostname: string
  project_id: string
  user_id: string
  /** Glance image id; empty for a server booted from a volume. */
  image_ref: string
  /** The flavor as it was at boot (JSON `FlavorSnapshot`): a flavor deleted later does not change the server. */
  flavor: string
  /** The public flavor id, for the `flavor` list filter. */
  flavor_id: string
  memory_mb: number
  vcpus: number
  root_gb: number
  ephemeral_gb: number
  vm_state: string
  task_state: string | null
  power_state: number
  /** The compute host the scheduler allocated the server to: its resources count there while set. */
  host: string | null
  node: string | null
  launched_on: string | null
  availability_zone: string | null
  scheduled_at: string | null
  launched_at: string | null
  terminated_at: string | null
  key_name: string | null
  key_data: string | null
  /** Base64, as the API received it. */
  user_data: string | null
  /** JSON object of string -> string. */
  metadata: string
  /** JSON object of string -> string (Nova's system_metadata: locked_reason, image_* ...). */
  system_metadata: string
  /** `'True'` or `''`, as Nova stores it. */
  config_drive: string
  reservation_id: string
  launch_index: number
  access_ip_v4: string | null
  access_ip_v6: string | null
  auto_disk_config: boolean
  progress: number
  root_device_name: string | null
  kernel_id: string
  ramdisk_id: string
  /** `'owner'` or `'admin'` while locked, else null. */
  locked_by: string | null
  /** JSON array of security group names. */
  security_groups: string
  /** JSON: `'auto'`, `'none'` or an array of `{ network_id?, port_id?, address?, tag? }`. */
  requested_networks: string
  created_at: string
  updated_at: string | null
  deleted_at: string | null
  deleted: Generated<boolean>
}

export interface InstanceTagsTable {
  instance_uuid: string
  tag: string
}

/** Why a server went to ERROR (the last row per instance is the `fault` the API shows). */
export interface InstanceFaultsTable {
  id: string
  instance_uuid: string
  code: number
  message: string
  details: string | null
  host: string | null
  created_at: string
}

/** One user request on one server (`create`, `delete`, ...), keyed for the API by `request_id`. */
export interface InstanceActionsTable {
  id: string
  action: string
  instance_uuid: string
  request_id: string
  user_id: string | null
  project_id: string | null
  start_time: string
  finish_time: string | null
  message: string | null
  created_at: string
  updated_at: string | null
}

/** One step of an action: the build timeline of `openstack server event show`. */
export interface InstanceActionEventsTable {
  id: string
  action_id: string
  event: string
  start_time: string
  finish_time: string | null
  /** `Success`, `Error`, or null while running. */
  result: string | null
  traceback: string | null
  host: string | null
  details: string | null
  created_at: string
  updated_at: string | null
}

export interface FlavorsTable {
  /** Nova's internal flavor id: a sort key of the flavors API. */
  id: Generated<number>
  /** The public id (`flavorRef`). */
  flavorid: string
  name: string
  memory_mb: number
  vcpus: number
  root_gb: number
  ephemeral_gb: number
  swap: number
  rxtx_factor: string
  vcpu_weight: number | null
  is_public: boolean
  disabled: boolean
  description: string | null
  created_at: string
  updated_at: string | null
}

export interface FlavorExtraSpecsTable {
  flavor_id: number
  key: string
  value: string
}

export interface FlavorProjectsTable {
  flavor_id: number
  project_id: string
}

export interface KeyPairsTable {
  id: Generated<number>
  name: string
  user_id: string
  fingerprint: string
  public_key: string
  /** `ssh` or `x509`. */
  type: string
  created_at: string
  updated_at: string | null
}

/** An admin's override of a default quota for a project (user_id `''`) or a user in it. */
export interface QuotasTable {
  project_id: string
  user_id: string
  resource: string
  hard_limit: number
  created_at: string
  updated_at: string | null
}

/** A quota class limit (only the class `default` is applied: it overrides the configured defaults). */
export interface QuotaClassesTable {
  class_name: string
  resource: string
  hard_limit: number
  created_at: string
  updated_at: string | null
}

/** One hypervisor node, written by its host's resource tracker (through the conductor). */
export interface ComputeNodesTable {
  id: Generated<number>
  uuid: string
  host: string
  hypervisor_hostname: string
  vcpus: number
  memory_mb: number
  local_gb: number
  vcpus_used: number
  memory_mb_used: number
  local_gb_used: number
  free_ram_mb: number
  free_disk_gb: number
  current_workload: number
  running_vms: number
  disk_available_least: number
  hypervisor_type: string
  hypervisor_version: number
  /** JSON object (arch, model, vendor, topology, features). */
  cpu_info: string
  host_ip: string
  cpu_allocation_ratio: string
  ram_allocation_ratio: string
  disk_allocation_ratio: string
  reserved_host_memory_mb: number
  reserved_host_disk_gb: number
  /** Consecutive failed builds (reset by a success), for the BuildFailureWeigher. */
  failed_builds: number
  created_at: string
  updated_at: string | null
}

/**
 * Nova's instance_info_caches: an instance's network info (its ports and
 * their addresses) as JSON, kept by the network service.
 */
export interface InstanceInfoCachesTable {
  instance_uuid: string
  /** JSON array of the instance's VIFs (src/compute/objects.ts `VifInfo`). */
  network_info: string
  updated_at: string
}

/** The tables of this area, merged into `Schema`. */
export interface ComputeTables {
  instances: InstancesTable
  instance_tags: InstanceTagsTable
  instance_faults: InstanceFaultsTable
  instance_actions: InstanceActionsTable
  instance_action_events: InstanceActionEventsTable
  flavors: FlavorsTable
  flavor_extra_specs: FlavorExtraSpecsTable
  flavor_projects: FlavorProjectsTable
  key_pairs: KeyPairsTable
  quotas: QuotasTable
  quota_classes: QuotaClassesTable
  compute_nodes: ComputeNodesTable
  instance_info_caches: InstanceInfoCachesTable
}

export type InstanceRow = Selectable<InstancesTable>
export type NewInstanceRow = Insertable<InstancesTable>
export type InstanceUpdateRow = Updateable<InstancesTable>
export type FlavorRow = Selectable<FlavorsTable>
export type KeyPairRow = Selectable<KeyPairsTable>
export type ComputeNodeRow = Selectable<ComputeNodesTable>
export type InstanceActionRow = Selectable<InstanceActionsTable>
export type InstanceActionEventRow = Selectable<InstanceActionEventsTable>
export type InstanceFaultRow = Selectable<InstanceFaultsTable>
