import { randomBytes } from 'node:crypto'
import { Unauthorized } from '../../common/errors.ts'
import { limits } from '../../common/limits.ts'
import { logger } from '../../common/log.ts'
import type { AssignmentManager, RoleRef } from '../assignment.ts'
import type { ChangeClock } from '../common.ts'
import type { AccessRule, ApplicationCredentialManager } from '../credentials.ts'
import type { ResourceManager } from '../resource.ts'
import type { TrustManager } from '../trusts.ts'
import type { Revocations, TokenValues } from '../revocation.ts'
import type { UserManager } from '../users.ts'
import { fernetDecrypt, fernetEncrypt, fernetTimestamp, InvalidFernetToken } from './fernet.ts'
import type { FernetKeyRepository, FernetKeys } from './key-repository.ts'
import {
  decodePayload,
  encodePayload,
  InvalidPayload,
  type AuthMethod,
  type TokenPayload,
  type TokenScope,
} from './payload.ts'

const log = logger('identity.token')

const AUDIT_ID_BYTES = 16
const MS_PER_S = 1000

/** A token that passed every check, with what its payload names looked up. */
export interface ValidatedToken {
  /** The token itself (what clients send in X-Auth-Token). */
  readonly id: string
  readonly methods: readonly AuthMethod[]
  readonly auditIds: readonly string[]
  readonly issuedAtMs: number
  readonly expiresAtMs: number
  readonly user: {
    readonly id: string
    readonly name: string
    readonly domainId: string
    readonly domainName: string
  }
  readonly scope: TokenScope
  readonly project?: {
    readonly id: string
    readonly name: string
    readonly domainId: string
    readonly domainName: string
  }
  readonly domain?: { readonly id: string; readonly name: string }
  readonly roles: readonly RoleRef[]
  readonly applicationCredential?: {
    readonly id: string
    readonly name: string
    readonly restricted: boolean
    /** Present when the credential has access rules: the only APIs its tokens may call. */
    readonly accessRules?: readonly AccessRule[]
  }
  /** A trust-scoped token: `user` is the trustor when the trust impersonates, else the trustee. */
  readonly trust?: {
    readonly id: string
    readonly impersonation: boolean
    readonly trustorUserId: string
    readonly trusteeUserId: string
    readonly redelegationCount: number
  }
}

/** What a new token is for. */
export interface IssueRequest {
  readonly userId: string
  readonly methods: readonly AuthMethod[]
  readonly scope: TokenScope
  /** Tokens issued from another token keep its expiry. */
  readonly expiresAtMs?: number | undefined
  /** The audit id of the token this one was issued from. */
  readonly parentAuditId?: string | undefined
  readonly applicationCredentialId?: string | undefined
  /** A trust-scoped token: the trust (the scope is its project, the user its trustee). */
  readonly trustId?: string | undefined
}

interface CacheEntry {
  readonly token: ValidatedToken
  readonly generation: number
  readonly cachedAtMs: number
}

/** What a payload's ids name, looked up; `expiresAtMs` is the application credential's expiry. */
type Lookup = Pick<
  ValidatedToken,
  'user' | 'project' | 'domain' | 'roles' | 'applicationCredential' | 'trust'
> & {
  readonly expiresAtMs?: number | undefined
}

interface LookupEntry {
  readonly lookup: Lookup
  readonly generation: number
  readonly cachedAtMs: number
}

export interface TokenProviderDeps {
  readonly keys: FernetKeyRepository
  readonly expirationS: number
  readonly clock: ChangeClock
  readonly revocations: Revocations
  readonly users: UserManager
  readonly resources: ResourceManager
  readonly assignments: AssignmentManager
  readonly appCreds: ApplicationCredentialManager
  readonly trusts: TrustManager
}

/**
 * Issues and validates Fernet tokens. A token carries only ids; every
 * validation looks the user, scope and roles up again (so a disabled user or
 * a removed role takes effect at once) and checks revocation events.
 * Validated tokens are cached, and the cache is dropped whenever anything in
 * identity changes (the change clock), so the cache never answers with
 * stale roles.
 */
export class TokenProvider {
  readonly #d: TokenProviderDeps
  readonly #cache = new Map<string, CacheEntry>()
  readonly #lookups = new Map<string, LookupEntry>()
  #keys: FernetKeys
  #keysVersion: number
  #keysCheckedAtMs = 0

  constructor(deps: TokenProviderDeps) {
    this.#d = deps
    this.#keys = deps.keys.load()
    this.#keysVersion = deps.keys.version()
  }

  /**
   * Issues a token after checking what it names, as Keystone mints one:
   * enabled user, domain and project, and at least one role on a scope.
   * Throws Unauthorized with Keystone's message otherwise.
   */
  async issue(req: IssueRequest): Promise<ValidatedToken> {
    const nowMs = Date.now()
    const payload: TokenPayload = {
      userId: req.userId,
      methods: [...new Set(req.methods)],
      scope: req.scope,
      applicationCredentialId: req.applicationCredentialId,
      trustId: req.trustId,
      expiresAtMs: req.expiresAtMs ?? nowMs + this.#d.expirationS * MS_PER_S,
      auditIds: [
        randomBytes(AUDIT_ID_BYTES).toString('base64url'),
        ...(req.parentAuditId ? [req.parentAuditId] : []),
      ],
    }
    const resolved = await this.#resolve(payload)
    let issuedAtS = Math.floor(nowMs / MS_PER_S)
    // Fernet timestamps are whole seconds and an event revokes tokens issued up
    // to its own second: a token issued just after a revocation (say, after a
    // password change) would be refused. It post-dates the event, so date it
    // at the next second instead.
    if (this.#d.revocations.isRevoked(tokenValues(resolved, issuedAtS * MS_PER_S))) issuedAtS += 1
    this.#reloadKeysIfDue()
    const id = fernetEncrypt(this.#keys.primary, encodePayload(payload), issuedAtS)
    const token: ValidatedToken = { ...resolved, id, issuedAtMs: issuedAtS * MS_PER_S }
    this.#remember(token)
    return token
  }

  /** Validates a token; throws Unauthorized (with the reason, for logs) when it is not valid. */
  async validate(id: string): Promise<ValidatedToken> {
    const nowMs = Date.now()
    this.#d.revocations
      .refreshIfDue()
      ?.catch((err: unknown) => log.warn({ err }, 'revocation refresh failed'))
    const hit = this.#cache.get(id)
    if (
      hit &&
      hit.generation === this.#d.clock.generation &&
      nowMs - hit.cachedAtMs < limits.identityTokenCacheMaxAgeMs &&
      nowMs < hit.token.expiresAtMs
    ) {
      return hit.token
    }
    if (hit) this.#cache.delete(id)
    const { payload, issuedAtMs } = this.#decrypt(id)
    if (nowMs >= payload.expiresAtMs) throw new Unauthorized('Failed to validate token: expired')
    const resolved = await this.#resolve(payload)
    const token: ValidatedToken = { ...resolved, id, issuedAtMs }
    if (this.#d.revocations.isRevoked(tokenValues(token, issuedAtMs))) {
      throw new Unauthorized('Failed to validate token: revoked')
    }
    this.#remember(token)
    return token
  }

  /** Revokes one token (by its audit id: tokens issued from it stay valid, as in Keystone). */
  async revoke(token: ValidatedToken): Promise<void> {
    await this.#d.revocations.revoke({ auditId: token.auditIds[0] })
  }

  /** Drops every cached validation (tests, key rotation). */
  clearCache(): void {
    this.#cache.clear()
    this.#lookups.clear()
  }

  /** Drops cached validations but keeps the user/scope lookups (bench: the Fernet-only path). */
  clearTokenCache(): void {
    this.#cache.clear()
  }

  #decrypt(id: string): { payload: TokenPayload; issuedAtMs: number } {
    this.#reloadKeysIfDue()
    try {
      const payload = decodePayload(fernetDecrypt(this.#keys.all, id))
      return { payload, issuedAtMs: fernetTimestamp(id) * MS_PER_S }
    } catch (err) {
      if (err instanceof InvalidFernetToken || err instanceof InvalidPayload) {
        throw new Unauthorized(`Could not recognize Fernet token: ${err.message}`)
      }
      throw err
    }
  }

  /** Picks up keys rotated by another process (checked at most every `limits.identityKeyReloadMs`). */
  #reloadKeysIfDue(): void {
    const now = Date.now()
    if (now - this.#keysCheckedAtMs < limits.identityKeyReloadMs) return
    this.#keysCheckedAtMs = now
    try {
      const version = this.#d.keys.version()
      if (version === this.#keysVersion) return
      this.#keys = this.#d.keys.load()
      this.#keysVersion = version
      this.#cache.clear()
      log.info({ keys: this.#keys.all.length }, 'fernet keys reloaded')
    } catch (err) {
      // Keep the keys in memory: a rotation caught halfway must not stop validation.
      log.warn({ err }, 'could not reload fernet keys; keeping the current ones')
    }
  }

  #remember(token: ValidatedToken): void {
    if (this.#cache.size >= limits.identityTokenCacheEntries) {
      // Map iteration order is insertion order: the first key is the oldest entry.
      const oldest = this.#cache.keys().next().value
      if (oldest !== undefined) this.#cache.delete(oldest)
    }
    this.#cache.set(token.id, { token, generation: this.#d.clock.generation, cachedAtMs: Date.now() })
  }

  /** Looks up what the payload names and checks it is all still valid (Keystone's token "mint"). */
  async #resolve(p: TokenPayload): Promise<Omit<ValidatedToken, 'id' | 'issuedAtMs'>> {
    const { expiresAtMs: credExpiresAtMs, ...found } = await this.#lookup(p)
    if (credExpiresAtMs !== undefined && credExpiresAtMs <= Date.now()) {
      throw new Unauthorized(`Application credential ${p.applicationCredentialId} has expired`)
    }
    return { ...found, methods: p.methods, auditIds: p.auditIds, expiresAtMs: p.expiresAtMs, scope: p.scope }
  }

  /**
   * The user, scope and roles a payload names, memoised per change
   * generation: every token of one user on one scope shares one lookup, and
   * any identity change (the clock) makes the next validation look again.
   */
  async #lookup(p: TokenPayload): Promise<Lookup> {
    const s = p.scope
    const key = `${p.userId}|${s.kind}|${s.kind === 'project' ? s.projectId : s.kind === 'domain' ? s.domainId : ''}|${p.applicationCredentialId ?? ''}|${p.trustId ?? ''}`
    const now = Date.now()
    const hit = this.#lookups.get(key)
    if (
      hit &&
      hit.generation === this.#d.clock.generation &&
      now - hit.cachedAtMs < limits.identityTokenCacheMaxAgeMs
    ) {
      return hit.lookup
    }
    const generation = this.#d.clock.generation
    const lookup = await this.#lookupUncached(p)
    if (this.#lookups.size >= limits.identityTokenCacheEntries) {
      const oldest = this.#lookups.keys().next().value
      if (oldest !== undefined) this.#lookups.delete(oldest)
    }
    this.#lookups.set(key, { lookup, generation, cachedAtMs: now })
    return lookup
  }

  async #lookupUncached(p: TokenPayload): Promise<Lookup> {
    const { users, resources, assignments } = this.#d
    const user = await users.findUser(p.userId)
    if (!user) throw new Unauthorized(`Could not find user: ${p.userId}.`)
    await users.assertEnabled(user)
    const userDomain = await resources.getDomain(user.domainId)
    const base = {
      user: { id: user.id, name: user.name, domainId: user.domainId, domainName: userDomain.name },
    }
    const s = p.scope
    if (s.kind === 'unscoped') return { ...base, roles: [] }
    if (s.kind === 'system') {
      const roles = await assignments.effectiveRoles(user.id, { kind: 'system' })
      if (!roles.length) throw new Unauthorized(`User ${user.id} has no access to the system`)
      return { ...base, roles }
    }
    if (s.kind === 'domain') {
      const domain = await resources.findDomain(s.domainId)
      if (!domain?.enabled) throw new Unauthorized(`Domain is disabled or does not exist: ${s.domainId}`)
      const roles = await assignments.effectiveRoles(user.id, { kind: 'domain', id: domain.id })
      if (!roles.length) throw new Unauthorized(`User ${user.id} has no access to domain ${domain.id}`)
      return { ...base, domain: { id: domain.id, name: domain.name }, roles }
    }
    const project = await resources.findProject(s.projectId)
    if (!project?.enabled) throw new Unauthorized(`Project is disabled or does not exist: ${s.projectId}`)
    const projectDomain = await resources.findDomain(project.domainId)
    if (!projectDomain?.enabled) throw new Unauthorized(`Domain is disabled: ${project.domainId}`)
    const projectRef = {
      id: project.id,
      name: project.name,
      domainId: project.domainId,
      domainName: projectDomain.name,
    }
    if (p.trustId)
      return { ...(await this.#trustLookup(p.trustId, user.id, project.id)), project: projectRef }
    let roles = await assignments.effectiveRoles(user.id, { kind: 'project', id: project.id })
    let applicationCredential: ValidatedToken['applicationCredential']
    let expiresAtMs: number | undefined
    if (p.applicationCredentialId) {
      const cred = await this.#d.appCreds.find(p.applicationCredentialId)
      if (!cred || cred.userId !== user.id || cred.projectId !== project.id) {
        throw new Unauthorized(`Application credential ${p.applicationCredentialId} no longer exists`)
      }
      expiresAtMs = cred.expiresAt === null ? undefined : Date.parse(cred.expiresAt)
      // The credential delegates a subset of roles; only those the user still holds count.
      roles = roles.filter((r) => cred.roles.some((c) => c.id === r.id))
      applicationCredential = {
        id: cred.id,
        name: cred.name,
        restricted: !cred.unrestricted,
        ...(cred.accessRules.length ? { accessRules: cred.accessRules } : {}),
      }
    }
    if (!roles.length) throw new Unauthorized(`User ${user.id} has no access to project ${project.id}`)
    return {
      ...base,
      project: projectRef,
      roles,
      ...(applicationCredential ? { applicationCredential } : {}),
      expiresAtMs,
    }
  }

  /**
   * What a trust-scoped token shows (Keystone's token model): the trust
   * must still exist and not have expired, its user must be the trustee,
   * the trustor enabled; the roles are the trust's (with those they imply)
   * that the trustor still holds on the project, all of them or the token is
   * refused. A trust whose uses are spent still backs the tokens already
   * issued (Keystone refuses them: its lookup hides spent trusts).
   */
  async #trustLookup(trustId: string, userId: string, projectId: string): Promise<Omit<Lookup, 'project'>> {
    const { users, resources, assignments, trusts } = this.#d
    const trust = await trusts.findUnexpired(trustId)
    if (!trust || trust.projectId !== projectId) throw new Unauthorized(`Could not find trust: ${trustId}.`)
    if (userId !== trust.trusteeUserId) throw new Unauthorized('User is not a trustee.')
    const trustor = await users.findUser(trust.trustorUserId)
    if (!trustor?.enabled) throw new Unauthorized('Trustor is disabled.')
    const trustorDomain = await resources.findDomain(trustor.domainId)
    if (!trustorDomain?.enabled) throw new Unauthorized('Trustor domain is disabled.')
    const held = new Set(
      (await assignments.effectiveRoles(trustor.id, { kind: 'project', id: projectId })).map((r) => r.id),
    )
    const delegated = await assignments.withImpliedRoles(trust.roleIds)
    if (delegated.length === 0 || delegated.some((r) => r.domainId === null && !held.has(r.id)))
      throw new Unauthorized('Trustee has no delegated roles.')
    const shown = trust.impersonation ? trustor : await users.getUser(userId)
    const shownDomain = trust.impersonation ? trustorDomain : await resources.getDomain(shown.domainId)
    return {
      user: { id: shown.id, name: shown.name, domainId: shown.domainId, domainName: shownDomain.name },
      roles: delegated.filter((r) => r.domainId === null).map((r) => ({ id: r.id, name: r.name })),
      trust: {
        id: trust.id,
        impersonation: trust.impersonation,
        trustorUserId: trust.trustorUserId,
        trusteeUserId: trust.trusteeUserId,
        redelegationCount: trust.redelegationCount,
      },
    }
  }
}

function tokenValues(t: Omit<ValidatedToken, 'id' | 'issuedAtMs'>, issuedAtMs: number): TokenValues {
  return {
    userId: t.user.id,
    userDomainId: t.user.domainId,
    projectId: t.project?.id,
    assignmentDomainId: t.project?.domainId ?? t.domain?.id,
    auditId: t.auditIds[0]!,
    issuedAtMs,
  }
}
