import { ApiServer } from '../service/http.ts'
import type { Runtime } from '../service/runtime.ts'
import { HttpService } from '../service/service.ts'
import { versionRoutes } from './api/versions.ts'
import { authMiddleware } from '../identity/middleware.ts'

/** Nova v2.1 on :8774. */
export function createComputeApiService(rt: Runtime): HttpService {
  const server = new ApiServer({ name: 'compute-api', style: 'nova', routes: [...versionRoutes], ...authMiddleware(rt) })
  return new HttpService(
    rt.config,
    server,
    rt.config.compute.port,
    { type: 'compute', catalogName: 'nova', path: '/v2.1' },
    rt.options,
  )
}
