import { Forbidden, NotFound, Unauthorized } from '../common/errors.ts'
import type { AssignmentManager } from './assignment.ts'
import { expecting } from './common.ts'
import type { ApplicationCredentialManager, AppCredRef } from './credentials.ts'
import type { Domain, ResourceManager } from './resource.ts'
import type { AuthMethod, TokenScope } from './token/payload.ts'
import type { IssueRequest, TokenProvider, ValidatedToken } from './token/provider.ts'
import type { TrustManager } from './trusts.ts'
import { AUTH_FAILED_MESSAGE, type UserManager, type UserRef } from './users.ts'

/** The `auth` object of `POST /v3/auth/tokens` (shape checked by the route's schema). */
export interface AuthRequest {
  readonly identity: {
    readonly methods: readonly string[]
    readonly password?: { readonly user?: UserSpec }
    readonly token?: { readonly id?: string }
    readonly application_credential?: {
      readonly id?: string
      readonly name?: string
      readonly secret?: string
      readonly user?: UserSpec
    }
  }
  readonly scope?: ScopeSpec | 'unscoped'
}

interface DomainSpec {
  readonly id?: string
  readonly name?: string
}

interface UserSpec {
  readonly id?: string
  readonly name?: string
  readonly password?: string
  readonly domain?: DomainSpec
}

interface ScopeSpec {
  readonly project?: { readonly id?: string; readonly name?: string; readonly domain?: DomainSpec }
  readonly domain?: DomainSpec
  readonly system?: { readonly all?: boolean }
  readonly unscoped?: unknown
  readonly 'OS-TRUST:trust'?: { readonly id?: string }
}

const SUPPORTED_METHODS: readonly AuthMethod[] = ['password', 'token', 'application_credential']

/** Who a method authenticated, and what it adds to the new token. */
interface MethodResult {
  readonly userId: string
  readonly expiresAtMs?: number
  readonly parentAuditId?: string
  readonly appCred?: { readonly id: string; readonly projectId: string }
  /** The scope of the token a `token` method presented: its default when no scope is asked. */
  readonly tokenScope?: TokenScope
  /** The methods that token was issued for: a rescoped token carries them too (Keystone's token plugin). */
  readonly tokenMethods?: readonly AuthMethod[]
}

/**
 * `POST /v3/auth/tokens`: runs each requested method (all must name the same
 * user), works out the scope, and has the token provider issue the token.
 * Every failure to identify the user is the same 401.
 */
export class Authenticator {
  readonly #users: UserManager
  readonly #resources: ResourceManager
  readonly #assignments: AssignmentManager
  readonly #appCreds: ApplicationCredentialManager
  readonly #tokens: TokenProvider
  readonly #trusts: TrustManager

  constructor(deps: {
    users: UserManager
    resources: ResourceManager
    assignments: AssignmentManager
    appCreds: ApplicationCredentialManager
    tokens: TokenProvider
    trusts: TrustManager
  }) {
    this.#users = deps.users
    this.#resources = deps.resources
    this.#assignments = deps.assignments
    this.#appCreds = deps.appCreds
    this.#tokens = deps.tokens
    this.#trusts = deps.trusts
  }

  /** Authenticates and issues a token. */
  async authenticate(auth: AuthRequest): Promise<ValidatedToken> {
    const methods = [...new Set(auth.identity.methods)]
    for (const m of methods) {
      if (!(SUPPORTED_METHODS as readonly string[]).includes(m)) {
        throw new Unauthorized('Attempted to authenticate with an unsupported method.')
      }
      if (!(m in auth.identity)) throw expecting(m, 'identity')
    }
    if (methods.length === 0) throw expecting('methods', 'identity')
    const results: MethodResult[] = []
    for (const m of methods as AuthMethod[]) results.push(await this.#runMethod(m, auth))
    const userId = results[0]!.userId
    if (results.some((r) => r.userId !== userId)) throw new Unauthorized(AUTH_FAILED_MESSAGE)
    const appCred = results.find((r) => r.appCred)?.appCred
    const fromToken = results.find((r) => r.parentAuditId)
    const trustSpec = typeof auth.scope === 'object' ? auth.scope['OS-TRUST:trust'] : undefined
    const trustId =
      trustSpec !== undefined && !appCred ? await this.#trustScope(auth.scope, userId) : undefined
    const scope = appCred
      ? this.#appCredScope(auth, appCred.projectId)
      : trustId
        ? trustId.scope
        : await this.#scope(auth.scope, userId, fromToken?.tokenScope)
    const req: IssueRequest = {
      userId,
      methods: [...new Set([...(methods as AuthMethod[]), ...(fromToken?.tokenMethods ?? [])])],
      scope,
      expiresAtMs: fromToken?.expiresAtMs,
      parentAuditId: fromToken?.parentAuditId,
      applicationCredentialId: appCred?.id ?? undefined,
      trustId: trustId?.id,
    }
    const token = await this.#tokens.issue(req)
    // As Keystone: a use of a limited trust is taken once its token is issued.
    if (trustId) await this.#trusts.consumeUse(trustId.id)
    return token
  }

  /**
   * `"scope": {"OS-TRUST:trust": {"id": ...}}`: a token on the trust's
   * project for its trustee. An unknown, expired or spent trust is a 401
   * (Keystone turns its TrustNotFound into Unauthorized); a user who is
   * not the trustee a 403.
   */
  async #trustScope(spec: AuthRequest['scope'], userId: string): Promise<{ id: string; scope: TokenScope }> {
    const given = ['project', 'domain', 'unscoped', 'system', 'OS-TRUST:trust'].filter(
      (k) => k in (spec as object),
    )
    if (given.length !== 1) throw expecting('system, project, domain, OS-TRUST:trust or unscoped', 'scope')
    const id = (spec as ScopeSpec)['OS-TRUST:trust']?.id
    if (!id) throw expecting('trust_id', 'trust')
    const trust = await this.#trusts.get(id).catch((err: unknown) => {
      if (err instanceof NotFound) throw new Unauthorized(err.message)
      throw err
    })
    if (trust.trusteeUserId !== userId) throw new Forbidden('User is not a trustee.')
    if (!trust.projectId) throw new Forbidden('Trustee has no delegated roles.')
    return { id: trust.id, scope: { kind: 'project', projectId: trust.projectId } }
  }

  async #runMethod(method: AuthMethod, auth: AuthRequest): Promise<MethodResult> {
    switch (method) {
      case 'password':
        return this.#password(auth.identity.password?.user)
      case 'token':
        return this.#token(auth.identity.token?.id)
      case 'application_credential':
        return this.#applicationCredential(auth.identity.application_credential)
      default:
        throw new Unauthorized('Attempted to authenticate with an unsupported method.')
    }
  }

  async #password(user: UserSpec | undefined): Promise<MethodResult> {
    if (!user) throw expecting('user', 'password')
    if (typeof user.password !== 'string') throw expecting('password', 'user')
    const password = user.password
    // An unknown domain fails like an unknown user: same answer, same KDF work.
    const ref = await this.#userRef(user).catch((err: unknown) =>
      err instanceof Unauthorized ? this.#users.rejectAfterDummyCheck(password) : Promise.reject(err),
    )
    const found = await this.#users.authenticate(ref, password)
    return { userId: found.id }
  }

  /** A user named by id, or by name in a domain named by id or name. An unknown domain is the generic 401. */
  async #userRef(user: UserSpec): Promise<UserRef> {
    if (user.id) return { id: user.id }
    if (!user.name) throw expecting('id or name', 'user')
    if (!user.domain) throw expecting('domain', 'user')
    const domain = await this.#lookupDomain(user.domain).catch((err: unknown) => {
      if (err instanceof NotFound) throw new Unauthorized(AUTH_FAILED_MESSAGE)
      throw err
    })
    if (!domain.enabled) throw new Unauthorized(`Domain is disabled: ${domain.id}`)
    return { name: user.name, domainId: domain.id }
  }

  async #token(id: string | undefined): Promise<MethodResult> {
    if (!id) throw expecting('id', 'token')
    // Keystone's token plugin validates with validate_token: an invalid, expired or revoked token is its 404.
    const token = await this.#tokens.validate(id).catch((err: unknown) => {
      if (err instanceof Unauthorized) throw new NotFound(`Could not find token: ${id}.`)
      throw err
    })
    if (token.trust) {
      throw new Forbidden(
        'You are not authorized to perform the requested action: Using trust-scoped token to create another ' +
          'token. Create a new trust-scoped token instead.',
      )
    }
    // A token from an application credential stays within it: it may not be rescoped.
    if (token.applicationCredential) {
      throw new Forbidden("Using method 'token' is not allowed for tokens from application credentials.")
    }
    return {
      userId: token.user.id,
      expiresAtMs: token.expiresAtMs,
      parentAuditId: token.auditIds[0]!,
      tokenScope: token.scope,
      tokenMethods: token.methods,
    }
  }

  async #applicationCredential(
    spec: AuthRequest['identity']['application_credential'],
  ): Promise<MethodResult> {
    if (!spec) throw expecting('application_credential', 'identity')
    if (typeof spec.secret !== 'string') throw expecting('secret', 'application credential')
    let ref: AppCredRef
    if (spec.id) {
      ref = { id: spec.id }
    } else {
      if (!spec.name) throw expecting('name or ID', 'application credential')
      if (!spec.user) throw expecting('user', 'application credential')
      let userId = spec.user.id
      if (!userId) {
        const userRef = await this.#userRef(spec.user)
        const user =
          'id' in userRef
            ? undefined
            : await this.#users.getUserByName(userRef.name, userRef.domainId).catch(() => undefined)
        if (!user) throw new Unauthorized(`Could not find application credential: ${spec.name}`)
        userId = user.id
      }
      ref = { name: spec.name, userId }
    }
    const cred = await this.#appCreds.authenticate(ref, spec.secret)
    await this.#users.assertEnabled(await this.#users.getUser(cred.userId))
    return { userId: cred.userId, appCred: { id: cred.id, projectId: cred.projectId } }
  }

  #appCredScope(auth: AuthRequest, projectId: string): TokenScope {
    if (auth.scope !== undefined) {
      throw new Unauthorized(
        'Error authenticating with application credential: Application credentials cannot request a scope.',
      )
    }
    return { kind: 'project', projectId }
  }

  /**
   * The scope asked for, looked up and checked enabled (401 otherwise). With
   * no scope: the scope of the token presented, else the user's default
   * project when they have a role on it, else unscoped.
   */
  async #scope(
    spec: AuthRequest['scope'],
    userId: string,
    tokenScope: TokenScope | undefined,
  ): Promise<TokenScope> {
    if (spec === undefined) return tokenScope ?? this.#defaultScope(userId)
    if (spec === 'unscoped') return { kind: 'unscoped' }
    const given = ['project', 'domain', 'unscoped', 'system', 'OS-TRUST:trust'].filter((k) => k in spec)
    if (given.length !== 1) throw expecting('system, project, domain, OS-TRUST:trust or unscoped', 'scope')
    if (spec.unscoped !== undefined) return { kind: 'unscoped' }
    if (spec.system) {
      if (spec.system.all !== true) throw expecting('all', 'system')
      return { kind: 'system' }
    }
    if (spec.domain) {
      const domain = await this.#scopeDomain(spec.domain)
      return { kind: 'domain', domainId: domain.id }
    }
    const p = spec.project!
    try {
      let project
      if (p.id) {
        project = await this.#resources.getProject(p.id)
        await this.#scopeDomain({ id: project.domainId })
      } else {
        if (!p.name) throw expecting('id or name', 'project')
        if (!p.domain) throw expecting('domain', 'project')
        const domain = await this.#scopeDomain(p.domain)
        project = await this.#resources.getProjectByName(p.name, domain.id)
      }
      if (!project.enabled) throw new Unauthorized(`Project is disabled: ${project.id}`)
      return { kind: 'project', projectId: project.id }
    } catch (err) {
      if (err instanceof NotFound) throw new Unauthorized(err.message)
      throw err
    }
  }

  async #scopeDomain(spec: DomainSpec): Promise<Domain> {
    const domain = await this.#lookupDomain(spec).catch((err: unknown) => {
      if (err instanceof NotFound) throw new Unauthorized(err.message)
      throw err
    })
    if (!domain.enabled) throw new Unauthorized(`Domain is disabled: ${domain.id}`)
    return domain
  }

  async #lookupDomain(spec: DomainSpec): Promise<Domain> {
    if (spec.id) return this.#resources.getDomain(spec.id)
    if (spec.name) return this.#resources.getDomainByName(spec.name)
    throw expecting('id or name', 'domain')
  }

  async #defaultScope(userId: string): Promise<TokenScope> {
    const user = await this.#users.getUser(userId)
    if (!user.defaultProjectId) return { kind: 'unscoped' }
    const project = await this.#resources.findProject(user.defaultProjectId)
    if (!project?.enabled) return { kind: 'unscoped' }
    const roles = await this.#assignments.effectiveRoles(userId, { kind: 'project', id: project.id })
    return roles.length ? { kind: 'project', projectId: project.id } : { kind: 'unscoped' }
  }
}
