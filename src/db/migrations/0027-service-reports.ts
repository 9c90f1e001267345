import type { Kysely } from 'kysely'
import { text } from './kit.ts'

/** The `service_reports` table (see tables/service-reports.ts): what `nimbus status` reads. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('service_reports')
    .addColumn('host', text(db), (c) => c.notNull())
    .addColumn('service', text(db), (c) => c.notNull())
    .addColumn('pid', 'integer', (c) => c.notNull())
    .addColumn('version', text(db), (c) => c.notNull())
    .addColumn('started_at', text(db), (c) => c.notNull())
    .addColumn('last_seen_at', text(db), (c) => c.notNull())
    .addColumn('stopped_at', text(db))
    .addColumn('endpoint', text(db))
    .addColumn('detail', text(db), (c) => c.notNull())
    .addPrimaryKeyConstraint('service_reports_pkey', ['host', 'service'])
    .execute()
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('service_reports').execute()
}
