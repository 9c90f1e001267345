import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { AddressInfo } from 'node:net'
import { anonymousContext, newRequestId, runWithContext, type RequestContext } from '../common/context.ts'
import { MethodNotAllowed, NotFound, type NimbusError } from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import { logger } from '../common/log.ts'
import { classify, renderFault, type FaultStyle } from './faults.ts'
import { parseJsonBody } from './json-body.ts'
import { compileValidator, validationError, type Part } from './validation.ts'

/**
 * The HTTP side of every API service. Routes are declared as data (method,
 * path, policy rule, schemas, handler); handlers are thin and get a request
 * context. This module gives every API the same behaviour at the edge:
 * request ids, body limits, schema validation, one error renderer, 404/405
 * in the API's style, a health endpoint, and graceful shutdown.
 */
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

export interface ApiRequest<B = unknown, Q = Record<string, unknown>, P = Record<string, string>> {
  readonly ctx: RequestContext
  readonly params: P
  readonly query: Q
  readonly body: B
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  /** The base URL the client used (scheme://host:port), for links in bodies. */
  readonly baseUrl: string
  readonly raw: FastifyRequest
  readonly reply: FastifyReply
}

/** What a handler may return instead of a bare body. */
export interface ApiResponse {
  readonly status?: number
  readonly body?: unknown
  readonly headers?: Readonly<Record<string, string>>
}

export function respond(status: number, body?: unknown, headers?: Record<string, string>): ApiResponse {
  return { status, body, headers: headers ?? {}, [RESPONSE]: true } as ApiResponse
}

const RESPONSE = Symbol('ApiResponse')

function isResponse(v: unknown): v is ApiResponse {
  return typeof v === 'object' && v !== null && RESPONSE in v
}

export interface Route {
  readonly method: HttpMethod | readonly HttpMethod[]
  /** Fastify path syntax: `/v3/users/:user_id`. */
  readonly path: string
  /** False for routes anyone may call (version documents, token issue). Default true. */
  readonly auth?: boolean
  /** Policy rule checked before the handler, e.g. `identity:list_users`. */
  readonly policy?: string
  readonly schema?: Partial<Record<Part, object>>
  /** Status of a successful answer when the handler returns a bare body. Default 200. */
  readonly status?: number
  readonly handler: (req: ApiRequest<any, any, any>) => Promise<unknown> | unknown
}

export interface ApiServerOptions {
  /** Service name, for logs (`identity`, `compute-api`, ...). */
  readonly name: string
  readonly style: FaultStyle
  readonly routes: readonly Route[]
  /** Turns a request into an authenticated context; throws Unauthorized. */
  readonly authenticate?: (req: FastifyRequest, requestId: string) => Promise<RequestContext>
  /** Checks a policy rule for a context; throws Forbidden. */
  readonly enforce?: (ctx: RequestContext, rule: string, req: ApiRequest) => Promise<void> | void
  /** Extra Fastify set-up (content-type parsers, hooks) done before routes are added. */
  readonly configure?: (app: FastifyInstance) => void
  readonly bodyLimitBytes?: number
}

export const REQUEST_ID_HEADER = 'x-openstack-request-id'
const COMPUTE_REQUEST_ID_HEADER = 'x-compute-request-id'
const REQUEST_ID_PATTERN = /^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
export const HEALTH_PATH = '/healthcheck'

declare module 'fastify' {
  interface FastifyRequest {
    nimbusCtx: RequestContext
  }
}

export class ApiServer {
  readonly name: string
  readonly app: FastifyInstance
  readonly #opts: ApiServerOptions
  readonly #log
  readonly #routePatterns: { methods: readonly string[]; regex: RegExp }[] = []
  #closing = false

  constructor(opts: ApiServerOptions) {
    this.name = opts.name
    this.#opts = opts
    this.#log = logger(`api.${opts.name}`)
    this.app = Fastify({
      logger: false,
      bodyLimit: opts.bodyLimitBytes ?? limits.maxRequestBodyBytes,
      requestTimeout: limits.httpRequestTimeoutMs,
      genReqId: () => newRequestId(),
      // Keep-alive clients must not hold shutdown open; in-flight requests still finish.
      forceCloseConnections: 'idle',
      return503OnClosing: true,
      routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true },
    })
    this.#setUpEdge()
    opts.configure?.(this.app)
    for (const route of opts.routes) this.#addRoute(route)
  }

  #setUpEdge(): void {
    const app = this.app
    app.removeContentTypeParser('application/json')
    // Some clients send Content-Type: application/json on bodiless requests.
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => {
      if (text === '' || text === undefined) return done(null, undefined)
      try {
        done(null, parseJsonBody(text as string))
      } catch (err) {
        done(err as Error, undefined)
      }
    })
    app.setValidatorCompiler(({ schema, httpPart }) => {
      const validate = compileValidator((httpPart ?? 'body') as Part, schema)
      return (data: unknown) =>
        validate(data) ? { value: data } : { error: validationError(validate.errors, data) }
    })
    app.setSchemaErrorFormatter((errors) => errors[0] as unknown as Error)
    app.addHook('onRequest', async (req, reply) => {
      const given = req.headers[REQUEST_ID_HEADER]
      const globalRequestId = typeof given === 'string' && REQUEST_ID_PATTERN.test(given) ? given : undefined
      req.nimbusCtx = { ...anonymousContext(req.id), globalRequestId }
      reply.header(REQUEST_ID_HEADER, req.id)
      if (this.#opts.style === 'nova') reply.header(COMPUTE_REQUEST_ID_HEADER, req.id)
    })
    // Nova's API logs each request at INFO; here the changing ones (polling GETs would drown
    // them), with who and which microversion, so `nimbus explain` can show how an action came in.
    app.addHook('onResponse', async (req, reply) => {
      if (req.method === 'GET' || req.method === 'HEAD' || req.url === HEALTH_PATH) return
      const ctx = req.nimbusCtx
      const version = req.headers['openstack-api-version'] ?? req.headers['x-openstack-nova-api-version']
      this.#log.info(
        {
          request_id: req.id,
          user_id: ctx?.userId,
          project_id: ctx?.projectId,
          method: req.method,
          path: req.url.split('?')[0],
          status: reply.statusCode,
          ...(version ? { microversion: String(version) } : {}),
          elapsed_ms: Math.round(reply.elapsedTime),
        },
        'request handled',
      )
    })
    app.setErrorHandler((err, req, reply) => this.#sendError(err, req, reply))
    app.setNotFoundHandler((req, reply) => {
      const path = req.url.split('?')[0] ?? '/'
      const allowed = this.#routePatterns.filter((r) => r.regex.test(path)).flatMap((r) => r.methods)
      const err =
        allowed.length > 0
          ? new MethodNotAllowed(`The method ${req.method} is not allowed for ${path}.`)
          : new NotFound('The resource could not be found.')
      if (allowed.length > 0) reply.header('allow', [...new Set(allowed)].join(', '))
      this.#sendError(err, req, reply)
    })
    app.get(HEALTH_PATH, async (_req, reply) => {
      reply.type('text/plain')
      if (this.#closing) return reply.code(503).send('DRAINING')
      return 'OK'
    })
  }

  #addRoute(route: Route): void {
    const methods = Array.isArray(route.method) ? route.method : [route.method as HttpMethod]
    this.#routePatterns.push({ methods, regex: pathRegex(route.path) })
    this.app.route({
      method: methods as HttpMethod[],
      url: route.path,
      schema: route.schema ?? {},
      handler: async (req, reply) => {
        let ctx = req.nimbusCtx
        if (route.auth !== false && this.#opts.authenticate) {
          ctx = await this.#opts.authenticate(req, req.id)
          req.nimbusCtx = ctx
        }
        const apiReq: ApiRequest = {
          ctx,
          params: req.params as Record<string, string>,
          query: (req.query ?? {}) as Record<string, unknown>,
          body: req.body,
          headers: req.headers,
          baseUrl: baseUrl(req),
          raw: req,
          reply,
        }
        return runWithContext(ctx, async () => {
          if (route.policy && this.#opts.enforce) await this.#opts.enforce(ctx, route.policy, apiReq)
          const result = await route.handler(apiReq)
          return this.#sendResult(route, result, reply)
        })
      },
    })
  }

  #sendResult(route: Route, result: unknown, reply: FastifyReply): unknown {
    if (reply.sent) return reply
    if (isResponse(result)) {
      reply.code(result.status ?? route.status ?? 200)
      for (const [k, v] of Object.entries(result.headers ?? {})) reply.header(k, v)
      if (result.body === undefined) return reply.send()
      return reply.send(result.body)
    }
    reply.code(route.status ?? 200)
    if (result === undefined) return reply.send()
    return reply.send(result)
  }

  #sendError(err: unknown, req: FastifyRequest, reply: FastifyReply): void {
    const known: NimbusError | undefined = classify(err)
    if (!known) {
      runWithContext(req.nimbusCtx ?? anonymousContext(req.id), () =>
        this.#log.error({ err, method: req.method, url: req.url }, 'unexpected error'),
      )
    } else if (known.status >= 500) {
      this.#log.warn({ request_id: req.id, err: known.message, status: known.status }, 'request failed')
    }
    const fault = renderFault(this.#opts.style, known)
    reply.code(fault.status).header('content-type', fault.contentType)
    for (const [k, v] of Object.entries(fault.headers)) reply.header(k, v)
    if (fault.status === 401 && this.#opts.style === 'keystone') {
      reply.header('www-authenticate', `Keystone uri="${baseUrl(req)}"`)
    }
    reply.send(req.method === 'HEAD' ? undefined : fault.body)
  }

  /** The routes this server declares (method and path), e.g. for tests that walk every route. */
  get routes(): readonly { readonly methods: readonly HttpMethod[]; readonly path: string }[] {
    return this.#opts.routes.map((r) => ({
      methods: Array.isArray(r.method) ? (r.method as HttpMethod[]) : [r.method as HttpMethod],
      path: r.path,
    }))
  }

  /** Listens; port 0 picks a free port. Returns the bound port. */
  async listen(host: string, port: number): Promise<number> {
    await this.app.listen({ host, port })
    return (this.app.server.address() as AddressInfo).port
  }

  /** Stops accepting connections and waits for in-flight requests to finish. */
  async close(): Promise<void> {
    this.#closing = true
    await this.app.close()
  }
}

function baseUrl(req: FastifyRequest): string {
  const forwardedProto = req.headers['x-forwarded-proto']
  const proto = typeof forwardedProto === 'string' ? forwardedProto : req.protocol
  return `${proto}://${req.host}`
}

/** A regex matching the concrete paths of a Fastify route pattern (for 405 detection). */
function pathRegex(pattern: string): RegExp {
  const body = pattern
    .split('/')
    .map((seg) =>
      seg.startsWith(':') ? '[^/]+' : seg === '*' ? '.*' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('/')
  return new RegExp(`^${body}/?$`)
}
