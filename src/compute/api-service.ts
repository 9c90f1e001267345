import { ConductorRpcApi } from '../conductor/rpcapi.ts'
import { NetworkRpcApi } from '../network/rpcapi.ts'
import { ensureChangeFanout, networkApiFor } from '../network/service.ts'
import { authMiddleware } from '../identity/middleware.ts'
import { ApiServer } from '../service/http.ts'
import type { Runtime } from '../service/runtime.ts'
import { HttpService } from '../service/service.ts'
import { ComputeApi } from './api.ts'
import type { ApiDeps } from './api/deps.ts'
import { adminAreaRoutes } from './api/routes/admin.ts'
import { externalEventRoutes } from './api/routes/external-events.ts'
import { migrationRoutes } from './api/routes/migrations.ts'
import { floatingIpRoutes } from './api/routes/floating-ips.ts'
import { interfaceRoutes } from './api/routes/interfaces.ts'
import { networkRoutes } from './api/routes/networks.ts'
import { securityGroupRoutes } from './api/routes/security-groups.ts'
import { flavorRoutes } from './api/routes/flavors.ts'
import { extensionRoutes } from './api/routes/extensions.ts'
import { hostRoutes } from './api/routes/hosts.ts'
import { imageRoutes } from './api/routes/images.ts'
import { instanceActionRoutes } from './api/routes/instance-actions.ts'
import { keypairRoutes } from './api/routes/keypairs.ts'
import { quotaRoutes } from './api/routes/quotas.ts'
import { serverTagRoutes } from './api/routes/server-tags.ts'
import { serverRoutes } from './api/routes/servers.ts'
import { versionRoutes } from './api/versions.ts'
import { seedDefaultFlavors } from './db/flavors.ts'
import { HostApi } from './host-api.ts'
import { imageClientFor } from '../image/client.ts'
import { CachedImageApi } from './image.ts'
import { ComputePolicy } from './policy.ts'
import { QuotaEngine } from './quota.ts'
import { ComputeRpcApi } from './rpcapi.ts'
import { ServerActionsApi } from './server-actions.ts'

/** The facades the compute API's handlers use, built once per runtime. */
export function computeApiDeps(rt: Runtime): ApiDeps {
  const quotas = new QuotaEngine(rt.config.quota)
  const hosts = new HostApi(rt.db, rt.config.compute)
  const computeRpc = new ComputeRpcApi(rt.transport)
  const network = networkApiFor(rt)
  // Security group changes made here reach every host's data plane at once.
  ensureChangeFanout(rt)
  const images = new CachedImageApi(imageClientFor(rt))
  const actions = new ServerActionsApi({
    db: rt.db,
    config: rt.config,
    hosts,
    images,
    quotas,
    compute: computeRpc,
    conductor: new ConductorRpcApi(rt.transport),
  })
  const compute = new ComputeApi({
    db: rt.db,
    config: rt.config.compute,
    quotas,
    hosts,
    images,
    conductor: new ConductorRpcApi(rt.transport),
    compute: computeRpc,
    network,
    networkRpc: new NetworkRpcApi(rt.transport),
  })
  return {
    config: rt.config,
    db: rt.db,
    compute,
    hosts,
    quotas,
    computeRpc,
    network,
    actions,
    policy: new ComputePolicy(rt.config.compute.policyFile),
  }
}

/** The compute API service: Nova v2.1 with microversions. */
class ComputeApiService extends HttpService {
  readonly #rt: Runtime

  constructor(rt: Runtime, server: ApiServer) {
    super(
      rt.config,
      server,
      rt.config.compute.port,
      { type: 'compute', catalogName: 'nova', path: '/v2.1' },
      rt.options,
    )
    this.#rt = rt
  }

  override async start(): Promise<void> {
    // A fresh cloud gets Nova's usual flavors, so `server create` works at once.
    await seedDefaultFlavors(this.#rt.db.kysely)
    await super.start()
  }
}

/** Nova v2.1 on :8774. */
export function createComputeApiService(rt: Runtime): HttpService {
  const deps = computeApiDeps(rt)
  const server = new ApiServer({
    name: 'compute-api',
    style: 'nova',
    ...authMiddleware(rt, { serviceType: 'compute' }),
    routes: [
      ...versionRoutes,
      ...extensionRoutes(deps),
      ...serverRoutes(deps),
      ...serverTagRoutes(deps),
      ...instanceActionRoutes(deps),
      ...flavorRoutes(deps),
      ...keypairRoutes(deps),
      ...quotaRoutes(deps),
      ...hostRoutes(deps),
      ...imageRoutes(deps),
      ...externalEventRoutes(deps),
      ...migrationRoutes(deps, rt),
      ...interfaceRoutes(deps),
      ...securityGroupRoutes(deps),
      ...networkRoutes(deps),
      ...floatingIpRoutes(deps),
      ...adminAreaRoutes(deps),
    ],
  })
  return new ComputeApiService(rt, server)
}
