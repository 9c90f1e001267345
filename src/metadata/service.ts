import { readFileSync } from 'node:fs'
import { Forbidden, Invalid, NotFound } from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import { logger } from '../common/log.ts'
import type { Config } from '../common/config.ts'
import { InstanceNotFound } from '../compute/db/instances.ts'
import { CONFLICT_MESSAGE, PasswordAlreadySet, storeGuestPassword } from '../compute/password.ts'
import type { Database } from '../db/index.ts'
import { ApiServer, respond, type ApiRequest } from '../service/http.ts'
import type { Runtime } from '../service/runtime.ts'
import { HttpService } from '../service/service.ts'
import { validSignature } from './signature.ts'
import { instanceIdByAddress, sourceByInstanceId } from './source.ts'
import {
  EC2_VERSIONS,
  InstanceMetadata,
  MetadataPathNotFound,
  type MetadataItem,
  type VendorData,
} from './tree.ts'

const log = logger('metadata')

/**
 * The metadata service on :8775 (guests reach it as 169.254.169.254:80
 * through the network's metadata proxy). Nova's MetadataRequestHandler:
 * `/` lists the EC2 versions; anything else first identifies the instance,
 * then resolves the path in its trees (tree.ts).
 *
 * Identification, as `[metadata] service_metadata_proxy` says:
 * - true (default, Nova behind Neutron): the proxy names the instance in
 *   `X-Instance-ID` + `X-Tenant-ID` and signs the id (`X-Instance-ID-Signature`,
 *   HMAC-SHA256 with the shared secret). A missing header is 400, a bad
 *   signature 403, a tenant that is not the instance's 404.
 * - false (the direct path): the requester's address — `X-Forwarded-For`
 *   scoped to the networks of `X-Neutron-Router-ID` (or
 *   `X-Neutron-Network-ID`) when a proxy sent them, else the socket's peer —
 *   names the port and so the instance.
 */
export function createMetadataService(rt: Runtime): HttpService {
  const handler = new MetadataHandler(rt.db, rt.config)
  const server = new ApiServer({
    name: 'metadata',
    // webob's error pages, as Nova's metadata API answers.
    style: 'glance',
    routes: [
      { method: ['GET', 'HEAD'], path: '/', auth: false, handler: (req) => handler.handle(req) },
      { method: ['GET', 'HEAD', 'POST'], path: '/*', auth: false, handler: (req) => handler.handle(req) },
    ],
    // A guest posts its password as whatever curl or cloudbase-init sends (form-encoded,
    // text, or no type at all through the relay): every body is taken as raw bytes.
    configure: (app) => {
      app.removeAllContentTypeParsers()
      app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))
    },
  })
  return new HttpService(
    rt.config,
    server,
    rt.config.metadata.port,
    { type: 'metadata', catalogName: 'metadata', path: '' },
    rt.options,
  )
}

/** Nova's explanation of an invalid signature. */
export const INVALID_SIGNATURE_MESSAGE = 'Invalid proxy request signature.'

export class MetadataHandler {
  readonly #db: Database
  readonly #config: Config
  readonly #vendor: VendorData

  constructor(db: Database, config: Config) {
    this.#db = db
    this.#config = config
    this.#vendor = { static: readVendorData(config.metadata.vendordataJsonfilePath) }
  }

  async handle(req: ApiRequest): Promise<unknown> {
    const path = decodeURIComponent((req.raw.url ?? '/').split('?')[0] ?? '/')
    if (path.replace(/\/+$/, '') === '') {
      return text(req, [...EC2_VERSIONS, 'latest'].join('\n'), 'text/plain')
    }
    const md = this.#config.metadata.serviceMetadataProxy
      ? await this.#byInstanceId(req)
      : await this.#byAddress(req)
    if (!md) throw new NotFound('The resource could not be found.')
    let item: MetadataItem
    try {
      item = md.lookup(path)
    } catch (err) {
      if (err instanceof MetadataPathNotFound) throw new NotFound('The resource could not be found.')
      throw err
    }
    if (item.password) return this.#password(req, md, item)
    return text(req, item.body, item.contentType)
  }

  /**
   * `openstack/<version>/password` (Nova's handle_password): GET answers the
   * stored password; POST stores the body once — 409 when one is stored, 400
   * when it is over the size limit or the instance is gone; any other method
   * is 400.
   */
  async #password(req: ApiRequest, md: InstanceMetadata, item: MetadataItem): Promise<unknown> {
    if (req.raw.method === 'GET') return text(req, item.body, item.contentType)
    if (req.raw.method !== 'POST') throw new Invalid('GET and POST only are supported.')
    if (md.source.password) throw new PasswordAlreadySet(CONFLICT_MESSAGE)
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
    const declared = Number(header(req.headers['content-length']) ?? 0)
    if (declared > limits.metadataPasswordMaxBytes || body.length > limits.metadataPasswordMaxBytes) {
      throw new Invalid('Request is too large.')
    }
    try {
      await storeGuestPassword(this.#db, md.source.uuid, body.toString('utf8'))
    } catch (err) {
      if (err instanceof InstanceNotFound) throw new Invalid(err.message)
      throw err
    }
    log.info({ instance: md.source.uuid }, 'guest posted its password')
    return respond(200, '', { 'content-type': 'text/html; charset=UTF-8' })
  }

  async #byInstanceId(req: ApiRequest): Promise<InstanceMetadata | undefined> {
    const h = req.headers
    const instanceId = h['x-instance-id']
    const tenantId = h['x-tenant-id']
    const signature = h['x-instance-id-signature']
    const forwardedFor = header(h['x-forwarded-for'])
    if (instanceId === undefined || signature === undefined || tenantId === undefined) {
      log.warn(
        { from: forwardedFor, router: header(h['x-neutron-router-id']), path: req.raw.url },
        'metadata request without a complete instance identity',
      )
    }
    if (instanceId === undefined) throw new Invalid('X-Instance-ID header is missing from request.')
    if (signature === undefined) throw new Invalid('X-Instance-ID-Signature header is missing from request.')
    if (tenantId === undefined) throw new Invalid('X-Tenant-ID header is missing from request.')
    if (Array.isArray(instanceId)) throw new Invalid('Multiple X-Instance-ID headers found within request.')
    if (Array.isArray(tenantId)) throw new Invalid('Multiple X-Tenant-ID headers found within request.')
    if (!validSignature(this.#config.metadata.metadataProxySharedSecret, instanceId, header(signature))) {
      log.warn(
        { instance: instanceId, from: forwardedFor },
        'X-Instance-ID-Signature does not match the expected signature',
      )
      throw new Forbidden(INVALID_SIGNATURE_MESSAGE)
    }
    const source = await sourceByInstanceId(this.#db, instanceId, forwardedFor)
    if (!source) {
      log.warn({ instance: instanceId }, 'no metadata for instance')
      return undefined
    }
    if (source.projectId !== tenantId) {
      log.warn({ instance: instanceId, tenant: tenantId }, 'tenant does not match the instance')
      return undefined
    }
    return new InstanceMetadata(source, this.#vendor)
  }

  async #byAddress(req: ApiRequest): Promise<InstanceMetadata | undefined> {
    const h = req.headers
    const routerId = header(h['x-neutron-router-id'])
    const networkId = header(h['x-neutron-network-id'])
    const proxied = !!(routerId || networkId)
    const address = proxied
      ? (header(h['x-forwarded-for'])?.split(',')[0]?.trim() ?? '')
      : (req.raw.socket.remoteAddress ?? '').replace(/^::ffff:/, '')
    if (!address) return undefined
    const found = await instanceIdByAddress(this.#db, address, { routerId, networkId })
    if (!found) {
      log.warn({ address, router: routerId, network: networkId }, 'no instance has this address')
      return undefined
    }
    const source = await sourceByInstanceId(this.#db, found.instanceId, address)
    if (!source) return undefined
    // The port's device id is only a claim by the port's owner: it must be the instance's project.
    if (source.projectId !== found.projectId) {
      log.warn({ instance: found.instanceId, address }, 'the port holding the address is not the instance\'s')
      return undefined
    }
    return new InstanceMetadata(source, this.#vendor)
  }
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v
}

function text(req: ApiRequest, body: string | Buffer, contentType: string): unknown {
  return respond(200, req.raw.method === 'HEAD' ? undefined : body, {
    'content-type': contentType === 'application/json' ? contentType : `${contentType}; charset=UTF-8`,
  })
}

function readVendorData(path: string): Record<string, unknown> {
  if (!path) return {}
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'))
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      return parsed as Record<string, unknown>
    log.warn({ path }, 'vendor data is not a JSON object; serving {}')
  } catch (err) {
    log.warn({ path, err: (err as Error).message }, 'vendor data file unreadable; serving {}')
  }
  return {}
}
