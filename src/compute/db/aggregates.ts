import { randomUUID } from 'node:crypto'
import { Conflict, NotFound, registerErrorClass } from '../../common/errors.ts'
import type { Queryable } from '../../db/schema.ts'
import type { AggregateRow } from '../../db/tables/compute-admin.ts'
import { nowIso } from '../../db/values.ts'

/**
 * Host aggregates (Nova's API database `aggregates`, `aggregate_hosts`,
 * `aggregate_metadata`). The metadata key `availability_zone` puts the
 * aggregate's hosts in that zone; a host in no such aggregate is in
 * `default_availability_zone`.
 */

export class AggregateNotFound extends NotFound {}
registerErrorClass(AggregateNotFound)
export class AggregateNameExists extends Conflict {}
registerErrorClass(AggregateNameExists)
export class AggregateHostExists extends Conflict {}
registerErrorClass(AggregateHostExists)
export class AggregateHostNotFound extends NotFound {}
registerErrorClass(AggregateHostNotFound)

/** The metadata key that makes an aggregate an availability zone. */
export const AZ_KEY = 'availability_zone'

export interface Aggregate {
  readonly id: number
  readonly uuid: string
  readonly name: string
  readonly hosts: readonly string[]
  readonly metadata: Readonly<Record<string, string>>
  readonly createdAt: string
  readonly updatedAt: string | null
}

export function aggregateNotFound(id: number | string): AggregateNotFound {
  return new AggregateNotFound(`Aggregate ${id} could not be found.`)
}

/** A unique violation from the database layer (a Conflict with `detail.dbError`). */
function isUniqueViolation(err: unknown): boolean {
  return (
    err instanceof Conflict &&
    (err.detail as { dbError?: string } | undefined)?.dbError === 'unique_violation'
  )
}

async function withChildren(db: Queryable, rows: readonly AggregateRow[]): Promise<Aggregate[]> {
  if (rows.length === 0) return []
  const ids = rows.map((r) => r.id)
  const [hosts, meta] = await Promise.all([
    db
      .selectFrom('aggregate_hosts')
      .select(['aggregate_id', 'host'])
      .where('aggregate_id', 'in', ids)
      .orderBy('created_at')
      .orderBy('host')
      .execute(),
    db
      .selectFrom('aggregate_metadata')
      .select(['aggregate_id', 'key', 'value'])
      .where('aggregate_id', 'in', ids)
      .orderBy('key')
      .execute(),
  ])
  return rows.map((r) => ({
    id: r.id,
    uuid: r.uuid,
    name: r.name,
    hosts: hosts.filter((h) => h.aggregate_id === r.id).map((h) => h.host),
    metadata: Object.fromEntries(meta.filter((m) => m.aggregate_id === r.id).map((m) => [m.key, m.value])),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }))
}

export async function listAggregates(db: Queryable): Promise<Aggregate[]> {
  return withChildren(db, await db.selectFrom('aggregates').selectAll().orderBy('id').execute())
}

export async function getAggregate(db: Queryable, id: number): Promise<Aggregate> {
  const row = await db.selectFrom('aggregates').selectAll().where('id', '=', id).executeTakeFirst()
  if (!row) throw aggregateNotFound(id)
  return (await withChildren(db, [row]))[0]!
}

export async function createAggregate(
  db: Queryable,
  name: string,
  metadata: Readonly<Record<string, string>>,
): Promise<Aggregate> {
  const now = nowIso()
  let id: number
  try {
    const row = await db
      .insertInto('aggregates')
      .values({ uuid: randomUUID(), name, created_at: now, updated_at: null })
      .returning('id')
      .executeTakeFirstOrThrow()
    id = row.id
  } catch (err) {
    if (isUniqueViolation(err)) throw new AggregateNameExists(`Aggregate ${name} already exists.`)
    throw err
  }
  await setAggregateMetadata(db, id, metadata)
  return getAggregate(db, id)
}

export async function renameAggregate(db: Queryable, id: number, name: string): Promise<void> {
  try {
    const res = await db
      .updateTable('aggregates')
      .set({ name, updated_at: nowIso() })
      .where('id', '=', id)
      .executeTakeFirst()
    if (Number(res.numUpdatedRows) === 0) throw aggregateNotFound(id)
  } catch (err) {
    if (isUniqueViolation(err)) throw new AggregateNameExists(`Aggregate ${name} already exists.`)
    throw err
  }
}

/** Nova's `update_metadata`: a null value removes the key, others are set. */
export async function setAggregateMetadata(
  db: Queryable,
  id: number,
  updates: Readonly<Record<string, string | null>>,
): Promise<void> {
  const now = nowIso()
  for (const [key, value] of Object.entries(updates)) {
    await db.deleteFrom('aggregate_metadata').where('aggregate_id', '=', id).where('key', '=', key).execute()
    if (value !== null) {
      await db
        .insertInto('aggregate_metadata')
        .values({ aggregate_id: id, key, value, created_at: now })
        .execute()
    }
  }
  if (Object.keys(updates).length) {
    await db.updateTable('aggregates').set({ updated_at: now }).where('id', '=', id).execute()
  }
}

export async function deleteAggregate(db: Queryable, id: number): Promise<void> {
  await db.deleteFrom('aggregate_metadata').where('aggregate_id', '=', id).execute()
  await db.deleteFrom('aggregate_hosts').where('aggregate_id', '=', id).execute()
  const res = await db.deleteFrom('aggregates').where('id', '=', id).executeTakeFirst()
  if (Number(res.numDeletedRows) === 0) throw aggregateNotFound(id)
}

export async function addAggregateHost(db: Queryable, id: number, host: string): Promise<void> {
  const existing = await db
    .selectFrom('aggregate_hosts')
    .select('host')
    .where('aggregate_id', '=', id)
    .where('host', '=', host)
    .executeTakeFirst()
  if (existing) throw new AggregateHostExists(`Aggregate ${id} already has host ${host}.`)
  await db.insertInto('aggregate_hosts').values({ aggregate_id: id, host, created_at: nowIso() }).execute()
}

export async function removeAggregateHost(db: Queryable, id: number, host: string): Promise<void> {
  const res = await db
    .deleteFrom('aggregate_hosts')
    .where('aggregate_id', '=', id)
    .where('host', '=', host)
    .executeTakeFirst()
  if (Number(res.numDeletedRows) === 0) {
    throw new AggregateHostNotFound(`Aggregate ${id} has no host ${host}.`)
  }
}

/** Aggregates that have `host` (optionally only those with metadata `key`). */
export async function aggregatesOfHosts(
  db: Queryable,
  hosts: readonly string[],
  key?: string,
): Promise<Aggregate[]> {
  if (hosts.length === 0) return []
  const ids = await db
    .selectFrom('aggregate_hosts')
    .select('aggregate_id')
    .distinct()
    .where('host', 'in', hosts)
    .execute()
  const all = await withChildren(
    db,
    ids.length
      ? await db
          .selectFrom('aggregates')
          .selectAll()
          .where(
            'id',
            'in',
            ids.map((r) => r.aggregate_id),
          )
          .orderBy('id')
          .execute()
      : [],
  )
  return key === undefined ? all : all.filter((a) => Object.hasOwn(a.metadata, key))
}

/**
 * Each host's availability zone from its aggregates (Nova's
 * `get_host_availability_zone`: the zones of its aggregates, sorted and
 * joined with ',' in the rare case of several). Hosts in no zone are absent.
 */
export async function hostAvailabilityZones(db: Queryable): Promise<Map<string, string>> {
  const rows = await db
    .selectFrom('aggregate_hosts as h')
    .innerJoin('aggregate_metadata as m', 'm.aggregate_id', 'h.aggregate_id')
    .select(['h.host', 'm.value'])
    .where('m.key', '=', AZ_KEY)
    .execute()
  const zones = new Map<string, Set<string>>()
  for (const r of rows) zones.set(r.host, (zones.get(r.host) ?? new Set()).add(r.value))
  return new Map([...zones].map(([host, set]) => [host, [...set].sort().join(',')]))
}

/** Takes `host` out of every aggregate (its compute service is deleted). */
export async function removeHostFromAggregates(db: Queryable, host: string): Promise<void> {
  await db.deleteFrom('aggregate_hosts').where('host', '=', host).execute()
}
