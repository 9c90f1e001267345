import { Forbidden, Invalid, NotFound, Unauthorized } from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import type { Database } from '../db/index.ts'
import type { GroupRow, UserRow } from '../db/tables/identity.ts'
import { nowIso } from '../db/values.ts'
import {
  conflict,
  newKeystoneId,
  notFound,
  orConflict,
  parseExtra,
  type ChangeClock,
  type Extra,
} from './common.ts'
import { DummyPasswordCheck, hashPassword, verifyPassword } from './password.ts'
import type { ResourceManager } from './resource.ts'
import type { Revocations } from './revocation.ts'

/** Keystone's `[security_compliance]` options this manager applies (see `Config.securityCompliance`). */
export interface SecurityCompliance {
  readonly lockoutFailureAttempts: number
  readonly lockoutDurationS: number
  readonly uniqueLastPasswordCount: number
}

/** Keystone's defaults: no lockout, no password history. */
export const NO_SECURITY_COMPLIANCE: SecurityCompliance = {
  lockoutFailureAttempts: 0,
  lockoutDurationS: 0,
  uniqueLastPasswordCount: 0,
}

const MS_PER_S = 1000

/** Keystone's answer to every failed password check: the same words whatever went wrong. */
export const AUTH_FAILED_MESSAGE = 'The request you have made requires authentication.'

export interface User {
  readonly id: string
  readonly name: string
  readonly domainId: string
  readonly enabled: boolean
  readonly defaultProjectId: string | null
  /** Attributes beyond the columns: description, email, anything the caller set. */
  readonly extra: Extra
  readonly hasPassword: boolean
}

export interface UserInput {
  readonly id?: string | undefined
  readonly name: string
  readonly domainId: string
  readonly password?: string | null | undefined
  readonly enabled?: boolean | undefined
  readonly defaultProjectId?: string | null | undefined
  readonly extra?: Extra | undefined
}

export interface UserPatch {
  readonly name?: string
  readonly password?: string | null
  readonly enabled?: boolean
  readonly defaultProjectId?: string | null
  readonly extra?: Extra
}

export interface Group {
  readonly id: string
  readonly name: string
  readonly domainId: string
  readonly description: string | null
  readonly extra: Extra
}

/** How a password login names its user. */
export type UserRef = { readonly id: string } | { readonly name: string; readonly domainId: string }

function toUser(r: UserRow): User {
  return {
    id: r.id,
    name: r.name,
    domainId: r.domain_id,
    enabled: r.enabled,
    defaultProjectId: r.default_project_id,
    extra: parseExtra(r.extra),
    hasPassword: r.password_hash !== null,
  }
}

function toGroup(r: GroupRow): Group {
  return {
    id: r.id,
    name: r.name,
    domainId: r.domain_id,
    description: r.description,
    extra: parseExtra(r.extra),
  }
}

function checkPasswordLength(password: string): void {
  if (Buffer.byteLength(password) > limits.identityMaxPasswordBytes) {
    throw new Forbidden(
      `The password length must be less than or equal to ${limits.identityMaxPasswordBytes}. ` +
        'The server could not comply with the request because the password is invalid.',
    )
  }
}

/** Users, groups and passwords (Keystone's identity API). */
export class UserManager {
  readonly #db: Database
  readonly #clock: ChangeClock
  readonly #revocations: Revocations
  readonly #resources: ResourceManager
  readonly #hashCost: number
  readonly #dummy: DummyPasswordCheck
  readonly #compliance: SecurityCompliance

  constructor(
    db: Database,
    clock: ChangeClock,
    revocations: Revocations,
    resources: ResourceManager,
    passwordHashCost: number,
    compliance: SecurityCompliance = NO_SECURITY_COMPLIANCE,
  ) {
    this.#compliance = compliance
    this.#db = db
    this.#clock = clock
    this.#revocations = revocations
    this.#resources = resources
    this.#hashCost = passwordHashCost
    this.#dummy = new DummyPasswordCheck(passwordHashCost)
  }

  // ---- users ----

  /** Creates a user; the password is hashed and never kept. 409 on a duplicate name in the domain. */
  async createUser(input: UserInput): Promise<User> {
    await this.#resources.getDomain(input.domainId)
    if (input.password) checkPasswordLength(input.password)
    const now = nowIso()
    const row = {
      id: input.id ?? newKeystoneId(),
      name: input.name,
      domain_id: input.domainId,
      enabled: input.enabled ?? true,
      password_hash: input.password ? await hashPassword(input.password, this.#hashCost) : null,
      default_project_id: input.defaultProjectId ?? null,
      extra: JSON.stringify(input.extra ?? {}),
      password_changed_at: input.password ? now : null,
      failed_auth_count: 0,
      failed_auth_at: null,
      created_at: now,
      updated_at: null,
    }
    await orConflict(
      () => this.#db.kysely.insertInto('users').values(row).execute(),
      () => conflict('user', `Duplicate entry found with name ${input.name} at domain ID ${input.domainId}`),
    )
    if (row.password_hash) await this.#remember(row.id, row.password_hash)
    return toUser(row)
  }

  /** The user, or 404 "Could not find user: <id>." */
  async getUser(id: string): Promise<User> {
    const u = await this.findUser(id)
    if (!u) throw notFound('user', id)
    return u
  }

  async findUser(id: string): Promise<User | undefined> {
    const row = await this.#db.kysely.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst()
    return row ? toUser(row) : undefined
  }

  async getUserByName(name: string, domainId: string): Promise<User> {
    const row = await this.#db.kysely
      .selectFrom('users')
      .selectAll()
      .where('name', '=', name)
      .where('domain_id', '=', domainId)
      .executeTakeFirst()
    if (!row) throw notFound('user', name)
    return toUser(row)
  }

  async listUsers(
    f: { domainId?: string | undefined; name?: string | undefined; enabled?: boolean | undefined } = {},
  ): Promise<User[]> {
    let q = this.#db.kysely.selectFrom('users').selectAll().orderBy('name').orderBy('id')
    if (f.domainId !== undefined) q = q.where('domain_id', '=', f.domainId)
    if (f.name !== undefined) q = q.where('name', '=', f.name)
    if (f.enabled !== undefined) q = q.where('enabled', '=', f.enabled)
    return (await q.execute()).map(toUser)
  }

  /**
   * Updates a user. Setting a password (an administrative reset) or
   * disabling the user revokes every token the user holds.
   */
  async updateUser(id: string, patch: UserPatch): Promise<User> {
    const before = await this.getUser(id)
    if (patch.password) checkPasswordLength(patch.password)
    const now = nowIso()
    const passwordSet = patch.password !== undefined
    const passwordHash = patch.password ? await hashPassword(patch.password, this.#hashCost) : null
    // As Keystone: enabling a user (explicitly) also unlocks their account.
    const unlock = patch.enabled === true ? { failed_auth_count: 0, failed_auth_at: null } : {}
    const set = {
      ...unlock,
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.enabled !== undefined ? { enabled: patch.enabled } : {}),
      ...(patch.defaultProjectId !== undefined ? { default_project_id: patch.defaultProjectId } : {}),
      ...(patch.extra !== undefined ? { extra: JSON.stringify({ ...before.extra, ...patch.extra }) } : {}),
      ...(passwordSet
        ? {
            password_hash: passwordHash,
            password_changed_at: now,
          }
        : {}),
      updated_at: now,
    }
    await orConflict(
      () => this.#db.kysely.updateTable('users').set(set).where('id', '=', id).execute(),
      () => conflict('user', `Duplicate entry found with name ${patch.name} at domain ID ${before.domainId}`),
    )
    if (passwordHash) await this.#remember(id, passwordHash)
    if (passwordSet || (before.enabled && patch.enabled === false))
      await this.#revocations.revoke({ userId: id })
    this.#clock.bump()
    return this.getUser(id)
  }

  /** Deletes a user with their assignments, memberships and credentials; revokes their tokens. */
  async deleteUser(id: string): Promise<void> {
    await this.getUser(id)
    await this.#db.transaction(async (trx) => {
      await trx.deleteFrom('role_assignments').where('actor_id', '=', id).execute()
      await trx.deleteFrom('users').where('id', '=', id).execute()
    })
    await this.#revocations.revoke({ userId: id })
    this.#clock.bump()
  }

  /**
   * Checks a password login. Unknown user, wrong password and a user
   * without a password all fail the same way, after the same KDF work.
   * A disabled user (or domain) fails only once the password is right.
   */
  async authenticate(ref: UserRef, password: string): Promise<User> {
    const row = await this.#findForLogin(ref)
    if (!row?.password_hash || Buffer.byteLength(password) > limits.identityMaxPasswordBytes) {
      await this.#dummy.verify(password)
      throw new Unauthorized(AUTH_FAILED_MESSAGE)
    }
    if (await this.#isLocked(row)) throw new Unauthorized(`The account is locked for user: ${row.id}.`)
    if (!(await verifyPassword(password, row.password_hash))) {
      await this.#recordFailedAuth(row.id)
      throw new Unauthorized(AUTH_FAILED_MESSAGE)
    }
    const user = toUser(row)
    await this.assertEnabled(user)
    if (row.failed_auth_count > 0) await this.#resetFailedAuth(row.id)
    return user
  }

  /**
   * Keystone's _is_account_locked: as many failed logins in a row as
   * `lockout_failure_attempts`, the last less than `lockout_duration_s`
   * ago. A lock that has run out is cleared.
   */
  async #isLocked(row: UserRow): Promise<boolean> {
    const max = this.#compliance.lockoutFailureAttempts
    if (!max || row.failed_auth_count < max) return false
    const lastMs = row.failed_auth_at ? Date.parse(row.failed_auth_at) : 0
    if (lastMs + this.#compliance.lockoutDurationS * MS_PER_S > Date.now()) return true
    await this.#resetFailedAuth(row.id)
    return false
  }

  async #recordFailedAuth(id: string): Promise<void> {
    // Counted only while lockout is on: with it off, failed logins write nothing.
    if (!this.#compliance.lockoutFailureAttempts) return
    await this.#db.kysely
      .updateTable('users')
      .set((eb) => ({ failed_auth_count: eb('failed_auth_count', '+', 1), failed_auth_at: nowIso() }))
      .where('id', '=', id)
      .execute()
  }

  async #resetFailedAuth(id: string): Promise<void> {
    await this.#db.kysely
      .updateTable('users')
      .set({ failed_auth_count: 0, failed_auth_at: null })
      .where('id', '=', id)
      .execute()
  }

  /** Keeps a new password's hash in the history (the last `unique_last_password_count`), when there is one. */
  async #remember(id: string, passwordHash: string): Promise<void> {
    const keep = this.#compliance.uniqueLastPasswordCount
    if (!keep) return
    await this.#db.kysely
      .insertInto('password_history')
      .values({ user_id: id, password_hash: passwordHash, created_at: nowIso() })
      .execute()
    const rows = await this.#db.kysely
      .selectFrom('password_history')
      .select(['password_hash', 'created_at'])
      .where('user_id', '=', id)
      .orderBy('created_at', 'desc')
      .execute()
    for (const old of rows.slice(keep)) {
      await this.#db.kysely
        .deleteFrom('password_history')
        .where('user_id', '=', id)
        .where('password_hash', '=', old.password_hash)
        .execute()
    }
  }

  /**
   * Keystone's _validate_password_history: a user's own new password may
   * not be one of their last `unique_last_password_count` (the current
   * one included). 400 otherwise.
   */
  async #checkHistory(id: string, currentHash: string | null, password: string): Promise<void> {
    const count = this.#compliance.uniqueLastPasswordCount
    if (!count) return
    const rows = await this.#db.kysely
      .selectFrom('password_history')
      .select('password_hash')
      .where('user_id', '=', id)
      .orderBy('created_at', 'desc')
      .limit(count)
      .execute()
    const hashes = new Set([...(currentHash ? [currentHash] : []), ...rows.map((r) => r.password_hash)])
    for (const hash of hashes) {
      if (await verifyPassword(password, hash)) {
        throw new Invalid(
          'The new password cannot be identical to a previous password. The total number which includes the ' +
            `new password must be unique is ${count}.`,
        )
      }
    }
  }

  /** Fails a login the way an unknown user fails it: after the same KDF work. */
  async rejectAfterDummyCheck(password: string): Promise<never> {
    await this.#dummy.verify(password)
    throw new Unauthorized(AUTH_FAILED_MESSAGE)
  }

  async #findForLogin(ref: UserRef): Promise<UserRow | undefined> {
    let q = this.#db.kysely.selectFrom('users').selectAll()
    q =
      'id' in ref
        ? q.where('id', '=', ref.id)
        : q.where('name', '=', ref.name).where('domain_id', '=', ref.domainId)
    return q.executeTakeFirst()
  }

  /** 401 when the user or their domain is disabled (Keystone's wording). */
  async assertEnabled(user: User): Promise<void> {
    if (!user.enabled) throw new Unauthorized(`The account is disabled for user: ${user.id}.`)
    const domain = await this.#resources.findDomain(user.domainId)
    if (!domain?.enabled) throw new Unauthorized(`Domain is disabled: ${user.domainId}.`)
  }

  /** A user's own password change; the original must be right (401 otherwise). Revokes their tokens. */
  async changePassword(id: string, original: string, password: string): Promise<void> {
    // No lookup first: an unknown user id fails exactly as a wrong password (Keystone's
    // AssertionError 'Invalid user / password'), after the same KDF work, so this
    // tokenless endpoint does not tell which user ids exist.
    try {
      await this.authenticate({ id }, original)
    } catch (err) {
      if (err instanceof Unauthorized) {
        throw new Unauthorized('Error when changing user password: Invalid user / password')
      }
      throw err
    }
    const row = await this.#findForLogin({ id })
    await this.#checkHistory(id, row?.password_hash ?? null, password)
    await this.updateUser(id, { password })
  }

  // ---- groups ----

  async createGroup(input: {
    readonly name: string
    readonly domainId: string
    readonly description?: string | null | undefined
    readonly extra?: Extra | undefined
  }): Promise<Group> {
    await this.#resources.getDomain(input.domainId)
    const row = {
      id: newKeystoneId(),
      name: input.name,
      domain_id: input.domainId,
      description: input.description ?? null,
      extra: JSON.stringify(input.extra ?? {}),
      created_at: nowIso(),
      updated_at: null,
    }
    await orConflict(
      () => this.#db.kysely.insertInto('groups').values(row).execute(),
      () => conflict('group', `Duplicate entry found with name ${input.name} at domain ID ${input.domainId}`),
    )
    return toGroup(row)
  }

  async getGroup(id: string): Promise<Group> {
    const g = await this.findGroup(id)
    if (!g) throw notFound('group', id)
    return g
  }

  async findGroup(id: string): Promise<Group | undefined> {
    const row = await this.#db.kysely.selectFrom('groups').selectAll().where('id', '=', id).executeTakeFirst()
    return row ? toGroup(row) : undefined
  }

  async listGroups(f: { domainId?: string | undefined; name?: string | undefined } = {}): Promise<Group[]> {
    let q = this.#db.kysely.selectFrom('groups').selectAll().orderBy('name').orderBy('id')
    if (f.domainId !== undefined) q = q.where('domain_id', '=', f.domainId)
    if (f.name !== undefined) q = q.where('name', '=', f.name)
    return (await q.execute()).map(toGroup)
  }

  async updateGroup(
    id: string,
    patch: { readonly name?: string; readonly description?: string | null; readonly extra?: Extra },
  ): Promise<Group> {
    const before = await this.getGroup(id)
    const set = {
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(patch.extra !== undefined ? { extra: JSON.stringify({ ...before.extra, ...patch.extra }) } : {}),
      updated_at: nowIso(),
    }
    await orConflict(
      () => this.#db.kysely.updateTable('groups').set(set).where('id', '=', id).execute(),
      () =>
        conflict('group', `Duplicate entry found with name ${patch.name} at domain ID ${before.domainId}`),
    )
    return this.getGroup(id)
  }

  /** Deletes a group and its assignments; members lose the roles at their next validation. */
  async deleteGroup(id: string): Promise<void> {
    await this.getGroup(id)
    await this.#db.transaction(async (trx) => {
      await trx.deleteFrom('role_assignments').where('actor_id', '=', id).execute()
      await trx.deleteFrom('groups').where('id', '=', id).execute()
    })
    this.#clock.bump()
  }

  async addUserToGroup(userId: string, groupId: string): Promise<void> {
    await this.getGroup(groupId)
    await this.getUser(userId)
    const exists = await this.isMember(userId, groupId)
    if (!exists) {
      await this.#db.kysely
        .insertInto('group_memberships')
        .values({ group_id: groupId, user_id: userId, created_at: nowIso() })
        .execute()
    }
    this.#clock.bump()
  }

  async isMember(userId: string, groupId: string): Promise<boolean> {
    const row = await this.#db.kysely
      .selectFrom('group_memberships')
      .select('user_id')
      .where('group_id', '=', groupId)
      .where('user_id', '=', userId)
      .executeTakeFirst()
    return row !== undefined
  }

  /** 404 unless the user is in the group. */
  async checkUserInGroup(userId: string, groupId: string): Promise<void> {
    await this.getGroup(groupId)
    await this.getUser(userId)
    if (!(await this.isMember(userId, groupId))) {
      throw new NotFound(`User '${userId}' not found in group '${groupId}'`)
    }
  }

  async removeUserFromGroup(userId: string, groupId: string): Promise<void> {
    await this.checkUserInGroup(userId, groupId)
    await this.#db.kysely
      .deleteFrom('group_memberships')
      .where('group_id', '=', groupId)
      .where('user_id', '=', userId)
      .execute()
    this.#clock.bump()
  }

  async listUsersInGroup(groupId: string): Promise<User[]> {
    await this.getGroup(groupId)
    const rows = await this.#db.kysely
      .selectFrom('users')
      .innerJoin('group_memberships', 'group_memberships.user_id', 'users.id')
      .selectAll('users')
      .where('group_memberships.group_id', '=', groupId)
      .orderBy('users.name')
      .execute()
    return rows.map(toUser)
  }

  async listGroupsForUser(userId: string): Promise<Group[]> {
    await this.getUser(userId)
    const rows = await this.#db.kysely
      .selectFrom('groups')
      .innerJoin('group_memberships', 'group_memberships.group_id', 'groups.id')
      .selectAll('groups')
      .where('group_memberships.user_id', '=', userId)
      .orderBy('groups.name')
      .execute()
    return rows.map(toGroup)
  }

  /** Ids of the user's groups (for effective roles). */
  async groupIdsOf(userId: string): Promise<string[]> {
    const rows = await this.#db.kysely
      .selectFrom('group_memberships')
      .select('group_id')
      .where('user_id', '=', userId)
      .execute()
    return rows.map((r) => r.group_id)
  }
}

/** 400 for a body that tries to change what Keystone keeps immutable. */
export function immutable(attribute: string): Invalid {
  return new Invalid(`Update of \`${attribute}\` is not allowed.`)
}
