import type { RequestContext } from '../common/context.ts'
import { Invalid, NotFound, registerErrorClass } from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import type { Database } from '../db/index.ts'
import { findImage, findMember } from '../image/repository.ts'

/**
 * What compute needs of the image service (Nova's `nova.image.glance.API`):
 * look an image up as the caller sees it. The API checks status, min_ram
 * and min_disk with it at create; the compute host checks them again before
 * spawning (the image may have changed meanwhile).
 */

/** An image as compute sees it. Plain data: it crosses RPC in build requests. */
export interface ImageMeta {
  readonly id: string
  readonly name: string | null
  readonly status: string
  readonly minRamMb: number
  readonly minDiskGb: number
  readonly sizeBytes: number
  readonly diskFormat: string | null
  readonly containerFormat: string | null
  readonly properties: Readonly<Record<string, string>>
}

/** Nova's ImageNotFound ("Image X could not be found."). */
export class ImageNotFound extends NotFound {}
registerErrorClass(ImageNotFound)

/** Nova's ImageNotActive ("Image X is not active."), a 400 at create. */
export class ImageNotActive extends Invalid {}
registerErrorClass(ImageNotActive)

export interface ComputeImageApi {
  /** The image as `ctx` may see it; ImageNotFound if it does not exist or is not visible. */
  get(ctx: RequestContext, id: string): Promise<ImageMeta>
}

/**
 * Reads images from the shared database with Glance's visibility rules
 * (public and community for all; private and shared for the owner and
 * accepted members; everything for admins). Every Nimbus service shares one
 * database, so this works in embedded and distributed mode alike.
 */
/** Entries the cache holds at most (oldest dropped first). */
const IMAGE_CACHE_ENTRIES_MAX = 1_000

export class DbImageApi implements ComputeImageApi {
  readonly #db: Database
  readonly #cache = new Map<string, { readonly atMs: number; readonly image: ImageMeta }>()

  constructor(db: Database) {
    this.#db = db
  }

  async get(ctx: RequestContext, id: string): Promise<ImageMeta> {
    const key = `${id}/${ctx.isAdmin ? '*' : (ctx.projectId ?? '')}`
    const hit = this.#cache.get(key)
    if (hit && Date.now() - hit.atMs < limits.computeImageCacheMs) return hit.image
    const image = await this.#lookup(ctx, id)
    if (this.#cache.size >= IMAGE_CACHE_ENTRIES_MAX) this.#cache.delete(this.#cache.keys().next().value!)
    this.#cache.set(key, { atMs: Date.now(), image })
    return image
  }

  async #lookup(ctx: RequestContext, id: string): Promise<ImageMeta> {
    const image = await findImage(this.#db, id)
    if (!image || !(await this.#visible(ctx, image))) {
      throw new ImageNotFound(`Image ${id} could not be found.`, { imageId: id })
    }
    return {
      id: image.id,
      name: image.name,
      status: image.status,
      minRamMb: image.min_ram,
      minDiskGb: image.min_disk,
      sizeBytes: image.size ?? 0,
      diskFormat: image.disk_format,
      containerFormat: image.container_format,
      properties: image.properties,
    }
  }

  async #visible(
    ctx: RequestContext,
    image: { readonly id: string; readonly visibility: string; readonly owner: string | null },
  ): Promise<boolean> {
    if (ctx.isAdmin || image.visibility === 'public' || image.visibility === 'community') return true
    if (ctx.projectId !== undefined && image.owner === ctx.projectId) return true
    if (image.visibility !== 'shared' || ctx.projectId === undefined) return false
    const member = await findMember(this.#db, image.id, ctx.projectId)
    // Glance shows a shared image to every member, whatever the membership status.
    return member !== undefined
  }
}
