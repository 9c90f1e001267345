import { Readable } from 'node:stream'
import type { RequestContext } from '../common/context.ts'
import { Forbidden, Invalid, OverQuota } from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import type { Database } from '../db/index.ts'
import { glanceMessage } from '../image/client.ts'
import { ImageNotFound, ImageServiceError } from '../objects/image.ts'

/**
 * Compute's client of the image API over HTTP (Nova's `nova.image.glance`),
 * with the caller's token, as Nova does for snapshots, backups and shelve:
 * the API creates the image record (queued), the compute host uploads the
 * disk into it, rotation and unshelve delete images. The image endpoint
 * comes from the catalog; like Nova's RequestContext.service_catalog, the
 * URL travels to the compute host in the RPC message.
 */

/** An image record as Glance shows it (the fields compute reads). */
export interface GlanceImage {
  readonly id: string
  readonly name: string | null
  readonly status: string
  readonly created_at: string
  readonly [property: string]: unknown
}

/** The public image endpoint of the catalog (`http://host:port`), read from the shared database. */
export async function imageEndpointFromCatalog(db: Database): Promise<string> {
  const row = await db.kysely
    .selectFrom('catalog_endpoints as e')
    .innerJoin('catalog_services as s', 's.id', 'e.service_id')
    .select('e.url')
    .where('s.type', '=', 'image')
    .where('e.interface', '=', 'public')
    .where('e.enabled', '=', true)
    .executeTakeFirst()
  if (!row) throw new ImageServiceError('No image endpoint in the catalog.')
  return row.url.replace(/\/+$/, '')
}

export class GlanceClient {
  readonly #base: string

  constructor(baseUrl: string) {
    this.#base = baseUrl.replace(/\/+$/, '')
  }

  get baseUrl(): string {
    return this.#base
  }

  /** POST /v2/images: a queued record; Glance's 400/403/413 come back as Nova maps them. */
  async create(ctx: RequestContext, body: Record<string, unknown>): Promise<GlanceImage> {
    const res = await this.#request(ctx, 'POST', '/v2/images', JSON.stringify(body), 'application/json')
    return (await res.json()) as GlanceImage
  }

  /** PATCH /v2/images/{id} with `replace`/`add` of top-level fields. */
  async update(ctx: RequestContext, id: string, fields: Record<string, unknown>): Promise<void> {
    const ops = Object.entries(fields).map(([k, v]) => ({ op: 'add', path: `/${k}`, value: v }))
    await this.#request(
      ctx,
      'PATCH',
      `/v2/images/${id}`,
      JSON.stringify(ops),
      'application/openstack-images-v2.1-json-patch',
    )
  }

  /** PATCH /v2/images/{id} with JSON-patch operations (`add`, `replace`, `remove` of top-level fields). */
  async patch(
    ctx: RequestContext,
    id: string,
    ops: readonly { op: 'add' | 'replace' | 'remove'; path: string; value?: unknown }[],
  ): Promise<GlanceImage> {
    const res = await this.#request(
      ctx,
      'PATCH',
      `/v2/images/${id}`,
      JSON.stringify(ops),
      'application/openstack-images-v2.1-json-patch',
    )
    return (await res.json()) as GlanceImage
  }

  /** PUT /v2/images/{id}/file: streams the data; the image becomes active. */
  async upload(ctx: RequestContext, id: string, data: AsyncIterable<Uint8Array>): Promise<void> {
    const body = Readable.from(data) as unknown as BodyInit
    await this.#request(ctx, 'PUT', `/v2/images/${id}/file`, body, 'application/octet-stream')
  }

  /** DELETE /v2/images/{id}; an image already gone is fine. */
  async delete(ctx: RequestContext, id: string): Promise<void> {
    try {
      await this.#request(ctx, 'DELETE', `/v2/images/${id}`)
    } catch (err) {
      if (!(err instanceof ImageNotFound)) throw err
    }
  }

  async get(ctx: RequestContext, id: string): Promise<GlanceImage> {
    const res = await this.#request(ctx, 'GET', `/v2/images/${id}`)
    return (await res.json()) as GlanceImage
  }

  /** GET /v2/images with exact-match filters (property filters included), every page. */
  async list(ctx: RequestContext, filters: Record<string, string>): Promise<GlanceImage[]> {
    const out: GlanceImage[] = []
    let path: string | undefined = `/v2/images?${new URLSearchParams({ ...filters, limit: '100' })}`
    for (let page = 0; path && page < limits.maxPageSize; page++) {
      const res = await this.#request(ctx, 'GET', path)
      const body = (await res.json()) as { images: GlanceImage[]; next?: string }
      out.push(...body.images)
      path = body.next
    }
    return out
  }

  async #request(
    ctx: RequestContext,
    method: string,
    path: string,
    body?: BodyInit,
    contentType?: string,
  ): Promise<Response> {
    const headers: Record<string, string> = { 'x-openstack-request-id': ctx.requestId }
    if (ctx.authToken) headers['x-auth-token'] = ctx.authToken
    if (contentType) headers['content-type'] = contentType
    const init: RequestInit & { duplex?: 'half' } = {
      method,
      headers,
      body,
      signal: AbortSignal.timeout(limits.imageTransferIdleTimeoutMs),
    }
    if (body instanceof Readable || (body && typeof body === 'object' && Symbol.asyncIterator in body))
      init.duplex = 'half'
    let res: Response
    try {
      res = await fetch(`${this.#base}${path}`, init)
    } catch (err) {
      throw new ImageServiceError(`image service at ${this.#base} unreachable: ${(err as Error).message}`)
    }
    if (res.ok) return res
    const text = await res.text().catch(() => '')
    const message = glanceMessage(text) || `${method} ${path}: ${res.status}`
    if (res.status === 404) {
      const id = /\/v2\/images\/([^/?]+)/.exec(path)?.[1] ?? ''
      throw new ImageNotFound(`Image ${id} could not be found.`, { imageId: id })
    }
    if (res.status === 400) throw new Invalid(message)
    if (res.status === 403) throw new Forbidden(message)
    if (res.status === 413) throw new OverQuota(message)
    throw new ImageServiceError(`image service: ${res.status} ${message}`)
  }
}
