import { join } from 'node:path'
import type { Readable } from 'node:stream'
import type { Config } from '../common/config.ts'
import type { RequestContext } from '../common/context.ts'
import { Conflict } from '../common/errors.ts'
import type { Database } from '../db/index.ts'
import { ImageManager } from './manager.ts'
import type { Image } from './model.ts'
import { ImagePolicy } from './policy.ts'
import { FileStore } from './store/file-store.ts'

export type { Image } from './model.ts'

/**
 * What other services (compute's image cache, its min_ram/min_disk checks)
 * use from the image service, in process: the same visibility and policy
 * as the API, without HTTP.
 */
export interface ImageApi {
  /**
   * The image `id` as `ctx` may see it: status, disk and container formats,
   * `min_disk` (GiB), `min_ram` (MiB), `size`, `virtual_size`, `checksum`
   * and the extra properties. NotFound when it does not exist or is not
   * visible to the caller.
   */
  get(ctx: RequestContext, id: string): Promise<Image>
  /**
   * Opens the image's data as a stream, under the same rules as a download
   * (a deactivated image is Forbidden to non-admins). Conflict when the
   * image has no data yet. The caller must read the stream to its end or
   * destroy it.
   */
  openData(ctx: RequestContext, id: string): Promise<ImageData>
}

export interface ImageData {
  readonly stream: Readable
  readonly size: number
  /** md5 hex digest, to check a copy against. */
  readonly checksum: string | null
}

/** Where the file store of this node keeps image data. */
export function imageStoreDir(config: Config): string {
  return join(config.stateDir, 'images')
}

/** The manager every entry point shares the construction of. */
export function createImageManager(config: Config, db: Database): ImageManager {
  return new ImageManager({
    db,
    store: new FileStore(imageStoreDir(config)),
    policy: ImagePolicy.fromFile(config.image.policyFile),
    maxImageSizeBytes: config.image.maxImageSizeBytes,
  })
}

/** An ImageApi over this node's database and file store. */
export function createImageApi(config: Config, db: Database): ImageApi {
  return new LocalImageApi(createImageManager(config, db))
}

class LocalImageApi implements ImageApi {
  readonly #manager: ImageManager

  constructor(manager: ImageManager) {
    this.#manager = manager
  }

  get(ctx: RequestContext, id: string): Promise<Image> {
    return this.#manager.get(ctx, id)
  }

  async openData(ctx: RequestContext, id: string): Promise<ImageData> {
    const download = await this.#manager.download(ctx, id)
    if (!download) {
      const image = await this.#manager.get(ctx, id)
      throw new Conflict(`Image ${id} has no data (status ${image.status})`)
    }
    return { stream: download.stream, size: download.size, checksum: download.checksum }
  }
}
