import type { FastifyInstance } from 'fastify'
import { NotFound, UnsupportedMediaType } from '../../common/errors.ts'
import { limits } from '../../common/limits.ts'
import { respond, type ApiRequest, type Route } from '../../service/http.ts'
import { parseJsonBody } from '../../service/json-body.ts'
import { parseListQuery } from '../list-query.ts'
import type { ImageDownload, ImageManager } from '../manager.ts'
import { ACCEPT_PATCH, JSON_PATCH_MEDIA_TYPES, parsePatch } from '../patch.ts'
import { imageSchema, imagesSchema, memberSchema, membersSchema } from '../schemas.ts'
import { imageHref, imageListView, imageView, memberListView, memberView } from '../views.ts'

/**
 * Glance v2's routes as data. Every handler parses what HTTP carries
 * (query, media type, headers) and makes one call into the manager.
 */

type Req = ApiRequest<unknown, Record<string, unknown>, Record<string, string>>

const IMAGE = '/v2/images/:image_id'
const UPLOAD_PATH = `${IMAGE}/file`
const OCTET_STREAM = 'application/octet-stream'

export function imageRoutes(manager: ImageManager): Route[] {
  return [
    { method: 'GET', path: '/v2/images', handler: (req: Req) => list(manager, req) },
    { method: 'POST', path: '/v2/images', handler: (req: Req) => create(manager, req) },
    {
      method: 'GET',
      path: IMAGE,
      handler: async (req: Req) => imageView(await manager.get(req.ctx, req.params.image_id!)),
    },
    { method: 'PATCH', path: IMAGE, handler: (req: Req) => update(manager, req) },
    {
      method: 'DELETE',
      path: IMAGE,
      status: 204,
      handler: (req: Req) => manager.delete(req.ctx, req.params.image_id!),
    },
    { method: 'PUT', path: UPLOAD_PATH, status: 204, handler: (req: Req) => upload(manager, req) },
    { method: 'GET', path: UPLOAD_PATH, handler: (req: Req) => download(manager, req) },
    {
      method: 'POST',
      path: `${IMAGE}/actions/deactivate`,
      status: 204,
      handler: (req: Req) => manager.deactivate(req.ctx, req.params.image_id!),
    },
    {
      method: 'POST',
      path: `${IMAGE}/actions/reactivate`,
      status: 204,
      handler: (req: Req) => manager.reactivate(req.ctx, req.params.image_id!),
    },
    {
      method: 'PUT',
      path: `${IMAGE}/tags/:tag`,
      status: 204,
      handler: (req: Req) => manager.addTag(req.ctx, req.params.image_id!, req.params.tag!),
    },
    {
      method: 'DELETE',
      path: `${IMAGE}/tags/:tag`,
      status: 204,
      handler: (req: Req) => manager.removeTag(req.ctx, req.params.image_id!, req.params.tag!),
    },
    {
      method: 'GET',
      path: `${IMAGE}/tasks`,
      // Nimbus runs no import tasks; the image must still be visible.
      handler: async (req: Req) => (await manager.get(req.ctx, req.params.image_id!)) && { tasks: [] },
    },
    ...memberRoutes(manager),
    ...infoRoutes(),
  ]
}

function memberRoutes(manager: ImageManager): Route[] {
  const MEMBER = `${IMAGE}/members/:member_id`
  return [
    {
      method: 'GET',
      path: `${IMAGE}/members`,
      handler: async (req: Req) => memberListView(await manager.listMembers(req.ctx, req.params.image_id!)),
    },
    {
      method: 'POST',
      path: `${IMAGE}/members`,
      handler: async (req: Req) =>
        memberView(await manager.addMember(req.ctx, req.params.image_id!, req.body)),
    },
    {
      method: 'GET',
      path: MEMBER,
      handler: async (req: Req) =>
        memberView(await manager.getMember(req.ctx, req.params.image_id!, req.params.member_id!)),
    },
    {
      method: 'PUT',
      path: MEMBER,
      handler: async (req: Req) =>
        memberView(
          await manager.updateMember(req.ctx, req.params.image_id!, req.params.member_id!, req.body),
        ),
    },
    {
      method: 'DELETE',
      path: MEMBER,
      status: 204,
      handler: (req: Req) => manager.deleteMember(req.ctx, req.params.image_id!, req.params.member_id!),
    },
  ]
}

function infoRoutes(): Route[] {
  return [
    { method: 'GET', path: '/v2/schemas/image', handler: () => imageSchema() },
    { method: 'GET', path: '/v2/schemas/images', handler: () => imagesSchema() },
    { method: 'GET', path: '/v2/schemas/member', handler: () => memberSchema() },
    { method: 'GET', path: '/v2/schemas/members', handler: () => membersSchema() },
    {
      method: 'GET',
      path: '/v2/info/import',
      // No interoperable import methods: clients (and Tempest) then use PUT /file.
      handler: () => ({
        'import-methods': { description: 'Import methods available.', type: 'array', value: [] },
      }),
    },
    {
      method: 'GET',
      path: '/v2/info/stores',
      handler: () => {
        throw new NotFound('Multi backend is not supported at this site.')
      },
    },
  ]
}

async function list(manager: ImageManager, req: Req) {
  const params = new URL(req.raw.url, 'http://localhost').searchParams
  const page = await manager.list(req.ctx, parseListQuery(params))
  return imageListView(page.items, params, page.hasMore)
}

async function create(manager: ImageManager, req: Req) {
  const image = await manager.create(req.ctx, req.body)
  return respond(201, imageView(image), { location: `${req.baseUrl}${imageHref(image.id)}` })
}

async function update(manager: ImageManager, req: Req) {
  const draft = JSON_PATCH_MEDIA_TYPES[mediaType(req)]
  if (draft === undefined) {
    req.reply.header('accept-patch', ACCEPT_PATCH)
    throw new UnsupportedMediaType('The request media type is not supported by this server.')
  }
  const changes = parsePatch(draft, req.body)
  return imageView(await manager.update(req.ctx, req.params.image_id!, changes))
}

async function upload(manager: ImageManager, req: Req): Promise<void> {
  const length = req.headers['content-length']
  const size = typeof length === 'string' && length !== '' ? Number(length) : undefined
  try {
    const type = mediaType(req)
    if (type !== OCTET_STREAM) throw new UnsupportedMediaType(`Invalid content type ${type}`)
    await manager.upload(req.ctx, req.params.image_id!, req.raw.raw, size)
  } catch (err) {
    // Node drains an unread body after the answer; past a bound, close instead of reading gigabytes.
    if (size === undefined || size > limits.imageRefusedUploadDrainMaxBytes)
      req.reply.header('connection', 'close')
    throw err
  }
}

async function download(manager: ImageManager, req: Req) {
  const range = req.headers.range
  const data = await manager.download(
    req.ctx,
    req.params.image_id!,
    typeof range === 'string' ? range : undefined,
  )
  if (!data) return respond(204)
  return respond(data.range ? 206 : 200, data.stream, downloadHeaders(data))
}

function downloadHeaders(data: ImageDownload): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': OCTET_STREAM }
  const length = data.range ? data.range.end - data.range.start + 1 : data.size
  headers['content-length'] = String(length)
  if (data.range) headers['content-range'] = `bytes ${data.range.start}-${data.range.end}/${data.size}`
  if (data.checksum) headers['content-md5'] = data.checksum
  return headers
}

function mediaType(req: Req): string {
  const header = req.headers['content-type']
  return (typeof header === 'string' ? header : '').split(';')[0]!.trim().toLowerCase()
}

/**
 * Body parsing for the image API, on top of the framework's JSON: the
 * upload route gets the request stream itself (never buffered, whatever its
 * size; the manager caps it), the patch media types are JSON under the
 * usual small limit, and any other type reaches the handler unparsed so it
 * answers 415 in Glance's words.
 */
export function configureImageServer(app: FastifyInstance): void {
  // The framework ignores trailing slashes, but `/v2/images/` names an image with an empty id: 404 (Glance).
  app.addHook('onRequest', async (req) => {
    if (req.url.split('?')[0] === '/v2/images/') throw new NotFound('The resource could not be found.')
  })
  // Uploads take as long as the data takes; a stalled client is cut by the idle timeout.
  app.server.requestTimeout = 0
  app.server.setTimeout(limits.imageTransferIdleTimeoutMs)
  // glanceclient also sends this type on bodiless requests (tags, actions, delete): no body then.
  app.addContentTypeParser(OCTET_STREAM, (req, payload, done) =>
    done(null, req.routeOptions.url === UPLOAD_PATH ? payload : undefined),
  )
  app.addContentTypeParser(
    Object.keys(JSON_PATCH_MEDIA_TYPES),
    { parseAs: 'string', bodyLimit: limits.maxRequestBodyBytes },
    (_req, text, done) => {
      if (text === '') return done(null, undefined)
      try {
        done(null, parseJsonBody(text as string))
      } catch (err) {
        done(err as Error, undefined)
      }
    },
  )
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined))
}
