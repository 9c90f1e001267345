import type { Config } from '../common/config.ts'
import type { PolicyTarget } from '../common/policy.ts'
import { ApiServer, type ApiRequest, type Route } from '../service/http.ts'
import type { Runtime } from '../service/runtime.ts'
import { HttpService, type Endpoint } from '../service/service.ts'
import { authRoutes } from './api/auth.ts'
import { catalogRoutes } from './api/catalog.ts'
import { credentialRoutes } from './api/credentials.ts'
import type { IdentityDeps } from './api/deps.ts'
import { domainConfigRoutes } from './api/domain-config.ts'
import { endpointFilterRoutes } from './api/endpoint-filter.ts'
import { oauth1Routes } from './api/oauth1.ts'
import { trustRoutes } from './api/trusts.ts'
import { policyRoutes } from './api/policies.ts'
import { resourceRoutes } from './api/resources.ts'
import { roleRoutes } from './api/roles.ts'
import { TARGETS } from './api/targets.ts'
import { userRoutes } from './api/users.ts'
import { versionRoutes } from './api/versions.ts'
import { bootstrap } from './bootstrap.ts'
import { Identity } from './identity.ts'
import { authMiddleware, registerLocalTokenProvider, unregisterLocalTokenProvider } from './middleware.ts'

/** Every identity route, in one table. */
export function identityRoutes(d: IdentityDeps): Route[] {
  return [
    ...versionRoutes,
    ...authRoutes(d),
    ...domainConfigRoutes(d),
    ...resourceRoutes(d),
    ...userRoutes(d),
    ...roleRoutes(d),
    ...catalogRoutes(d),
    ...endpointFilterRoutes(d),
    ...credentialRoutes(d),
    ...policyRoutes(d),
    ...oauth1Routes(d),
    ...trustRoutes(d),
  ]
}

/**
 * Keystone v3 on :5000. Once started, the other services of this process
 * validate tokens by calling its token provider directly.
 */
export class IdentityService extends HttpService {
  readonly identity: Identity
  readonly #rt: Runtime

  constructor(rt: Runtime, server: ApiServer, identity: Identity) {
    super(
      rt.config,
      server,
      rt.config.identity.port,
      { type: 'identity', catalogName: 'keystone', path: '/v3' },
      rt.options,
    )
    this.#rt = rt
    this.identity = identity
  }

  override async start(): Promise<void> {
    await this.identity.load()
    registerLocalTokenProvider(this.#rt, this.identity.tokens)
    await super.start()
  }

  override async stop(): Promise<void> {
    unregisterLocalTokenProvider(this.#rt)
    await super.stop()
  }

  /** Runs the idempotent bootstrap with the given catalog (what `nimbus up` calls once every API listens). */
  async bootstrap(config: Config, adminPassword: string, endpoints: readonly Endpoint[]): Promise<void> {
    await bootstrap(this.identity, {
      adminPassword,
      region: config.identity.region,
      endpoints,
      serviceUser: config.authtoken.username
        ? { name: config.authtoken.username, password: config.authtoken.password }
        : undefined,
    })
  }
}

/** Keystone v3 on :5000. */
export function createIdentityService(rt: Runtime): IdentityService {
  const identity = new Identity(rt.config, rt.db)
  const target = async (rule: string, req: ApiRequest): Promise<PolicyTarget> => {
    const build = TARGETS[rule]
    // Keystone's enforcer: path parameters at the top level, the entity under `target`.
    return { ...(req.params as Record<string, string>), target: build ? await build(req, identity) : {} }
  }
  const server = new ApiServer({
    name: 'identity',
    style: 'keystone',
    routes: identityRoutes(identity),
    ...authMiddleware(rt, { policy: identity.policy, target, serviceType: 'identity' }),
  })
  return new IdentityService(rt, server, identity)
}
