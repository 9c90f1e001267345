import { Forbidden, Invalid, NotFound } from '../../common/errors.ts'
import type { ApiRequest, Route } from '../../service/http.ts'
import { bounded, extraOf } from '../common.ts'
import { requestToken } from '../middleware.ts'
import { allowed, query, selfUrl, type IdentityDeps } from './deps.ts'
import { entity, SCHEMAS, validator } from './validation.ts'
import { accessRuleView, appCredView, collection, credentialView, ec2View } from './views.ts'

const checks = {
  credentialCreate: validator(SCHEMAS.credentialCreate),
  credentialUpdate: validator(SCHEMAS.credentialUpdate),
  ec2Create: validator(SCHEMAS.ec2Create),
  appCredCreate: validator(SCHEMAS.appCredCreate),
}
const CREDENTIAL_FIELDS = ['id', 'user_id', 'project_id', 'type', 'blob', 'links']

type Body = Record<string, any>
type Params = Record<string, string>

/** Keystone refuses to let a restricted application credential mint more credentials. */
function checkUnrestricted(req: ApiRequest): void {
  const token = requestToken(req)
  if (token?.applicationCredential?.restricted) {
    throw new Forbidden(
      "You are not authorized to perform the requested action: Using method 'application_credential' is not " +
        'allowed for managing additional application credentials.',
    )
  }
}

/**
 * Keystone's _block_delegated_token_app_creds: a trust-scoped token may not
 * create, read or delete application credentials or access rules (a
 * credential would outlive the delegation).
 */
function refuseDelegated(req: ApiRequest): void {
  if (requestToken(req)?.trust) {
    throw new Forbidden('Cannot manage application credentials with a token issued via delegation.')
  }
}

/** `/v3/credentials`, OS-EC2 and application credentials. */
export function credentialRoutes(d: IdentityDeps): Route[] {
  const c = d.credentials
  return [
    {
      method: 'GET',
      path: '/v3/credentials',
      policy: 'identity:list_credentials',
      handler: async (req) => {
        const all = await c.list({ userId: query(req, 'user_id'), type: query(req, 'type') })
        // Each credential is shown only to those the policy lets see it (Keystone filters the same way).
        const visible = all.filter((x) =>
          allowed(d, req, 'identity:get_credential', { credential: { id: x.id, user_id: x.userId } }),
        )
        return collection(
          'credentials',
          bounded(visible.map((x) => credentialView(x, req.baseUrl))),
          selfUrl(req),
        )
      },
    },
    {
      method: 'POST',
      path: '/v3/credentials',
      policy: 'identity:create_credential',
      status: 201,
      handler: async (req) => {
        const b = entity<Body>(req, 'credential', checks.credentialCreate)
        const cred = await c.create({
          userId: b.user_id,
          projectId: b.project_id,
          type: b.type,
          blob: b.blob,
          extra: extraOf(b, CREDENTIAL_FIELDS),
        })
        return { credential: credentialView(cred, req.baseUrl) }
      },
    },
    {
      method: 'GET',
      path: '/v3/credentials/:credential_id',
      policy: 'identity:get_credential',
      handler: async (req) => ({
        credential: credentialView(await c.get((req.params as Params).credential_id!), req.baseUrl),
      }),
    },
    {
      method: 'PATCH',
      path: '/v3/credentials/:credential_id',
      policy: 'identity:update_credential',
      handler: async (req) => {
        const b = entity<Body>(req, 'credential', checks.credentialUpdate)
        const cred = await c.update((req.params as Params).credential_id!, {
          projectId: b.project_id,
          type: b.type,
          blob: b.blob,
          userId: b.user_id,
          extra: extraOf(b, CREDENTIAL_FIELDS),
        })
        return { credential: credentialView(cred, req.baseUrl) }
      },
    },
    {
      method: 'DELETE',
      path: '/v3/credentials/:credential_id',
      policy: 'identity:delete_credential',
      status: 204,
      handler: async (req) => {
        await c.delete((req.params as Params).credential_id!)
      },
    },

    // ---- OS-EC2 ----
    {
      method: 'GET',
      path: '/v3/users/:user_id/credentials/OS-EC2',
      policy: 'identity:ec2_list_credentials',
      handler: async (req) => {
        const creds = await c.listEc2((req.params as Params).user_id!)
        return collection(
          'credentials',
          creds.map((x) => ec2View(x, req.baseUrl)),
          selfUrl(req),
        )
      },
    },
    {
      method: 'POST',
      path: '/v3/users/:user_id/credentials/OS-EC2',
      policy: 'identity:ec2_create_credential',
      status: 201,
      handler: async (req) => {
        checks.ec2Create(req.body ?? {})
        checkUnrestricted(req)
        const b = (req.body ?? {}) as Body
        const projectId: string | undefined = b.tenant_id ?? b.project_id
        if (!projectId)
          throw new Invalid("Invalid input for field 'tenant_id': 'tenant_id' is a required property")
        const cred = await c.createEc2((req.params as Params).user_id!, projectId)
        return { credential: ec2View(cred, req.baseUrl) }
      },
    },
    {
      method: 'GET',
      path: '/v3/users/:user_id/credentials/OS-EC2/:credential_id',
      policy: 'identity:ec2_get_credential',
      handler: async (req) => {
        const { user_id, credential_id } = req.params as Params
        return { credential: ec2View(await c.getEc2(user_id!, credential_id!), req.baseUrl) }
      },
    },
    {
      method: 'DELETE',
      path: '/v3/users/:user_id/credentials/OS-EC2/:credential_id',
      policy: 'identity:ec2_delete_credential',
      status: 204,
      handler: async (req) => {
        const { user_id, credential_id } = req.params as Params
        await c.deleteEc2(user_id!, credential_id!)
      },
    },

    // ---- application credentials ----
    {
      method: 'GET',
      path: '/v3/users/:user_id/application_credentials',
      policy: 'identity:list_application_credentials',
      handler: async (req) => {
        refuseDelegated(req)
        const creds = await d.appCreds.list((req.params as Params).user_id!, { name: query(req, 'name') })
        return collection(
          'application_credentials',
          creds.map((x) => appCredView(x, req.baseUrl)),
          selfUrl(req),
        )
      },
    },
    {
      method: 'POST',
      path: '/v3/users/:user_id/application_credentials',
      policy: 'identity:create_application_credential',
      status: 201,
      handler: async (req) => {
        const b = entity<Body>(req, 'application_credential', checks.appCredCreate)
        checkUnrestricted(req)
        refuseDelegated(req)
        const userId = (req.params as Params).user_id!
        if (req.ctx.userId !== userId) {
          throw new Forbidden(
            'You are not authorized to perform the requested action: Cannot create an application credential for another user.',
          )
        }
        if (!req.ctx.projectId)
          throw new Invalid('Invalid application credential: a project-scoped token is required')
        try {
          const cred = await d.appCreds.create({
            userId,
            projectId: req.ctx.projectId,
            name: b.name,
            description: b.description,
            secret: b.secret ?? undefined,
            expiresAt: b.expires_at,
            unrestricted: b.unrestricted,
            roles: b.roles ?? requestToken(req)?.roles,
            accessRules: b.access_rules,
          })
          return { application_credential: appCredView(cred, req.baseUrl) }
        } catch (err) {
          // Keystone answers 400 for roles the user does not hold (API-SIG: a bad request, not a 404).
          if (err instanceof NotFound && err.message.startsWith('Could not find role assignment')) {
            throw new Invalid(`Invalid application credential: ${err.message}`)
          }
          throw err
        }
      },
    },
    {
      method: 'GET',
      path: '/v3/users/:user_id/application_credentials/:application_credential_id',
      policy: 'identity:get_application_credential',
      handler: async (req) => {
        refuseDelegated(req)
        const { user_id, application_credential_id } = req.params as Params
        return {
          application_credential: appCredView(
            await d.appCreds.get(user_id!, application_credential_id!),
            req.baseUrl,
          ),
        }
      },
    },
    {
      method: 'DELETE',
      path: '/v3/users/:user_id/application_credentials/:application_credential_id',
      policy: 'identity:delete_application_credential',
      status: 204,
      handler: async (req) => {
        checkUnrestricted(req)
        refuseDelegated(req)
        const { user_id, application_credential_id } = req.params as Params
        await d.appCreds.delete(user_id!, application_credential_id!)
      },
    },

    // ---- access rules ----
    {
      method: 'GET',
      path: '/v3/users/:user_id/access_rules',
      policy: 'identity:list_access_rules',
      handler: async (req) => {
        refuseDelegated(req)
        const userId = (req.params as Params).user_id!
        const rules = await d.appCreds.listAccessRules(userId, {
          service: query(req, 'service'),
          path: query(req, 'path'),
          method: query(req, 'method'),
        })
        return collection(
          'access_rules',
          rules.map((r) => accessRuleView(userId, r, req.baseUrl)),
          selfUrl(req),
        )
      },
    },
    {
      method: 'GET',
      path: '/v3/users/:user_id/access_rules/:access_rule_id',
      policy: 'identity:get_access_rule',
      handler: async (req) => {
        refuseDelegated(req)
        const { user_id, access_rule_id } = req.params as Params
        return {
          access_rule: accessRuleView(
            user_id!,
            await d.appCreds.getAccessRule(user_id!, access_rule_id!),
            req.baseUrl,
          ),
        }
      },
    },
    {
      method: 'DELETE',
      path: '/v3/users/:user_id/access_rules/:access_rule_id',
      policy: 'identity:delete_access_rule',
      status: 204,
      handler: async (req) => {
        refuseDelegated(req)
        const { user_id, access_rule_id } = req.params as Params
        await d.appCreds.deleteAccessRule(user_id!, access_rule_id!)
      },
    },
  ]
}
