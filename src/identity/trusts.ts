import { Forbidden, Invalid, type NotFound } from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import type { Database } from '../db/index.ts'
import type { TrustRow } from '../db/tables/identity.ts'
import { nowIso } from '../db/values.ts'
import type { AssignmentManager, Role } from './assignment.ts'
import { newKeystoneId, notFound, parseExtra, type ChangeClock, type Extra } from './common.ts'
import type { ResourceManager } from './resource.ts'
import type { UserManager } from './users.ts'

/** An OS-TRUST trust: the trustor delegates `roleIds` on `projectId` to the trustee. */
export interface Trust {
  readonly id: string
  readonly trustorUserId: string
  readonly trusteeUserId: string
  readonly projectId: string | null
  readonly impersonation: boolean
  /** Epoch ms; null: never expires. */
  readonly expiresAtMs: number | null
  /** null: unlimited. */
  readonly remainingUses: number | null
  readonly redelegationCount: number
  readonly redelegatedTrustId: string | null
  readonly roleIds: readonly string[]
  readonly extra: Extra
}

export interface TrustInput {
  readonly trustorUserId: string
  readonly trusteeUserId: string
  readonly projectId?: string | null | undefined
  readonly impersonation: boolean
  /** As the client sent it (ISO 8601); parsed here with Keystone's rules. */
  readonly expiresAt?: string | null | undefined
  readonly remainingUses?: number | null | undefined
  readonly allowRedelegation?: boolean | null | undefined
  readonly redelegationCount?: number | null | undefined
  /** Each by id or by (global role) name. */
  readonly roles?: readonly { readonly id?: string; readonly name?: string }[] | undefined
  readonly extra?: Extra | undefined
}

/** Keystone's ForbiddenAction wording. */
function forbiddenAction(action: string): Forbidden {
  return new Forbidden(`You are not authorized to perform the requested action: ${action}.`)
}

const CLIENT_ERROR =
  ' The server could not comply with the request since it is either malformed or otherwise incorrect.' +
  ' The client is assumed to be in error.'

/** Keystone's utils.parse_expiration_date: ISO 8601 (UTC when no zone), not in the past. */
export function parseTrustExpiry(value: string, nowMs: number = Date.now()): number {
  const text = /[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`
  const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([zZ]|[+-]\d\d:?\d\d)$/
  const ms = iso.test(text) ? Date.parse(text) : Number.NaN
  if (Number.isNaN(ms)) throw new Invalid(`Timestamp not in expected format.${CLIENT_ERROR}`)
  if (ms < nowMs) throw new Invalid(`The 'expires_at' must not be before now.${CLIENT_ERROR}`)
  return ms
}

const trustNotFound = (id: string): NotFound => notFound('trust', id)

/**
 * Keystone's trust API (trust/core.py and its sql backend). Nimbus does not
 * redelegate (Keystone's default `[trust] allow_redelegation = false`): a
 * trust-scoped token cannot create trusts.
 */
export class TrustManager {
  readonly #db: Database
  readonly #clock: ChangeClock
  readonly #users: UserManager
  readonly #resources: ResourceManager
  readonly #assignments: AssignmentManager

  constructor(
    db: Database,
    clock: ChangeClock,
    users: UserManager,
    resources: ResourceManager,
    assignments: AssignmentManager,
  ) {
    this.#db = db
    this.#clock = clock
    this.#users = users
    this.#resources = resources
    this.#assignments = assignments
  }

  /**
   * Creates a trust for `callerUserId`, who must be the trustor and hold
   * every delegated role on the project (checks in Keystone's order).
   */
  async create(input: TrustInput, callerUserId: string): Promise<Trust> {
    if (input.projectId && !input.roles?.length)
      throw forbiddenAction('At least one role should be specified')
    if (callerUserId !== input.trustorUserId)
      throw forbiddenAction('The authenticated user should match the trustor')
    await this.#users.getUser(input.trusteeUserId)
    const roleIds: string[] = []
    for (const r of input.roles ?? []) {
      if (r.id !== undefined) roleIds.push(r.id)
      else {
        const role = await this.#assignments.findRoleByName(r.name ?? '')
        if (!role) throw notFound('role', r.name ?? '')
        roleIds.push(role.id)
      }
    }
    const held = input.projectId ? await this.#trustorRoleIds(input.trustorUserId, input.projectId) : []
    for (const id of roleIds) if (!held.includes(id)) throw notFound('role', id)
    const expiresAtMs = input.expiresAt != null ? parseTrustExpiry(input.expiresAt) : null

    const requested = input.redelegationCount ?? null
    const redelegatable = input.allowRedelegation === true && requested !== 0
    let redelegationCount = 0
    if (redelegatable) {
      const max = limits.identityTrustMaxRedelegationCount
      if (requested !== null && requested > max)
        throw new Forbidden(`Requested redelegation depth of ${requested} is greater than allowed ${max}`)
      if (input.remainingUses != null)
        throw new Invalid('remaining_uses must not be set if redelegation is allowed')
      redelegationCount = requested ?? max
    }

    const id = newKeystoneId()
    await this.#db.transaction(async (tx) => {
      await tx
        .insertInto('trusts')
        .values({
          id,
          trustor_user_id: input.trustorUserId,
          trustee_user_id: input.trusteeUserId,
          project_id: input.projectId ?? null,
          impersonation: input.impersonation,
          expires_at: expiresAtMs === null ? null : new Date(expiresAtMs).toISOString(),
          remaining_uses: input.remainingUses ?? null,
          redelegation_count: redelegationCount,
          redelegated_trust_id: null,
          extra: JSON.stringify(input.extra ?? {}),
          created_at: nowIso(),
        })
        .execute()
      for (const roleId of new Set(roleIds)) {
        await tx.insertInto('trust_roles').values({ trust_id: id, role_id: roleId }).execute()
      }
    })
    return this.get(id)
  }

  /** The trustor's effective roles on the project, domain-specific ones included (Keystone). */
  async #trustorRoleIds(trustorUserId: string, projectId: string): Promise<string[]> {
    await this.#resources.getProject(projectId)
    const roles = await this.#assignments.effectiveRoles(
      trustorUserId,
      { kind: 'project', id: projectId },
      { includeDomainRoles: true },
    )
    return roles.map((r) => r.id)
  }

  async #find(id: string): Promise<Trust | undefined> {
    const row = await this.#db.kysely.selectFrom('trusts').selectAll().where('id', '=', id).executeTakeFirst()
    return row ? this.#toTrust(row) : undefined
  }

  async #toTrust(r: TrustRow): Promise<Trust> {
    const roles = await this.#db.kysely
      .selectFrom('trust_roles')
      .select('role_id')
      .where('trust_id', '=', r.id)
      .execute()
    return {
      id: r.id,
      trustorUserId: r.trustor_user_id,
      trusteeUserId: r.trustee_user_id,
      projectId: r.project_id,
      impersonation: r.impersonation,
      expiresAtMs: r.expires_at === null ? null : Date.parse(r.expires_at),
      remainingUses: r.remaining_uses,
      redelegationCount: r.redelegation_count,
      redelegatedTrustId: r.redelegated_trust_id,
      roleIds: roles.map((x) => x.role_id),
      extra: parseExtra(r.extra),
    }
  }

  /** A usable trust: 404 when it does not exist, has expired or has no uses left (Keystone). */
  async get(id: string, nowMs: number = Date.now()): Promise<Trust> {
    const t = await this.#find(id)
    if (!t) throw trustNotFound(id)
    if (t.expiresAtMs !== null && nowMs > t.expiresAtMs) throw trustNotFound(id)
    if (t.remainingUses !== null && t.remainingUses <= 0) throw trustNotFound(id)
    return t
  }

  /** The trust unless it is gone or expired, whatever its remaining uses (what its tokens check). */
  async findUnexpired(id: string, nowMs: number = Date.now()): Promise<Trust | undefined> {
    const t = await this.#find(id)
    return t && (t.expiresAtMs === null || nowMs <= t.expiresAtMs) ? t : undefined
  }

  /** Every trust, or a trustor's or a trustee's, oldest first. */
  async list(
    f: { trustorUserId?: string | undefined; trusteeUserId?: string | undefined } = {},
  ): Promise<Trust[]> {
    let q = this.#db.kysely.selectFrom('trusts').selectAll().orderBy('created_at').orderBy('id')
    if (f.trustorUserId !== undefined) q = q.where('trustor_user_id', '=', f.trustorUserId)
    if (f.trusteeUserId !== undefined) q = q.where('trustee_user_id', '=', f.trusteeUserId)
    const out: Trust[] = []
    for (const row of await q.execute()) out.push(await this.#toTrust(row))
    return out
  }

  /** Deletes a trust; tokens scoped to it stop validating (they look it up every time). */
  async delete(id: string): Promise<void> {
    const res = await this.#db.kysely.deleteFrom('trusts').where('id', '=', id).executeTakeFirst()
    if (Number(res.numDeletedRows) === 0) throw trustNotFound(id)
    this.#clock.bump()
  }

  /** The roles a trust delegates (roles deleted since are gone from it). */
  async roles(t: Trust): Promise<Role[]> {
    const out: Role[] = []
    for (const id of t.roleIds) {
      const role = await this.#assignments.getRole(id).catch(() => undefined)
      if (role) out.push(role)
    }
    return out
  }

  /**
   * Uses the trust once for a new token: a trust with `remaining_uses`
   * loses one (compare-and-set, so concurrent uses cannot overspend it).
   */
  async consumeUse(id: string): Promise<void> {
    for (let attempt = 0; attempt < limits.identityTrustConsumeAttempts; attempt++) {
      const t = await this.#find(id)
      if (!t) throw trustNotFound(id)
      if (t.remainingUses === null) return
      if (t.remainingUses <= 0) throw new Forbidden(`No remaining uses for trust: ${id}.`)
      const res = await this.#db.kysely
        .updateTable('trusts')
        .set({ remaining_uses: t.remainingUses - 1 })
        .where('id', '=', id)
        .where('remaining_uses', '=', t.remainingUses)
        .executeTakeFirst()
      if (Number(res.numUpdatedRows) === 1) return
    }
    // Keystone's TrustConsumeMaximumAttempt: an unexpected error (500).
    throw new Error(`Unable to consume trust ${id}, unable to acquire lock.`)
  }
}
