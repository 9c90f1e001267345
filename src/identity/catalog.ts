import { Forbidden, Invalid } from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import type { Database } from '../db/index.ts'
import type { CatalogServiceRow, EndpointRow, RegionRow } from '../db/tables/identity.ts'
import { nowIso } from '../db/values.ts'
import { conflict, newKeystoneId, notFound, orConflict, parseExtra, type Extra } from './common.ts'

export const INTERFACES = ['public', 'internal', 'admin'] as const
export type Interface = (typeof INTERFACES)[number]

export interface Region {
  readonly id: string
  readonly description: string | null
  readonly parentRegionId: string | null
  readonly extra: Extra
}

export interface CatalogService {
  readonly id: string
  readonly type: string
  readonly name: string | null
  readonly description: string | null
  readonly enabled: boolean
  readonly extra: Extra
}

export interface Endpoint {
  readonly id: string
  readonly serviceId: string
  readonly regionId: string | null
  readonly interface: Interface
  readonly url: string
  readonly enabled: boolean
  readonly extra: Extra
}

/** One service of a token's catalog, as Keystone renders it. */
export interface CatalogEntry {
  readonly id: string
  readonly type: string
  readonly name: string
  readonly endpoints: readonly {
    readonly id: string
    readonly interface: string
    readonly region: string | null
    readonly region_id: string | null
    readonly url: string
  }[]
}

const toRegion = (r: RegionRow): Region => ({
  id: r.id,
  description: r.description,
  parentRegionId: r.parent_region_id,
  extra: parseExtra(r.extra),
})
const toService = (r: CatalogServiceRow): CatalogService => ({
  id: r.id,
  type: r.type,
  name: r.name,
  description: r.description,
  enabled: r.enabled,
  extra: parseExtra(r.extra),
})
const toEndpoint = (r: EndpointRow): Endpoint => ({
  id: r.id,
  serviceId: r.service_id,
  regionId: r.region_id,
  interface: r.interface,
  url: r.url,
  enabled: r.enabled,
  extra: parseExtra(r.extra),
})

/** The whole catalog, read once and reused until it changes (or ages out, for other identity processes). */
interface Snapshot {
  readonly generation: number
  readonly readAtMs: number
  readonly services: readonly CatalogService[]
  readonly endpoints: readonly Endpoint[]
}

/**
 * Regions, services and endpoints (Keystone's catalog API). The catalog is
 * data: `nimbus up` registers the running services through this manager,
 * operators change it through the API.
 */
export class CatalogManager {
  readonly #db: Database
  #generation = 0
  #snapshot: Snapshot | undefined

  constructor(db: Database) {
    this.#db = db
  }

  #changed(): void {
    this.#generation++
  }

  // ---- regions ----

  async createRegion(input: {
    readonly id?: string | undefined
    readonly description?: string | null | undefined
    readonly parentRegionId?: string | null | undefined
    readonly extra?: Extra | undefined
  }): Promise<Region> {
    if (input.parentRegionId) {
      const parent = await this.findRegion(input.parentRegionId)
      if (!parent) throw new Invalid(`Could not find region: ${input.parentRegionId}.`)
    }
    const id = input.id ?? newKeystoneId()
    const row = {
      id,
      description: input.description ?? null,
      parent_region_id: input.parentRegionId ?? null,
      extra: JSON.stringify(input.extra ?? {}),
      created_at: nowIso(),
      updated_at: null,
    }
    await orConflict(
      () => this.#db.kysely.insertInto('catalog_regions').values(row).execute(),
      () => conflict('region', `Duplicate ID, ${id}`),
    )
    this.#changed()
    return toRegion(row)
  }

  async findRegion(id: string): Promise<Region | undefined> {
    const row = await this.#db.kysely
      .selectFrom('catalog_regions')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst()
    return row ? toRegion(row) : undefined
  }

  async getRegion(id: string): Promise<Region> {
    const r = await this.findRegion(id)
    if (!r) throw notFound('region', id)
    return r
  }

  async listRegions(f: { parentRegionId?: string | undefined } = {}): Promise<Region[]> {
    let q = this.#db.kysely.selectFrom('catalog_regions').selectAll().orderBy('id')
    if (f.parentRegionId !== undefined) q = q.where('parent_region_id', '=', f.parentRegionId)
    return (await q.execute()).map(toRegion)
  }

  async updateRegion(
    id: string,
    patch: {
      readonly description?: string | null
      readonly parentRegionId?: string | null
      readonly extra?: Extra
    },
  ): Promise<Region> {
    const before = await this.getRegion(id)
    if (patch.parentRegionId) {
      if (patch.parentRegionId === id)
        throw new Invalid(`The specified parent region ${id} would cause a loop.`)
      await this.getRegion(patch.parentRegionId)
    }
    await this.#db.kysely
      .updateTable('catalog_regions')
      .set({
        ...(patch.description !== undefined ? { description: patch.description } : {}),
        ...(patch.parentRegionId !== undefined ? { parent_region_id: patch.parentRegionId } : {}),
        ...(patch.extra !== undefined ? { extra: JSON.stringify({ ...before.extra, ...patch.extra }) } : {}),
        updated_at: nowIso(),
      })
      .where('id', '=', id)
      .execute()
    this.#changed()
    return this.getRegion(id)
  }

  /** Deletes a region; 403 while it or a child region has endpoints (Keystone's RegionDeletionError). */
  async deleteRegion(id: string): Promise<void> {
    await this.getRegion(id)
    const inUse = await this.#db.kysely
      .selectFrom('catalog_endpoints')
      .select('id')
      .where('region_id', '=', id)
      .executeTakeFirst()
    const child = await this.#db.kysely
      .selectFrom('catalog_regions')
      .select('id')
      .where('parent_region_id', '=', id)
      .executeTakeFirst()
    if (inUse || child) {
      throw new Forbidden(
        `Unable to delete region ${id} because it or its child regions have associated endpoints.`,
      )
    }
    await this.#db.kysely.deleteFrom('catalog_regions').where('id', '=', id).execute()
    this.#changed()
  }

  // ---- services ----

  async createService(input: {
    readonly type: string
    readonly name?: string | null | undefined
    readonly description?: string | null | undefined
    readonly enabled?: boolean | undefined
    readonly extra?: Extra | undefined
  }): Promise<CatalogService> {
    const row = {
      id: newKeystoneId(),
      type: input.type,
      name: input.name ?? null,
      description: input.description ?? null,
      enabled: input.enabled ?? true,
      extra: JSON.stringify(input.extra ?? {}),
      created_at: nowIso(),
      updated_at: null,
    }
    await this.#db.kysely.insertInto('catalog_services').values(row).execute()
    this.#changed()
    return toService(row)
  }

  async getService(id: string): Promise<CatalogService> {
    const row = await this.#db.kysely
      .selectFrom('catalog_services')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst()
    if (!row) throw notFound('service', id)
    return toService(row)
  }

  async listServices(
    f: { type?: string | undefined; name?: string | undefined } = {},
  ): Promise<CatalogService[]> {
    let q = this.#db.kysely.selectFrom('catalog_services').selectAll().orderBy('type').orderBy('id')
    if (f.type !== undefined) q = q.where('type', '=', f.type)
    if (f.name !== undefined) q = q.where('name', '=', f.name)
    return (await q.execute()).map(toService)
  }

  async updateService(
    id: string,
    patch: {
      readonly type?: string
      readonly name?: string | null
      readonly description?: string | null
      readonly enabled?: boolean
      readonly extra?: Extra
    },
  ): Promise<CatalogService> {
    const before = await this.getService(id)
    await this.#db.kysely
      .updateTable('catalog_services')
      .set({
        ...(patch.type !== undefined ? { type: patch.type } : {}),
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.description !== undefined ? { description: patch.description } : {}),
        ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
        ...(patch.extra !== undefined ? { extra: JSON.stringify({ ...before.extra, ...patch.extra }) } : {}),
        updated_at: nowIso(),
      })
      .where('id', '=', id)
      .execute()
    this.#changed()
    return this.getService(id)
  }

  /** Deletes a service and its endpoints. */
  async deleteService(id: string): Promise<void> {
    await this.getService(id)
    await this.#db.kysely.deleteFrom('catalog_services').where('id', '=', id).execute()
    this.#changed()
  }

  // ---- endpoints ----

  async createEndpoint(input: {
    readonly serviceId: string
    readonly regionId?: string | null | undefined
    readonly interface: Interface
    readonly url: string
    readonly enabled?: boolean | undefined
    readonly extra?: Extra | undefined
  }): Promise<Endpoint> {
    await this.#checkEndpointRefs(input.serviceId, input.regionId)
    const row = {
      id: newKeystoneId(),
      service_id: input.serviceId,
      region_id: input.regionId ?? null,
      interface: input.interface,
      url: input.url,
      enabled: input.enabled ?? true,
      extra: JSON.stringify(input.extra ?? {}),
      created_at: nowIso(),
      updated_at: null,
    }
    await this.#db.kysely.insertInto('catalog_endpoints').values(row).execute()
    this.#changed()
    return toEndpoint(row)
  }

  async #checkEndpointRefs(
    serviceId: string | undefined,
    regionId: string | null | undefined,
  ): Promise<void> {
    if (serviceId !== undefined) {
      const svc = await this.#db.kysely
        .selectFrom('catalog_services')
        .select('id')
        .where('id', '=', serviceId)
        .executeTakeFirst()
      if (!svc) throw new Invalid(`Could not find service: ${serviceId}.`)
    }
    if (regionId && !(await this.findRegion(regionId)))
      throw new Invalid(`Could not find region: ${regionId}.`)
  }

  async getEndpoint(id: string): Promise<Endpoint> {
    const row = await this.#db.kysely
      .selectFrom('catalog_endpoints')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst()
    if (!row) throw notFound('endpoint', id)
    return toEndpoint(row)
  }

  async listEndpoints(
    f: { interface?: string | undefined; serviceId?: string | undefined; regionId?: string | undefined } = {},
  ): Promise<Endpoint[]> {
    let q = this.#db.kysely
      .selectFrom('catalog_endpoints')
      .selectAll()
      .orderBy('service_id')
      .orderBy('interface')
    if (f.interface !== undefined) q = q.where('interface', '=', f.interface as Interface)
    if (f.serviceId !== undefined) q = q.where('service_id', '=', f.serviceId)
    if (f.regionId !== undefined) q = q.where('region_id', '=', f.regionId)
    return (await q.execute()).map(toEndpoint)
  }

  async updateEndpoint(
    id: string,
    patch: {
      readonly serviceId?: string
      readonly regionId?: string | null
      readonly interface?: Interface
      readonly url?: string
      readonly enabled?: boolean
      readonly extra?: Extra
    },
  ): Promise<Endpoint> {
    const before = await this.getEndpoint(id)
    await this.#checkEndpointRefs(patch.serviceId, patch.regionId)
    await this.#db.kysely
      .updateTable('catalog_endpoints')
      .set({
        ...(patch.serviceId !== undefined ? { service_id: patch.serviceId } : {}),
        ...(patch.regionId !== undefined ? { region_id: patch.regionId } : {}),
        ...(patch.interface !== undefined ? { interface: patch.interface } : {}),
        ...(patch.url !== undefined ? { url: patch.url } : {}),
        ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
        ...(patch.extra !== undefined ? { extra: JSON.stringify({ ...before.extra, ...patch.extra }) } : {}),
        updated_at: nowIso(),
      })
      .where('id', '=', id)
      .execute()
    this.#changed()
    return this.getEndpoint(id)
  }

  async deleteEndpoint(id: string): Promise<void> {
    await this.getEndpoint(id)
    await this.#db.kysely.deleteFrom('catalog_endpoints').where('id', '=', id).execute()
    this.#changed()
  }

  // ---- the token's catalog ----

  /**
   * The catalog a token shows: enabled services with their enabled
   * endpoints, `$(project_id)s`-style placeholders filled in. An endpoint
   * whose placeholder cannot be filled (a project URL in a domain-scoped
   * token) is left out, as Keystone does. With `only` (a project's
   * OS-EP-FILTER endpoints), other endpoints and services left without
   * endpoints are left out too.
   */
  async catalogFor(values: {
    readonly userId: string
    readonly projectId?: string | undefined
    readonly only?: ReadonlySet<string> | undefined
  }): Promise<CatalogEntry[]> {
    const snap = await this.#read()
    const subs: Record<string, string | undefined> = {
      user_id: values.userId,
      project_id: values.projectId,
      tenant_id: values.projectId,
    }
    const only = values.only
    const entries = snap.services
      .filter((s) => s.enabled)
      .map((s) => ({
        id: s.id,
        type: s.type,
        name: s.name ?? '',
        endpoints: snap.endpoints
          .filter((e) => e.serviceId === s.id && e.enabled && (!only || only.has(e.id)))
          .flatMap((e) => {
            const url = substitute(e.url, subs)
            return url === undefined
              ? []
              : [{ id: e.id, interface: e.interface, region: e.regionId, region_id: e.regionId, url }]
          }),
      }))
    return only ? entries.filter((s) => s.endpoints.length > 0) : entries
  }

  async #read(): Promise<Snapshot> {
    const now = Date.now()
    const s = this.#snapshot
    if (s && s.generation === this.#generation && now - s.readAtMs < limits.identityTokenCacheMaxAgeMs)
      return s
    const generation = this.#generation
    const [services, endpoints] = await Promise.all([this.listServices(), this.listEndpoints()])
    this.#snapshot = { generation, readAtMs: now, services, endpoints }
    return this.#snapshot
  }
}

/** Fills `$(name)s` / `%(name)s`; undefined when a named value is missing. */
function substitute(url: string, subs: Record<string, string | undefined>): string | undefined {
  let missing = false
  const out = url.replace(/[$%]\(([a-z_]+)\)s/g, (_m, name: string) => {
    const v = subs[name]
    if (v === undefined) missing = true
    return v ?? ''
  })
  return missing ? undefined : out
}
