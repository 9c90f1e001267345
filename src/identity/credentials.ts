import { createHash, randomBytes } from 'node:crypto'
import { Forbidden, Invalid, NotFound, Unauthorized } from '../common/errors.ts'
import type { Database } from '../db/index.ts'
import type { AccessRuleRow, ApplicationCredentialRow, CredentialRow } from '../db/tables/identity.ts'
import { nowIso } from '../db/values.ts'
import type { AssignmentManager, RoleRef } from './assignment.ts'
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
import type { UserManager } from './users.ts'

export const EC2_TYPE = 'ec2'
/** Bytes of a generated application credential secret (Keystone generates 64 characters). */
const APP_CRED_SECRET_BYTES = 48
const APP_CRED_AUTH_FAILED = 'Invalid application credential ID or secret'

export interface Credential {
  readonly id: string
  readonly userId: string
  readonly projectId: string | null
  readonly type: string
  readonly blob: string
  readonly extra: Extra
}

/** An EC2 credential as the OS-EC2 API shows it. */
export interface Ec2Credential {
  readonly userId: string
  readonly projectId: string | null
  readonly access: string
  readonly secret: string
  readonly trustId: string | null
}

export interface ApplicationCredential {
  readonly id: string
  readonly name: string
  readonly userId: string
  readonly projectId: string
  readonly description: string | null
  readonly expiresAt: string | null
  readonly unrestricted: boolean
  readonly roles: readonly RoleRef[]
  /** What tokens from this credential may call; empty: anything its roles allow. */
  readonly accessRules: readonly AccessRule[]
}

/** An access rule: one API (service type, method, path pattern with `*`, `**` and `{name}`). */
export interface AccessRule {
  readonly id: string
  readonly service: string
  readonly path: string
  readonly method: string
}

/** An access rule as a credential's creator names it: by id, or by its service, path and method. */
export interface AccessRuleSpec {
  readonly id?: string | undefined
  readonly service?: string | undefined
  readonly path?: string | undefined
  readonly method?: string | undefined
}

/** Keystone's id of an ec2 credential: the sha256 of its access key, so it can be found by access key. */
export function ec2CredentialId(access: string): string {
  return createHash('sha256').update(access).digest('hex')
}

function toCredential(r: CredentialRow): Credential {
  return {
    id: r.id,
    userId: r.user_id,
    projectId: r.project_id,
    type: r.type,
    blob: r.blob,
    extra: parseExtra(r.extra),
  }
}

function ec2Blob(blob: string): { access: string; secret: string; trust_id?: string | null } {
  let parsed: unknown
  try {
    parsed = JSON.parse(blob)
  } catch {
    throw new Invalid('Invalid blob in credential')
  }
  const b = parsed as { access?: unknown; secret?: unknown; trust_id?: string | null }
  if (!parsed || typeof parsed !== 'object' || typeof b.access !== 'string' || !b.access) {
    throw new Invalid('Credential blob of type ec2 must contain access')
  }
  return {
    access: b.access,
    secret: typeof b.secret === 'string' ? b.secret : '',
    trust_id: b.trust_id ?? null,
  }
}

function blobObject(blob: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(blob)
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}

/** `/v3/credentials` and the OS-EC2 extension over them. */
export class CredentialManager {
  readonly #db: Database
  readonly #users: UserManager
  readonly #resources: ResourceManager

  constructor(db: Database, users: UserManager, resources: ResourceManager) {
    this.#db = db
    this.#users = users
    this.#resources = resources
  }

  /** Creates a credential; an ec2 one must name a project and its id derives from its access key. */
  async create(input: {
    readonly userId: string
    readonly projectId?: string | null | undefined
    readonly type: string
    readonly blob: string
    readonly extra?: Extra | undefined
  }): Promise<Credential> {
    await this.#users.getUser(input.userId)
    let id = newKeystoneId()
    if (input.type === EC2_TYPE) {
      if (!input.projectId) throw new Invalid('Credential of type ec2 requires a project_id')
      id = ec2CredentialId(ec2Blob(input.blob).access)
    }
    const row = {
      id,
      user_id: input.userId,
      project_id: input.projectId ?? null,
      type: input.type,
      blob: input.blob,
      extra: JSON.stringify(input.extra ?? {}),
      created_at: nowIso(),
      updated_at: null,
    }
    await orConflict(
      () => this.#db.kysely.insertInto('credentials').values(row).execute(),
      () => conflict('credential', `Duplicate entry found with ID ${id}`),
    )
    return toCredential(row)
  }

  async get(id: string): Promise<Credential> {
    const row = await this.#db.kysely
      .selectFrom('credentials')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst()
    if (!row) throw notFound('credential', id)
    return toCredential(row)
  }

  async list(f: { userId?: string | undefined; type?: string | undefined } = {}): Promise<Credential[]> {
    let q = this.#db.kysely.selectFrom('credentials').selectAll().orderBy('created_at')
    if (f.userId !== undefined) q = q.where('user_id', '=', f.userId)
    if (f.type !== undefined) q = q.where('type', '=', f.type)
    return (await q.execute()).map(toCredential)
  }

  async update(
    id: string,
    patch: {
      readonly projectId?: string | null
      readonly type?: string
      readonly blob?: string
      readonly userId?: string
      readonly extra?: Extra
    },
  ): Promise<Credential> {
    const before = await this.get(id)
    const type = patch.type ?? before.type
    if (type === EC2_TYPE) {
      // As Keystone's _validate_blob_update_keys: a new blob may carry a new access/secret
      // (the id stays), but the scope it was created with may not change or be unset.
      ec2Blob(patch.blob ?? before.blob)
      if (patch.blob !== undefined && before.type === EC2_TYPE) {
        const oldBlob = blobObject(before.blob)
        const newBlob = blobObject(patch.blob)
        for (const key of ['trust_id', 'app_cred_id', 'access_token_id', 'access_id']) {
          if ((oldBlob[key] ?? null) !== (newBlob[key] ?? null))
            throw new Invalid(`${key} can not be updated for credential`)
        }
      }
      if (!(patch.projectId ?? before.projectId))
        throw new Invalid('Credential of type ec2 requires a project_id')
    }
    await this.#db.kysely
      .updateTable('credentials')
      .set({
        ...(patch.projectId !== undefined ? { project_id: patch.projectId } : {}),
        ...(patch.type !== undefined ? { type: patch.type } : {}),
        ...(patch.blob !== undefined ? { blob: patch.blob } : {}),
        ...(patch.userId !== undefined ? { user_id: patch.userId } : {}),
        ...(patch.extra !== undefined ? { extra: JSON.stringify({ ...before.extra, ...patch.extra }) } : {}),
        updated_at: nowIso(),
      })
      .where('id', '=', id)
      .execute()
    return this.get(id)
  }

  async delete(id: string): Promise<void> {
    await this.get(id)
    await this.#db.kysely.deleteFrom('credentials').where('id', '=', id).execute()
  }

  // ---- OS-EC2 ----

  /** A new EC2 key pair for the user on a project. */
  async createEc2(userId: string, projectId: string): Promise<Ec2Credential> {
    await this.#resources.getProject(projectId)
    const access = newKeystoneId()
    const secret = newKeystoneId()
    await this.create({
      userId,
      projectId,
      type: EC2_TYPE,
      blob: JSON.stringify({ access, secret, trust_id: null, app_cred_id: null, access_token_id: null }),
    })
    return { userId, projectId, access, secret, trustId: null }
  }

  async listEc2(userId: string): Promise<Ec2Credential[]> {
    await this.#users.getUser(userId)
    return (await this.list({ userId, type: EC2_TYPE })).map(toEc2)
  }

  /** The user's EC2 credential with this access key; 404 "Could not find credential: <access>." otherwise. */
  async getEc2(userId: string, access: string): Promise<Ec2Credential> {
    await this.#users.getUser(userId)
    const row = await this.#db.kysely
      .selectFrom('credentials')
      .selectAll()
      .where('id', '=', ec2CredentialId(access))
      .executeTakeFirst()
    if (!row || row.user_id !== userId || row.type !== EC2_TYPE) throw notFound('credential', access)
    return toEc2(toCredential(row))
  }

  async deleteEc2(userId: string, access: string): Promise<void> {
    await this.getEc2(userId, access)
    await this.#db.kysely.deleteFrom('credentials').where('id', '=', ec2CredentialId(access)).execute()
  }
}

function toEc2(c: Credential): Ec2Credential {
  const blob = ec2Blob(c.blob)
  return {
    userId: c.userId,
    projectId: c.projectId,
    access: blob.access,
    secret: blob.secret,
    trustId: blob.trust_id ?? null,
  }
}

// ---- application credentials ----

function toAppCred(
  r: ApplicationCredentialRow,
  roles: readonly RoleRef[],
  accessRules: readonly AccessRule[],
): ApplicationCredential {
  return {
    accessRules,
    id: r.id,
    name: r.name,
    userId: r.user_id,
    projectId: r.project_id,
    description: r.description,
    expiresAt: r.expires_at,
    unrestricted: r.unrestricted,
    roles,
  }
}

function toAccessRule(r: AccessRuleRow): AccessRule {
  return { id: r.id, service: r.service, path: r.path, method: r.method }
}

/** How an application credential login names its credential. */
export type AppCredRef = { readonly id: string } | { readonly name: string; readonly userId: string }

/** Application credentials: a secret that logs in as its user on one project, with a subset of roles. */
export class ApplicationCredentialManager {
  readonly #db: Database
  readonly #clock: ChangeClock
  readonly #assignments: AssignmentManager
  readonly #users: UserManager
  readonly #hashCost: number
  readonly #dummy: DummyPasswordCheck

  constructor(
    db: Database,
    clock: ChangeClock,
    assignments: AssignmentManager,
    users: UserManager,
    hashCost: number,
  ) {
    this.#db = db
    this.#clock = clock
    this.#assignments = assignments
    this.#users = users
    this.#hashCost = hashCost
    this.#dummy = new DummyPasswordCheck(hashCost)
  }

  /**
   * Creates a credential for the user on the project. The roles must be
   * ones the user holds there (default: all of them). Returns the secret
   * once; only its hash is kept.
   */
  async create(input: {
    readonly userId: string
    readonly projectId: string
    readonly name: string
    readonly description?: string | null | undefined
    readonly secret?: string | undefined
    readonly expiresAt?: string | null | undefined
    readonly unrestricted?: boolean | undefined
    readonly roles?: readonly ({ readonly id: string } | { readonly name: string })[] | undefined
    readonly accessRules?: readonly AccessRuleSpec[] | undefined
  }): Promise<ApplicationCredential & { readonly secret: string }> {
    await this.#users.getUser(input.userId)
    const held = await this.#assignments.effectiveRoles(input.userId, {
      kind: 'project',
      id: input.projectId,
    })
    const roles = input.roles?.length
      ? await this.#resolveRoles(input.roles, held, input.userId, input.projectId)
      : held
    const expiresAt = input.expiresAt ? normalizeExpiry(input.expiresAt) : null
    const secret = input.secret ?? randomBytes(APP_CRED_SECRET_BYTES).toString('base64url')
    const row = {
      id: newKeystoneId(),
      name: input.name,
      user_id: input.userId,
      project_id: input.projectId,
      description: input.description ?? null,
      secret_hash: await hashPassword(secret, this.#hashCost),
      expires_at: expiresAt,
      unrestricted: input.unrestricted ?? false,
      role_ids: JSON.stringify(roles.map((r) => r.id)),
      created_at: nowIso(),
    }
    const accessRules = await this.#resolveAccessRules(input.userId, input.accessRules ?? [])
    await orConflict(
      () =>
        this.#db.transaction(async (tx) => {
          await tx.insertInto('application_credentials').values(row).execute()
          for (const rule of accessRules) {
            if (rule.isNew) {
              await tx
                .insertInto('access_rules')
                .values({
                  id: rule.id,
                  user_id: input.userId,
                  service: rule.service,
                  path: rule.path,
                  method: rule.method,
                  created_at: nowIso(),
                })
                .execute()
            }
            await tx
              .insertInto('application_credential_access_rules')
              .values({ application_credential_id: row.id, access_rule_id: rule.id })
              .execute()
          }
        }),
      () => conflict('application_credential', `Duplicate entry found with name ${input.name}`),
    )
    const rules = accessRules.map(({ id, service, path, method }) => ({ id, service, path, method }))
    return { ...toAppCred(row, roles, rules), secret }
  }

  /**
   * Keystone's access rule lookup: a rule named by id is the user's rule
   * with that id; one given by service, path and method is the user's
   * identical rule if there is one, else a new rule (with the given id).
   */
  async #resolveAccessRules(
    userId: string,
    specs: readonly AccessRuleSpec[],
  ): Promise<(AccessRule & { readonly isNew: boolean })[]> {
    const out: (AccessRule & { readonly isNew: boolean })[] = []
    for (const spec of specs) {
      const byId = spec.id ? await this.#findAccessRule(userId, spec.id) : undefined
      if (byId) {
        out.push({ ...byId, isNew: false })
        continue
      }
      if (!spec.service || spec.path === undefined || !spec.method) {
        if (spec.id) throw notFound('Access Rule', spec.id)
        throw new Invalid(
          "Invalid input for field 'access_rules': a rule needs a service, a path and a method",
        )
      }
      const same = await this.#db.kysely
        .selectFrom('access_rules')
        .selectAll()
        .where('user_id', '=', userId)
        .where('service', '=', spec.service)
        .where('path', '=', spec.path)
        .where('method', '=', spec.method)
        .executeTakeFirst()
      const rule = same
        ? { ...toAccessRule(same), isNew: false }
        : {
            id: spec.id ?? newKeystoneId(),
            service: spec.service,
            path: spec.path,
            method: spec.method,
            isNew: true,
          }
      if (!out.some((r) => r.id === rule.id)) out.push(rule)
    }
    return out
  }

  async #findAccessRule(userId: string, id: string): Promise<AccessRule | undefined> {
    const row = await this.#db.kysely
      .selectFrom('access_rules')
      .selectAll()
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .executeTakeFirst()
    return row ? toAccessRule(row) : undefined
  }

  /** The credentials' access rules, by credential id. */
  async #accessRulesOf(credIds: readonly string[]): Promise<Map<string, AccessRule[]>> {
    const out = new Map<string, AccessRule[]>()
    if (credIds.length === 0) return out
    const rows = await this.#db.kysely
      .selectFrom('application_credential_access_rules as l')
      .innerJoin('access_rules as r', 'r.id', 'l.access_rule_id')
      .select(['l.application_credential_id', 'r.id', 'r.service', 'r.path', 'r.method'])
      .where('l.application_credential_id', 'in', credIds)
      .orderBy('r.created_at')
      .orderBy('r.id')
      .execute()
    for (const r of rows) {
      const list = out.get(r.application_credential_id) ?? []
      list.push({ id: r.id, service: r.service, path: r.path, method: r.method })
      out.set(r.application_credential_id, list)
    }
    return out
  }

  async #toAppCred(row: ApplicationCredentialRow): Promise<ApplicationCredential> {
    const rules = await this.#accessRulesOf([row.id])
    return toAppCred(row, await this.#roleRefs(row), rules.get(row.id) ?? [])
  }

  // ---- access rules ----

  /** The user's access rules, filtered as Keystone's `?service=`, `?path=`, `?method=`. */
  async listAccessRules(
    userId: string,
    f: { service?: string | undefined; path?: string | undefined; method?: string | undefined } = {},
  ): Promise<AccessRule[]> {
    await this.#users.getUser(userId)
    let q = this.#db.kysely
      .selectFrom('access_rules')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('created_at')
      .orderBy('id')
    if (f.service !== undefined) q = q.where('service', '=', f.service)
    if (f.path !== undefined) q = q.where('path', '=', f.path)
    if (f.method !== undefined) q = q.where('method', '=', f.method)
    return (await q.execute()).map(toAccessRule)
  }

  async getAccessRule(userId: string, id: string): Promise<AccessRule> {
    const rule = await this.#findAccessRule(userId, id)
    if (!rule) throw notFound('Access Rule', id)
    return rule
  }

  /** Deletes a rule no credential uses any more (403 otherwise, as Keystone). */
  async deleteAccessRule(userId: string, id: string): Promise<void> {
    await this.getAccessRule(userId, id)
    const used = await this.#db.kysely
      .selectFrom('application_credential_access_rules')
      .select('application_credential_id')
      .where('access_rule_id', '=', id)
      .executeTakeFirst()
    if (used) throw new Forbidden('May not delete access rule in use')
    await this.#db.kysely.deleteFrom('access_rules').where('id', '=', id).execute()
  }

  async #resolveRoles(
    wanted: readonly ({ readonly id: string } | { readonly name: string })[],
    held: readonly RoleRef[],
    userId: string,
    projectId: string,
  ): Promise<RoleRef[]> {
    const out: RoleRef[] = []
    for (const w of wanted) {
      const role =
        'id' in w ? await this.#assignments.getRole(w.id) : await this.#assignments.findRoleByName(w.name)
      if (!role) throw notFound('role', 'name' in w ? w.name : '')
      if (!held.some((h) => h.id === role.id)) {
        throw new NotFound(
          `Could not find role assignment with role: ${role.id}, user or group: ${userId}, ` +
            `project, domain, or system: ${projectId}.`,
        )
      }
      if (!out.some((r) => r.id === role.id)) out.push({ id: role.id, name: role.name })
    }
    return out
  }

  async get(userId: string, id: string): Promise<ApplicationCredential> {
    const row = await this.#db.kysely
      .selectFrom('application_credentials')
      .selectAll()
      .where('id', '=', id)
      .where('user_id', '=', userId)
      .executeTakeFirst()
    if (!row) throw notFound('Application Credential', id)
    return this.#toAppCred(row)
  }

  async list(userId: string, f: { name?: string | undefined } = {}): Promise<ApplicationCredential[]> {
    await this.#users.getUser(userId)
    let q = this.#db.kysely.selectFrom('application_credentials').selectAll().where('user_id', '=', userId)
    if (f.name !== undefined) q = q.where('name', '=', f.name)
    const rows = await q.orderBy('name').execute()
    const rules = await this.#accessRulesOf(rows.map((r) => r.id))
    return Promise.all(rows.map(async (r) => toAppCred(r, await this.#roleRefs(r), rules.get(r.id) ?? [])))
  }

  /** Deletes the credential; tokens issued from it stop validating at once. */
  async delete(userId: string, id: string): Promise<void> {
    await this.get(userId, id)
    await this.#db.kysely.deleteFrom('application_credentials').where('id', '=', id).execute()
    this.#clock.bump()
  }

  async #roleRefs(row: ApplicationCredentialRow): Promise<RoleRef[]> {
    const ids = JSON.parse(row.role_ids) as string[]
    const out: RoleRef[] = []
    for (const id of ids) {
      const role = await this.#assignments.getRole(id).catch(() => undefined)
      if (role) out.push({ id: role.id, name: role.name })
    }
    return out
  }

  /**
   * Checks an application credential login. Unknown credential, wrong
   * secret and expiry all fail with Keystone's one message, after the same
   * KDF work.
   */
  async authenticate(ref: AppCredRef, secret: string): Promise<ApplicationCredential> {
    let q = this.#db.kysely.selectFrom('application_credentials').selectAll()
    q =
      'id' in ref
        ? q.where('id', '=', ref.id)
        : q.where('name', '=', ref.name).where('user_id', '=', ref.userId)
    const row = await q.executeTakeFirst()
    if (!row) {
      await this.#dummy.verify(secret)
      throw new Unauthorized(APP_CRED_AUTH_FAILED)
    }
    const ok = await verifyPassword(secret, row.secret_hash)
    if (!ok || (row.expires_at !== null && utcMs(row.expires_at) <= Date.now())) {
      throw new Unauthorized(APP_CRED_AUTH_FAILED)
    }
    return this.#toAppCred(row)
  }

  /** The credential by id, whatever its user (token validation). */
  async find(id: string): Promise<ApplicationCredential | undefined> {
    const row = await this.#db.kysely
      .selectFrom('application_credentials')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst()
    return row ? this.#toAppCred(row) : undefined
  }
}

/** Milliseconds of an ISO timestamp; one without a zone is UTC (Keystone stores naive UTC times). */
function utcMs(text: string): number {
  return Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text}Z`)
}

/**
 * An ISO timestamp in the future, as Keystone stores and shows it: naive
 * UTC with the caller's microseconds (`2026-11-26T01:35:12.912300`, no
 * fraction when it is zero, as Python's isoformat); 400 with Keystone's
 * words otherwise.
 */
function normalizeExpiry(text: string): string {
  const ms = utcMs(text)
  if (Number.isNaN(ms))
    throw new Invalid(`Invalid input for field 'expires_at': '${text}' is not a 'date-time'`)
  if (ms <= Date.now()) {
    throw new Invalid(
      "The 'expires_at' must not be before now. The server could not comply with the request since it is " +
        'either malformed or otherwise incorrect. The client is assumed to be in error.',
    )
  }
  const micros = `${/T[\d:]+\.(\d+)/.exec(text)?.[1] ?? ''}000000`.slice(0, 6)
  const seconds = new Date(ms).toISOString().slice(0, 19)
  return micros === '000000' ? seconds : `${seconds}.${micros}`
}
