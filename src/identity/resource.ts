import { Invalid } from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import type { Database } from '../db/index.ts'
import type { DomainRow, ProjectRow } from '../db/tables/identity.ts'
import { nowIso } from '../db/values.ts'
import {
  conflict,
  forbidden,
  newKeystoneId,
  notFound,
  orConflict,
  parseExtra,
  type ChangeClock,
  type Extra,
} from './common.ts'
import type { Revocations } from './revocation.ts'

/** The id of the domain `nimbus up` creates, as Keystone's bootstrap names it. */
export const DEFAULT_DOMAIN_ID = 'default'

export interface Domain {
  readonly id: string
  readonly name: string
  readonly description: string | null
  readonly enabled: boolean
  readonly extra: Extra
}

export interface Project {
  readonly id: string
  readonly name: string
  readonly domainId: string
  /** null for a top-level project (the API shows the domain id). */
  readonly parentId: string | null
  readonly description: string | null
  readonly enabled: boolean
  readonly tags: readonly string[]
  readonly extra: Extra
}

export interface DomainInput {
  readonly id?: string | undefined
  readonly name: string
  readonly description?: string | null | undefined
  readonly enabled?: boolean | undefined
  readonly extra?: Extra | undefined
}

export interface DomainPatch {
  readonly name?: string
  readonly description?: string | null
  readonly enabled?: boolean
  readonly extra?: Extra
}

export interface ProjectInput {
  readonly id?: string | undefined
  readonly name: string
  readonly domainId: string
  readonly parentId?: string | null | undefined
  readonly description?: string | null | undefined
  readonly enabled?: boolean | undefined
  readonly tags?: readonly string[] | undefined
  readonly extra?: Extra | undefined
}

export interface ProjectPatch {
  readonly name?: string
  readonly description?: string | null
  readonly enabled?: boolean
  readonly tags?: readonly string[]
  readonly extra?: Extra
}

export interface ProjectFilters {
  readonly domainId?: string | undefined
  readonly name?: string | undefined
  readonly enabled?: boolean | undefined
  readonly parentId?: string | undefined
  /** Every tag must be present. */
  readonly tags?: readonly string[] | undefined
  /** At least one tag must be present. */
  readonly tagsAny?: readonly string[] | undefined
  readonly notTags?: readonly string[] | undefined
  readonly notTagsAny?: readonly string[] | undefined
}

const TAG_MAX_CHARS = 255
const TAG_FORBIDDEN = /[/,]/

function toDomain(r: DomainRow): Domain {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    enabled: r.enabled,
    extra: parseExtra(r.extra),
  }
}

function toProject(r: ProjectRow): Project {
  return {
    id: r.id,
    name: r.name,
    domainId: r.domain_id,
    parentId: r.parent_id,
    description: r.description,
    enabled: r.enabled,
    tags: JSON.parse(r.tags) as string[],
    extra: parseExtra(r.extra),
  }
}

/** Checks tags as Keystone does: at most 80, each 1..255 characters without '/' or ','. */
export function checkTags(tags: readonly string[]): string[] {
  if (tags.length > limits.identityProjectMaxTags) {
    throw new Invalid(
      `Invalid input for field 'tags': too many tags (at most ${limits.identityProjectMaxTags})`,
    )
  }
  for (const tag of tags) {
    if (tag.length === 0 || tag.length > TAG_MAX_CHARS || TAG_FORBIDDEN.test(tag)) {
      throw new Invalid(`Invalid input for field 'tags': '${tag}' is not a valid tag`)
    }
  }
  return [...new Set(tags)]
}

/** Domains and projects (Keystone's resource API). */
export class ResourceManager {
  readonly #db: Database
  readonly #clock: ChangeClock
  readonly #revocations: Revocations

  constructor(db: Database, clock: ChangeClock, revocations: Revocations) {
    this.#db = db
    this.#clock = clock
    this.#revocations = revocations
  }

  // ---- domains ----

  /** Creates a domain; 409 when the name (or id) is taken. */
  async createDomain(input: DomainInput): Promise<Domain> {
    const row = {
      id: input.id ?? newKeystoneId(),
      name: input.name,
      description: input.description ?? null,
      enabled: input.enabled ?? true,
      extra: JSON.stringify(input.extra ?? {}),
      created_at: nowIso(),
      updated_at: null,
    }
    await orConflict(
      () => this.#db.kysely.insertInto('domains').values(row).execute(),
      () => conflict('domain', `Duplicate entry found with name ${input.name}`),
    )
    return toDomain(row)
  }

  /** The domain, or 404 "Could not find domain: <id>." */
  async getDomain(id: string): Promise<Domain> {
    const row = await this.#db.kysely
      .selectFrom('domains')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst()
    if (!row) throw notFound('domain', id)
    return toDomain(row)
  }

  async getDomainByName(name: string): Promise<Domain> {
    const row = await this.#db.kysely
      .selectFrom('domains')
      .selectAll()
      .where('name', '=', name)
      .executeTakeFirst()
    if (!row) throw notFound('domain', name)
    return toDomain(row)
  }

  async findDomain(id: string): Promise<Domain | undefined> {
    const row = await this.#db.kysely
      .selectFrom('domains')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst()
    return row ? toDomain(row) : undefined
  }

  async listDomains(
    filters: { name?: string | undefined; enabled?: boolean | undefined } = {},
  ): Promise<Domain[]> {
    let q = this.#db.kysely.selectFrom('domains').selectAll().orderBy('name')
    if (filters.name !== undefined) q = q.where('name', '=', filters.name)
    if (filters.enabled !== undefined) q = q.where('enabled', '=', filters.enabled)
    return (await q.execute()).map(toDomain)
  }

  /** Updates a domain; disabling it revokes every token of its users and projects. */
  async updateDomain(id: string, patch: DomainPatch): Promise<Domain> {
    const before = await this.getDomain(id)
    const set = {
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
      ...(patch.extra !== undefined ? { extra: JSON.stringify({ ...before.extra, ...patch.extra }) } : {}),
      updated_at: nowIso(),
    }
    await orConflict(
      () => this.#db.kysely.updateTable('domains').set(set).where('id', '=', id).execute(),
      () => conflict('domain', `Duplicate entry found with name ${patch.name}`),
    )
    if (before.enabled && patch.enabled === false) await this.#revocations.revoke({ domainId: id })
    this.#clock.bump()
    return this.getDomain(id)
  }

  /**
   * Deletes a disabled domain with everything in it (projects, users, groups
   * and assignments on or of them). 403 while it is enabled, as in Keystone.
   */
  async deleteDomain(id: string): Promise<void> {
    const domain = await this.getDomain(id)
    if (domain.enabled) throw forbidden('Cannot delete a domain that is enabled, please disable it first.')
    await this.#db.transaction(async (trx) => {
      const projectIds = (
        await trx.selectFrom('projects').select('id').where('domain_id', '=', id).execute()
      ).map((r) => r.id)
      const userIds = (await trx.selectFrom('users').select('id').where('domain_id', '=', id).execute()).map(
        (r) => r.id,
      )
      const groupIds = (
        await trx.selectFrom('groups').select('id').where('domain_id', '=', id).execute()
      ).map((r) => r.id)
      const targets = [id, ...projectIds]
      const actors = [...userIds, ...groupIds]
      await trx.deleteFrom('role_assignments').where('target_id', 'in', targets).execute()
      if (actors.length) await trx.deleteFrom('role_assignments').where('actor_id', 'in', actors).execute()
      // Children before parents: the parent_id reference has no cascade.
      await trx.updateTable('projects').set({ parent_id: null }).where('domain_id', '=', id).execute()
      await trx.deleteFrom('domains').where('id', '=', id).execute()
    })
    await this.#revocations.revoke({ domainId: id })
    this.#clock.bump()
  }

  // ---- projects ----

  /**
   * Creates a project under `parentId` (or at the top of its domain).
   * Invalid (400) when the domain or parent does not exist or they disagree;
   * 403 when the hierarchy would be too deep; 409 on a duplicate name.
   */
  async createProject(input: ProjectInput): Promise<Project> {
    const domain = await this.findDomain(input.domainId)
    if (!domain) throw new Invalid(`Could not find domain: ${input.domainId}.`)
    let parentId = input.parentId ?? null
    if (parentId === input.domainId) parentId = null
    if (parentId !== null) await this.#checkParent(parentId, input.domainId)
    const id = input.id ?? newKeystoneId()
    const row = {
      id,
      name: input.name,
      domain_id: input.domainId,
      parent_id: parentId,
      description: input.description ?? null,
      enabled: input.enabled ?? true,
      tags: JSON.stringify(checkTags(input.tags ?? [])),
      extra: JSON.stringify(input.extra ?? {}),
      created_at: nowIso(),
      updated_at: null,
    }
    await orConflict(
      () => this.#db.kysely.insertInto('projects').values(row).execute(),
      () =>
        conflict(
          'project',
          'it is not permitted to have two projects with either the same name or same id in the same domain: ' +
            `name is ${input.name}, project id ${id}`,
        ),
    )
    return toProject(row)
  }

  async #checkParent(parentId: string, domainId: string): Promise<void> {
    const parent = await this.findProject(parentId)
    if (!parent) throw new Invalid(`Could not find project: ${parentId}.`)
    if (parent.domainId !== domainId) {
      throw new Invalid(
        `Cannot create project, the parent (${parentId}) is in a different domain (${parent.domainId}).`,
      )
    }
    const depth = (await this.parentIds(parentId)).length + 1
    if (depth + 1 > limits.identityProjectTreeMaxDepth) {
      throw forbidden(`Max hierarchy depth reached for ${parentId} branch.`)
    }
  }

  /** The project, or 404 "Could not find project: <id>." */
  async getProject(id: string): Promise<Project> {
    const p = await this.findProject(id)
    if (!p) throw notFound('project', id)
    return p
  }

  async findProject(id: string): Promise<Project | undefined> {
    const row = await this.#db.kysely
      .selectFrom('projects')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst()
    return row ? toProject(row) : undefined
  }

  async getProjectByName(name: string, domainId: string): Promise<Project> {
    const row = await this.#db.kysely
      .selectFrom('projects')
      .selectAll()
      .where('name', '=', name)
      .where('domain_id', '=', domainId)
      .executeTakeFirst()
    if (!row) throw notFound('project', name)
    return toProject(row)
  }

  async listProjects(f: ProjectFilters = {}): Promise<Project[]> {
    let q = this.#db.kysely.selectFrom('projects').selectAll().orderBy('name').orderBy('id')
    if (f.domainId !== undefined) q = q.where('domain_id', '=', f.domainId)
    if (f.name !== undefined) q = q.where('name', '=', f.name)
    if (f.enabled !== undefined) q = q.where('enabled', '=', f.enabled)
    if (f.parentId !== undefined) {
      // A top-level project's parent is its domain in the API.
      const parentId = f.parentId
      q = q.where((eb) =>
        eb.or([
          eb('parent_id', '=', parentId),
          eb.and([eb('parent_id', 'is', null), eb('domain_id', '=', parentId)]),
        ]),
      )
    }
    return (await q.execute()).map(toProject).filter((p) => matchesTags(p.tags, f))
  }

  async listProjectsByIds(ids: readonly string[]): Promise<Project[]> {
    if (ids.length === 0) return []
    const rows = await this.#db.kysely
      .selectFrom('projects')
      .selectAll()
      .where('id', 'in', ids)
      .orderBy('name')
      .execute()
    return rows.map(toProject)
  }

  /** Ids of the project's ancestors, nearest first. */
  async parentIds(id: string): Promise<string[]> {
    const out: string[] = []
    let cur = await this.findProject(id)
    while (cur?.parentId && out.length <= limits.identityProjectTreeMaxDepth) {
      out.push(cur.parentId)
      cur = await this.findProject(cur.parentId)
    }
    return out
  }

  /** Ids of every project below `id` (not `id` itself). */
  async subtreeIds(id: string): Promise<string[]> {
    const out: string[] = []
    let level = [id]
    for (let depth = 0; level.length && depth < limits.identityProjectTreeMaxDepth; depth++) {
      const rows = await this.#db.kysely
        .selectFrom('projects')
        .select('id')
        .where('parent_id', 'in', level)
        .execute()
      level = rows.map((r) => r.id)
      out.push(...level)
    }
    return out
  }

  /**
   * Updates a project. The domain, parent and is_domain cannot change
   * (400). Disabling a project revokes its tokens; a project whose subtree
   * has enabled projects cannot be disabled (403).
   */
  async updateProject(id: string, patch: ProjectPatch): Promise<Project> {
    const before = await this.getProject(id)
    if (patch.enabled === false && before.enabled) {
      const children = await this.#db.kysely
        .selectFrom('projects')
        .select('id')
        .where('parent_id', '=', id)
        .where('enabled', '=', true)
        .executeTakeFirst()
      if (children)
        throw forbidden(`Cannot disable project ${id} since its subtree contains enabled projects.`)
    }
    const set = {
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
      ...(patch.tags !== undefined ? { tags: JSON.stringify(checkTags(patch.tags)) } : {}),
      ...(patch.extra !== undefined ? { extra: JSON.stringify({ ...before.extra, ...patch.extra }) } : {}),
      updated_at: nowIso(),
    }
    await orConflict(
      () => this.#db.kysely.updateTable('projects').set(set).where('id', '=', id).execute(),
      () =>
        conflict(
          'project',
          'it is not permitted to have two projects with either the same name or same id in the same domain: ' +
            `name is ${patch.name}, project id ${id}`,
        ),
    )
    if (before.enabled && patch.enabled === false) await this.#revocations.revoke({ projectId: id })
    this.#clock.bump()
    return this.getProject(id)
  }

  /** Deletes a leaf project with its assignments and application credentials; revokes its tokens. */
  async deleteProject(id: string): Promise<void> {
    await this.getProject(id)
    const child = await this.#db.kysely
      .selectFrom('projects')
      .select('id')
      .where('parent_id', '=', id)
      .executeTakeFirst()
    if (child) {
      throw forbidden(
        `Cannot delete the project ${id} since it is not a leaf in the hierarchy. ` +
          'Use the cascade option if you want to delete a whole subtree.',
      )
    }
    await this.#db.transaction(async (trx) => {
      await trx.deleteFrom('role_assignments').where('target_id', '=', id).execute()
      await trx.deleteFrom('application_credentials').where('project_id', '=', id).execute()
      await trx.deleteFrom('projects').where('id', '=', id).execute()
    })
    await this.#revocations.revoke({ projectId: id })
    this.#clock.bump()
  }

  /** Replaces the project's tags. */
  async setTags(id: string, tags: readonly string[]): Promise<readonly string[]> {
    return (await this.updateProject(id, { tags })).tags
  }

  async addTag(id: string, tag: string): Promise<void> {
    const p = await this.getProject(id)
    if (!p.tags.includes(tag)) await this.setTags(id, [...p.tags, tag])
  }

  /** Removes one tag; 404 when the project does not carry it. */
  async removeTag(id: string, tag: string): Promise<void> {
    const p = await this.getProject(id)
    if (!p.tags.includes(tag)) throw notFound('project tag', tag)
    await this.setTags(
      id,
      p.tags.filter((t) => t !== tag),
    )
  }
}

function matchesTags(tags: readonly string[], f: ProjectFilters): boolean {
  if (f.tags && !f.tags.every((t) => tags.includes(t))) return false
  if (f.tagsAny && !f.tagsAny.some((t) => tags.includes(t))) return false
  if (f.notTags && f.notTags.every((t) => tags.includes(t))) return false
  if (f.notTagsAny && f.notTagsAny.some((t) => tags.includes(t))) return false
  return true
}
