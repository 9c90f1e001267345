import { sql } from 'kysely'
import { NotFound, registerErrorClass } from '../../common/errors.ts'
import { paginate } from '../../db/paginate.ts'
import type { Queryable } from '../../db/schema.ts'
import type { MigrationRow } from '../../db/tables/compute-moves.ts'
import { fromJsonText, newId, nowIso, toJsonText } from '../../db/values.ts'
import {
  MOVE_HOLDING_STATUSES,
  type Migration,
  type MigrationType,
  type MigrationUpdates,
} from '../migration.ts'
import type { FlavorSnapshot } from '../objects.ts'

/**
 * The `migrations` table (Nova's MigrationList / Migration DB API). Every
 * function takes a `Queryable`, so it runs inside a transaction as well.
 */

/** Nova's MigrationNotFound family (404 unless the API maps it). */
export class MigrationNotFound extends NotFound {}
registerErrorClass(MigrationNotFound)

export function migrationFromRow(row: MigrationRow): Migration {
  return {
    id: row.id,
    uuid: row.uuid,
    instanceUuid: row.instance_uuid,
    sourceCompute: row.source_compute,
    sourceNode: row.source_node,
    destCompute: row.dest_compute,
    destNode: row.dest_node,
    destHost: row.dest_host,
    oldInstanceTypeId: row.old_instance_type_id,
    newInstanceTypeId: row.new_instance_type_id,
    oldFlavor: row.old_flavor === null ? null : fromJsonText<FlavorSnapshot>(row.old_flavor),
    newFlavor: row.new_flavor === null ? null : fromJsonText<FlavorSnapshot>(row.new_flavor),
    status: row.status,
    migrationType: row.migration_type as MigrationType,
    hidden: row.hidden,
    userId: row.user_id,
    projectId: row.project_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

export interface NewMigration {
  readonly instanceUuid: string
  readonly migrationType: MigrationType
  readonly status: string
  readonly sourceCompute: string | null
  readonly sourceNode: string | null
  readonly destCompute?: string | null | undefined
  readonly destNode?: string | null | undefined
  readonly oldFlavor?: FlavorSnapshot | undefined
  readonly newFlavor?: FlavorSnapshot | undefined
  readonly userId: string | null
  readonly projectId: string | null
}

export async function createMigration(db: Queryable, m: NewMigration): Promise<Migration> {
  const row = await db
    .insertInto('migrations')
    .values({
      uuid: newId(),
      instance_uuid: m.instanceUuid,
      source_compute: m.sourceCompute,
      source_node: m.sourceNode,
      dest_compute: m.destCompute ?? null,
      dest_node: m.destNode ?? null,
      dest_host: null,
      old_instance_type_id: m.oldFlavor?.id ?? null,
      new_instance_type_id: m.newFlavor?.id ?? null,
      old_flavor: m.oldFlavor ? toJsonText(m.oldFlavor) : null,
      new_flavor: m.newFlavor ? toJsonText(m.newFlavor) : null,
      status: m.status,
      migration_type: m.migrationType,
      hidden: false,
      user_id: m.userId,
      project_id: m.projectId,
      created_at: nowIso(),
      updated_at: null,
      deleted_at: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow()
  return migrationFromRow(row)
}

export async function getMigration(db: Queryable, uuid: string): Promise<Migration> {
  const row = await db.selectFrom('migrations').selectAll().where('uuid', '=', uuid).executeTakeFirst()
  if (!row) throw new MigrationNotFound(`Migration ${uuid} could not be found.`)
  return migrationFromRow(row)
}

/**
 * Updates a migration; with `expectedStatus`, only while it is in one of
 * those statuses (MigrationNotFound otherwise: someone else moved it on).
 */
export async function updateMigration(
  db: Queryable,
  uuid: string,
  updates: MigrationUpdates,
  expectedStatus?: readonly string[],
): Promise<Migration> {
  let q = db
    .updateTable('migrations')
    .set({
      ...(updates.status !== undefined ? { status: updates.status } : {}),
      ...(updates.destCompute !== undefined ? { dest_compute: updates.destCompute } : {}),
      ...(updates.destNode !== undefined ? { dest_node: updates.destNode } : {}),
      ...(updates.destHost !== undefined ? { dest_host: updates.destHost } : {}),
      ...(updates.sourceCompute !== undefined ? { source_compute: updates.sourceCompute } : {}),
      ...(updates.sourceNode !== undefined ? { source_node: updates.sourceNode } : {}),
      updated_at: nowIso(),
    })
    .where('uuid', '=', uuid)
  if (expectedStatus) q = q.where('status', 'in', [...expectedStatus])
  const row = await q.returningAll().executeTakeFirst()
  if (!row) {
    throw new MigrationNotFound(
      `Migration ${uuid} could not be found${expectedStatus ? ` in status ${expectedStatus.join(', ')}` : ''}.`,
    )
  }
  return migrationFromRow(row)
}

/** Nova's `Migration.get_by_instance_and_status`: the newest migration of the instance in `status`. */
export async function migrationByInstanceAndStatus(
  db: Queryable,
  instanceUuid: string,
  status: string,
): Promise<Migration> {
  const row = await db
    .selectFrom('migrations')
    .selectAll()
    .where('instance_uuid', '=', instanceUuid)
    .where('status', '=', status)
    .orderBy('id', 'desc')
    .executeTakeFirst()
  if (!row) {
    throw new MigrationNotFound(`Migration not found for instance ${instanceUuid} with status ${status}.`)
  }
  return migrationFromRow(row)
}

/** Nova's `Migration.get_by_id_and_instance`. */
export async function migrationByIdAndInstance(
  db: Queryable,
  id: number,
  instanceUuid: string,
): Promise<Migration> {
  const row = await db
    .selectFrom('migrations')
    .selectAll()
    .where('id', '=', id)
    .where('instance_uuid', '=', instanceUuid)
    .executeTakeFirst()
  if (!row) throw new MigrationNotFound(`Migration ${id} not found for instance ${instanceUuid}`)
  return migrationFromRow(row)
}

/** Resizes and cold migrations holding resources on two hosts (see MOVE_HOLDING_STATUSES). */
export async function holdingMigrations(db: Queryable, instanceUuid?: string): Promise<Migration[]> {
  let q = db
    .selectFrom('migrations')
    .selectAll()
    .where('status', 'in', [...MOVE_HOLDING_STATUSES])
    .where('migration_type', 'in', ['resize', 'migration'])
  if (instanceUuid !== undefined) q = q.where('instance_uuid', '=', instanceUuid)
  return (await q.orderBy('id').execute()).map(migrationFromRow)
}

/** Migrations `finished` (servers in VERIFY_RESIZE) whose last change is older than `cutoffIso`. */
export async function unconfirmedOlderThan(db: Queryable, cutoffIso: string): Promise<Migration[]> {
  const rows = await db
    .selectFrom('migrations')
    .selectAll()
    .where('status', '=', 'finished')
    .where(sql<string>`coalesce(updated_at, created_at)`, '<', cutoffIso)
    .orderBy('id')
    .execute()
  return rows.map(migrationFromRow)
}

/** The filters of `GET /os-migrations` (Nova's `migration_get_all_by_filters`). */
export interface MigrationFilter {
  readonly status?: string | undefined
  /** Source or destination compute. */
  readonly host?: string | undefined
  readonly sourceCompute?: string | undefined
  readonly migrationType?: string | undefined
  readonly hidden?: boolean | undefined
  readonly instanceUuid?: string | undefined
  readonly userId?: string | undefined
  readonly projectId?: string | undefined
  readonly changesSince?: string | undefined
  readonly changesBefore?: string | undefined
}

export async function listMigrations(
  db: Queryable,
  filter: MigrationFilter,
  page?: { limit?: number | undefined; marker?: string | undefined },
): Promise<{ items: Migration[]; hasMore: boolean }> {
  let q = db.selectFrom('migrations').selectAll()
  if (filter.status !== undefined) q = q.where('status', '=', filter.status)
  if (filter.host !== undefined) {
    const host = filter.host
    q = q.where((eb) => eb.or([eb('source_compute', '=', host), eb('dest_compute', '=', host)]))
  } else if (filter.sourceCompute !== undefined) {
    q = q.where('source_compute', '=', filter.sourceCompute)
  }
  if (filter.migrationType !== undefined) q = q.where('migration_type', '=', filter.migrationType)
  if (filter.hidden !== undefined) q = q.where('hidden', '=', filter.hidden)
  if (filter.instanceUuid !== undefined) q = q.where('instance_uuid', '=', filter.instanceUuid)
  if (filter.userId !== undefined) q = q.where('user_id', '=', filter.userId)
  if (filter.projectId !== undefined) q = q.where('project_id', '=', filter.projectId)
  const changed = sql<string>`coalesce(updated_at, created_at)`
  if (filter.changesSince !== undefined) q = q.where(changed, '>=', filter.changesSince)
  if (filter.changesBefore !== undefined) q = q.where(changed, '<=', filter.changesBefore)
  if (!page) {
    const rows = await q.orderBy('id').execute()
    return { items: rows.map(migrationFromRow), hasMore: false }
  }
  const result = await paginate(db, q, {
    table: 'migrations',
    sort: [
      { column: 'created_at', direction: 'desc' },
      { column: 'id', direction: 'desc' },
    ],
    limit: page.limit,
    marker: page.marker,
    idColumn: 'uuid',
  })
  return { items: result.items.map(migrationFromRow), hasMore: result.hasMore }
}

/** Resources a move holds on one node (for the scheduler's host states). */
export interface MoveUsage {
  readonly instanceUuid: string
  readonly host: string
  readonly node: string | null
  readonly vcpus: number
  readonly memoryMb: number
  /** root + ephemeral + swap, in GB. */
  readonly diskGb: number
}

const MB_PER_GB = 1024

/**
 * What resizes and cold migrations in progress hold: the old flavor on the
 * source node and the new flavor on the destination node (once chosen).
 * Their instances are counted here rather than from the instance row.
 */
export async function moveUsages(db: Queryable): Promise<MoveUsage[]> {
  const out: MoveUsage[] = []
  const add = (m: Migration, host: string | null, node: string | null, f: FlavorSnapshot | null) => {
    if (host === null || f === null) return
    out.push({
      instanceUuid: m.instanceUuid,
      host,
      node,
      vcpus: f.vcpus,
      memoryMb: f.memoryMb,
      diskGb: f.rootGb + f.ephemeralGb + f.swapMb / MB_PER_GB,
    })
  }
  for (const m of await holdingMigrations(db)) {
    add(m, m.sourceCompute, m.sourceNode, m.oldFlavor)
    add(m, m.destCompute, m.destNode, m.newFlavor)
  }
  return out
}

/** The uuids of instances whose resources `moveUsages` counts (a subquery for the scheduler). */
export function movingInstanceUuids(db: Queryable) {
  return db
    .selectFrom('migrations')
    .select('instance_uuid')
    .where('status', 'in', [...MOVE_HOLDING_STATUSES])
    .where('migration_type', 'in', ['resize', 'migration'])
}

/** The scheduler's allocation for a move: the destination recorded on the migration. */
export async function allocateMove(
  db: Queryable,
  migrationUuid: string,
  dest: { readonly host: string; readonly node: string },
): Promise<void> {
  await db
    .updateTable('migrations')
    .set({ dest_compute: dest.host, dest_node: dest.node, updated_at: nowIso() })
    .where('uuid', '=', migrationUuid)
    .execute()
}

/** Gives an instance another flavor (finish_resize, revert): the snapshot and the columns usage is counted from. */
export async function setInstanceFlavor(db: Queryable, uuid: string, flavor: FlavorSnapshot): Promise<void> {
  await db
    .updateTable('instances')
    .set({
      flavor: toJsonText(flavor),
      flavor_id: flavor.flavorid,
      memory_mb: flavor.memoryMb,
      vcpus: flavor.vcpus,
      root_gb: flavor.rootGb,
      ephemeral_gb: flavor.ephemeralGb,
      updated_at: nowIso(),
    })
    .where('uuid', '=', uuid)
    .execute()
}

/**
 * Evacuations away from `host` that its compute service has not cleaned up
 * yet (Nova's `_destroy_evacuated_instances` filter), with where each server is now.
 */
export async function evacuationsFrom(
  db: Queryable,
  host: string,
): Promise<{ migration: Migration; instanceHost: string | null }[]> {
  const rows = await db
    .selectFrom('migrations')
    .leftJoin('instances', 'instances.uuid', 'migrations.instance_uuid')
    .selectAll('migrations')
    .select('instances.host as instance_host')
    .where('migrations.source_compute', '=', host)
    .where('migrations.migration_type', '=', 'evacuation')
    .where('migrations.status', 'in', ['accepted', 'pre-migrating', 'done'])
    .orderBy('migrations.id')
    .execute()
  return rows.map(({ instance_host, ...row }) => ({
    migration: migrationFromRow(row),
    instanceHost: instance_host,
  }))
}
