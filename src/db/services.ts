import type { ExpressionBuilder, Expression, SqlBool } from 'kysely'
import { NotFound } from '../common/errors.ts'
import type { Queryable, Schema } from './schema.ts'
import type { ServiceRow } from './tables/services.ts'
import { newId, nowIso } from './values.ts'

/**
 * The `services` table: registration and heartbeats of every service
 * process, and the operator's switches (disable, force down). Every function
 * takes a `Queryable`, so it runs as well inside a transaction.
 */

export type { ServiceRow } from './tables/services.ts'

/** How a caller names one service row. */
export type ServiceRef =
  { readonly id: number } | { readonly uuid: string } | { readonly host: string; readonly binary: string }

/** What a starting service reports about itself. */
export interface ServiceRegistration {
  readonly host: string
  readonly binary: string
  readonly topic: string | null
}

/** Filters for `listServices`; absent fields match everything. */
export interface ServiceFilter {
  readonly host?: string | undefined
  readonly binary?: string | undefined
}

function matches(ref: ServiceRef): (eb: ExpressionBuilder<Schema, 'services'>) => Expression<SqlBool> {
  if ('id' in ref) return (eb) => eb('id', '=', ref.id)
  if ('uuid' in ref) return (eb) => eb('uuid', '=', ref.uuid)
  return (eb) => eb.and([eb('host', '=', ref.host), eb('binary', '=', ref.binary)])
}

function notFound(ref: ServiceRef): NotFound {
  if ('host' in ref)
    return new NotFound(`Service with host ${ref.host} binary ${ref.binary} could not be found.`)
  return new NotFound(`Service ${'id' in ref ? ref.id : ref.uuid} could not be found.`)
}

/**
 * Creates the row for (host, binary), or returns the existing one with its
 * topic refreshed: a restarted service keeps its id, uuid, counters and the
 * operator's disabled/forced-down settings.
 */
export async function registerService(db: Queryable, service: ServiceRegistration): Promise<ServiceRow> {
  const now = nowIso()
  return db
    .insertInto('services')
    .values({
      uuid: newId(),
      host: service.host,
      binary: service.binary,
      topic: service.topic,
      created_at: now,
    })
    .onConflict((oc) =>
      oc
        .columns(['host', 'binary'])
        .doUpdateSet((eb) => ({ topic: eb.ref('excluded.topic'), updated_at: now })),
    )
    .returningAll()
    .executeTakeFirstOrThrow()
}

/**
 * Records one heartbeat: `report_count + 1` and `last_seen_at = now`, in a
 * single UPDATE so concurrent heartbeats never lose an increment.
 */
export async function recordHeartbeat(db: Queryable, ref: ServiceRef): Promise<ServiceRow> {
  const now = nowIso()
  const row = await db
    .updateTable('services')
    .set((eb) => ({ report_count: eb('report_count', '+', 1), last_seen_at: now, updated_at: now }))
    .where(matches(ref))
    .returningAll()
    .executeTakeFirst()
  if (!row) throw notFound(ref)
  return row
}

/** One service; `NotFound` if there is none. */
export async function getService(db: Queryable, ref: ServiceRef): Promise<ServiceRow> {
  const row = await db.selectFrom('services').selectAll().where(matches(ref)).executeTakeFirst()
  if (!row) throw notFound(ref)
  return row
}

/** Services matching `filter`, oldest first. */
export async function listServices(db: Queryable, filter: ServiceFilter = {}): Promise<ServiceRow[]> {
  let q = db.selectFrom('services').selectAll().orderBy('id')
  if (filter.host !== undefined) q = q.where('host', '=', filter.host)
  if (filter.binary !== undefined) q = q.where('binary', '=', filter.binary)
  return q.execute()
}

/**
 * Disables (with an optional reason) or enables a service. Enabling clears
 * the reason, as Nova does.
 */
export async function setServiceDisabled(
  db: Queryable,
  ref: ServiceRef,
  disabled: boolean,
  reason: string | null = null,
): Promise<ServiceRow> {
  return update(db, ref, { disabled, disabled_reason: disabled ? reason : null })
}

/** Sets or clears the operator's "forced down" flag. */
export async function setServiceForcedDown(
  db: Queryable,
  ref: ServiceRef,
  forcedDown: boolean,
): Promise<ServiceRow> {
  return update(db, ref, { forced_down: forcedDown })
}

/** Removes a service row; `NotFound` if there is none. */
export async function deleteService(db: Queryable, ref: ServiceRef): Promise<void> {
  const result = await db.deleteFrom('services').where(matches(ref)).executeTakeFirst()
  if (result.numDeletedRows === 0n) throw notFound(ref)
}

async function update(
  db: Queryable,
  ref: ServiceRef,
  values: { disabled?: boolean; disabled_reason?: string | null; forced_down?: boolean },
): Promise<ServiceRow> {
  const row = await db
    .updateTable('services')
    .set({ ...values, updated_at: nowIso() })
    .where(matches(ref))
    .returningAll()
    .executeTakeFirst()
  if (!row) throw notFound(ref)
  return row
}
