import { startTestCloud, type TestCloud, type TestCloudOptions } from '../harness.ts'

/**
 * Functional-test helpers for the image API: a cloud with identity and
 * image, Keystone tokens for the bootstrap admin and for extra projects
 * (each with a user holding `member` and `reader`), and a small client.
 */

export const ADMIN_PASSWORD = 'test-admin-password'
const DEFAULT_DOMAIN = 'default'
/** Bound on one request in these tests (uploads of a few MiB included). */
export const REQUEST_TIMEOUT_MS = 30_000

export interface Session {
  readonly token: string
  readonly projectId: string
  readonly userId: string
}

export interface ImageCloud {
  readonly tc: TestCloud
  readonly imageUrl: string
  readonly identityUrl: string
  readonly admin: Session
  /** A new project with its own member user, logged in. */
  newProject(name: string): Promise<Session>
  client(session: Session): ImageClient
  stop(): Promise<void>
}

export async function startImageCloud(opts: TestCloudOptions = {}): Promise<ImageCloud> {
  const tc = await startTestCloud({ services: ['identity', 'image'], ...opts })
  try {
    const identityUrl = tc.url('identity')
    const admin = await login(identityUrl, 'admin', ADMIN_PASSWORD, 'admin')
    return {
      tc,
      imageUrl: tc.url('image'),
      identityUrl,
      admin,
      newProject: (name) => newProject(identityUrl, admin, name),
      client: (session) => new ImageClient(tc.url('image'), session.token),
      stop: () => tc.stop(),
    }
  } catch (err) {
    await tc.stop()
    throw err
  }
}

/** POST /v3/auth/tokens with a password, scoped to a project of the default domain. */
export async function login(
  identityUrl: string,
  user: string,
  password: string,
  project: string,
): Promise<Session> {
  const res = await fetch(`${identityUrl}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: user, password, domain: { name: 'Default' } } },
        },
        scope: { project: { name: project, domain: { name: 'Default' } } },
      },
    }),
  })
  const body = (await res.json()) as { token?: { project: { id: string }; user: { id: string } } }
  if (res.status !== 201 || !body.token)
    throw new Error(`login as ${user} failed: ${res.status} ${JSON.stringify(body)}`)
  return {
    token: res.headers.get('x-subject-token')!,
    projectId: body.token.project.id,
    userId: body.token.user.id,
  }
}

async function newProject(identityUrl: string, admin: Session, name: string): Promise<Session> {
  const call = async (method: string, path: string, body?: unknown): Promise<Record<string, any>> => {
    const res = await fetch(`${identityUrl}${path}`, {
      method,
      headers: { 'x-auth-token': admin.token, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    })
    const text = await res.text()
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`)
    return text ? (JSON.parse(text) as Record<string, any>) : {}
  }
  const password = `${name}-password`
  const project = (await call('POST', '/v3/projects', { project: { name, domain_id: DEFAULT_DOMAIN } }))
    .project
  const user = (await call('POST', '/v3/users', { user: { name, password, domain_id: DEFAULT_DOMAIN } })).user
  const roles = (await call('GET', '/v3/roles?name=member')).roles as { id: string }[]
  await call('PUT', `/v3/projects/${project.id}/users/${user.id}/roles/${roles[0]!.id}`)
  return login(identityUrl, name, password, name)
}

export interface Reply {
  readonly status: number
  readonly headers: Headers
  /** Parsed JSON when the answer is JSON, else the text. */
  readonly body: any
  readonly text: string
}

/** Glance requests with a token; answers are read whole (tests of streaming read the Response themselves). */
export class ImageClient {
  constructor(
    readonly url: string,
    readonly token: string,
  ) {}

  async raw(method: string, path: string, init: { body?: BodyInit; headers?: Record<string, string> } = {}) {
    return fetch(`${this.url}${path}`, {
      method,
      headers: { 'x-auth-token': this.token, ...init.headers },
      body: init.body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      ...(init.body instanceof ReadableStream ? { duplex: 'half' } : {}),
    } as RequestInit)
  }

  async request(
    method: string,
    path: string,
    opts: { json?: unknown; body?: BodyInit; headers?: Record<string, string> } = {},
  ): Promise<Reply> {
    const headers = {
      ...(opts.json !== undefined ? { 'content-type': 'application/json' } : {}),
      ...opts.headers,
    }
    const body = opts.json !== undefined ? JSON.stringify(opts.json) : opts.body
    const res = await this.raw(method, path, { body, headers })
    const text = await res.text()
    const isJson = (res.headers.get('content-type') ?? '').includes('json') && text !== ''
    return { status: res.status, headers: res.headers, body: isJson ? JSON.parse(text) : text, text }
  }

  get(path: string) {
    return this.request('GET', path)
  }

  /** POST /v2/images; throws unless 201. */
  async create(fields: Record<string, unknown> = {}): Promise<Record<string, any>> {
    const r = await this.request('POST', '/v2/images', {
      json: { disk_format: 'raw', container_format: 'bare', ...fields },
    })
    if (r.status !== 201) throw new Error(`create image: ${r.status} ${r.text}`)
    return r.body
  }

  patch(id: string, ops: unknown[], mediaType = 'application/openstack-images-v2.1-json-patch') {
    return this.request('PATCH', `/v2/images/${id}`, {
      body: JSON.stringify(ops),
      headers: { 'content-type': mediaType },
    })
  }

  upload(id: string, data: BodyInit, headers: Record<string, string> = {}) {
    return this.request('PUT', `/v2/images/${id}/file`, {
      body: data,
      headers: { 'content-type': 'application/octet-stream', ...headers },
    })
  }
}
