import type { Kysely } from 'kysely'
import { text } from './kit.ts'

/**
 * Nova's instance_info_caches: each instance's network info (its ports,
 * fixed and floating addresses, MACs, taps) as a JSON document, written by
 * the network service when it allocates, attaches, detaches or sees a
 * floating IP change, and read by the compute API for `addresses`. It
 * replaces the records-only `network_allocations` (fixed IPs now live in
 * Neutron's ports), which is dropped.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('instance_info_caches')
    .addColumn('instance_uuid', text(db), (c) =>
      c.primaryKey().references('instances.uuid').onDelete('cascade'),
    )
    .addColumn('network_info', text(db), (c) => c.notNull())
    .addColumn('updated_at', text(db), (c) => c.notNull())
    .execute()
  await db.schema.dropTable('network_allocations').execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('instance_info_caches').execute()
  await db.schema
    .createTable('network_allocations')
    .addColumn('id', text(db), (c) => c.primaryKey())
    .addColumn('instance_uuid', text(db), (c) => c.notNull().references('instances.uuid').onDelete('cascade'))
    .addColumn('network_id', text(db), (c) => c.notNull())
    .addColumn('network_label', text(db), (c) => c.notNull())
    .addColumn('address', text(db), (c) => c.notNull())
    .addColumn('mac_address', text(db), (c) => c.notNull())
    .addColumn('created_at', text(db), (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addUniqueConstraint('network_allocations_address_key', ['network_id', 'address'])
    .addUniqueConstraint('network_allocations_mac_key', ['mac_address'])
    .execute()
}
