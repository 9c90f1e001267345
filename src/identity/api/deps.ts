import type { RequestContext } from '../../common/context.ts'
import { credentialsFromContext, type PolicyEngine, type PolicyTarget } from '../../common/policy.ts'
import type { ApiRequest } from '../../service/http.ts'
import type { AssignmentManager } from '../assignment.ts'
import type { Authenticator } from '../auth.ts'
import type { CatalogManager } from '../catalog.ts'
import { queryBool } from '../common.ts'
import type { ApplicationCredentialManager, CredentialManager } from '../credentials.ts'
import type { DomainConfigManager } from '../domain-config.ts'
import type { EndpointFilterManager } from '../endpoint-filter.ts'
import type { ConsumerManager } from '../oauth1.ts'
import type { TrustManager } from '../trusts.ts'
import type { PolicyBlobManager } from '../policies.ts'
import { DEFAULT_DOMAIN_ID, type ResourceManager } from '../resource.ts'
import type { TokenProvider } from '../token/provider.ts'
import type { UserManager } from '../users.ts'

/** Everything the identity routes call into. */
export interface IdentityDeps {
  readonly resources: ResourceManager
  readonly domainConfigs: DomainConfigManager
  readonly users: UserManager
  readonly assignments: AssignmentManager
  readonly catalog: CatalogManager
  readonly endpointFilter: EndpointFilterManager
  readonly credentials: CredentialManager
  readonly appCreds: ApplicationCredentialManager
  readonly policies: PolicyBlobManager
  readonly consumers: ConsumerManager
  readonly trusts: TrustManager
  readonly tokens: TokenProvider
  readonly authenticator: Authenticator
  readonly policy: PolicyEngine
}

/** A query parameter as one string (the last one when repeated), or undefined. */
export function query(req: ApiRequest, name: string): string | undefined {
  const v = (req.query as Record<string, unknown>)[name]
  if (v === undefined || v === null) return undefined
  return Array.isArray(v) ? String(v.at(-1)) : String(v)
}

/** A boolean query parameter with Keystone's reading ("0", "false", "no" are false). */
export function queryFlag(req: ApiRequest, name: string): boolean | undefined {
  return queryBool(query(req, name))
}

/** True when the parameter is present at all (`?nocatalog`, `?include_names`). */
export function hasQuery(req: ApiRequest, name: string): boolean {
  return name in (req.query as Record<string, unknown>)
}

/** A comma-separated query parameter (tag filters). */
export function queryList(req: ApiRequest, name: string): string[] | undefined {
  const v = query(req, name)
  return v === undefined ? undefined : v.split(',').filter(Boolean)
}

/** The URL the client asked for, for a collection's `links.self`. */
export function selfUrl(req: ApiRequest): string {
  return `${req.baseUrl}${req.raw.url}`
}

/** The domain a new entity goes to when the body names none: the token's domain, else `default` (Keystone). */
export function defaultDomainId(ctx: RequestContext): string {
  return ctx.domainId ?? DEFAULT_DOMAIN_ID
}

/** True when `rule` allows the caller on `target` (for filtering list results item by item). */
export function allowed(d: IdentityDeps, req: ApiRequest, rule: string, target: PolicyTarget): boolean {
  return d.policy.check(rule, credentialsFromContext(req.ctx), { ...req.params, target })
}
