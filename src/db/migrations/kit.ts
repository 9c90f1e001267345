import { PostgresAdapter, sql, type CreateTableBuilder, type Expression, type Kysely } from 'kysely'

/**
 * Portable column types for migrations. Every migration runs unchanged on
 * SQLite and PostgreSQL; where the two differ, the difference lives here.
 *
 * Use only these column types:
 *  - `text(db)` for every string: uuids, names, ISO-8601 timestamps, JSON;
 *  - `'boolean'` (SQLite reads it back as a JS boolean only because the
 *    declared type is exactly `boolean`; see sqlite.ts);
 *  - `'integer'` for counts and small numbers, `'bigint'` for sizes in bytes,
 *    `'double precision'` for ratios (all read back as JS numbers);
 *  - `serialId(db)` only for tables whose API exposes integer ids.
 */

/** True when the migration runs on PostgreSQL. */
export function isPostgres(db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter
}

/**
 * The type of every text column. PostgreSQL compares text with the
 * database's locale (so 'B' < 'a' on SQLite but not on an en_US database);
 * the "C" collation compares bytes, as SQLite does, so sorting and
 * pagination give the same order on both backends.
 */
export function text(db: Kysely<any>): Expression<unknown> {
  return isPostgres(db) ? sql`text collate "C"` : sql`text`
}

/**
 * Adds an auto-incrementing integer primary key `id`. Only for tables that
 * OpenStack exposes with integer ids (services, compute nodes, ...); every
 * other table uses a `text(db)` uuid primary key.
 */
export function serialId<T extends string, C extends string>(
  db: Kysely<any>,
  table: CreateTableBuilder<T, C>,
): CreateTableBuilder<T, C | 'id'> {
  return isPostgres(db)
    ? table.addColumn('id', 'integer', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    : table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
}

/** Adds `created_at` (set on insert) and `updated_at` (null until the first update). */
export function timestamps<T extends string, C extends string>(
  db: Kysely<any>,
  table: CreateTableBuilder<T, C>,
): CreateTableBuilder<T, C | 'created_at' | 'updated_at'> {
  return table.addColumn('created_at', text(db), (c) => c.notNull()).addColumn('updated_at', text(db))
}
