import type { Kysely } from 'kysely'
import { text, timestamps } from './kit.ts'

/** Keystone's tables (see tables/identity.ts). */
export async function up(db: Kysely<any>): Promise<void> {
  const t = text(db)
  await db.schema
    .createTable('domains')
    .addColumn('id', t, (c) => c.primaryKey())
    .addColumn('name', t, (c) => c.notNull().unique())
    .addColumn('description', t)
    .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('extra', t, (c) => c.notNull().defaultTo('{}'))
    .$call((b) => timestamps(db, b))
    .execute()

  await db.schema
    .createTable('projects')
    .addColumn('id', t, (c) => c.primaryKey())
    .addColumn('name', t, (c) => c.notNull())
    .addColumn('domain_id', t, (c) => c.notNull().references('domains.id').onDelete('cascade'))
    .addColumn('parent_id', t, (c) => c.references('projects.id'))
    .addColumn('description', t)
    .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('tags', t, (c) => c.notNull().defaultTo('[]'))
    .addColumn('extra', t, (c) => c.notNull().defaultTo('{}'))
    .$call((b) => timestamps(db, b))
    .addUniqueConstraint('projects_domain_id_name_key', ['domain_id', 'name'])
    .execute()
  await db.schema.createIndex('projects_parent_id_idx').on('projects').column('parent_id').execute()

  await db.schema
    .createTable('users')
    .addColumn('id', t, (c) => c.primaryKey())
    .addColumn('name', t, (c) => c.notNull())
    .addColumn('domain_id', t, (c) => c.notNull().references('domains.id').onDelete('cascade'))
    .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('password_hash', t)
    .addColumn('default_project_id', t)
    .addColumn('extra', t, (c) => c.notNull().defaultTo('{}'))
    .addColumn('password_changed_at', t)
    .$call((b) => timestamps(db, b))
    .addUniqueConstraint('users_domain_id_name_key', ['domain_id', 'name'])
    .execute()

  await db.schema
    .createTable('groups')
    .addColumn('id', t, (c) => c.primaryKey())
    .addColumn('name', t, (c) => c.notNull())
    .addColumn('domain_id', t, (c) => c.notNull().references('domains.id').onDelete('cascade'))
    .addColumn('description', t)
    .addColumn('extra', t, (c) => c.notNull().defaultTo('{}'))
    .$call((b) => timestamps(db, b))
    .addUniqueConstraint('groups_domain_id_name_key', ['domain_id', 'name'])
    .execute()

  await db.schema
    .createTable('group_memberships')
    .addColumn('group_id', t, (c) => c.notNull().references('groups.id').onDelete('cascade'))
    .addColumn('user_id', t, (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', t, (c) => c.notNull())
    .addPrimaryKeyConstraint('group_memberships_pkey', ['group_id', 'user_id'])
    .execute()
  await db.schema
    .createIndex('group_memberships_user_id_idx')
    .on('group_memberships')
    .column('user_id')
    .execute()

  await db.schema
    .createTable('roles')
    .addColumn('id', t, (c) => c.primaryKey())
    .addColumn('name', t, (c) => c.notNull().unique())
    .addColumn('description', t)
    .addColumn('extra', t, (c) => c.notNull().defaultTo('{}'))
    .$call((b) => timestamps(db, b))
    .execute()

  await db.schema
    .createTable('implied_roles')
    .addColumn('prior_role_id', t, (c) => c.notNull().references('roles.id').onDelete('cascade'))
    .addColumn('implied_role_id', t, (c) => c.notNull().references('roles.id').onDelete('cascade'))
    .addColumn('created_at', t, (c) => c.notNull())
    .addPrimaryKeyConstraint('implied_roles_pkey', ['prior_role_id', 'implied_role_id'])
    .execute()

  await db.schema
    .createTable('role_assignments')
    .addColumn('type', t, (c) => c.notNull())
    .addColumn('actor_id', t, (c) => c.notNull())
    .addColumn('target_id', t, (c) => c.notNull())
    .addColumn('role_id', t, (c) => c.notNull().references('roles.id').onDelete('cascade'))
    .addColumn('inherited', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', t, (c) => c.notNull())
    .addPrimaryKeyConstraint('role_assignments_pkey', [
      'type',
      'actor_id',
      'target_id',
      'role_id',
      'inherited',
    ])
    .execute()
  await db.schema
    .createIndex('role_assignments_actor_id_idx')
    .on('role_assignments')
    .column('actor_id')
    .execute()
  await db.schema
    .createIndex('role_assignments_target_id_idx')
    .on('role_assignments')
    .column('target_id')
    .execute()
  await db.schema
    .createIndex('role_assignments_role_id_idx')
    .on('role_assignments')
    .column('role_id')
    .execute()

  await db.schema
    .createTable('catalog_regions')
    .addColumn('id', t, (c) => c.primaryKey())
    .addColumn('description', t)
    .addColumn('parent_region_id', t, (c) => c.references('catalog_regions.id'))
    .addColumn('extra', t, (c) => c.notNull().defaultTo('{}'))
    .$call((b) => timestamps(db, b))
    .execute()

  await db.schema
    .createTable('catalog_services')
    .addColumn('id', t, (c) => c.primaryKey())
    .addColumn('type', t, (c) => c.notNull())
    .addColumn('name', t)
    .addColumn('description', t)
    .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('extra', t, (c) => c.notNull().defaultTo('{}'))
    .$call((b) => timestamps(db, b))
    .execute()

  await db.schema
    .createTable('catalog_endpoints')
    .addColumn('id', t, (c) => c.primaryKey())
    .addColumn('service_id', t, (c) => c.notNull().references('catalog_services.id').onDelete('cascade'))
    .addColumn('region_id', t, (c) => c.references('catalog_regions.id'))
    .addColumn('interface', t, (c) => c.notNull())
    .addColumn('url', t, (c) => c.notNull())
    .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('extra', t, (c) => c.notNull().defaultTo('{}'))
    .$call((b) => timestamps(db, b))
    .execute()
  await db.schema
    .createIndex('catalog_endpoints_service_id_idx')
    .on('catalog_endpoints')
    .column('service_id')
    .execute()

  await db.schema
    .createTable('credentials')
    .addColumn('id', t, (c) => c.primaryKey())
    .addColumn('user_id', t, (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('project_id', t)
    .addColumn('type', t, (c) => c.notNull())
    .addColumn('blob', t, (c) => c.notNull())
    .addColumn('extra', t, (c) => c.notNull().defaultTo('{}'))
    .$call((b) => timestamps(db, b))
    .execute()
  await db.schema.createIndex('credentials_user_id_idx').on('credentials').column('user_id').execute()

  await db.schema
    .createTable('application_credentials')
    .addColumn('id', t, (c) => c.primaryKey())
    .addColumn('name', t, (c) => c.notNull())
    .addColumn('user_id', t, (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('project_id', t, (c) => c.notNull())
    .addColumn('description', t)
    .addColumn('secret_hash', t, (c) => c.notNull())
    .addColumn('expires_at', t)
    .addColumn('unrestricted', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('role_ids', t, (c) => c.notNull().defaultTo('[]'))
    .addColumn('created_at', t, (c) => c.notNull())
    .addUniqueConstraint('application_credentials_user_id_name_key', ['user_id', 'name'])
    .execute()

  await db.schema
    .createTable('revocation_events')
    .addColumn('id', t, (c) => c.primaryKey())
    .addColumn('user_id', t)
    .addColumn('project_id', t)
    .addColumn('domain_id', t)
    .addColumn('audit_id', t)
    .addColumn('audit_chain_id', t)
    .addColumn('issued_before', t, (c) => c.notNull())
    .addColumn('expires_at', t, (c) => c.notNull())
    .addColumn('revoked_at', t, (c) => c.notNull())
    .execute()
  await db.schema
    .createIndex('revocation_events_revoked_at_idx')
    .on('revocation_events')
    .column('revoked_at')
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'revocation_events',
    'application_credentials',
    'credentials',
    'catalog_endpoints',
    'catalog_services',
    'catalog_regions',
    'role_assignments',
    'implied_roles',
    'roles',
    'group_memberships',
    'groups',
    'users',
    'projects',
    'domains',
  ]) {
    await db.schema.dropTable(table).execute()
  }
}
