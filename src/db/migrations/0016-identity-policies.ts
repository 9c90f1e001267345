import type { Kysely } from 'kysely'
import { text, timestamps } from './kit.ts'

/** Keystone's `/v3/policies`: opaque policy blobs with a type (stored and served, never enforced). */
export async function up(db: Kysely<any>): Promise<void> {
  await timestamps(
    db,
    db.schema
      .createTable('policies')
      .addColumn('id', text(db), (c) => c.primaryKey())
      .addColumn('type', text(db), (c) => c.notNull())
      .addColumn('blob', text(db), (c) => c.notNull())
      .addColumn('extra', text(db), (c) => c.notNull()),
  ).execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('policies').execute()
}
