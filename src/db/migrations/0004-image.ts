import type { Kysely } from 'kysely'
import { text, timestamps } from './kit.ts'

/** Glance's tables (see tables/image.ts). */
export async function up(db: Kysely<any>): Promise<void> {
  const t = text(db)
  await db.schema
    .createTable('images')
    .addColumn('id', t, (c) => c.primaryKey())
    .addColumn('name', t)
    .addColumn('status', t, (c) => c.notNull())
    .addColumn('visibility', t, (c) => c.notNull())
    .addColumn('owner', t)
    .addColumn('disk_format', t)
    .addColumn('container_format', t)
    .addColumn('size', 'bigint')
    .addColumn('virtual_size', 'bigint')
    .addColumn('checksum', t)
    .addColumn('os_hash_algo', t)
    .addColumn('os_hash_value', t)
    .addColumn('min_disk', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('min_ram', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('protected', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('os_hidden', 'boolean', (c) => c.notNull().defaultTo(false))
    .$call((b) => timestamps(db, b))
    .execute()
  await db.schema.createIndex('images_owner_idx').on('images').column('owner').execute()
  await db.schema.createIndex('images_visibility_idx').on('images').column('visibility').execute()
  await db.schema.createIndex('images_created_at_id_idx').on('images').columns(['created_at', 'id']).execute()

  await db.schema
    .createTable('image_properties')
    .addColumn('image_id', t, (c) => c.notNull().references('images.id').onDelete('cascade'))
    .addColumn('name', t, (c) => c.notNull())
    .addColumn('value', t, (c) => c.notNull())
    .addPrimaryKeyConstraint('image_properties_pkey', ['image_id', 'name'])
    .execute()
  await db.schema
    .createIndex('image_properties_name_value_idx')
    .on('image_properties')
    .columns(['name', 'value'])
    .execute()

  await db.schema
    .createTable('image_tags')
    .addColumn('image_id', t, (c) => c.notNull().references('images.id').onDelete('cascade'))
    .addColumn('value', t, (c) => c.notNull())
    .addColumn('created_at', t, (c) => c.notNull())
    .addPrimaryKeyConstraint('image_tags_pkey', ['image_id', 'value'])
    .execute()
  await db.schema.createIndex('image_tags_value_idx').on('image_tags').column('value').execute()

  await db.schema
    .createTable('image_members')
    .addColumn('image_id', t, (c) => c.notNull().references('images.id').onDelete('cascade'))
    .addColumn('member_id', t, (c) => c.notNull())
    .addColumn('status', t, (c) => c.notNull())
    .$call((b) => timestamps(db, b))
    .addPrimaryKeyConstraint('image_members_pkey', ['image_id', 'member_id'])
    .execute()
  await db.schema.createIndex('image_members_member_id_idx').on('image_members').column('member_id').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['image_members', 'image_tags', 'image_properties', 'images']) {
    await db.schema.dropTable(table).execute()
  }
}
