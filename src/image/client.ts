import { join } from 'node:path'
import { Readable } from 'node:stream'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import type { Config } from '../common/config.ts'
import type { RequestContext } from '../common/context.ts'
import { Conflict, Forbidden, Invalid, NotFound } from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import type { Database } from '../db/index.ts'
import { ImageNotFound, ImageServiceError, type ImageMeta } from '../objects/image.ts'
import type { Runtime } from '../service/runtime.ts'
import { ImageManager } from './manager.ts'
import { BASE_FIELDS, type Image } from './model.ts'
import { ImagePolicy } from './policy.ts'
import { FileStore } from './store/file-store.ts'

/**
 * The image service's door: the only thing other services import from
 * `src/image/`. `ImageClient` is what they may ask (Nova's
 * `nova.image.glance.API` for reading): an image's metadata as the caller
 * sees it, and its data as a stream. Two implementations answer it under
 * the same rules as the API (visibility, policy, deactivated images):
 * in process when the image service runs in the same process (`nimbus up`),
 * over Glance's v2 HTTP API with the caller's token otherwise (a compute
 * host on another machine). `imageClientFor(rt)` picks one.
 */
export interface ImageClient {
  /**
   * The image `id` as `ctx` may see it: status, formats, `min_disk` (GiB),
   * `min_ram` (MiB), size, checksums and the extra properties.
   * ImageNotFound when it does not exist or is not visible to the caller.
   */
  get(ctx: RequestContext, id: string): Promise<ImageMeta>
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
  /** Bytes the stream carries, when the service said. */
  readonly size: number | undefined
  /** md5 hex digest the service gave with the data (Glance's Content-MD5), to check a copy against. */
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

/** An ImageClient over this node's database and file store (no HTTP). */
export function createLocalImageClient(config: Config, db: Database): ImageClient {
  return new LocalImageClient(createImageManager(config, db))
}

/** The image service in this process registers its manager here; other services find it by runtime. */
const LOCAL_CLIENTS = new WeakMap<Runtime, ImageClient>()

/** Called by the image service: services sharing `rt` read images in process from now on. */
export function registerLocalImageClient(rt: Runtime, manager: ImageManager): void {
  LOCAL_CLIENTS.set(rt, new LocalImageClient(manager))
}

/**
 * The image client for a service running on `rt`: in process when the image
 * service runs in this process (it starts before every service that reads
 * images), else Glance's HTTP API at `[glance] endpoint_override`.
 */
export function imageClientFor(rt: Runtime): ImageClient {
  return LOCAL_CLIENTS.get(rt) ?? new HttpImageClient(rt.config.glance.url)
}

/** Nova's message for an image it may not see (whatever the image service said). */
function notFound(id: string): ImageNotFound {
  return new ImageNotFound(`Image ${id} could not be found.`, { imageId: id })
}

class LocalImageClient implements ImageClient {
  readonly #manager: ImageManager

  constructor(manager: ImageManager) {
    this.#manager = manager
  }

  async get(ctx: RequestContext, id: string): Promise<ImageMeta> {
    try {
      return imageMetaOf(await this.#manager.get(ctx, id))
    } catch (err) {
      if (err instanceof NotFound) throw notFound(id)
      throw err
    }
  }

  async openData(ctx: RequestContext, id: string): Promise<ImageData> {
    let download
    try {
      download = await this.#manager.download(ctx, id)
    } catch (err) {
      if (err instanceof NotFound) throw notFound(id)
      throw err
    }
    if (!download) {
      const image = await this.#manager.get(ctx, id)
      throw new Conflict(`Image ${id} has no data (status ${image.status})`)
    }
    return { stream: download.stream, size: download.size, checksum: download.checksum }
  }
}

/** An image record as Glance v2 shows it: base attributes and extra properties side by side. */
type GlanceImageBody = Readonly<Record<string, unknown>>

/**
 * Glance's v2 API over HTTP with the caller's token (`ctx.authToken`, which
 * travels in every RPC message as Nova's context does). Data is streamed,
 * never buffered.
 */
export class HttpImageClient implements ImageClient {
  readonly #base: string

  /** `baseUrl`: the image endpoint without a version (`http://host:9292`). */
  constructor(baseUrl: string) {
    this.#base = baseUrl.replace(/\/+$/, '')
  }

  get baseUrl(): string {
    return this.#base
  }

  async get(ctx: RequestContext, id: string): Promise<ImageMeta> {
    const res = await this.#request(ctx, id, '')
    return imageMetaOfBody((await res.json()) as GlanceImageBody)
  }

  async openData(ctx: RequestContext, id: string): Promise<ImageData> {
    const res = await this.#request(ctx, id, '/file')
    if (res.status === 204 || !res.body) {
      await res.body?.cancel()
      throw new Conflict(`Image ${id} has no data`)
    }
    const length = res.headers.get('content-length')
    return {
      stream: Readable.fromWeb(res.body as WebReadableStream<Uint8Array>),
      size: length === null ? undefined : Number(length),
      checksum: res.headers.get('content-md5'),
    }
  }

  async #request(ctx: RequestContext, id: string, suffix: string): Promise<Response> {
    const headers: Record<string, string> = { 'x-openstack-request-id': ctx.requestId }
    if (ctx.authToken) headers['x-auth-token'] = ctx.authToken
    const url = `${this.#base}/v2/images/${encodeURIComponent(id)}${suffix}`
    let res: Response
    try {
      // The timeout bounds the wait for the answer's headers; a body read stalls no longer than this either.
      res = await fetch(url, { headers, signal: AbortSignal.timeout(limits.imageTransferIdleTimeoutMs) })
    } catch (err) {
      throw new ImageServiceError(`image service at ${this.#base} unreachable: ${(err as Error).message}`)
    }
    if (res.ok) return res
    const text = await res.text().catch(() => '')
    if (res.status === 404) throw notFound(id)
    if (res.status === 403) throw new Forbidden(glanceMessage(text) || `image ${id}: forbidden`)
    if (res.status === 400) throw new Invalid(glanceMessage(text) || `image ${id}: bad request`)
    throw new ImageServiceError(
      `image service: GET ${suffix || 'image'} ${id}: ${res.status} ${glanceMessage(text)}`,
    )
  }
}

/** Glance's error pages carry the reason in `<br /><br />\n reason\n\n`; JSON ones in `message`. */
export function glanceMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { message?: string; error?: { message?: string } }
    return parsed.message ?? parsed.error?.message ?? ''
  } catch {
    const m = /<br \/><br \/>\s*([^<]+?)\s*(<|$)/.exec(text)
    return m?.[1] ?? text.slice(0, 200)
  }
}

/** The door's shape of a stored image. */
export function imageMetaOf(image: Image): ImageMeta {
  return {
    id: image.id,
    name: image.name,
    status: image.status,
    minRamMb: image.min_ram,
    minDiskGb: image.min_disk,
    sizeBytes: image.size ?? 0,
    diskFormat: image.disk_format,
    containerFormat: image.container_format,
    checksum: image.checksum,
    osHashAlgo: image.os_hash_algo,
    osHashValue: image.os_hash_value,
    properties: image.properties,
  }
}

/** Glance keys that are neither base attributes nor extra properties (links and representation). */
const GLANCE_VIEW_KEYS: ReadonlySet<string> = new Set([
  'self',
  'file',
  'schema',
  'tags',
  'locations',
  'direct_url',
  'stores',
])

/** The door's shape of a Glance v2 image body: every key that is not a base attribute is a property. */
export function imageMetaOfBody(body: GlanceImageBody): ImageMeta {
  const str = (k: string): string | null => (typeof body[k] === 'string' ? (body[k] as string) : null)
  const num = (k: string): number => (typeof body[k] === 'number' ? (body[k] as number) : 0)
  const properties: Record<string, string> = {}
  for (const [k, v] of Object.entries(body)) {
    if (BASE_FIELDS.has(k) || GLANCE_VIEW_KEYS.has(k) || typeof v !== 'string') continue
    properties[k] = v
  }
  return {
    id: str('id') ?? '',
    name: str('name'),
    status: str('status') ?? '',
    minRamMb: num('min_ram'),
    minDiskGb: num('min_disk'),
    sizeBytes: num('size'),
    diskFormat: str('disk_format'),
    containerFormat: str('container_format'),
    checksum: str('checksum'),
    osHashAlgo: str('os_hash_algo'),
    osHashValue: str('os_hash_value'),
    properties,
  }
}
