import type { RequestContext } from '../common/context.ts'
import { limits } from '../common/limits.ts'
import type { ImageClient } from '../image/client.ts'
import type { ImageMeta } from '../objects/image.ts'

/**
 * What compute needs of the image service (Nova's `nova.image.glance.API`):
 * look an image up as the caller sees it. The API checks status, min_ram
 * and min_disk with it at create; the conductor and the compute host check
 * them again (the image may have changed meanwhile). The image service
 * answers through its door (`image/client.ts`), in process or over HTTP;
 * its visibility rule is the only one.
 */
export interface ComputeImageApi {
  /** The image as `ctx` may see it; ImageNotFound if it does not exist or is not visible. */
  get(ctx: RequestContext, id: string): Promise<ImageMeta>
}

/** Entries the cache holds at most (oldest dropped first). */
const IMAGE_CACHE_ENTRIES_MAX = 1_000

/**
 * The image client with a short per-caller memory: a burst of boots from
 * one image asks the image service once (limits.computeImageCacheMs).
 */
export class CachedImageApi implements ComputeImageApi {
  readonly #client: ImageClient
  readonly #cache = new Map<string, { readonly atMs: number; readonly image: ImageMeta }>()

  constructor(client: ImageClient) {
    this.#client = client
  }

  async get(ctx: RequestContext, id: string): Promise<ImageMeta> {
    const key = `${id}/${ctx.isAdmin ? '*' : (ctx.projectId ?? '')}`
    const hit = this.#cache.get(key)
    if (hit && Date.now() - hit.atMs < limits.computeImageCacheMs) return hit.image
    const image = await this.#client.get(ctx, id)
    if (this.#cache.size >= IMAGE_CACHE_ENTRIES_MAX) this.#cache.delete(this.#cache.keys().next().value!)
    this.#cache.set(key, { atMs: Date.now(), image })
    return image
  }
}
