import type { CreateTableBuilder, Kysely } from 'kysely'
import { text, timestamps } from './kit.ts'

/** The network service's tables (see tables/network.ts). */
export async function up(db: Kysely<any>): Promise<void> {
  const resource = <T extends string>(name: T) =>
    db.schema
      .createTable(name)
      .addColumn('id', text(db), (c) => c.primaryKey())
      .addColumn('project_id', text(db), (c) => c.notNull())
      .addColumn('attrs', text(db), (c) => c.notNull())
  const stamped = <T extends string, C extends string>(t: CreateTableBuilder<T, C>) => timestamps(db, t)

  await resource('networks').$call(stamped).execute()
  await resource('subnets')
    .addColumn('network_id', text(db), (c) => c.notNull().references('networks.id'))
    .$call(stamped)
    .execute()
  await resource('ports')
    .addColumn('network_id', text(db), (c) => c.notNull().references('networks.id'))
    .addColumn('device_id', text(db), (c) => c.notNull())
    .addColumn('host', text(db), (c) => c.notNull())
    .$call(stamped)
    .execute()
  await db.schema
    .createTable('ip_allocations')
    .addColumn('network_id', text(db), (c) => c.notNull())
    .addColumn('ip_address', text(db), (c) => c.notNull())
    .addColumn('subnet_id', text(db), (c) => c.notNull().references('subnets.id'))
    .addColumn('port_id', text(db), (c) => c.notNull().references('ports.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('ip_allocations_pkey', ['network_id', 'ip_address'])
    .execute()
  await resource('security_groups').$call(stamped).execute()
  await resource('security_group_rules')
    .addColumn('security_group_id', text(db), (c) =>
      c.notNull().references('security_groups.id').onDelete('cascade'),
    )
    .$call(stamped)
    .execute()
  await db.schema
    .createTable('default_security_groups')
    .addColumn('project_id', text(db), (c) => c.primaryKey())
    .addColumn('security_group_id', text(db), (c) =>
      c.notNull().references('security_groups.id').onDelete('cascade'),
    )
    .execute()
  await resource('floating_ips')
    .addColumn('floating_network_id', text(db), (c) => c.notNull())
    .addColumn('port_id', text(db))
    .$call(stamped)
    .execute()
  await resource('routers').$call(stamped).execute()
  await db.schema
    .createTable('network_quotas')
    .addColumn('project_id', text(db), (c) => c.notNull())
    .addColumn('resource', text(db), (c) => c.notNull())
    .addColumn('hard_limit', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('network_quotas_pkey', ['project_id', 'resource'])
    .execute()
  await db.schema.createIndex('ports_network_id_idx').on('ports').column('network_id').execute()
  await db.schema.createIndex('ports_host_idx').on('ports').column('host').execute()
  await db.schema.createIndex('subnets_network_id_idx').on('subnets').column('network_id').execute()
  await db.schema
    .createIndex('security_group_rules_group_idx')
    .on('security_group_rules')
    .column('security_group_id')
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'network_quotas',
    'routers',
    'floating_ips',
    'default_security_groups',
    'security_group_rules',
    'security_groups',
    'ip_allocations',
    'ports',
    'subnets',
    'networks',
  ]) {
    await db.schema.dropTable(table).execute()
  }
}
