import type { Kysely } from 'kysely'
import { text } from './kit.ts'

/**
 * Keystone's PCI-DSS options: failed password logins in a row and the time
 * of the last (account lockout), and the hashes of a user's recent
 * passwords (password history). History rows go with their user.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('users')
    .addColumn('failed_auth_count', 'integer', (c) => c.notNull().defaultTo(0))
    .execute()
  await db.schema.alterTable('users').addColumn('failed_auth_at', text(db)).execute()
  await db.schema
    .createTable('password_history')
    .addColumn('user_id', text(db), (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('password_hash', text(db), (c) => c.notNull())
    .addColumn('created_at', text(db), (c) => c.notNull())
    .execute()
  await db.schema
    .createIndex('password_history_user_id_idx')
    .on('password_history')
    .column('user_id')
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('password_history').execute()
  await db.schema.alterTable('users').dropColumn('failed_auth_at').execute()
  await db.schema.alterTable('users').dropColumn('failed_auth_count').execute()
}
