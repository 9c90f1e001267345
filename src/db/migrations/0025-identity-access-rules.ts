import type { Kysely } from 'kysely'
import { text } from './kit.ts'

/**
 * Keystone's application credential access rules: per user, one row per
 * (service, path, method), shared by the user's credentials that name it.
 * Rules go with their user; links with their credential or rule.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = text(db)
  await db.schema
    .createTable('access_rules')
    .addColumn('id', t, (c) => c.primaryKey())
    .addColumn('user_id', t, (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('service', t, (c) => c.notNull())
    .addColumn('path', t, (c) => c.notNull())
    .addColumn('method', t, (c) => c.notNull())
    .addColumn('created_at', t, (c) => c.notNull())
    .addUniqueConstraint('access_rules_user_rule_key', ['user_id', 'service', 'path', 'method'])
    .execute()

  await db.schema
    .createTable('application_credential_access_rules')
    .addColumn('application_credential_id', t, (c) =>
      c.notNull().references('application_credentials.id').onDelete('cascade'),
    )
    .addColumn('access_rule_id', t, (c) => c.notNull().references('access_rules.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('application_credential_access_rules_pkey', [
      'application_credential_id',
      'access_rule_id',
    ])
    .execute()
  await db.schema
    .createIndex('application_credential_access_rules_rule_idx')
    .on('application_credential_access_rules')
    .column('access_rule_id')
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('application_credential_access_rules').execute()
  await db.schema.dropTable('access_rules').execute()
}
