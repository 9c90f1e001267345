import { ApiServer } from '../service/http.ts'
import type { Runtime } from '../service/runtime.ts'
import { HttpService } from '../service/service.ts'
import { versionRoutes } from './api/versions.ts'

/** Keystone v3 on :5000. */
export function createIdentityService(rt: Runtime): HttpService {
  const server = new ApiServer({ name: 'identity', style: 'keystone', routes: [...versionRoutes] })
  return new HttpService(
    rt.config,
    server,
    rt.config.identity.port,
    { type: 'identity', catalogName: 'keystone', path: '/v3' },
    rt.options,
  )
}
