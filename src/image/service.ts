import { ApiServer } from '../service/http.ts'
import type { Runtime } from '../service/runtime.ts'
import { HttpService } from '../service/service.ts'
import { versionRoutes } from './api/versions.ts'

/** Glance v2 on :9292. */
export function createImageService(rt: Runtime): HttpService {
  const server = new ApiServer({ name: 'image', style: 'glance', routes: [...versionRoutes] })
  return new HttpService(
    rt.config,
    server,
    rt.config.image.port,
    { type: 'image', catalogName: 'glance', path: '' },
    rt.options,
  )
}
