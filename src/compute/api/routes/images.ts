import type { RequestContext } from '../../../common/context.ts'
import { Forbidden, Invalid, NotFound } from '../../../common/errors.ts'
import { respond, type Route } from '../../../service/http.ts'
import { GlanceClient, imageEndpointFromCatalog, type GlanceImage } from '../../glance.ts'
import { ImageNotFound } from '../../../objects/image.ts'
import {
  apiRoot,
  bookmarkLink,
  collectionLinks,
  idFromHref,
  last,
  limitAndMarker,
  resourceLinks,
  versionedRoute,
  type ComputeRequest,
} from '../common.ts'
import type { ApiDeps } from '../deps.ts'
import { metadata } from '../schemas/types.ts'
import { validateBody, type Schema } from '../validation.ts'

/**
 * Nova's image proxy (nova/api/openstack/compute/images.py), deprecated in
 * 2.36 (a 404 from then on): the caller's images read from (and deleted in)
 * the image API with the caller's token, in Nova's view: status ACTIVE /
 * SAVING / ERROR / DELETED, `progress`, `minRam`, `minDisk`, `metadata`
 * (the image's extra properties), `OS-EXT-IMG-SIZE:size`, and `server` for
 * snapshots. Clients (Tempest's compute images client, novaclient) poll a
 * snapshot through it.
 */

/** The last microversion that serves the proxy APIs (Nova's MAX_PROXY_API_SUPPORT_VERSION). */
const MAX_PROXY_API_VERSION = '2.35'

/** Nova's `_status_map` from Glance statuses. */
const STATUS_MAP: Readonly<Record<string, string>> = {
  active: 'ACTIVE',
  queued: 'SAVING',
  saving: 'SAVING',
  uploading: 'SAVING',
  importing: 'SAVING',
  killed: 'ERROR',
  deleted: 'DELETED',
  pending_delete: 'DELETED',
}

/** Nova's `_get_progress` ... percentages by Glance status. */
const PROGRESS: Readonly<Record<string, number>> = { queued: 25, saving: 50, active: 100 }

/** Glance v2's own fields; everything else on an image is a property (Nova's `metadata`). */
const CORE_FIELDS = new Set([
  'id',
  'name',
  'status',
  'created_at',
  'updated_at',
  'min_ram',
  'min_disk',
  'size',
  'virtual_size',
  'visibility',
  'owner',
  'protected',
  'tags',
  'disk_format',
  'container_format',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'os_hidden',
  'file',
  'self',
  'schema',
  'direct_url',
  'locations',
  'stores',
])

/** Query parameters Nova passes to Glance, with their Glance names (`property-` ones are properties). */
const FILTERS: Readonly<Record<string, string>> = {
  name: 'name',
  status: 'status',
  'changes-since': 'changes-since',
  server: 'instance_uuid',
  type: 'image_type',
  minRam: 'min_ram',
  minDisk: 'min_disk',
}

export function imageRoutes(deps: ApiDeps): Route[] {
  const r = (
    method: Route['method'],
    path: string,
    status: number,
    handler: (req: ComputeRequest) => unknown,
  ) => versionedRoute({ method, path, status, handler })
  return [
    r('GET', '/v2.1/images', 200, (req) => listImages(deps, req, false)),
    r('GET', '/v2.1/images/detail', 200, (req) => listImages(deps, req, true)),
    r('GET', '/v2.1/images/:image_id', 200, (req) => showImage(deps, req)),
    r('DELETE', '/v2.1/images/:image_id', 204, (req) => deleteImage(deps, req)),
    // An empty id (`DELETE /images/`) is an image that does not exist, as Nova answers.
    r('DELETE', '/v2.1/images', 204, async (req) => {
      await glanceFor(deps, req)
      throw new NotFound('Image not found.')
    }),
    r('GET', '/v2.1/images/:image_id/metadata', 200, (req) => showMetadata(deps, req)),
    r('POST', '/v2.1/images/:image_id/metadata', 200, (req) => setMetadata(deps, req, false)),
    r('PUT', '/v2.1/images/:image_id/metadata', 200, (req) => setMetadata(deps, req, true)),
    r('GET', '/v2.1/images/:image_id/metadata/:key', 200, (req) => showMetadataItem(deps, req)),
    r('PUT', '/v2.1/images/:image_id/metadata/:key', 200, (req) => setMetadataItem(deps, req)),
    r('DELETE', '/v2.1/images/:image_id/metadata/:key', 204, (req) => deleteMetadataItem(deps, req)),
  ]
}

async function glanceFor(deps: ApiDeps, req: ComputeRequest): Promise<GlanceClient> {
  if (req.mv.atLeast('2.36') || !req.mv.between('2.1', MAX_PROXY_API_VERSION))
    throw new NotFound('The resource could not be found.')
  return new GlanceClient(await imageEndpointFromCatalog(deps.db))
}

async function listImages(deps: ApiDeps, req: ComputeRequest, detail: boolean) {
  const glance = await glanceFor(deps, req)
  const ctx = req.api.ctx
  const filters: Record<string, string> = {}
  for (const [param, name] of Object.entries(FILTERS)) {
    const value = last(req.query, param)
    if (value === undefined) continue
    if (param === 'status') filters[name] = value.toLowerCase()
    // A server given by its href, as Nova's filter takes it.
    else if (param === 'server') filters[name] = idFromHref(value)
    // Glance v2 has no changes-since: Nova's client asks for updated_at >= the time.
    else if (param === 'changes-since') filters.updated_at = `gte:${value}`
    else filters[name] = value
  }
  for (const key of Object.keys(req.query)) {
    if (key.startsWith('property-')) filters[key.slice('property-'.length)] = last(req.query, key)!
  }
  const { limit, marker } = limitAndMarker(req)
  let images = (await glance.list(ctx, filters)).sort((a, b) =>
    a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : a.id < b.id ? 1 : -1,
  )
  if (marker !== undefined) {
    const at = images.findIndex((i) => i.id === marker)
    if (at < 0) throw new Invalid(`marker [${marker}] not found`)
    images = images.slice(at + 1)
  }
  const page = images.slice(0, limit)
  const views = page.map((i) => (detail ? detailView(req, glance, i) : basicView(req, glance, i)))
  const links = collectionLinks(req, detail ? 'images/detail' : 'images', page.length, page.at(-1)?.id)
  return { images: views, ...(links.length ? { images_links: links } : {}) }
}

async function showImage(deps: ApiDeps, req: ComputeRequest) {
  const glance = await glanceFor(deps, req)
  const image = await lookup(glance, req.api.ctx, req.params.image_id!)
  return { image: detailView(req, glance, image) }
}

async function deleteImage(deps: ApiDeps, req: ComputeRequest) {
  const glance = await glanceFor(deps, req)
  const id = req.params.image_id!
  await lookup(glance, req.api.ctx, id)
  try {
    await glance.delete(req.api.ctx, id)
  } catch (err) {
    if (err instanceof Forbidden) throw new Forbidden(`You are not allowed to delete the image.`)
    throw err
  }
  return respond(204)
}

async function lookup(glance: GlanceClient, ctx: RequestContext, id: string): Promise<GlanceImage> {
  try {
    return await glance.get(ctx, id)
  } catch (err) {
    if (err instanceof ImageNotFound) throw new NotFound('Image not found.')
    throw err
  }
}

// ---- image metadata (nova/api/openstack/compute/image_metadata.py) ----

const metadataBody: Schema = {
  type: 'object',
  properties: { metadata },
  required: ['metadata'],
  additionalProperties: false,
}
const metaItemBody: Schema = {
  type: 'object',
  properties: { meta: { ...metadata, minProperties: 1, maxProperties: 1 } },
  required: ['meta'],
  additionalProperties: false,
}

function propertiesOf(image: GlanceImage): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(image)) if (!CORE_FIELDS.has(key)) out[key] = String(value)
  return out
}

async function showMetadata(deps: ApiDeps, req: ComputeRequest) {
  const glance = await glanceFor(deps, req)
  return { metadata: propertiesOf(await lookup(glance, req.api.ctx, req.params.image_id!)) }
}

async function showMetadataItem(deps: ApiDeps, req: ComputeRequest) {
  const glance = await glanceFor(deps, req)
  const props = propertiesOf(await lookup(glance, req.api.ctx, req.params.image_id!))
  const key = req.params.key!
  if (!(key in props)) throw new NotFound('Invalid metadata key')
  return { meta: { [key]: props[key] } }
}

/** POST merges, PUT replaces; the result counts against metadata_items (403, Nova's wording). */
async function setMetadata(deps: ApiDeps, req: ComputeRequest, replace: boolean) {
  const glance = await glanceFor(deps, req)
  validateBody(metadataBody, req.body)
  const ctx = req.api.ctx
  const image = await lookup(glance, ctx, req.params.image_id!)
  const current = propertiesOf(image)
  const given = (req.body as { metadata: Record<string, string> }).metadata
  const wanted = replace ? { ...given } : { ...current, ...given }
  await checkImageMetadataQuota(deps, ctx, wanted)
  const updated = await writeProperties(glance, ctx, image.id, current, wanted)
  return { metadata: propertiesOf(updated) }
}

async function setMetadataItem(deps: ApiDeps, req: ComputeRequest) {
  const glance = await glanceFor(deps, req)
  validateBody(metaItemBody, req.body)
  const ctx = req.api.ctx
  const meta = (req.body as { meta: Record<string, string> }).meta
  const key = req.params.key!
  if (!(key in meta)) throw new Invalid('Request body and URI mismatch')
  const image = await lookup(glance, ctx, req.params.image_id!)
  const current = propertiesOf(image)
  const wanted = { ...current, [key]: meta[key]! }
  await checkImageMetadataQuota(deps, ctx, wanted)
  await writeProperties(glance, ctx, image.id, current, wanted)
  return { meta: { [key]: meta[key] } }
}

async function deleteMetadataItem(deps: ApiDeps, req: ComputeRequest) {
  const glance = await glanceFor(deps, req)
  const ctx = req.api.ctx
  const image = await lookup(glance, ctx, req.params.image_id!)
  const current = propertiesOf(image)
  const key = req.params.key!
  if (!(key in current)) throw new NotFound('Invalid metadata key')
  const { [key]: _gone, ...wanted } = current
  await writeProperties(glance, ctx, image.id, current, wanted)
  return respond(204)
}

async function checkImageMetadataQuota(
  deps: ApiDeps,
  ctx: RequestContext,
  wanted: Readonly<Record<string, string>>,
): Promise<void> {
  const allowed = (await deps.quotas.limits(deps.db.kysely, ctx.projectId ?? '')).metadata_items
  if (allowed >= 0 && Object.keys(wanted).length > allowed)
    throw new Forbidden('Image metadata limit exceeded')
}

/** The JSON patch from `current` to `wanted` properties (replace, add, remove). */
async function writeProperties(
  glance: GlanceClient,
  ctx: RequestContext,
  id: string,
  current: Readonly<Record<string, string>>,
  wanted: Readonly<Record<string, string>>,
): Promise<GlanceImage> {
  const ops: { op: 'add' | 'replace' | 'remove'; path: string; value?: unknown }[] = []
  for (const [key, value] of Object.entries(wanted)) {
    if (current[key] === value) continue
    ops.push({ op: key in current ? 'replace' : 'add', path: `/${key}`, value })
  }
  for (const key of Object.keys(current)) if (!(key in wanted)) ops.push({ op: 'remove', path: `/${key}` })
  if (ops.length === 0) return glance.get(ctx, id)
  return glance.patch(ctx, id, ops)
}

function links(req: ComputeRequest, glance: GlanceClient, id: string) {
  return [
    ...resourceLinks(req, 'images', id),
    { rel: 'alternate', type: 'application/vnd.openstack.image', href: `${glance.baseUrl}/images/${id}` },
  ]
}

function basicView(req: ComputeRequest, glance: GlanceClient, image: GlanceImage) {
  return { id: image.id, name: image.name, links: links(req, glance, image.id) }
}

/** Nova's images view `show`: times without fractions, the properties as `metadata`. */
function detailView(req: ComputeRequest, glance: GlanceClient, image: GlanceImage) {
  const metadata: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(image)) if (!CORE_FIELDS.has(key)) metadata[key] = value
  const view: Record<string, unknown> = {
    id: image.id,
    name: image.name,
    minRam: Number(image.min_ram ?? 0),
    minDisk: Number(image.min_disk ?? 0),
    metadata,
    created: isoSeconds(image.created_at),
    updated: isoSeconds((image.updated_at as string | undefined) ?? image.created_at),
    status: STATUS_MAP[image.status] ?? 'UNKNOWN',
    progress: PROGRESS[image.status] ?? 0,
    links: links(req, glance, image.id),
    'OS-EXT-IMG-SIZE:size': image.size ?? null,
  }
  const server = metadata.instance_uuid
  if (typeof server === 'string') {
    view.server = {
      id: server,
      links: [
        { rel: 'self', href: `${apiRoot(req)}/servers/${server}` },
        { rel: 'bookmark', href: bookmarkLink(req, 'servers', server) },
      ],
    }
  }
  return view
}

function isoSeconds(value: string): string {
  return `${value.slice(0, 19)}Z`
}
