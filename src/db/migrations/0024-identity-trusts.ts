import type { Kysely } from 'kysely'
import { text } from './kit.ts'

/**
 * Keystone's OS-TRUST: a trustor delegates some of their roles on a project
 * to a trustee. A trust goes with its trustor, trustee or project; a
 * delegated role with its role (cascade).
 */
export async function up(db: Kysely<any>): Promise<void> {
  const t = text(db)
  await db.schema
    .createTable('trusts')
    .addColumn('id', t, (c) => c.primaryKey())
    .addColumn('trustor_user_id', t, (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('trustee_user_id', t, (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('project_id', t, (c) => c.references('projects.id').onDelete('cascade'))
    .addColumn('impersonation', 'boolean', (c) => c.notNull())
    .addColumn('expires_at', t)
    .addColumn('remaining_uses', 'integer')
    .addColumn('redelegation_count', 'integer', (c) => c.notNull())
    .addColumn('redelegated_trust_id', t)
    .addColumn('extra', t, (c) => c.notNull())
    .addColumn('created_at', t, (c) => c.notNull())
    .execute()
  await db.schema.createIndex('trusts_trustor_user_id_idx').on('trusts').column('trustor_user_id').execute()
  await db.schema.createIndex('trusts_trustee_user_id_idx').on('trusts').column('trustee_user_id').execute()

  await db.schema
    .createTable('trust_roles')
    .addColumn('trust_id', t, (c) => c.notNull().references('trusts.id').onDelete('cascade'))
    .addColumn('role_id', t, (c) => c.notNull().references('roles.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('trust_roles_pkey', ['trust_id', 'role_id'])
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('trust_roles').execute()
  await db.schema.dropTable('trusts').execute()
}
