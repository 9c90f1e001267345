import { ApiServer } from '../service/http.ts'
import type { Runtime } from '../service/runtime.ts'
import { HttpService } from '../service/service.ts'
import { actionRoutes } from './api/actions.ts'
import { extensionRoutes } from './api/extensions.ts'
import { resourceRoutes } from './api/resources.ts'
import { versionRoutes } from './api/versions.ts'
import { NetworkPlugin } from './plugin.ts'
import { settingsFrom } from './settings.ts'

/** Neutron v2.0 on :9696. */
export function createNetworkService(rt: Runtime): HttpService {
  const plugin = new NetworkPlugin(rt.db, settingsFrom(rt.config))
  const server = new ApiServer({
    name: 'network',
    style: 'neutron',
    routes: [...versionRoutes, ...extensionRoutes, ...actionRoutes(plugin), ...resourceRoutes(plugin)],
  })
  return new HttpService(
    rt.config,
    server,
    rt.config.network.port,
    { type: 'network', catalogName: 'neutron', path: '' },
    rt.options,
  )
}
