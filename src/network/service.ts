import { ApiServer } from '../service/http.ts'
import type { Runtime } from '../service/runtime.ts'
import { HttpService } from '../service/service.ts'
import { versionRoutes } from './api/versions.ts'

/** Neutron v2.0 on :9696. */
export function createNetworkService(rt: Runtime): HttpService {
  const server = new ApiServer({ name: 'network', style: 'neutron', routes: [...versionRoutes] })
  return new HttpService(
    rt.config,
    server,
    rt.config.network.port,
    { type: 'network', catalogName: 'neutron', path: '' },
    rt.options,
  )
}
