import type { Kysely } from 'kysely'
import { text } from './kit.ts'

/**
 * Keystone's domain-specific roles: a role may belong to a domain
 * (`domain_id`); null is a global role. Role names stay unique across all
 * roles (Keystone allows the same name in different domains).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('roles').addColumn('domain_id', text(db)).execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('roles').dropColumn('domain_id').execute()
}
