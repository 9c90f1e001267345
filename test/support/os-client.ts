/**
 * A small OpenStack REST client for tests, benchmarks and the Tempest runner:
 * password auth against Keystone v3, the catalog, and JSON requests with the
 * token. Talks HTTP only, so it works against Nimbus or any OpenStack.
 */
export interface PasswordAuth {
  readonly authUrl: string
  readonly username: string
  readonly password: string
  readonly projectName: string
  readonly userDomainName?: string
  readonly projectDomainName?: string
}

interface CatalogEntry {
  readonly type: string
  readonly endpoints: readonly {
    readonly interface: string
    readonly url: string
    readonly region?: string
  }[]
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    what: string,
  ) {
    super(`${what}: HTTP ${status}: ${body.slice(0, 500)}`)
  }
}

const REQUEST_TIMEOUT_MS = 30_000

export class OsClient {
  readonly token: string
  readonly #catalog: readonly CatalogEntry[]
  readonly headers: Record<string, string>

  private constructor(token: string, catalog: readonly CatalogEntry[], headers: Record<string, string>) {
    this.token = token
    this.#catalog = catalog
    this.headers = headers
  }

  static async login(auth: PasswordAuth, headers: Record<string, string> = {}): Promise<OsClient> {
    const url = `${auth.authUrl.replace(/\/+$/, '')}/auth/tokens`
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      body: JSON.stringify({
        auth: {
          identity: {
            methods: ['password'],
            password: {
              user: {
                name: auth.username,
                password: auth.password,
                domain: { name: auth.userDomainName ?? 'Default' },
              },
            },
          },
          scope: {
            project: { name: auth.projectName, domain: { name: auth.projectDomainName ?? 'Default' } },
          },
        },
      }),
    })
    const text = await res.text()
    if (res.status !== 201) throw new HttpError(res.status, text, `POST ${url}`)
    const token = res.headers.get('x-subject-token')
    if (!token) throw new Error('Keystone answered without X-Subject-Token')
    const body = JSON.parse(text) as { token: { catalog?: CatalogEntry[] } }
    return new OsClient(token, body.token.catalog ?? [], headers)
  }

  /** The public endpoint of a service type, without a trailing slash. */
  endpoint(type: string): string {
    const entry = this.#catalog.find((e) => e.type === type)
    const ep = entry?.endpoints.find((e) => e.interface === 'public')
    if (!ep) throw new Error(`no public ${type} endpoint in the catalog`)
    return ep.url.replace(/\/+$/, '')
  }

  /** Every endpoint URL of the catalog (all interfaces). */
  catalogUrls(): string[] {
    return this.#catalog.flatMap((e) => e.endpoints.map((ep) => ep.url))
  }

  /** A JSON request to `service` (catalog type) at `path`; resolves with the parsed body. */
  async request<T = any>(
    service: string,
    method: string,
    path: string,
    body?: unknown,
    opts: { expect?: readonly number[]; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; body: T; headers: Headers }> {
    const url = `${this.endpoint(service)}${path}`
    const res = await fetch(url, {
      method,
      headers: {
        'x-auth-token': this.token,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...this.headers,
        ...opts.headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    })
    const text = await res.text()
    if (opts.expect && !opts.expect.includes(res.status))
      throw new HttpError(res.status, text, `${method} ${url}`)
    const parsed = text && (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text
    return { status: res.status, body: parsed as T, headers: res.headers }
  }

  /** Uploads raw bytes (e.g. image data). */
  async upload(
    service: string,
    path: string,
    data: Uint8Array,
    expect: readonly number[] = [204],
  ): Promise<void> {
    const url = `${this.endpoint(service)}${path}`
    const res = await fetch(url, {
      method: 'PUT',
      headers: { 'x-auth-token': this.token, 'content-type': 'application/octet-stream' },
      body: new Blob([data as Uint8Array<ArrayBuffer>]),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    })
    const text = await res.text()
    if (!expect.includes(res.status)) throw new HttpError(res.status, text, `PUT ${url}`)
  }
}
