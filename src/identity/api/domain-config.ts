import { credentialsFromContext } from '../../common/policy.ts'
import { respond, type ApiRequest, type Route } from '../../service/http.ts'
import { SECURITY_COMPLIANCE_GROUP } from '../domain-config.ts'
import type { IdentityDeps } from './deps.ts'
import { member } from './validation.ts'

type Params = Record<string, string>

const CONFIG = '/v3/domains/:domain_id/config'

/**
 * Domain configuration (keystone/api/domains.py config routes). The body is
 * `{"config": ...}`; Keystone validates it itself (403 InvalidDomainConfig),
 * not with a schema.
 */
export function domainConfigRoutes(d: IdentityDeps): Route[] {
  const c = d.domainConfigs
  const params = (req: ApiRequest) => req.params as Params

  // Reading `security_compliance` is open to every user (its own rule); other groups need get_domain_config.
  const read = async (req: ApiRequest) => {
    const { domain_id, group, option } = params(req)
    const compliance = group === SECURITY_COMPLIANCE_GROUP
    const rule = compliance ? 'identity:get_security_compliance_domain_config' : 'identity:get_domain_config'
    d.policy.enforce(rule, credentialsFromContext(req.ctx), { ...params(req), target: {} })
    const config = compliance
      ? await c.securityCompliance(domain_id!, option)
      : await c.get(domain_id!, group, option)
    return { config }
  }
  const update = async (req: ApiRequest) => {
    const { domain_id, group, option } = params(req)
    return { config: await c.update(domain_id!, member(req, 'config'), group, option) }
  }
  const remove = async (req: ApiRequest) => {
    const { domain_id, group, option } = params(req)
    await c.delete(domain_id!, group, option)
  }
  const defaults = (req: ApiRequest) => {
    const { group, option } = params(req)
    return { config: c.defaults(group, option) }
  }

  return [
    {
      method: 'GET',
      path: '/v3/domains/config/default',
      policy: 'identity:get_domain_config_default',
      handler: defaults,
    },
    {
      method: 'GET',
      path: '/v3/domains/config/:group/default',
      policy: 'identity:get_domain_config_default',
      handler: defaults,
    },
    {
      method: 'GET',
      path: '/v3/domains/config/:group/:option/default',
      policy: 'identity:get_domain_config_default',
      handler: defaults,
    },
    {
      method: 'PUT',
      path: CONFIG,
      policy: 'identity:create_domain_config',
      handler: async (req) => {
        const { config, created } = await c.create(params(req).domain_id!, member(req, 'config'))
        return respond(created ? 201 : 200, { config })
      },
    },
    ...[CONFIG, `${CONFIG}/:group`, `${CONFIG}/:group/:option`].flatMap((path): Route[] => [
      { method: 'GET', path, handler: read },
      { method: 'PATCH', path, policy: 'identity:update_domain_config', handler: update },
      { method: 'DELETE', path, policy: 'identity:delete_domain_config', status: 204, handler: remove },
    ]),
  ]
}
