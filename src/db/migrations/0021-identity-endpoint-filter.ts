import type { Kysely } from 'kysely'
import { text, timestamps } from './kit.ts'

/**
 * Keystone's OS-EP-FILTER: endpoint groups (a name and a JSON filter over
 * endpoint attributes), and the two project associations that restrict a
 * project-scoped token's catalog: single endpoints and endpoint groups.
 * Associations go with their project, endpoint or group (cascade).
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = text(db)
  await timestamps(
    db,
    db.schema
      .createTable('endpoint_groups')
      .addColumn('id', t, (c) => c.primaryKey())
      .addColumn('name', t, (c) => c.notNull())
      .addColumn('description', t)
      .addColumn('filters', t, (c) => c.notNull()),
  ).execute()

  await db.schema
    .createTable('project_endpoints')
    .addColumn('endpoint_id', t, (c) => c.notNull().references('catalog_endpoints.id').onDelete('cascade'))
    .addColumn('project_id', t, (c) => c.notNull().references('projects.id').onDelete('cascade'))
    .addColumn('created_at', t, (c) => c.notNull())
    .addPrimaryKeyConstraint('project_endpoints_pkey', ['endpoint_id', 'project_id'])
    .execute()
  await db.schema
    .createIndex('project_endpoints_project_id_idx')
    .on('project_endpoints')
    .column('project_id')
    .execute()

  await db.schema
    .createTable('project_endpoint_groups')
    .addColumn('endpoint_group_id', t, (c) =>
      c.notNull().references('endpoint_groups.id').onDelete('cascade'),
    )
    .addColumn('project_id', t, (c) => c.notNull().references('projects.id').onDelete('cascade'))
    .addColumn('created_at', t, (c) => c.notNull())
    .addPrimaryKeyConstraint('project_endpoint_groups_pkey', ['endpoint_group_id', 'project_id'])
    .execute()
  await db.schema
    .createIndex('project_endpoint_groups_project_id_idx')
    .on('project_endpoint_groups')
    .column('project_id')
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('project_endpoint_groups').execute()
  await db.schema.dropTable('project_endpoints').execute()
  await db.schema.dropTable('endpoint_groups').execute()
}
