import type { Kysely } from 'kysely'
import { serialId, text, timestamps } from './kit.ts'

/**
 * Server groups with their members, and host aggregates with their hosts
 * and metadata (Nova's API database tables `instance_groups`,
 * `instance_group_member`, `aggregates`, `aggregate_hosts`,
 * `aggregate_metadata`). See tables/compute-admin.ts.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await timestamps(
    db,
    db.schema
      .createTable('server_groups')
      .addColumn('uuid', text(db), (c) => c.primaryKey())
      .addColumn('name', text(db), (c) => c.notNull())
      .addColumn('project_id', text(db), (c) => c.notNull())
      .addColumn('user_id', text(db), (c) => c.notNull())
      .addColumn('policy', text(db), (c) => c.notNull())
      .addColumn('rules', text(db), (c) => c.notNull()),
  ).execute()
  await db.schema.createIndex('server_groups_project_idx').on('server_groups').column('project_id').execute()
  await db.schema
    .createTable('server_group_members')
    .addColumn('group_uuid', text(db), (c) => c.notNull())
    .addColumn('instance_uuid', text(db), (c) => c.notNull())
    .addColumn('created_at', text(db), (c) => c.notNull())
    .addPrimaryKeyConstraint('server_group_members_pkey', ['group_uuid', 'instance_uuid'])
    .execute()
  await db.schema
    .createIndex('server_group_members_instance_idx')
    .on('server_group_members')
    .column('instance_uuid')
    .execute()
  await timestamps(
    db,
    serialId(db, db.schema.createTable('aggregates'))
      .addColumn('uuid', text(db), (c) => c.notNull().unique())
      .addColumn('name', text(db), (c) => c.notNull().unique()),
  ).execute()
  await db.schema
    .createTable('aggregate_hosts')
    .addColumn('aggregate_id', 'integer', (c) => c.notNull())
    .addColumn('host', text(db), (c) => c.notNull())
    .addColumn('created_at', text(db), (c) => c.notNull())
    .addPrimaryKeyConstraint('aggregate_hosts_pkey', ['aggregate_id', 'host'])
    .execute()
  await db.schema
    .createTable('aggregate_metadata')
    .addColumn('aggregate_id', 'integer', (c) => c.notNull())
    .addColumn('key', text(db), (c) => c.notNull())
    .addColumn('value', text(db), (c) => c.notNull())
    .addColumn('created_at', text(db), (c) => c.notNull())
    .addPrimaryKeyConstraint('aggregate_metadata_pkey', ['aggregate_id', 'key'])
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'aggregate_metadata',
    'aggregate_hosts',
    'aggregates',
    'server_group_members',
    'server_groups',
  ]) {
    await db.schema.dropTable(table).execute()
  }
}
