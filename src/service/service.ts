import type { Config } from '../common/config.ts'
import type { ApiServer } from './http.ts'

/**
 * A unit `nimbus serve` can run: an API server, an RPC server, or both.
 * Every service can run alone in its own process (distributed mode) or next
 * to all the others in one (embedded mode); only the runtime's transport and
 * database differ.
 */
export interface Service {
  readonly name: string
  /** Starts taking work; resolves when ready (listening, consuming). */
  start(): Promise<void>
  /** Stops taking work, lets in-flight work finish (bounded), releases what it holds. Idempotent. */
  stop(): Promise<void>
}

/** An endpoint a service exposes, for the catalog and for what `nimbus up` prints. */
export interface Endpoint {
  /** Catalog service type: `identity`, `compute`, `image`, `network`, ... */
  readonly type: string
  /** Catalog service name: `keystone`, `nova`, `glance`, `neutron`, ... */
  readonly catalogName: string
  readonly url: string
}

/** Settings that vary between `nimbus up`, `nimbus serve` and the test harness. */
export interface RuntimeOptions {
  /** Listen on port 0 (any free port) instead of the configured ones: for tests. */
  readonly ephemeralPorts?: boolean
}

/** An HTTP API service: an ApiServer on a configured port. */
export class HttpService implements Service {
  readonly name: string
  readonly server: ApiServer
  readonly #host: string
  readonly #port: number
  readonly #endpoint: Omit<Endpoint, 'url'> & { readonly path: string }
  readonly #publicHost: string
  #boundPort: number | undefined

  constructor(
    config: Config,
    server: ApiServer,
    port: number,
    endpoint: Omit<Endpoint, 'url'> & { readonly path: string },
    opts: RuntimeOptions = {},
  ) {
    this.name = server.name
    this.server = server
    this.#host = config.bindHost
    this.#publicHost = config.publicHost
    this.#port = opts.ephemeralPorts ? 0 : port
    this.#endpoint = endpoint
  }

  async start(): Promise<void> {
    this.#boundPort = await this.server.listen(this.#host, this.#port)
  }

  async stop(): Promise<void> {
    if (this.#boundPort === undefined) return
    this.#boundPort = undefined
    await this.server.close()
  }

  /** The bound port; only valid after start(). */
  get port(): number {
    if (this.#boundPort === undefined) throw new Error(`${this.name} is not listening`)
    return this.#boundPort
  }

  get endpoint(): Endpoint {
    return {
      type: this.#endpoint.type,
      catalogName: this.#endpoint.catalogName,
      url: `http://${this.#publicHost}:${this.port}${this.#endpoint.path}`,
    }
  }
}
