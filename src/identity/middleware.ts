import type { FastifyRequest } from 'fastify'
import type { Config } from '../common/config.ts'
import type { RequestContext } from '../common/context.ts'
import { ServiceUnavailable, Unauthorized } from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import { logger } from '../common/log.ts'
import {
  credentialsFromContext,
  PolicyEngine,
  type PolicyEngineOptions,
  type PolicyRules,
  type PolicyTarget,
} from '../common/policy.ts'
import type { ApiRequest, ApiServerOptions } from '../service/http.ts'
import type { Runtime } from '../service/runtime.ts'
import type { TokenProvider, ValidatedToken } from './token/provider.ts'
import { AUTH_FAILED_MESSAGE } from './users.ts'

/**
 * Authentication and policy for every API service (Keystone's
 * keystonemiddleware + oslo.policy in one place). `authMiddleware(rt)`
 * gives the `authenticate` and `enforce` options of an ApiServer:
 *
 * - embedded: when the identity service runs in this process, tokens are
 *   validated by a direct call into its token provider (no HTTP, no copy);
 * - distributed: otherwise they are validated with `GET /v3/auth/tokens`
 *   against `[keystone_authtoken] auth_url`, and the answers are kept in a
 *   bounded LRU for at most `token_cache_time_s` (so a revoked token is
 *   refused by such a service within that time, as with keystonemiddleware).
 */
const log = logger('identity.middleware')

/** What a valid token says about its caller, whichever way it was validated. */
export interface TokenInfo {
  readonly userId: string
  readonly userName: string
  readonly userDomainId: string
  readonly projectId?: string | undefined
  readonly projectName?: string | undefined
  readonly projectDomainId?: string | undefined
  readonly domainId?: string | undefined
  readonly system: boolean
  readonly roles: readonly string[]
  readonly expiresAtMs: number
  /** A token from an application credential with access rules: the only APIs it may call. */
  readonly accessRules?: readonly AccessRuleRef[] | undefined
}

/** One access rule as a token carries it. */
export interface AccessRuleRef {
  readonly service: string
  readonly path: string
  readonly method: string
}

/** One piece of an access rule path: a literal character, one segment (`*`, `{name}`), or anything (`**`). */
type PathToken = { readonly kind: 'literal'; readonly char: string } | { readonly kind: 'segment' | 'any' }

/**
 * keystonemiddleware's path match: `*` and `{name}` stand for one path
 * segment, `**` for any number of characters; everything else is literal.
 * The rule's path is the user's, so it is matched by a linear-time
 * simulation (every position of the pattern at once), never by a
 * backtracking RegExp: `/**` repeated would otherwise take polynomial time
 * of a high degree in the request path's length.
 */
export function accessRulePathMatches(requestPath: string, pattern: string): boolean {
  const tokens: PathToken[] = []
  for (const m of pattern.matchAll(/(\{[^}]*\})|(\*\*)|(\*)|([^{}*])/g)) {
    if (m[1] || m[3]) tokens.push({ kind: 'segment' })
    else if (m[2]) tokens.push({ kind: 'any' })
    else tokens.push({ kind: 'literal', char: m[4]! })
  }
  const n = tokens.length
  // before[j]: the text read so far matches tokens[0..j); inSegment[j]: and one or more characters of segment j.
  let before = new Uint8Array(n + 1)
  let inSegment = new Uint8Array(n)
  before[0] = 1
  const close = () => {
    for (let j = 0; j < n; j++) {
      if (inSegment[j]) before[j + 1] = 1
      if (before[j] && tokens[j]!.kind === 'any') before[j + 1] = 1
    }
  }
  close()
  for (const c of requestPath) {
    const nextBefore = new Uint8Array(n + 1)
    const nextInSegment = new Uint8Array(n)
    for (let j = 0; j < n; j++) {
      const token = tokens[j]!
      if (before[j]) {
        if (token.kind === 'literal' && token.char === c) nextBefore[j + 1] = 1
        else if (token.kind === 'segment' && c !== '/') nextInSegment[j] = 1
        else if (token.kind === 'any') nextBefore[j] = 1
      }
      if (inSegment[j] && c !== '/') nextInSegment[j] = 1
    }
    before = nextBefore
    inSegment = nextInSegment
    close()
  }
  return before[n] === 1
}

/**
 * keystonemiddleware's validate_allowed_request: a token with access rules
 * may only call a service that knows its own type, with a method and path
 * one rule names (validating a token on the identity service is always
 * allowed). Throws Unauthorized otherwise.
 */
export function checkAccessRules(
  info: TokenInfo,
  method: string,
  path: string,
  serviceType: string | undefined,
): void {
  const rules = info.accessRules
  if (!rules) return
  if (!serviceType) throw new Unauthorized('Token authorization failed')
  if (serviceType === 'identity' && method === 'GET' && path.endsWith('/v3/auth/tokens')) return
  const allowed = rules.some(
    (r) => r.method === method && r.service === serviceType && accessRulePathMatches(path, r.path),
  )
  if (!allowed) throw new Unauthorized('Token authorization failed')
}

/** Validates a token; throws Unauthorized when it is not valid, ServiceUnavailable when it cannot tell. */
export interface TokenValidator {
  /** The caller the token names. */
  validate(token: string): Promise<TokenInfo>
}

// ---- in process ----

/** Token providers of identity services running in this process, by the runtime they share. */
const LOCAL_PROVIDERS = new WeakMap<Runtime, TokenProvider>()
/** The validated token of a request, for identity routes that need more than the context. */
const REQUEST_TOKENS = new WeakMap<FastifyRequest, ValidatedToken>()

/** Called by the identity service: services sharing `rt` validate through `provider` from now on. */
export function registerLocalTokenProvider(rt: Runtime, provider: TokenProvider): void {
  LOCAL_PROVIDERS.set(rt, provider)
}

export function unregisterLocalTokenProvider(rt: Runtime): void {
  LOCAL_PROVIDERS.delete(rt)
}

/** The validated token behind an identity request (in-process validation only). */
export function requestToken(req: ApiRequest): ValidatedToken | undefined {
  return REQUEST_TOKENS.get(req.raw)
}

export function tokenInfo(t: ValidatedToken): TokenInfo {
  return {
    userId: t.user.id,
    userName: t.user.name,
    userDomainId: t.user.domainId,
    projectId: t.project?.id,
    projectName: t.project?.name,
    projectDomainId: t.project?.domainId,
    domainId: t.domain?.id,
    system: t.scope.kind === 'system',
    roles: t.roles.map((r) => r.name),
    expiresAtMs: t.expiresAtMs,
    accessRules: t.applicationCredential?.accessRules,
  }
}

// ---- over HTTP ----

interface CacheEntry {
  readonly info: TokenInfo | undefined
  readonly untilMs: number
}

/** The access rules version this validator understands (keystonemiddleware's ACCESS_RULES_SUPPORT). */
const ACCESS_RULES_SUPPORT = '1'

/** Time before its expiry at which the service token is renewed. */
const SERVICE_TOKEN_MARGIN_MS = 60_000

/**
 * Validates tokens against a remote identity service, with a service token
 * when `[keystone_authtoken] username` is set (else each token validates
 * itself, which the token_subject rule allows).
 */
export class RemoteTokenValidator implements TokenValidator {
  readonly #cfg: Config['authtoken']
  readonly #cache = new Map<string, CacheEntry>()
  #serviceToken: { readonly id: string; readonly expiresAtMs: number } | undefined

  constructor(cfg: Config['authtoken']) {
    this.#cfg = cfg
  }

  async validate(token: string): Promise<TokenInfo> {
    const now = Date.now()
    const hit = this.#cache.get(token)
    if (hit && hit.untilMs > now) {
      // Re-insert: Map order is the LRU order.
      this.#cache.delete(token)
      this.#cache.set(token, hit)
      if (!hit.info) throw new Unauthorized(AUTH_FAILED_MESSAGE)
      return hit.info
    }
    let info: TokenInfo | undefined
    try {
      info = await this.#fetch(token, true)
    } catch (err) {
      if (!(err instanceof Unauthorized)) throw err
    }
    this.#store(token, info, now)
    if (!info) throw new Unauthorized(AUTH_FAILED_MESSAGE)
    return info
  }

  #store(token: string, info: TokenInfo | undefined, now: number): void {
    const ttlMs = this.#cfg.tokenCacheTimeS * 1000
    if (ttlMs <= 0) return
    if (this.#cache.size >= limits.authTokenCacheEntries) {
      const oldest = this.#cache.keys().next().value
      if (oldest !== undefined) this.#cache.delete(oldest)
    }
    this.#cache.set(token, { info, untilMs: Math.min(now + ttlMs, info?.expiresAtMs ?? now + ttlMs) })
  }

  async #fetch(token: string, retry: boolean): Promise<TokenInfo> {
    const authToken = this.#cfg.username ? await this.#getServiceToken() : token
    const res = await this.#request('GET', '/v3/auth/tokens?nocatalog', {
      'x-auth-token': authToken,
      'x-subject-token': token,
      // This validator enforces access rules: tokens that carry them may be validated (Keystone's header).
      'openstack-identity-access-rules': ACCESS_RULES_SUPPORT,
    })
    if (res.status === 200) return infoFromBody(await res.json())
    if (res.status === 404) throw new Unauthorized(AUTH_FAILED_MESSAGE)
    if (res.status === 401 && this.#cfg.username && retry) {
      // The service token itself was refused (expired, revoked): get a new one, once.
      this.#serviceToken = undefined
      return this.#fetch(token, false)
    }
    if (res.status === 401 || res.status === 403) throw new Unauthorized(AUTH_FAILED_MESSAGE)
    throw new ServiceUnavailable(`identity service answered ${res.status} while validating a token`)
  }

  async #getServiceToken(): Promise<string> {
    const cached = this.#serviceToken
    if (cached && cached.expiresAtMs - SERVICE_TOKEN_MARGIN_MS > Date.now()) return cached.id
    const c = this.#cfg
    const body = {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: c.username, password: c.password, domain: { name: c.userDomainName } } },
        },
        scope: { project: { name: c.projectName, domain: { name: c.projectDomainName } } },
      },
    }
    const res = await this.#request(
      'POST',
      '/v3/auth/tokens?nocatalog',
      { 'content-type': 'application/json' },
      body,
    )
    const id = res.headers.get('x-subject-token')
    if (res.status !== 201 || !id) {
      log.error({ status: res.status, user: c.username }, 'the service user could not get a token')
      throw new ServiceUnavailable('the service could not authenticate to the identity service')
    }
    const parsed = (await res.json()) as { token: { expires_at: string } }
    this.#serviceToken = { id, expiresAtMs: Date.parse(parsed.token.expires_at) }
    return id
  }

  async #request(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: unknown,
  ): Promise<Response> {
    try {
      return await fetch(`${this.#cfg.authUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(limits.authValidateTimeoutMs),
      })
    } catch (err) {
      log.warn({ err: (err as Error).message, url: this.#cfg.authUrl }, 'identity service unreachable')
      throw new ServiceUnavailable(`identity service at ${this.#cfg.authUrl} is unavailable`)
    }
  }
}

function infoFromBody(body: unknown): TokenInfo {
  const t = (body as { token: Record<string, any> }).token
  return {
    userId: t.user.id,
    userName: t.user.name,
    userDomainId: t.user.domain.id,
    projectId: t.project?.id,
    projectName: t.project?.name,
    projectDomainId: t.project?.domain?.id,
    domainId: t.domain?.id,
    system: t.system?.all === true,
    roles: ((t.roles ?? []) as { name: string }[]).map((r) => r.name),
    expiresAtMs: Date.parse(t.expires_at),
    accessRules: t.application_credential?.access_rules as AccessRuleRef[] | undefined,
  }
}

// ---- the ApiServer options ----

export interface AuthMiddlewareOptions {
  /** The service's policy defaults (ignored when `policy` is given). Unknown rules deny. */
  readonly policyDefaults?: PolicyRules
  /** A ready policy engine (the identity service brings its own, with the operator's file). */
  readonly policy?: PolicyEngine
  /** The message of a policy refusal, in the service's wording (default: Keystone's). */
  readonly forbiddenMessage?: PolicyEngineOptions['forbiddenMessage']
  /**
   * What a rule sees as its target. Default: the path parameters plus the
   * caller's `project_id` and `user_id` (what Nova passes).
   */
  readonly target?: (rule: string, req: ApiRequest) => PolicyTarget | Promise<PolicyTarget>
  /**
   * The service's catalog type (`compute`, `image`, ...), which application
   * credential access rules name (keystonemiddleware's `service_type`).
   * Without it, tokens with access rules are refused.
   */
  readonly serviceType?: string
}

/** The `authenticate` and `enforce` options every API service passes to its ApiServer. */
export function authMiddleware(
  rt: Runtime,
  opts: AuthMiddlewareOptions = {},
): Required<Pick<ApiServerOptions, 'authenticate' | 'enforce'>> {
  let remote: RemoteTokenValidator | undefined
  const engine =
    opts.policy ?? new PolicyEngine(opts.policyDefaults ?? {}, { forbiddenMessage: opts.forbiddenMessage })

  const authenticate = async (req: FastifyRequest, requestId: string): Promise<RequestContext> => {
    const header = req.headers['x-auth-token']
    if (typeof header !== 'string' || header === '') throw new Unauthorized(AUTH_FAILED_MESSAGE)
    let info: TokenInfo
    const local = LOCAL_PROVIDERS.get(rt)
    try {
      if (local) {
        const token = await local.validate(header)
        REQUEST_TOKENS.set(req, token)
        info = tokenInfo(token)
      } else {
        remote ??= new RemoteTokenValidator(rt.config.authtoken)
        info = await remote.validate(header)
      }
    } catch (err) {
      if (err instanceof Unauthorized) {
        log.debug({ reason: err.message }, 'token refused')
        throw new Unauthorized(AUTH_FAILED_MESSAGE)
      }
      throw err
    }
    checkAccessRules(info, req.method, req.url.split('?')[0]!, opts.serviceType)
    return contextFor(info, header, requestId, req.nimbusCtx?.globalRequestId)
  }

  const enforce = async (ctx: RequestContext, rule: string, req: ApiRequest): Promise<void> => {
    const target = opts.target
      ? await opts.target(rule, req)
      : {
          ...(req.params as Record<string, string>),
          project_id: ctx.projectId ?? null,
          user_id: ctx.userId ?? null,
        }
    engine.enforce(rule, credentialsFromContext(ctx), target)
  }

  return { authenticate, enforce }
}

/** The request context of a caller holding a valid token. */
export function contextFor(
  info: TokenInfo,
  token: string,
  requestId: string,
  globalRequestId?: string,
): RequestContext {
  return {
    requestId,
    globalRequestId,
    userId: info.userId,
    userName: info.userName,
    userDomainId: info.userDomainId,
    projectId: info.projectId,
    projectName: info.projectName,
    projectDomainId: info.projectDomainId,
    domainId: info.domainId,
    system: info.system,
    roles: info.roles,
    isAdmin: info.roles.includes('admin'),
    authToken: token,
  }
}
