import type { Kysely } from 'kysely'
import { text } from './kit.ts'

/**
 * Keystone's domain-specific configuration (`/v3/domains/{id}/config`): one
 * row per option, its value as JSON. Sensitive options (`ldap.password`)
 * are flagged and never returned by the API. Rows go with their domain.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = text(db)
  await db.schema
    .createTable('domain_config_options')
    .addColumn('domain_id', t, (c) => c.notNull().references('domains.id').onDelete('cascade'))
    .addColumn('config_group', t, (c) => c.notNull())
    .addColumn('config_option', t, (c) => c.notNull())
    .addColumn('value', t, (c) => c.notNull())
    .addColumn('sensitive', 'boolean', (c) => c.notNull())
    .addPrimaryKeyConstraint('domain_config_options_pkey', ['domain_id', 'config_group', 'config_option'])
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('domain_config_options').execute()
}
