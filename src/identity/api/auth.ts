import { Forbidden, NotFound, Unauthorized } from '../../common/errors.ts'
import { respond, type ApiRequest, type Route } from '../../service/http.ts'
import type { AuthRequest } from '../auth.ts'
import type { ValidatedToken } from '../token/provider.ts'
import { hasQuery, type IdentityDeps } from './deps.ts'
import { collection, domainView, projectView, tokenView } from './views.ts'
import { entity, SCHEMAS, validator } from './validation.ts'

const checkAuth = validator(SCHEMAS.auth)

/** The subject token of a validate or revoke call (the policy's target builder has checked it exists). */
async function subject(req: ApiRequest, d: IdentityDeps): Promise<ValidatedToken> {
  const id = req.headers['x-subject-token']
  if (typeof id !== 'string' || !id) throw new NotFound('No token in the request')
  try {
    return await d.tokens.validate(id)
  } catch (err) {
    if (err instanceof Unauthorized) throw new NotFound(`Could not find token: ${id}.`)
    throw err
  }
}

/** A token's catalog: the whole catalog, or the project's OS-EP-FILTER endpoints when it has any. */
async function catalogOf(d: IdentityDeps, userId: string, projectId: string | undefined) {
  const only = projectId ? await d.endpointFilter.catalogFilterFor(projectId) : undefined
  return d.catalog.catalogFor({ userId, projectId, only })
}

async function tokenBody(d: IdentityDeps, req: ApiRequest, t: ValidatedToken): Promise<unknown> {
  const scoped = t.scope.kind !== 'unscoped'
  const catalog =
    scoped && !hasQuery(req, 'nocatalog')
      ? await catalogOf(d, t.trust?.trustorUserId ?? t.user.id, t.project?.id)
      : undefined
  return tokenView(t, catalog)
}

/** The lowest `OpenStack-Identity-Access-Rules` version that enforces access rules (Keystone's). */
const ACCESS_RULES_MIN_VERSION = 1.0

/**
 * Keystone's _validate_token_access_rules: a token restricted by access
 * rules is only shown to a validator that says it enforces them; to
 * others it does not exist.
 */
function requireAccessRulesSupport(req: ApiRequest, token: ValidatedToken): void {
  if (!token.applicationCredential?.accessRules) return
  const v = Number.parseFloat(String(req.headers['openstack-identity-access-rules'] ?? ''))
  if (!(v >= ACCESS_RULES_MIN_VERSION)) throw new NotFound('Failed to validate token')
}

/** `/v3/auth/*`: tokens and what a token may be scoped to. */
export function authRoutes(d: IdentityDeps): Route[] {
  return [
    {
      method: 'POST',
      path: '/v3/auth/tokens',
      auth: false,
      handler: async (req) => {
        const auth = entity<AuthRequest>(req, 'auth', checkAuth)
        const token = await d.authenticator.authenticate(auth)
        return respond(201, await tokenBody(d, req, token), { 'x-subject-token': token.id })
      },
    },
    {
      method: 'GET',
      path: '/v3/auth/tokens',
      policy: 'identity:validate_token',
      handler: async (req) => {
        const token = await subject(req, d)
        requireAccessRulesSupport(req, token)
        return respond(200, await tokenBody(d, req, token), { 'x-subject-token': token.id })
      },
    },
    {
      method: 'DELETE',
      path: '/v3/auth/tokens',
      policy: 'identity:revoke_token',
      status: 204,
      handler: async (req) => {
        await d.tokens.revoke(await subject(req, d))
      },
    },
    {
      method: 'GET',
      path: '/v3/auth/catalog',
      policy: 'identity:get_auth_catalog',
      handler: async (req) => {
        if (!req.ctx.projectId)
          throw new Forbidden('A project-scoped token is required to produce a service catalog.')
        const catalog = await catalogOf(d, req.ctx.userId!, req.ctx.projectId)
        return { catalog, links: { self: `${req.baseUrl}/v3/auth/catalog`, previous: null, next: null } }
      },
    },
    {
      method: 'GET',
      path: '/v3/auth/projects',
      policy: 'identity:get_auth_projects',
      handler: async (req) => {
        const projects = await d.assignments.projectsForUser(req.ctx.userId!)
        const usable = []
        for (const p of projects) {
          if (p.enabled && (await d.resources.findDomain(p.domainId))?.enabled)
            usable.push(projectView(p, req.baseUrl))
        }
        return collection('projects', usable, `${req.baseUrl}/v3/auth/projects`)
      },
    },
    {
      method: 'GET',
      path: '/v3/auth/domains',
      policy: 'identity:get_auth_domains',
      handler: async (req) => {
        const ids = await d.assignments.domainIdsForUser(req.ctx.userId!)
        const domains = []
        for (const id of ids) {
          const domain = await d.resources.findDomain(id)
          if (domain?.enabled) domains.push(domainView(domain, req.baseUrl))
        }
        return collection('domains', domains, `${req.baseUrl}/v3/auth/domains`)
      },
    },
    {
      method: 'GET',
      path: '/v3/auth/system',
      policy: 'identity:get_auth_system',
      handler: async (req) => ({
        system: (await d.assignments.hasSystemRole(req.ctx.userId!)) ? [{ all: true }] : [],
        links: { self: `${req.baseUrl}/v3/auth/system`, previous: null, next: null },
      }),
    },
  ]
}
