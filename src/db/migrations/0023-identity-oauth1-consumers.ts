import type { Kysely } from 'kysely'
import { text, timestamps } from './kit.ts'

/**
 * Keystone's OS-OAUTH1 consumers: an id, a description, the secret the
 * consumer signs its OAuth1 requests with (kept as given, as Keystone does,
 * because HMAC-SHA1 signatures are checked with it), and extra attributes.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await timestamps(
    db,
    db.schema
      .createTable('oauth1_consumers')
      .addColumn('id', text(db), (c) => c.primaryKey())
      .addColumn('description', text(db))
      .addColumn('secret', text(db), (c) => c.notNull())
      .addColumn('extra', text(db), (c) => c.notNull()),
  ).execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('oauth1_consumers').execute()
}
