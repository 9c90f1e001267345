import type { Kysely } from 'kysely'
import { text, timestamps } from './kit.ts'

/**
 * Neutron's agents (`/v2.0/agents`): one row per agent of each host (its
 * data-plane, DHCP and L3 agents), refreshed by the host's heartbeats, and
 * the networks and routers scheduled to the DHCP and L3 agents.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await timestamps(
    db,
    db.schema
      .createTable('network_agents')
      .addColumn('id', text(db), (c) => c.primaryKey())
      .addColumn('host', text(db), (c) => c.notNull())
      .addColumn('agent_type', text(db), (c) => c.notNull())
      .addColumn('binary', text(db), (c) => c.notNull())
      .addColumn('topic', text(db), (c) => c.notNull())
      .addColumn('admin_state_up', 'boolean', (c) => c.notNull())
      .addColumn('description', text(db))
      .addColumn('availability_zone', text(db))
      .addColumn('configurations', text(db), (c) => c.notNull())
      .addColumn('started_at', text(db), (c) => c.notNull())
      .addColumn('heartbeat_at', text(db), (c) => c.notNull()),
  )
    .addUniqueConstraint('network_agents_type_host_key', ['agent_type', 'host'])
    .execute()
  await db.schema
    .createTable('network_agent_bindings')
    .addColumn('agent_id', text(db), (c) => c.notNull().references('network_agents.id').onDelete('cascade'))
    /** `dhcp` (a network) or `l3` (a router). */
    .addColumn('kind', text(db), (c) => c.notNull())
    .addColumn('resource_id', text(db), (c) => c.notNull())
    /** False once an admin removed it: the resource is then not scheduled again by itself. */
    .addColumn('bound', 'boolean', (c) => c.notNull())
    .addColumn('created_at', text(db), (c) => c.notNull())
    .addPrimaryKeyConstraint('network_agent_bindings_pkey', ['agent_id', 'kind', 'resource_id'])
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('network_agent_bindings').execute()
  await db.schema.dropTable('network_agents').execute()
}
