import type { Config } from '../common/config.ts'
import { ApiServer } from '../service/http.ts'
import type { Runtime } from '../service/runtime.ts'
import { HttpService, type RuntimeOptions } from '../service/service.ts'
import { createImageManager, registerLocalImageClient } from './client.ts'
import { metadefRoutes } from './api/metadefs.ts'
import { configureImageServer, imageRoutes } from './api/routes.ts'
import { versionRoutes } from './api/versions.ts'
import type { ImageManager } from './manager.ts'
import { MetadefCatalog } from './metadefs.ts'
import { authMiddleware } from '../identity/middleware.ts'

/** Glance v2 on :9292. */
export function createImageService(rt: Runtime): HttpService {
  const manager = createImageManager(rt.config, rt.db)
  // Services in this process (compute, conductor) read images in process, not over HTTP.
  registerLocalImageClient(rt, manager)
  const server = new ApiServer({
    name: 'image',
    style: 'glance',
    routes: [...versionRoutes, ...imageRoutes(manager), ...metadefRoutes(new MetadefCatalog(rt.db))],
    configure: configureImageServer,
    ...authMiddleware(rt, { serviceType: 'image' }),
  })
  return new ImageService(rt.config, server, manager, rt.options)
}

/** The image API, which first tidies what an interrupted upload left in the store. */
class ImageService extends HttpService {
  readonly #manager: ImageManager

  constructor(config: Config, server: ApiServer, manager: ImageManager, opts: RuntimeOptions) {
    super(config, server, config.image.port, { type: 'image', catalogName: 'glance', path: '' }, opts)
    this.#manager = manager
  }

  override async start(): Promise<void> {
    await this.#manager.recover()
    await super.start()
  }
}
