import { NotFound } from '../common/errors.ts'
import type { Database } from '../db/index.ts'
import type { EndpointGroupRow } from '../db/tables/identity.ts'
import { nowIso } from '../db/values.ts'
import type { CatalogManager, Endpoint } from './catalog.ts'
import { conflict, isDuplicate, newKeystoneId, notFound, orConflict } from './common.ts'
import type { Project, ResourceManager } from './resource.ts'

/** The endpoint attributes an endpoint group may filter on (Keystone's `_require_valid_filter`). */
export const ENDPOINT_GROUP_FILTER_KEYS = ['service_id', 'region_id', 'interface'] as const

export type EndpointGroupFilters = Readonly<Record<string, unknown>>

/** An OS-EP-FILTER endpoint group: every endpoint whose attributes equal all of `filters`. */
export interface EndpointGroup {
  readonly id: string
  readonly name: string
  readonly description: string | null
  readonly filters: EndpointGroupFilters
}

/** An endpoint group associated with a project. */
export interface ProjectEndpointGroup {
  readonly endpointGroupId: string
  readonly projectId: string
}

const toGroup = (r: EndpointGroupRow): EndpointGroup => ({
  id: r.id,
  name: r.name,
  description: r.description,
  filters: JSON.parse(r.filters) as EndpointGroupFilters,
})

/** An endpoint's value for a filter key, as Keystone's endpoint dict names it. */
function attribute(e: Endpoint, key: string): unknown {
  switch (key) {
    case 'service_id':
      return e.serviceId
    case 'region_id':
      return e.regionId
    case 'interface':
      return e.interface
    case 'enabled':
      return e.enabled
    default:
      return e.extra[key]
  }
}

/** True when `e` matches every filter (Keystone compares each key for equality). */
export function matchesFilters(e: Endpoint, filters: EndpointGroupFilters): boolean {
  return Object.entries(filters).every(([k, v]) => attribute(e, k) === v)
}

/**
 * Keystone's OS-EP-FILTER (catalog/core.py and the sql catalog driver):
 * endpoint groups, and the project associations (single endpoints, endpoint
 * groups) that restrict a project-scoped token's catalog. A project with no
 * association sees the whole catalog (`return_all_endpoints_if_no_filter`).
 */
export class EndpointFilterManager {
  readonly #db: Database
  readonly #catalog: CatalogManager
  readonly #resources: ResourceManager

  constructor(db: Database, catalog: CatalogManager, resources: ResourceManager) {
    this.#db = db
    this.#catalog = catalog
    this.#resources = resources
  }

  // ---- endpoint groups ----

  async createGroup(input: {
    readonly name: string
    readonly description?: string | null | undefined
    readonly filters: EndpointGroupFilters
  }): Promise<EndpointGroup> {
    const row = {
      id: newKeystoneId(),
      name: input.name,
      description: input.description ?? null,
      filters: JSON.stringify(input.filters),
      created_at: nowIso(),
      updated_at: null,
    }
    await this.#db.kysely.insertInto('endpoint_groups').values(row).execute()
    return toGroup(row)
  }

  async getGroup(id: string): Promise<EndpointGroup> {
    const row = await this.#db.kysely
      .selectFrom('endpoint_groups')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst()
    if (!row) throw notFound('endpoint group', id)
    return toGroup(row)
  }

  /** Every group, oldest first; `name` filters as Keystone's `?name=`. */
  async listGroups(f: { readonly name?: string | undefined } = {}): Promise<EndpointGroup[]> {
    let q = this.#db.kysely.selectFrom('endpoint_groups').selectAll().orderBy('created_at').orderBy('id')
    if (f.name !== undefined) q = q.where('name', '=', f.name)
    return (await q.execute()).map(toGroup)
  }

  async updateGroup(
    id: string,
    patch: {
      readonly name?: string
      readonly description?: string | null
      readonly filters?: EndpointGroupFilters
    },
  ): Promise<EndpointGroup> {
    await this.getGroup(id)
    await this.#db.kysely
      .updateTable('endpoint_groups')
      .set({
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.description !== undefined ? { description: patch.description } : {}),
        ...(patch.filters !== undefined ? { filters: JSON.stringify(patch.filters) } : {}),
        updated_at: nowIso(),
      })
      .where('id', '=', id)
      .execute()
    return this.getGroup(id)
  }

  /** Deletes a group and its project associations. */
  async deleteGroup(id: string): Promise<void> {
    await this.getGroup(id)
    await this.#db.kysely.deleteFrom('endpoint_groups').where('id', '=', id).execute()
  }

  /** The endpoints a group selects (404 for an unknown group). */
  async endpointsInGroup(id: string): Promise<Endpoint[]> {
    const g = await this.getGroup(id)
    return (await this.#catalog.listEndpoints()).filter((e) => matchesFilters(e, g.filters))
  }

  // ---- project <-> endpoint ----

  /** Associates an endpoint with a project; associating it again changes nothing. */
  async addEndpointToProject(endpointId: string, projectId: string): Promise<void> {
    await this.#catalog.getEndpoint(endpointId)
    await this.#resources.getProject(projectId)
    try {
      await this.#db.kysely
        .insertInto('project_endpoints')
        .values({ endpoint_id: endpointId, project_id: projectId, created_at: nowIso() })
        .execute()
    } catch (err) {
      if (!isDuplicate(err)) throw err
    }
  }

  /** 404 unless the endpoint, the project and their association exist. */
  async checkEndpointInProject(endpointId: string, projectId: string): Promise<void> {
    await this.#catalog.getEndpoint(endpointId)
    await this.#resources.getProject(projectId)
    const row = await this.#db.kysely
      .selectFrom('project_endpoints')
      .select('endpoint_id')
      .where('endpoint_id', '=', endpointId)
      .where('project_id', '=', projectId)
      .executeTakeFirst()
    if (!row) throw endpointNotInProject(endpointId, projectId)
  }

  async removeEndpointFromProject(endpointId: string, projectId: string): Promise<void> {
    const res = await this.#db.kysely
      .deleteFrom('project_endpoints')
      .where('endpoint_id', '=', endpointId)
      .where('project_id', '=', projectId)
      .executeTakeFirst()
    if (Number(res.numDeletedRows) === 0) throw endpointNotInProject(endpointId, projectId)
  }

  /** The projects an endpoint is associated with directly (404 for an unknown endpoint). */
  async projectsForEndpoint(endpointId: string): Promise<Project[]> {
    await this.#catalog.getEndpoint(endpointId)
    const rows = await this.#db.kysely
      .selectFrom('project_endpoints')
      .select('project_id')
      .where('endpoint_id', '=', endpointId)
      .orderBy('project_id')
      .execute()
    return this.#projects(rows.map((r) => r.project_id))
  }

  /**
   * The endpoints a project sees: those associated directly and those its
   * endpoint groups select (Keystone's list_endpoints_for_project). Empty
   * when the project has no association: then it sees the whole catalog.
   */
  async endpointsForProject(projectId: string): Promise<Endpoint[]> {
    await this.#resources.getProject(projectId)
    return this.#endpointsFor(projectId)
  }

  /** The ids of `endpointsForProject`, or undefined when the project is not filtered (for tokens). */
  async catalogFilterFor(projectId: string): Promise<ReadonlySet<string> | undefined> {
    const eps = await this.#endpointsFor(projectId)
    return eps.length === 0 ? undefined : new Set(eps.map((e) => e.id))
  }

  async #endpointsFor(projectId: string): Promise<Endpoint[]> {
    const [direct, groups] = await Promise.all([
      this.#db.kysely
        .selectFrom('project_endpoints')
        .select('endpoint_id')
        .where('project_id', '=', projectId)
        .execute(),
      this.#groupsOf(projectId),
    ])
    if (direct.length === 0 && groups.length === 0) return []
    const directIds = new Set(direct.map((r) => r.endpoint_id))
    return (await this.#catalog.listEndpoints()).filter(
      (e) => directIds.has(e.id) || groups.some((g) => matchesFilters(e, g.filters)),
    )
  }

  // ---- project <-> endpoint group ----

  async addGroupToProject(groupId: string, projectId: string): Promise<void> {
    await this.#resources.getProject(projectId)
    await this.getGroup(groupId)
    await orConflict(
      () =>
        this.#db.kysely
          .insertInto('project_endpoint_groups')
          .values({ endpoint_group_id: groupId, project_id: projectId, created_at: nowIso() })
          .execute(),
      () => conflict('project_endpoint_group', 'Duplicate entry'),
    )
  }

  async getGroupInProject(groupId: string, projectId: string): Promise<ProjectEndpointGroup> {
    await this.#resources.getProject(projectId)
    await this.getGroup(groupId)
    const row = await this.#db.kysely
      .selectFrom('project_endpoint_groups')
      .select('endpoint_group_id')
      .where('endpoint_group_id', '=', groupId)
      .where('project_id', '=', projectId)
      .executeTakeFirst()
    if (!row) throw new NotFound('Endpoint Group Project Association not found')
    return { endpointGroupId: groupId, projectId }
  }

  async removeGroupFromProject(groupId: string, projectId: string): Promise<void> {
    await this.getGroupInProject(groupId, projectId)
    await this.#db.kysely
      .deleteFrom('project_endpoint_groups')
      .where('endpoint_group_id', '=', groupId)
      .where('project_id', '=', projectId)
      .execute()
  }

  /** The groups associated with a project (404 for an unknown project). */
  async groupsForProject(projectId: string): Promise<EndpointGroup[]> {
    await this.#resources.getProject(projectId)
    return this.#groupsOf(projectId)
  }

  async #groupsOf(projectId: string): Promise<EndpointGroup[]> {
    const rows = await this.#db.kysely
      .selectFrom('project_endpoint_groups')
      .innerJoin('endpoint_groups', 'endpoint_groups.id', 'project_endpoint_groups.endpoint_group_id')
      .selectAll('endpoint_groups')
      .where('project_endpoint_groups.project_id', '=', projectId)
      .orderBy('endpoint_groups.created_at')
      .execute()
    return rows.map(toGroup)
  }

  /** The projects a group is associated with (as Keystone, an unknown group has none). */
  async projectsForGroup(groupId: string): Promise<Project[]> {
    const rows = await this.#db.kysely
      .selectFrom('project_endpoint_groups')
      .select('project_id')
      .where('endpoint_group_id', '=', groupId)
      .orderBy('project_id')
      .execute()
    return this.#projects(rows.map((r) => r.project_id))
  }

  async #projects(ids: readonly string[]): Promise<Project[]> {
    const out: Project[] = []
    for (const id of ids) out.push(await this.#resources.getProject(id))
    return out
  }
}

function endpointNotInProject(endpointId: string, projectId: string): NotFound {
  return new NotFound(`Endpoint ${endpointId} not found in project ${projectId}`)
}
