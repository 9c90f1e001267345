import type { Expression, ExpressionBuilder, SqlBool } from 'kysely'
import { Forbidden, Invalid, NotFound } from '../common/errors.ts'
import type { Database } from '../db/index.ts'
import type { Schema } from '../db/schema.ts'
import type { AssignmentType, RoleAssignmentRow, RoleRow } from '../db/tables/identity.ts'
import { nowIso } from '../db/values.ts'
import {
  conflict,
  isDuplicate,
  newKeystoneId,
  notFound,
  orConflict,
  parseExtra,
  type ChangeClock,
  type Extra,
} from './common.ts'
import type { Project, ResourceManager } from './resource.ts'
import type { Revocations } from './revocation.ts'
import type { UserManager } from './users.ts'

/** Roles Keystone refuses as implied roles (`[assignment] prohibited_implied_role`). */
const PROHIBITED_IMPLIED_ROLES: readonly string[] = ['admin']
/** The target id of system assignments. */
export const SYSTEM_TARGET = 'system'
const USER_TYPES: AssignmentType[] = ['UserProject', 'UserDomain', 'UserSystem']
const GROUP_TYPES: AssignmentType[] = ['GroupProject', 'GroupDomain', 'GroupSystem']

export interface Role {
  readonly id: string
  readonly name: string
  /** A domain-specific role's domain; null for a global role. */
  readonly domainId: string | null
  readonly description: string | null
  readonly extra: Extra
}

/** A role as tokens and assignment lists show it. */
export interface RoleRef {
  readonly id: string
  readonly name: string
}

export type Actor =
  { readonly kind: 'user'; readonly id: string } | { readonly kind: 'group'; readonly id: string }
export type Target =
  | { readonly kind: 'project'; readonly id: string }
  | { readonly kind: 'domain'; readonly id: string }
  | { readonly kind: 'system' }

/** One row of `GET /v3/role_assignments`, before rendering. */
export interface Assignment {
  readonly roleId: string
  readonly actor: Actor
  readonly target: Target
  /** Effective listings: the group the user has the role through. */
  readonly viaGroupId?: string | undefined
  /** Effective listings: the role that implies this one. */
  readonly priorRoleId?: string | undefined
  /** Direct listings: an OS-INHERIT grant, for the projects below its target (not the target itself). */
  readonly inherited?: boolean | undefined
  /** Effective listings: the target of the OS-INHERIT grant this project assignment comes from. */
  readonly inheritedFrom?: Target | undefined
}

export interface AssignmentFilters {
  readonly userId?: string | undefined
  readonly groupId?: string | undefined
  readonly roleId?: string | undefined
  readonly projectId?: string | undefined
  readonly domainId?: string | undefined
  readonly system?: boolean | undefined
  /** Expand group assignments to their members and roles to the roles they imply. */
  readonly effective?: boolean | undefined
  /** With `projectId`: include assignments on every project below it. */
  readonly includeSubtree?: boolean | undefined
  /** `scope.OS-INHERIT:inherited_to=projects`: only inherited grants. */
  readonly inheritedToProjects?: boolean | undefined
}

function toRole(r: RoleRow): Role {
  return {
    id: r.id,
    name: r.name,
    domainId: r.domain_id ?? null,
    description: r.description,
    extra: parseExtra(r.extra),
  }
}

function assignmentType(actor: Actor, target: Target): AssignmentType {
  const a = actor.kind === 'user' ? 'User' : 'Group'
  const t = target.kind === 'project' ? 'Project' : target.kind === 'domain' ? 'Domain' : 'System'
  return `${a}${t}` as AssignmentType
}

function targetId(target: Target): string {
  return target.kind === 'system' ? SYSTEM_TARGET : target.id
}

type TargetKind = 'Project' | 'Domain' | 'System'

function kindOf(target: Target): TargetKind {
  return target.kind === 'project' ? 'Project' : target.kind === 'domain' ? 'Domain' : 'System'
}

/** Assignments on some targets of one kind, inherited or not. */
interface Source {
  readonly kind: TargetKind
  readonly targetIds: readonly string[]
  readonly inherited: boolean
}

/** The assignments of a user, directly or through one of their groups, on targets of one kind. */
function actorClause(
  eb: ExpressionBuilder<Schema, 'role_assignments'>,
  kind: TargetKind,
  userId: string,
  groupIds: readonly string[],
): Expression<SqlBool> {
  return eb.or([
    eb.and([eb('type', '=', `User${kind}` as AssignmentType), eb('actor_id', '=', userId)]),
    ...(groupIds.length
      ? [eb.and([eb('type', '=', `Group${kind}` as AssignmentType), eb('actor_id', 'in', groupIds)])]
      : []),
  ])
}

function sourceClause(
  eb: ExpressionBuilder<Schema, 'role_assignments'>,
  src: Source,
  userId: string,
  groupIds: readonly string[],
): Expression<SqlBool> {
  return eb.and([
    eb('target_id', 'in', src.targetIds),
    eb('inherited', '=', src.inherited),
    actorClause(eb, src.kind, userId, groupIds),
  ])
}

function fromRow(r: RoleAssignmentRow): Assignment {
  const actor: Actor = r.type.startsWith('User')
    ? { kind: 'user', id: r.actor_id }
    : { kind: 'group', id: r.actor_id }
  const target: Target = r.type.endsWith('Project')
    ? { kind: 'project', id: r.target_id }
    : r.type.endsWith('Domain')
      ? { kind: 'domain', id: r.target_id }
      : { kind: 'system' }
  return { roleId: r.role_id, actor, target, ...(r.inherited ? { inherited: true } : {}) }
}

/** Every role and what it implies, read once per change generation. */
interface RoleIndex {
  readonly generation: number
  readonly byId: ReadonlyMap<string, Role>
  readonly implies: ReadonlyMap<string, readonly string[]>
}

/** Roles, implied roles and role assignments (Keystone's assignment API). */
export class AssignmentManager {
  readonly #db: Database
  readonly #clock: ChangeClock
  readonly #revocations: Revocations
  readonly #resources: ResourceManager
  readonly #users: UserManager
  #index: RoleIndex | undefined

  constructor(
    db: Database,
    clock: ChangeClock,
    revocations: Revocations,
    resources: ResourceManager,
    users: UserManager,
  ) {
    this.#db = db
    this.#clock = clock
    this.#revocations = revocations
    this.#resources = resources
    this.#users = users
  }

  // ---- roles ----

  async createRole(input: {
    readonly id?: string | undefined
    readonly name: string
    readonly domainId?: string | null | undefined
    readonly description?: string | null | undefined
    readonly extra?: Extra | undefined
  }): Promise<Role> {
    if (input.domainId) await this.#resources.getDomain(input.domainId)
    const row = {
      id: input.id ?? newKeystoneId(),
      name: input.name,
      domain_id: input.domainId ?? null,
      description: input.description ?? null,
      extra: JSON.stringify(input.extra ?? {}),
      created_at: nowIso(),
      updated_at: null,
    }
    await orConflict(
      () => this.#db.kysely.insertInto('roles').values(row).execute(),
      () => conflict('role', `Duplicate entry found with name ${input.name}`),
    )
    this.#clock.bump()
    return toRole(row)
  }

  /** The role, or 404 "Could not find role: <id>." */
  async getRole(id: string): Promise<Role> {
    const role = (await this.#roles()).byId.get(id)
    if (!role) throw notFound('role', id)
    return role
  }

  async findRoleByName(name: string): Promise<Role | undefined> {
    for (const role of (await this.#roles()).byId.values())
      if (role.name === name && role.domainId === null) return role
    return undefined
  }

  async listRoles(f: { name?: string | undefined } = {}): Promise<Role[]> {
    const roles = [...(await this.#roles()).byId.values()]
    return roles
      .filter((r) => f.name === undefined || r.name === f.name)
      .sort((a, b) => a.name.localeCompare(b.name))
  }

  async updateRole(
    id: string,
    patch: { readonly name?: string; readonly description?: string | null; readonly extra?: Extra },
  ): Promise<Role> {
    const before = await this.getRole(id)
    const set = {
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(patch.extra !== undefined ? { extra: JSON.stringify({ ...before.extra, ...patch.extra }) } : {}),
      updated_at: nowIso(),
    }
    await orConflict(
      () => this.#db.kysely.updateTable('roles').set(set).where('id', '=', id).execute(),
      () => conflict('role', `Duplicate entry found with name ${patch.name}`),
    )
    this.#clock.bump()
    return this.getRole(id)
  }

  /** Deletes a role with its assignments and implications; holders lose it at their next validation. */
  async deleteRole(id: string): Promise<void> {
    await this.getRole(id)
    await this.#db.kysely.deleteFrom('roles').where('id', '=', id).execute()
    this.#clock.bump()
  }

  async #roles(): Promise<RoleIndex> {
    const generation = this.#clock.generation
    if (this.#index?.generation === generation) return this.#index
    const [roles, implied] = await Promise.all([
      this.#db.kysely.selectFrom('roles').selectAll().execute(),
      this.#db.kysely.selectFrom('implied_roles').selectAll().execute(),
    ])
    const implies = new Map<string, string[]>()
    for (const r of implied)
      implies.set(r.prior_role_id, [...(implies.get(r.prior_role_id) ?? []), r.implied_role_id])
    this.#index = { generation, byId: new Map(roles.map((r) => [r.id, toRole(r)])), implies }
    return this.#index
  }

  // ---- implied roles ----

  /** `prior` implies `implied`. 403 for a prohibited implied role (admin). */
  async createImpliedRole(priorId: string, impliedId: string): Promise<{ prior: Role; implied: Role }> {
    const prior = await this.getRole(priorId)
    const implied = await this.getRole(impliedId)
    if (PROHIBITED_IMPLIED_ROLES.includes(implied.name))
      throw new Forbidden(`${implied.name} cannot be an implied roles.`)
    if (prior.domainId === null && implied.domainId !== null)
      throw new Forbidden('Global role cannot imply a domain-specific role')
    if ((await this.#closure([impliedId])).includes(priorId)) {
      throw new Invalid(`Role ${impliedId} implies ${priorId}: an implication may not form a loop.`)
    }
    const exists = (await this.#roles()).implies.get(priorId)?.includes(impliedId)
    if (!exists) {
      await this.#db.kysely
        .insertInto('implied_roles')
        .values({ prior_role_id: priorId, implied_role_id: impliedId, created_at: nowIso() })
        .execute()
      this.#clock.bump()
    }
    return { prior, implied }
  }

  /** 404 "<prior> does not imply <implied>." unless the implication exists. */
  async getImpliedRole(priorId: string, impliedId: string): Promise<{ prior: Role; implied: Role }> {
    const prior = await this.getRole(priorId)
    const implied = await this.getRole(impliedId)
    if (!(await this.#roles()).implies.get(priorId)?.includes(impliedId)) {
      throw new NotFound(`${priorId} does not imply ${impliedId}.`)
    }
    return { prior, implied }
  }

  async deleteImpliedRole(priorId: string, impliedId: string): Promise<void> {
    await this.getImpliedRole(priorId, impliedId)
    await this.#db.kysely
      .deleteFrom('implied_roles')
      .where('prior_role_id', '=', priorId)
      .where('implied_role_id', '=', impliedId)
      .execute()
    this.#clock.bump()
  }

  /** The roles `priorId` implies directly. */
  async listImpliedRoles(priorId: string): Promise<{ prior: Role; implies: Role[] }> {
    const prior = await this.getRole(priorId)
    const index = await this.#roles()
    const implies = (index.implies.get(priorId) ?? [])
      .map((id) => index.byId.get(id))
      .filter((r) => r !== undefined)
    return { prior, implies }
  }

  /** Every implication rule, grouped by prior role. */
  async listRoleInferences(): Promise<{ prior: Role; implies: Role[] }[]> {
    const index = await this.#roles()
    return [...index.implies.keys()].map((priorId) => ({
      prior: index.byId.get(priorId)!,
      implies: (index.implies.get(priorId) ?? []).map((id) => index.byId.get(id)!).filter(Boolean),
    }))
  }

  /** The roles and every role they imply, transitively (roles since deleted are left out). */
  async withImpliedRoles(roleIds: readonly string[]): Promise<Role[]> {
    const index = await this.#roles()
    return (await this.#closure(roleIds))
      .map((id) => index.byId.get(id))
      .filter((r): r is Role => r !== undefined)
  }

  /** The roles and every role they imply, transitively. */
  async #closure(roleIds: readonly string[]): Promise<string[]> {
    const index = await this.#roles()
    const seen = new Set<string>()
    const stack = [...roleIds]
    while (stack.length) {
      const id = stack.pop()!
      if (seen.has(id)) continue
      seen.add(id)
      stack.push(...(index.implies.get(id) ?? []))
    }
    return [...seen]
  }

  // ---- grants ----

  async #checkParties(actor: Actor, target: Target, roleId: string): Promise<void> {
    await this.getRole(roleId)
    if (actor.kind === 'user') await this.#users.getUser(actor.id)
    else await this.#users.getGroup(actor.id)
    if (target.kind === 'project') await this.#resources.getProject(target.id)
    if (target.kind === 'domain') await this.#resources.getDomain(target.id)
  }

  /**
   * Grants a role. Idempotent. `inherited` (OS-INHERIT) grants it on every
   * project below the target (a domain's projects, a project's subtree)
   * instead of on the target itself.
   */
  async grant(actor: Actor, target: Target, roleId: string, inherited = false): Promise<void> {
    await this.#checkParties(actor, target, roleId)
    if (!(await this.hasGrant(actor, target, roleId, inherited))) {
      try {
        await this.#db.kysely
          .insertInto('role_assignments')
          .values({
            type: assignmentType(actor, target),
            actor_id: actor.id,
            target_id: targetId(target),
            role_id: roleId,
            inherited,
            created_at: nowIso(),
          })
          .execute()
      } catch (err) {
        // A concurrent grant of the same role won the race: the grant exists, as asked.
        if (!isDuplicate(err)) throw err
      }
    }
    this.#clock.bump()
  }

  async hasGrant(actor: Actor, target: Target, roleId: string, inherited = false): Promise<boolean> {
    const row = await this.#db.kysely
      .selectFrom('role_assignments')
      .select('role_id')
      .where('type', '=', assignmentType(actor, target))
      .where('actor_id', '=', actor.id)
      .where('target_id', '=', targetId(target))
      .where('role_id', '=', roleId)
      .where('inherited', '=', inherited)
      .executeTakeFirst()
    return row !== undefined
  }

  /** 404 (Keystone's RoleAssignmentNotFound) unless the grant exists. */
  async checkGrant(actor: Actor, target: Target, roleId: string, inherited = false): Promise<void> {
    await this.#checkParties(actor, target, roleId)
    if (!(await this.hasGrant(actor, target, roleId, inherited)))
      throw assignmentNotFound(actor, target, roleId)
  }

  /**
   * Removes a grant and, as Keystone's revocation events do, revokes the
   * tokens the user (or each member of the group) holds on that target.
   */
  async revoke(actor: Actor, target: Target, roleId: string, inherited = false): Promise<void> {
    await this.checkGrant(actor, target, roleId, inherited)
    await this.#db.kysely
      .deleteFrom('role_assignments')
      .where('type', '=', assignmentType(actor, target))
      .where('actor_id', '=', actor.id)
      .where('target_id', '=', targetId(target))
      .where('role_id', '=', roleId)
      .where('inherited', '=', inherited)
      .execute()
    const userIds =
      actor.kind === 'user' ? [actor.id] : (await this.#users.listUsersInGroup(actor.id)).map((u) => u.id)
    // An inherited grant on a project reached its subtree; on a domain, the domain's projects
    // (a domain event matches the tokens of the domain's projects too).
    const projectIds =
      target.kind !== 'project' ? [] : inherited ? await this.#resources.subtreeIds(target.id) : [target.id]
    for (const userId of userIds) {
      if (target.kind === 'domain') await this.#revocations.revoke({ userId, domainId: target.id })
      for (const projectId of projectIds) await this.#revocations.revoke({ userId, projectId })
      if (target.kind === 'system') await this.#revocations.revoke({ userId })
    }
    this.#clock.bump()
  }

  /** The roles granted directly to the actor on the target (or, `inherited`, inherited from it). */
  async listGrants(actor: Actor, target: Target, inherited = false): Promise<Role[]> {
    if (actor.kind === 'user') await this.#users.getUser(actor.id)
    else await this.#users.getGroup(actor.id)
    if (target.kind === 'project') await this.#resources.getProject(target.id)
    if (target.kind === 'domain') await this.#resources.getDomain(target.id)
    const rows = await this.#db.kysely
      .selectFrom('role_assignments')
      .select('role_id')
      .where('type', '=', assignmentType(actor, target))
      .where('actor_id', '=', actor.id)
      .where('target_id', '=', targetId(target))
      .where('inherited', '=', inherited)
      .execute()
    const index = await this.#roles()
    return rows.map((r) => index.byId.get(r.role_id)).filter((r): r is Role => r !== undefined)
  }

  // ---- effective roles ----

  /**
   * The user's effective roles on a target: granted to the user or to one
   * of their groups, plus every role those imply. On a project, also the
   * roles inherited (OS-INHERIT) from its ancestors and its domain. What a
   * token carries.
   */
  async effectiveRoles(
    userId: string,
    target: Target,
    opts: { readonly includeDomainRoles?: boolean } = {},
  ): Promise<RoleRef[]> {
    const groupIds = await this.#users.groupIdsOf(userId)
    const sources: Source[] = [{ kind: kindOf(target), targetIds: [targetId(target)], inherited: false }]
    if (target.kind === 'project') sources.push(...(await this.#inheritedSources(target.id)))
    const rows = await this.#db.kysely
      .selectFrom('role_assignments')
      .select('role_id')
      .where((eb) =>
        eb.or(
          sources
            .filter((src) => src.targetIds.length > 0)
            .map((src) => sourceClause(eb, src, userId, groupIds)),
        ),
      )
      .execute()
    const index = await this.#roles()
    const ids = await this.#closure(rows.map((r) => r.role_id))
    // Domain-specific roles never reach a token; the global roles they imply do (Keystone).
    return ids
      .map((id) => index.byId.get(id))
      .filter((r): r is Role => r !== undefined && (opts.includeDomainRoles || r.domainId === null))
      .map((r) => ({ id: r.id, name: r.name }))
  }

  /** Where inherited grants reaching `projectId` sit: its ancestors and its domain. */
  async #inheritedSources(projectId: string): Promise<Source[]> {
    const project = await this.#resources.findProject(projectId)
    if (!project) return []
    return [
      { kind: 'Project', targetIds: await this.#resources.parentIds(projectId), inherited: true },
      { kind: 'Domain', targetIds: [project.domainId], inherited: true },
    ]
  }

  /** The projects an inherited grant on `target` reaches: a domain's projects, a project's subtree. */
  async #projectsBelow(target: Target): Promise<string[]> {
    if (target.kind === 'project') return this.#resources.subtreeIds(target.id)
    if (target.kind === 'domain')
      return (await this.#resources.listProjects({ domainId: target.id })).map((p) => p.id)
    return []
  }

  /** Projects the user has any role on, directly, through a group or inherited. */
  async projectsForUser(userId: string): Promise<Project[]> {
    const ids = new Set(await this.#targetIdsFor(userId, 'Project', false))
    for (const kind of ['Project', 'Domain'] as const) {
      for (const id of await this.#targetIdsFor(userId, kind, true)) {
        const target: Target = kind === 'Project' ? { kind: 'project', id } : { kind: 'domain', id }
        for (const below of await this.#projectsBelow(target)) ids.add(below)
      }
    }
    return this.#resources.listProjectsByIds([...ids])
  }

  /** Domains the user has any role on, directly or through a group. */
  async domainIdsForUser(userId: string): Promise<string[]> {
    return this.#targetIdsFor(userId, 'Domain', false)
  }

  /** True when the user has a role on the system. */
  async hasSystemRole(userId: string): Promise<boolean> {
    return (await this.#targetIdsFor(userId, 'System', false)).length > 0
  }

  async #targetIdsFor(userId: string, kind: TargetKind, inherited: boolean): Promise<string[]> {
    const groupIds = await this.#users.groupIdsOf(userId)
    const rows = await this.#db.kysely
      .selectFrom('role_assignments')
      .select('target_id')
      .distinct()
      .where('inherited', '=', inherited)
      .where((eb) => actorClause(eb, kind, userId, groupIds))
      .execute()
    return rows.map((r) => r.target_id)
  }

  // ---- GET /v3/role_assignments ----

  /**
   * Assignments matching the filters; `effective` expands groups to
   * members, roles to implied roles and inherited grants to the projects
   * they reach (which is all a token sees).
   */
  async listAssignments(f: AssignmentFilters): Promise<Assignment[]> {
    if (f.includeSubtree && !f.projectId) {
      throw new Invalid('scope.project.id needs to be specified if include_subtree is also specified')
    }
    const projectIds = f.projectId
      ? [f.projectId, ...(f.includeSubtree ? await this.#resources.subtreeIds(f.projectId) : [])]
      : undefined
    // An effective listing for a user also covers the groups the user is in.
    const groupIdsOfUser = f.effective && f.userId ? await this.#users.groupIdsOf(f.userId) : []
    let q = this.#actorQuery(f, groupIdsOfUser)
    if (projectIds)
      q = q.where('type', 'in', ['UserProject', 'GroupProject']).where('target_id', 'in', projectIds)
    if (f.domainId)
      q = q.where('type', 'in', ['UserDomain', 'GroupDomain']).where('target_id', '=', f.domainId)
    if (f.system) q = q.where('type', 'in', ['UserSystem', 'GroupSystem'])
    if (f.inheritedToProjects) q = q.where('inherited', '=', true)
    // Effective: an inherited grant applies below its target, never on it.
    else if (f.effective) q = q.where('inherited', '=', false)
    let out = (await q.orderBy('created_at').execute()).map(fromRow)
    if (f.effective) {
      if (!f.inheritedToProjects && !f.domainId && !f.system)
        out.push(...(await this.#inheritedToProjects(f, groupIdsOfUser, projectIds)))
      // As Keystone's _strip_domain_roles: an effective listing shows what a token would carry.
      const index = await this.#roles()
      out = (await this.#expand(out, f)).filter((a) => (index.byId.get(a.roleId)?.domainId ?? null) === null)
    }
    if (f.roleId) out = out.filter((a) => a.roleId === f.roleId)
    return dedupe(out)
  }

  /** role_assignments rows of the filter's actor (a user, with their groups when effective; a group). */
  #actorQuery(f: AssignmentFilters, groupIdsOfUser: readonly string[]) {
    let q = this.#db.kysely.selectFrom('role_assignments').selectAll()
    if (f.roleId && !f.effective) q = q.where('role_id', '=', f.roleId)
    if (f.userId) {
      const userId = f.userId
      q = q.where((eb) =>
        eb.or([
          eb.and([eb('type', 'in', USER_TYPES), eb('actor_id', '=', userId)]),
          ...(groupIdsOfUser.length
            ? [eb.and([eb('type', 'in', GROUP_TYPES), eb('actor_id', 'in', groupIdsOfUser)])]
            : []),
        ]),
      )
    }
    if (f.groupId) q = q.where('type', 'in', GROUP_TYPES).where('actor_id', '=', f.groupId)
    return q
  }

  /**
   * The inherited grants of the filter's actor, as one assignment per
   * project they reach (only the listed `projectIds` when given), each
   * remembering the grant it comes from.
   */
  async #inheritedToProjects(
    f: AssignmentFilters,
    groupIdsOfUser: readonly string[],
    projectIds: readonly string[] | undefined,
  ): Promise<Assignment[]> {
    let q = this.#actorQuery(f, groupIdsOfUser)
      .where('inherited', '=', true)
      .where('type', 'in', ['UserProject', 'GroupProject', 'UserDomain', 'GroupDomain'])
    if (projectIds) {
      const sources = (await Promise.all(projectIds.map((id) => this.#inheritedSources(id)))).flat()
      const targets = [...new Set(sources.flatMap((src) => src.targetIds))]
      if (targets.length === 0) return []
      q = q.where('target_id', 'in', targets)
    }
    const out: Assignment[] = []
    for (const grant of (await q.orderBy('created_at').execute()).map(fromRow)) {
      const reached = await this.#projectsBelow(grant.target)
      for (const id of projectIds ? reached.filter((p) => projectIds.includes(p)) : reached) {
        out.push({
          roleId: grant.roleId,
          actor: grant.actor,
          target: { kind: 'project', id },
          inheritedFrom: grant.target,
        })
      }
    }
    return out
  }

  async #expand(assignments: readonly Assignment[], f: AssignmentFilters): Promise<Assignment[]> {
    const index = await this.#roles()
    const out: Assignment[] = []
    for (const a of assignments) {
      const users: { id: string; viaGroupId?: string }[] =
        a.actor.kind === 'user'
          ? [{ id: a.actor.id }]
          : (await this.#users.listUsersInGroup(a.actor.id)).map((u) => ({
              id: u.id,
              viaGroupId: a.actor.id,
            }))
      for (const u of users) {
        if (f.userId && u.id !== f.userId) continue
        out.push({
          roleId: a.roleId,
          actor: { kind: 'user', id: u.id },
          target: a.target,
          viaGroupId: u.viaGroupId,
          inheritedFrom: a.inheritedFrom,
        })
        for (const implied of impliedBy(a.roleId, index)) {
          out.push({
            roleId: implied.roleId,
            actor: { kind: 'user', id: u.id },
            target: a.target,
            viaGroupId: u.viaGroupId,
            priorRoleId: implied.priorId,
            inheritedFrom: a.inheritedFrom,
          })
        }
      }
    }
    return out
  }
}

/** Every role reachable from `roleId` by implication, with the role that directly implies it. */
function impliedBy(roleId: string, index: RoleIndex): { roleId: string; priorId: string }[] {
  const out: { roleId: string; priorId: string }[] = []
  const seen = new Set([roleId])
  const stack = [roleId]
  while (stack.length) {
    const prior = stack.pop()!
    for (const id of index.implies.get(prior) ?? []) {
      if (seen.has(id)) continue
      seen.add(id)
      out.push({ roleId: id, priorId: prior })
      stack.push(id)
    }
  }
  return out
}

function dedupe(list: readonly Assignment[]): Assignment[] {
  const seen = new Set<string>()
  return list.filter((a) => {
    const key = [
      a.roleId,
      a.actor.kind,
      a.actor.id,
      a.target.kind,
      a.target.kind === 'system' ? '' : a.target.id,
      a.viaGroupId ?? '',
      a.priorRoleId ?? '',
      a.inherited ? 'inherited' : '',
      a.inheritedFrom ? `${a.inheritedFrom.kind}:${targetId(a.inheritedFrom)}` : '',
    ].join('|')
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

function assignmentNotFound(actor: Actor, target: Target, roleId: string): NotFound {
  return new NotFound(
    `Could not find role assignment with role: ${roleId}, user or group: ${actor.id}, ` +
      `project, domain, or system: ${targetId(target)}.`,
  )
}
