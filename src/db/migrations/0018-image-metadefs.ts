import type { Kysely } from 'kysely'
import { text, timestamps } from './kit.ts'

/** The resource types Glance's database starts with (glance-manage db sync). */
const SEEDED_RESOURCE_TYPES = [
  'OS::Glance::Image',
  'OS::Cinder::Volume',
  'OS::Nova::Flavor',
  'OS::Nova::Aggregate',
  'OS::Nova::Server',
]

/**
 * Glance's metadata definitions catalog (`/v2/metadefs`): namespaces, the
 * resource types they apply to, and each namespace's objects, properties
 * and tags (one table, `kind` tells which; the definition is a JSON document).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await timestamps(
    db,
    db.schema
      .createTable('metadef_namespaces')
      .addColumn('namespace', text(db), (c) => c.primaryKey())
      .addColumn('display_name', text(db))
      .addColumn('description', text(db))
      .addColumn('visibility', text(db), (c) => c.notNull())
      .addColumn('protected', 'boolean', (c) => c.notNull())
      .addColumn('owner', text(db)),
  ).execute()
  await timestamps(
    db,
    db.schema
      .createTable('metadef_resource_types')
      .addColumn('name', text(db), (c) => c.primaryKey())
      .addColumn('protected', 'boolean', (c) => c.notNull()),
  ).execute()
  await timestamps(
    db,
    db.schema
      .createTable('metadef_resource_type_associations')
      .addColumn('namespace', text(db), (c) =>
        c.notNull().references('metadef_namespaces.namespace').onDelete('cascade'),
      )
      .addColumn('resource_type', text(db), (c) => c.notNull().references('metadef_resource_types.name'))
      .addColumn('prefix', text(db))
      .addColumn('properties_target', text(db)),
  )
    .addPrimaryKeyConstraint('metadef_rta_pkey', ['namespace', 'resource_type'])
    .execute()
  await timestamps(
    db,
    db.schema
      .createTable('metadef_items')
      .addColumn('namespace', text(db), (c) =>
        c.notNull().references('metadef_namespaces.namespace').onDelete('cascade'),
      )
      /** `object`, `property` or `tag`. */
      .addColumn('kind', text(db), (c) => c.notNull())
      .addColumn('name', text(db), (c) => c.notNull())
      /** The definition without its name (JSON). */
      .addColumn('doc', text(db), (c) => c.notNull()),
  )
    .addPrimaryKeyConstraint('metadef_items_pkey', ['namespace', 'kind', 'name'])
    .execute()
  const now = new Date().toISOString()
  await db
    .insertInto('metadef_resource_types')
    .values(
      SEEDED_RESOURCE_TYPES.map((name) => ({ name, protected: true, created_at: now, updated_at: null })),
    )
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('metadef_items').execute()
  await db.schema.dropTable('metadef_resource_type_associations').execute()
  await db.schema.dropTable('metadef_resource_types').execute()
  await db.schema.dropTable('metadef_namespaces').execute()
}
