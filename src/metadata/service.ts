import { ApiServer } from '../service/http.ts'
import type { Runtime } from '../service/runtime.ts'
import { HttpService } from '../service/service.ts'
import { versionRoutes } from './versions.ts'

/** The metadata service on :8775 (guests reach it as 169.254.169.254:80). */
export function createMetadataService(rt: Runtime): HttpService {
  const server = new ApiServer({ name: 'metadata', style: 'plain', routes: [...versionRoutes] })
  return new HttpService(
    rt.config,
    server,
    rt.config.metadata.port,
    { type: 'metadata', catalogName: 'metadata', path: '' },
    rt.options,
  )
}
