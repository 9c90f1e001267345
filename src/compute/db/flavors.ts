import { Conflict, NotFound, registerErrorClass } from '../../common/errors.ts'
import { paginate } from '../../db/paginate.ts'
import type { Queryable } from '../../db/schema.ts'
import type { FlavorRow } from '../../db/tables/compute.ts'
import { nowIso } from '../../db/values.ts'
import type { Flavor } from '../objects.ts'

/** Flavors with their extra specs and project access lists (Nova's API database). */

export class FlavorNotFound extends NotFound {}
registerErrorClass(FlavorNotFound)
export class FlavorExists extends Conflict {}
registerErrorClass(FlavorExists)
export class FlavorAccessExists extends Conflict {}
registerErrorClass(FlavorAccessExists)
export class FlavorAccessNotFound extends NotFound {}
registerErrorClass(FlavorAccessNotFound)

export function flavorNotFound(flavorid: string): FlavorNotFound {
  return new FlavorNotFound(`Flavor ${flavorid} could not be found.`, { flavorId: flavorid })
}

function flavorFromRow(row: FlavorRow, extraSpecs: Readonly<Record<string, string>>): Flavor {
  return {
    id: row.id,
    flavorid: row.flavorid,
    name: row.name,
    memoryMb: row.memory_mb,
    vcpus: row.vcpus,
    rootGb: row.root_gb,
    ephemeralGb: row.ephemeral_gb,
    swapMb: row.swap,
    rxtxFactor: Number(row.rxtx_factor),
    vcpuWeight: row.vcpu_weight,
    isPublic: row.is_public,
    disabled: row.disabled,
    description: row.description,
    extraSpecs,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

async function extraSpecsOf(
  db: Queryable,
  ids: readonly number[],
): Promise<Map<number, Record<string, string>>> {
  const out = new Map<number, Record<string, string>>(ids.map((id) => [id, {}]))
  if (ids.length === 0) return out
  const rows = await db
    .selectFrom('flavor_extra_specs')
    .selectAll()
    .where('flavor_id', 'in', ids)
    .orderBy('key')
    .execute()
  for (const r of rows) out.get(r.flavor_id)![r.key] = r.value
  return out
}

async function withSpecs(db: Queryable, rows: readonly FlavorRow[]): Promise<Flavor[]> {
  const specs = await extraSpecsOf(
    db,
    rows.map((r) => r.id),
  )
  return rows.map((r) => flavorFromRow(r, specs.get(r.id) ?? {}))
}

export interface NewFlavor {
  readonly flavorid: string
  readonly name: string
  readonly memoryMb: number
  readonly vcpus: number
  readonly rootGb: number
  readonly ephemeralGb: number
  readonly swapMb: number
  readonly rxtxFactor: number
  readonly isPublic: boolean
  readonly description: string | null
}

/** Creates a flavor; Conflict (FlavorExists) when the name or id is taken, in Nova's words. */
export async function createFlavor(db: Queryable, f: NewFlavor): Promise<Flavor> {
  const taken = await db
    .selectFrom('flavors')
    .select(['name', 'flavorid'])
    .where((eb) => eb.or([eb('name', '=', f.name), eb('flavorid', '=', f.flavorid)]))
    .executeTakeFirst()
  if (taken?.name === f.name) throw new FlavorExists(`Flavor with name ${f.name} already exists.`)
  if (taken) throw new FlavorExists(`Flavor with ID ${f.flavorid} already exists.`)
  const row = await db
    .insertInto('flavors')
    .values({
      flavorid: f.flavorid,
      name: f.name,
      memory_mb: f.memoryMb,
      vcpus: f.vcpus,
      root_gb: f.rootGb,
      ephemeral_gb: f.ephemeralGb,
      swap: f.swapMb,
      rxtx_factor: String(f.rxtxFactor),
      vcpu_weight: null,
      is_public: f.isPublic,
      disabled: false,
      description: f.description,
      created_at: nowIso(),
      updated_at: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow()
  return flavorFromRow(row, {})
}

/** A flavor by public id; FlavorNotFound if none. */
export async function getFlavor(db: Queryable, flavorid: string): Promise<Flavor> {
  const row = await db.selectFrom('flavors').selectAll().where('flavorid', '=', flavorid).executeTakeFirst()
  if (!row) throw flavorNotFound(flavorid)
  return (await withSpecs(db, [row]))[0]!
}

export async function deleteFlavor(db: Queryable, flavorid: string): Promise<void> {
  const result = await db.deleteFrom('flavors').where('flavorid', '=', flavorid).executeTakeFirst()
  if (result.numDeletedRows === 0n) throw flavorNotFound(flavorid)
}

export async function setFlavorDescription(
  db: Queryable,
  flavorid: string,
  description: string | null,
): Promise<Flavor> {
  const result = await db
    .updateTable('flavors')
    .set({ description, updated_at: nowIso() })
    .where('flavorid', '=', flavorid)
    .executeTakeFirst()
  if (result.numUpdatedRows === 0n) throw flavorNotFound(flavorid)
  return getFlavor(db, flavorid)
}

export interface FlavorFilter {
  /** true: public only; false: private only; null/undefined: both. */
  readonly isPublic?: boolean | null | undefined
  /** Project whose private flavors are visible too (non-admin listing). */
  readonly accessProjectId?: string | undefined
  readonly disabled?: boolean | undefined
  readonly minMemoryMb?: number | undefined
  readonly minRootGb?: number | undefined
}

/** One page of flavors (Nova's `FlavorList.get_all`). */
export async function listFlavors(
  db: Queryable,
  filter: FlavorFilter,
  page: { sortKey: string; sortDir: 'asc' | 'desc'; limit: number; marker?: string | undefined },
): Promise<{ readonly items: Flavor[]; readonly hasMore: boolean }> {
  let q = db.selectFrom('flavors').selectAll('flavors')
  if (filter.disabled !== undefined) q = q.where('disabled', '=', filter.disabled)
  if (filter.minMemoryMb !== undefined) q = q.where('memory_mb', '>=', filter.minMemoryMb)
  if (filter.minRootGb !== undefined) q = q.where('root_gb', '>=', filter.minRootGb)
  if (filter.isPublic !== undefined && filter.isPublic !== null) {
    const isPublic = filter.isPublic
    const project = filter.accessProjectId
    // A project sees the private flavors it was given access to as if they were public.
    q = q.where((eb) =>
      project !== undefined && isPublic
        ? eb.or([
            eb('is_public', '=', true),
            eb.exists(
              eb
                .selectFrom('flavor_projects')
                .select('flavor_projects.project_id')
                .whereRef('flavor_projects.flavor_id', '=', 'flavors.id')
                .where('flavor_projects.project_id', '=', project),
            ),
          ])
        : eb('is_public', '=', isPublic),
    )
  }
  let markerId: number | undefined
  if (page.marker !== undefined) {
    const m = await db
      .selectFrom('flavors')
      .select('id')
      .where('flavorid', '=', page.marker)
      .executeTakeFirst()
    if (!m) throw new NotFound(`Marker ${page.marker} could not be found.`, { markerNotFound: true })
    markerId = m.id
  }
  const result = await paginate(db, q, {
    table: 'flavors',
    sort: [{ column: page.sortKey, direction: page.sortDir }],
    limit: page.limit,
    marker: markerId,
    idColumn: 'id',
  })
  return { items: await withSpecs(db, result.items), hasMore: result.hasMore }
}

/** Adds or replaces extra specs. */
export async function upsertExtraSpecs(
  db: Queryable,
  flavorid: string,
  specs: Readonly<Record<string, string>>,
): Promise<void> {
  const flavor = await getFlavor(db, flavorid)
  for (const [key, value] of Object.entries(specs)) {
    await db
      .insertInto('flavor_extra_specs')
      .values({ flavor_id: flavor.id, key, value })
      .onConflict((oc) => oc.columns(['flavor_id', 'key']).doUpdateSet({ value }))
      .execute()
  }
  await db.updateTable('flavors').set({ updated_at: nowIso() }).where('id', '=', flavor.id).execute()
}

/** Deletes one extra spec; NotFound with Nova's message when the flavor has no such key. */
export async function deleteExtraSpec(db: Queryable, flavorid: string, key: string): Promise<void> {
  const flavor = await getFlavor(db, flavorid)
  const result = await db
    .deleteFrom('flavor_extra_specs')
    .where('flavor_id', '=', flavor.id)
    .where('key', '=', key)
    .executeTakeFirst()
  if (result.numDeletedRows === 0n) {
    throw new NotFound(`Flavor ${flavorid} has no extra specs with key ${key}.`)
  }
}

/** Projects given access to a (private) flavor. */
export async function flavorProjects(db: Queryable, flavorid: string): Promise<string[]> {
  const flavor = await getFlavor(db, flavorid)
  const rows = await db
    .selectFrom('flavor_projects')
    .select('project_id')
    .where('flavor_id', '=', flavor.id)
    .orderBy('project_id')
    .execute()
  return rows.map((r) => r.project_id)
}

export async function addFlavorAccess(db: Queryable, flavorid: string, projectId: string): Promise<void> {
  const flavor = await getFlavor(db, flavorid)
  const exists = await db
    .selectFrom('flavor_projects')
    .select('project_id')
    .where('flavor_id', '=', flavor.id)
    .where('project_id', '=', projectId)
    .executeTakeFirst()
  if (exists) {
    throw new FlavorAccessExists(
      `Flavor access already exists for flavor ${flavorid} and project ${projectId} combination.`,
    )
  }
  await db.insertInto('flavor_projects').values({ flavor_id: flavor.id, project_id: projectId }).execute()
}

export async function removeFlavorAccess(db: Queryable, flavorid: string, projectId: string): Promise<void> {
  const flavor = await getFlavor(db, flavorid)
  const result = await db
    .deleteFrom('flavor_projects')
    .where('flavor_id', '=', flavor.id)
    .where('project_id', '=', projectId)
    .executeTakeFirst()
  if (result.numDeletedRows === 0n) {
    throw new FlavorAccessNotFound(`Flavor access not found for ${flavorid} / ${projectId} combination.`)
  }
}

/** True when `projectId` may use the private flavor. */
export async function hasFlavorAccess(
  db: Queryable,
  flavor: Flavor,
  projectId: string | undefined,
): Promise<boolean> {
  if (flavor.isPublic) return true
  if (projectId === undefined) return false
  const row = await db
    .selectFrom('flavor_projects')
    .select('project_id')
    .where('flavor_id', '=', flavor.id)
    .where('project_id', '=', projectId)
    .executeTakeFirst()
  return row !== undefined
}

/** The flavors Nimbus creates on a fresh database: Nova's old m1.* defaults plus devstack's test flavors. */
export const DEFAULT_FLAVORS: readonly NewFlavor[] = [
  flavor('1', 'm1.tiny', 512, 1, 1),
  flavor('2', 'm1.small', 2048, 1, 20),
  flavor('3', 'm1.medium', 4096, 2, 40),
  flavor('4', 'm1.large', 8192, 4, 80),
  flavor('5', 'm1.xlarge', 16384, 8, 160),
  flavor('42', 'm1.nano', 128, 1, 1),
  flavor('84', 'm1.micro', 192, 1, 1),
]

function flavor(flavorid: string, name: string, memoryMb: number, vcpus: number, rootGb: number): NewFlavor {
  return {
    flavorid,
    name,
    memoryMb,
    vcpus,
    rootGb,
    ephemeralGb: 0,
    swapMb: 0,
    rxtxFactor: 1.0,
    isPublic: true,
    description: null,
  }
}

/** Creates the default flavors if the table is empty (first start). */
export async function seedDefaultFlavors(db: Queryable): Promise<void> {
  const any = await db.selectFrom('flavors').select('id').limit(1).executeTakeFirst()
  if (any) return
  for (const f of DEFAULT_FLAVORS) {
    await createFlavor(db, f).catch((err: unknown) => {
      // Another process seeding at the same time got there first.
      if (!(err instanceof Conflict)) throw err
    })
  }
}
