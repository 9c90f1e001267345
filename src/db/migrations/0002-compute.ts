import type { CreateTableBuilder, Kysely } from 'kysely'
import { serialId, text, timestamps } from './kit.ts'

/** The compute area's tables (see tables/compute.ts). */
export async function up(db: Kysely<any>): Promise<void> {
  await createInstances(db)
  await createInstanceChildren(db)
  await createFlavors(db)
  await createKeyPairsAndQuotas(db)
  await createComputeNodes(db)
  await createNetworkAllocations(db)
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'network_allocations',
    'compute_nodes',
    'quotas',
    'key_pairs',
    'flavor_projects',
    'flavor_extra_specs',
    'flavors',
    'instance_action_events',
    'instance_actions',
    'instance_faults',
    'instance_tags',
    'instances',
  ]) {
    await db.schema.dropTable(table).execute()
  }
}

/** Table builders here add columns by list, so column names are not tracked in the type. */
type Builder = CreateTableBuilder<any, any>

function strings(db: Kysely<any>, t: Builder, names: readonly string[], nullable = false): Builder {
  let out: Builder = t
  for (const name of names) out = out.addColumn(name, text(db), (c) => (nullable ? c : c.notNull()))
  return out
}

function integers(t: Builder, names: readonly string[]): Builder {
  let out: Builder = t
  for (const name of names) out = out.addColumn(name, 'integer', (c) => c.notNull().defaultTo(0))
  return out
}

async function createInstances(db: Kysely<any>): Promise<void> {
  // An integer id as in Nova: it breaks ties in the default sort (created_at desc, id desc).
  let t: Builder = db.schema
    .createTable('instances')
    .$call((b) => serialId(db, b))
    .addColumn('uuid', text(db), (c) => c.notNull().unique())
  t = strings(db, t, [
    'display_name',
    'hostname',
    'project_id',
    'user_id',
    'image_ref',
    'flavor',
    'flavor_id',
  ])
  t = integers(t, [
    'memory_mb',
    'vcpus',
    'root_gb',
    'ephemeral_gb',
    'power_state',
    'launch_index',
    'progress',
  ])
  t = strings(db, t, ['vm_state', 'metadata', 'system_metadata', 'config_drive', 'reservation_id'])
  t = strings(db, t, ['kernel_id', 'ramdisk_id', 'security_groups', 'requested_networks'])
  t = strings(
    db,
    t,
    [
      'display_description',
      'task_state',
      'host',
      'node',
      'launched_on',
      'availability_zone',
      'scheduled_at',
      'launched_at',
      'terminated_at',
      'key_name',
      'key_data',
      'user_data',
      'access_ip_v4',
      'access_ip_v6',
      'root_device_name',
      'locked_by',
      'deleted_at',
    ],
    true,
  )
  await timestamps(db, t)
    .addColumn('auto_disk_config', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('deleted', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute()
  await db.schema
    .createIndex('instances_project_deleted_idx')
    .on('instances')
    .columns(['project_id', 'deleted'])
    .execute()
  await db.schema
    .createIndex('instances_host_deleted_idx')
    .on('instances')
    .columns(['host', 'deleted'])
    .execute()
  await db.schema.createIndex('instances_reservation_idx').on('instances').column('reservation_id').execute()
  await db.schema
    .createIndex('instances_created_idx')
    .on('instances')
    .columns(['created_at', 'uuid'])
    .execute()
}

async function createInstanceChildren(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('instance_tags')
    .addColumn('instance_uuid', text(db), (c) => c.notNull().references('instances.uuid').onDelete('cascade'))
    .addColumn('tag', text(db), (c) => c.notNull())
    .addPrimaryKeyConstraint('instance_tags_pkey', ['instance_uuid', 'tag'])
    .execute()
  await db.schema
    .createTable('instance_faults')
    .addColumn('id', text(db), (c) => c.primaryKey())
    .addColumn('instance_uuid', text(db), (c) => c.notNull().references('instances.uuid').onDelete('cascade'))
    .addColumn('code', 'integer', (c) => c.notNull())
    .addColumn('message', text(db), (c) => c.notNull())
    .addColumn('details', text(db))
    .addColumn('host', text(db))
    .addColumn('created_at', text(db), (c) => c.notNull())
    .execute()
  await db.schema
    .createIndex('instance_faults_instance_idx')
    .on('instance_faults')
    .columns(['instance_uuid', 'created_at'])
    .execute()
  let actions: Builder = db.schema
    .createTable('instance_actions')
    .addColumn('id', text(db), (c) => c.primaryKey())
    .addColumn('instance_uuid', text(db), (c) => c.notNull().references('instances.uuid').onDelete('cascade'))
  actions = strings(db, actions, ['action', 'request_id', 'start_time'])
  actions = strings(db, actions, ['user_id', 'project_id', 'finish_time', 'message'], true)
  await timestamps(db, actions).execute()
  await db.schema
    .createIndex('instance_actions_instance_idx')
    .on('instance_actions')
    .columns(['instance_uuid', 'request_id'])
    .execute()
  let events: Builder = db.schema
    .createTable('instance_action_events')
    .addColumn('id', text(db), (c) => c.primaryKey())
    .addColumn('action_id', text(db), (c) =>
      c.notNull().references('instance_actions.id').onDelete('cascade'),
    )
  events = strings(db, events, ['event', 'start_time'])
  events = strings(db, events, ['finish_time', 'result', 'traceback', 'host', 'details'], true)
  await timestamps(db, events).execute()
  await db.schema
    .createIndex('instance_action_events_action_idx')
    .on('instance_action_events')
    .columns(['action_id', 'event'])
    .execute()
}

async function createFlavors(db: Kysely<any>): Promise<void> {
  let t: Builder = db.schema.createTable('flavors').$call((b) => serialId(db, b))
  t = t
    .addColumn('flavorid', text(db), (c) => c.notNull().unique())
    .addColumn('name', text(db), (c) => c.notNull().unique())
  t = integers(t, ['memory_mb', 'vcpus', 'root_gb', 'ephemeral_gb', 'swap'])
  await timestamps(db, t)
    .addColumn('rxtx_factor', text(db), (c) => c.notNull().defaultTo('1.0'))
    .addColumn('vcpu_weight', 'integer')
    .addColumn('is_public', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('disabled', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('description', text(db))
    .execute()
  await db.schema
    .createTable('flavor_extra_specs')
    .addColumn('flavor_id', 'integer', (c) => c.notNull().references('flavors.id').onDelete('cascade'))
    .addColumn('key', text(db), (c) => c.notNull())
    .addColumn('value', text(db), (c) => c.notNull())
    .addPrimaryKeyConstraint('flavor_extra_specs_pkey', ['flavor_id', 'key'])
    .execute()
  await db.schema
    .createTable('flavor_projects')
    .addColumn('flavor_id', 'integer', (c) => c.notNull().references('flavors.id').onDelete('cascade'))
    .addColumn('project_id', text(db), (c) => c.notNull())
    .addPrimaryKeyConstraint('flavor_projects_pkey', ['flavor_id', 'project_id'])
    .execute()
}

async function createKeyPairsAndQuotas(db: Kysely<any>): Promise<void> {
  let keys: Builder = db.schema.createTable('key_pairs').$call((b) => serialId(db, b))
  keys = strings(db, keys, ['name', 'user_id', 'fingerprint', 'public_key', 'type'])
  await timestamps(db, keys).addUniqueConstraint('key_pairs_user_name_key', ['user_id', 'name']).execute()
  let quotas: Builder = db.schema.createTable('quotas')
  quotas = strings(db, quotas, ['project_id', 'user_id', 'resource'])
  await timestamps(db, quotas)
    .addColumn('hard_limit', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('quotas_pkey', ['project_id', 'user_id', 'resource'])
    .execute()
}

async function createComputeNodes(db: Kysely<any>): Promise<void> {
  let t: Builder = db.schema.createTable('compute_nodes').$call((b) => serialId(db, b))
  t = t.addColumn('uuid', text(db), (c) => c.notNull().unique())
  t = strings(db, t, ['host', 'hypervisor_hostname', 'hypervisor_type', 'cpu_info', 'host_ip'])
  t = strings(db, t, ['cpu_allocation_ratio', 'ram_allocation_ratio', 'disk_allocation_ratio'])
  t = integers(t, [
    'vcpus',
    'memory_mb',
    'local_gb',
    'vcpus_used',
    'memory_mb_used',
    'local_gb_used',
    'free_ram_mb',
    'free_disk_gb',
    'current_workload',
    'running_vms',
    'disk_available_least',
    'hypervisor_version',
    'reserved_host_memory_mb',
    'reserved_host_disk_gb',
    'failed_builds',
  ])
  await timestamps(db, t)
    .addUniqueConstraint('compute_nodes_host_node_key', ['host', 'hypervisor_hostname'])
    .execute()
}

async function createNetworkAllocations(db: Kysely<any>): Promise<void> {
  let t: Builder = db.schema
    .createTable('network_allocations')
    .addColumn('id', text(db), (c) => c.primaryKey())
    .addColumn('instance_uuid', text(db), (c) => c.notNull().references('instances.uuid').onDelete('cascade'))
  t = strings(db, t, ['network_id', 'network_label', 'address', 'mac_address', 'created_at'])
  await t
    .addColumn('version', 'integer', (c) => c.notNull())
    .addUniqueConstraint('network_allocations_address_key', ['network_id', 'address'])
    .addUniqueConstraint('network_allocations_mac_key', ['mac_address'])
    .execute()
  await db.schema
    .createIndex('network_allocations_instance_idx')
    .on('network_allocations')
    .column('instance_uuid')
    .execute()
}
