import { credentialsFromContext } from '../../common/policy.ts'
import { Forbidden } from '../../common/errors.ts'
import { limits } from '../../common/limits.ts'
import type { ApiRequest, Route } from '../../service/http.ts'
import { bounded, extraOf, notFound } from '../common.ts'
import { requestToken } from '../middleware.ts'
import { query, selfUrl, type IdentityDeps } from './deps.ts'
import { entity, SCHEMAS, validator } from './validation.ts'
import { collection, roleView, trustView } from './views.ts'

const checks = { create: validator(SCHEMAS.trustCreate) }
const TRUST_FIELDS = [
  'id',
  'trustor_user_id',
  'trustee_user_id',
  'impersonation',
  'project_id',
  'remaining_uses',
  'expires_at',
  'allow_redelegation',
  'redelegation_count',
  'redelegated_trust_id',
  'roles',
  'links',
]

type Body = Record<string, any>
type Params = Record<string, string>

/** Keystone blocks application credential tokens from every trust operation. */
function refuseApplicationCredential(req: ApiRequest): void {
  if (requestToken(req)?.applicationCredential) {
    throw new Forbidden(
      "You are not authorized to perform the requested action: Using method 'application_credential' is not " +
        'allowed for managing trusts.',
    )
  }
}

/**
 * A trust-scoped token may not create trusts: with a trust that does not
 * allow it, Keystone's own answer; with one that does, Nimbus does not
 * redelegate.
 */
function refuseRedelegation(req: ApiRequest): void {
  const trust = requestToken(req)?.trust
  if (!trust) return
  if (trust.redelegationCount === 0) {
    throw new Forbidden(
      `Remaining redelegation depth of 0 out of allowed range of [0..${limits.identityTrustMaxRedelegationCount}]`,
    )
  }
  throw new Forbidden('Redelegation of trusts is not supported.')
}

/** OS-TRUST (keystone/api/trusts.py): trusts and the roles they delegate. */
export function trustRoutes(d: IdentityDeps): Route[] {
  const t = d.trusts
  const trustId = (req: ApiRequest) => (req.params as Params).trust_id!
  return [
    {
      method: 'GET',
      path: '/v3/OS-TRUST/trusts',
      handler: async (req) => {
        // The rule depends on the filter: a trustor or trustee may list their own trusts.
        const trustor = query(req, 'trustor_user_id')
        const trustee = query(req, 'trustee_user_id')
        const [rule, target] = trustor
          ? ['identity:list_trusts_for_trustor', { trust: { trustor_user_id: trustor } }]
          : trustee
            ? ['identity:list_trusts_for_trustee', { trust: { trustee_user_id: trustee } }]
            : ['identity:list_trusts', {}]
        d.policy.enforce(rule, credentialsFromContext(req.ctx), { target })
        refuseApplicationCredential(req)
        const list = await t.list({ trustorUserId: trustor, trusteeUserId: trustor ? undefined : trustee })
        return collection('trusts', bounded(list.map((x) => trustView(x, req.baseUrl))), selfUrl(req))
      },
    },
    {
      method: 'POST',
      path: '/v3/OS-TRUST/trusts',
      policy: 'identity:create_trust',
      status: 201,
      handler: async (req) => {
        const b = entity<Body>(req, 'trust', checks.create)
        refuseApplicationCredential(req)
        refuseRedelegation(req)
        const created = await t.create(
          {
            trustorUserId: b.trustor_user_id,
            trusteeUserId: b.trustee_user_id,
            projectId: b.project_id,
            impersonation: b.impersonation,
            expiresAt: b.expires_at,
            remainingUses: b.remaining_uses,
            allowRedelegation: b.allow_redelegation,
            redelegationCount: b.redelegation_count,
            roles: b.roles,
            extra: extraOf(b, TRUST_FIELDS),
          },
          req.ctx.userId!,
        )
        return { trust: trustView(created, req.baseUrl, await t.roles(created)) }
      },
    },
    {
      method: 'GET',
      path: '/v3/OS-TRUST/trusts/:trust_id',
      policy: 'identity:get_trust',
      handler: async (req) => {
        refuseApplicationCredential(req)
        const trust = await t.get(trustId(req))
        return { trust: trustView(trust, req.baseUrl, await t.roles(trust)) }
      },
    },
    {
      method: 'DELETE',
      path: '/v3/OS-TRUST/trusts/:trust_id',
      policy: 'identity:delete_trust',
      status: 204,
      handler: async (req) => {
        refuseApplicationCredential(req)
        await t.delete(trustId(req))
      },
    },
    {
      method: 'GET',
      path: '/v3/OS-TRUST/trusts/:trust_id/roles',
      policy: 'identity:list_roles_for_trust',
      handler: async (req) => {
        refuseApplicationCredential(req)
        const roles = await t.roles(await t.get(trustId(req)))
        return {
          roles: roles.map((r) => roleView(r, req.baseUrl)),
          links: { self: selfUrl(req), previous: null, next: null },
        }
      },
    },
    {
      method: 'GET',
      path: '/v3/OS-TRUST/trusts/:trust_id/roles/:role_id',
      policy: 'identity:get_role_for_trust',
      handler: async (req) => {
        refuseApplicationCredential(req)
        const roleId = (req.params as Params).role_id!
        const trust = await t.get(trustId(req))
        if (!trust.roleIds.includes(roleId)) throw notFound('role', roleId)
        return { role: roleView(await d.assignments.getRole(roleId), req.baseUrl) }
      },
    },
  ]
}
