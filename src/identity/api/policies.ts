import type { Route } from '../../service/http.ts'
import { bounded, extraOf } from '../common.ts'
import { query, selfUrl, type IdentityDeps } from './deps.ts'
import { entity, SCHEMAS, validator } from './validation.ts'
import { collection, policyView } from './views.ts'

const checks = {
  policyCreate: validator(SCHEMAS.policyCreate),
  policyUpdate: validator(SCHEMAS.policyUpdate),
}
const POLICY_FIELDS = ['id', 'type', 'blob', 'links']

type Body = Record<string, any>
type Params = Record<string, string>

/** `/v3/policies`: Keystone's policy blob store (stored and served, not enforced). */
export function policyRoutes(d: IdentityDeps): Route[] {
  const p = d.policies
  return [
    {
      method: 'GET',
      path: '/v3/policies',
      policy: 'identity:list_policies',
      handler: async (req) => {
        const all = await p.list({ type: query(req, 'type') })
        return collection('policies', bounded(all.map((x) => policyView(x, req.baseUrl))), selfUrl(req))
      },
    },
    {
      method: 'POST',
      path: '/v3/policies',
      policy: 'identity:create_policy',
      status: 201,
      handler: async (req) => {
        const b = entity<Body>(req, 'policy', checks.policyCreate)
        const created = await p.create({ type: b.type, blob: b.blob, extra: extraOf(b, POLICY_FIELDS) })
        return { policy: policyView(created, req.baseUrl) }
      },
    },
    {
      method: 'GET',
      path: '/v3/policies/:policy_id',
      policy: 'identity:get_policy',
      handler: async (req) => ({
        policy: policyView(await p.get((req.params as Params).policy_id!), req.baseUrl),
      }),
    },
    {
      method: 'PATCH',
      path: '/v3/policies/:policy_id',
      policy: 'identity:update_policy',
      handler: async (req) => {
        const b = entity<Body>(req, 'policy', checks.policyUpdate)
        const updated = await p.update((req.params as Params).policy_id!, {
          type: b.type,
          blob: b.blob,
          extra: extraOf(b, POLICY_FIELDS),
        })
        return { policy: policyView(updated, req.baseUrl) }
      },
    },
    {
      method: 'DELETE',
      path: '/v3/policies/:policy_id',
      policy: 'identity:delete_policy',
      status: 204,
      handler: async (req) => {
        await p.delete((req.params as Params).policy_id!)
      },
    },
  ]
}
