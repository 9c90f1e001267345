import type { Kysely } from 'kysely'
import { serialId, text, timestamps } from './kit.ts'

/** The `services` table (see tables/services.ts). */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('services')
    .$call((t) => serialId(db, t))
    .addColumn('uuid', text(db), (c) => c.notNull().unique())
    .addColumn('host', text(db), (c) => c.notNull())
    .addColumn('binary', text(db), (c) => c.notNull())
    .addColumn('topic', text(db))
    .addColumn('report_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('disabled', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('disabled_reason', text(db))
    .addColumn('forced_down', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('last_seen_at', text(db))
    .$call((t) => timestamps(db, t))
    .addUniqueConstraint('services_host_binary_key', ['host', 'binary'])
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('services').execute()
}
