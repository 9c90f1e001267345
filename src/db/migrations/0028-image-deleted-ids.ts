import type { Kysely } from 'kysely'
import { text } from './kit.ts'

/**
 * Ids of deleted images (OSSN-0075). Glance keeps a deleted image's row
 * (soft delete), so its id can never be created again: otherwise anyone
 * could re-create a deleted public image under the same id with their own
 * bytes, and whoever boots by that id gets them. Nimbus deletes the row and
 * keeps the id here.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('image_deleted_ids')
    .addColumn('id', text(db), (c) => c.primaryKey())
    .addColumn('deleted_at', text(db), (c) => c.notNull())
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('image_deleted_ids').execute()
}
