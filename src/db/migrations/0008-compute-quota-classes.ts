import type { Kysely } from 'kysely'
import { text, timestamps } from './kit.ts'

/**
 * Nova's quota classes: limits per class name. Only the class `default`
 * takes effect (it overrides the configured defaults of every project, as
 * Nova's DB quota driver does); other classes are stored and shown only.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await timestamps(
    db,
    db.schema
      .createTable('quota_classes')
      .addColumn('class_name', text(db), (c) => c.notNull())
      .addColumn('resource', text(db), (c) => c.notNull()),
  )
    .addColumn('hard_limit', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('quota_classes_pkey', ['class_name', 'resource'])
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('quota_classes').execute()
}
