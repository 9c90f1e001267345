import type { RequestContext } from '../../../common/context.ts'
import { Forbidden, Invalid, NotFound } from '../../../common/errors.ts'
import { respond, type Route } from '../../../service/http.ts'
import { GlanceClient, imageEndpointFromCatalog, type GlanceImage } from '../../glance.ts'
import { ImageNotFound } from '../../image.ts'
import {
  apiRoot,
  bookmarkLink,
  collectionLinks,
  last,
  limitAndMarker,
  resourceLinks,
  versionedRoute,
  type ComputeRequest,
} from '../common.ts'
import type { ApiDeps } from '../deps.ts'

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
    filters[name] = param === 'status' ? value.toLowerCase() : value
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
