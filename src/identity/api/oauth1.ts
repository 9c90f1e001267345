import type { Route } from '../../service/http.ts'
import { bounded, extraOf } from '../common.ts'
import { immutable } from '../users.ts'
import { selfUrl, type IdentityDeps } from './deps.ts'
import { entity, SCHEMAS, validator } from './validation.ts'
import { collection, consumerView } from './views.ts'

const checks = {
  create: validator(SCHEMAS.consumerCreate),
  update: validator(SCHEMAS.consumerUpdate),
}
const CONSUMER_FIELDS = ['id', 'description', 'secret', 'links']

type Body = Record<string, any>
type Params = Record<string, string>

/** `/v3/OS-OAUTH1/consumers` (keystone/api/os_oauth1.py ConsumerResource). */
export function oauth1Routes(d: IdentityDeps): Route[] {
  const c = d.consumers
  return [
    {
      method: 'GET',
      path: '/v3/OS-OAUTH1/consumers',
      policy: 'identity:list_consumers',
      handler: async (req) =>
        collection(
          'consumers',
          bounded((await c.list()).map((x) => consumerView(x, req.baseUrl))),
          selfUrl(req),
        ),
    },
    {
      method: 'POST',
      path: '/v3/OS-OAUTH1/consumers',
      policy: 'identity:create_consumer',
      status: 201,
      handler: async (req) => {
        const b = entity<Body>(req, 'consumer', checks.create)
        const created = await c.create({ description: b.description, extra: extraOf(b, CONSUMER_FIELDS) })
        return { consumer: consumerView(created, req.baseUrl) }
      },
    },
    {
      method: 'GET',
      path: '/v3/OS-OAUTH1/consumers/:consumer_id',
      policy: 'identity:get_consumer',
      handler: async (req) => ({
        consumer: consumerView(await c.get((req.params as Params).consumer_id!), req.baseUrl),
      }),
    },
    {
      method: 'PATCH',
      path: '/v3/OS-OAUTH1/consumers/:consumer_id',
      policy: 'identity:update_consumer',
      handler: async (req) => {
        const id = (req.params as Params).consumer_id!
        const b = entity<Body>(req, 'consumer', checks.update)
        if (b.id !== undefined && b.id !== id) throw immutable('id')
        const updated = await c.update(id, { description: b.description, extra: extraOf(b, CONSUMER_FIELDS) })
        return { consumer: consumerView(updated, req.baseUrl) }
      },
    },
    {
      method: 'DELETE',
      path: '/v3/OS-OAUTH1/consumers/:consumer_id',
      policy: 'identity:delete_consumer',
      status: 204,
      handler: async (req) => {
        await c.delete((req.params as Params).consumer_id!)
      },
    },
  ]
}
