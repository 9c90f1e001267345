import assert from 'node:assert/strict'
import type { TestCloud } from '../harness.ts'

/**
 * A small Neutron client for the functional tests. With the identity
 * service issuing tokens it logs in as the admin; without one the network
 * service runs like Neutron's `noauth` and the caller is chosen with
 * `X-Project-Id`/`X-Roles` (`as()`), which is how the owner/admin policy
 * tests play two projects.
 */
export interface Reply {
  readonly status: number
  readonly body: any
}

const ADMIN_PASSWORD = 'test-admin-password'

export class Neutron {
  readonly base: string
  readonly token: string | undefined
  readonly #headers: Record<string, string>

  constructor(base: string, token: string | undefined, headers: Record<string, string> = {}) {
    this.base = base
    this.token = token
    this.#headers = headers
  }

  static async connect(tc: TestCloud): Promise<Neutron> {
    const base = tc.url('network')
    return new Neutron(base, await adminToken(tc))
  }

  /** True when callers can be chosen by header (no identity service in front). */
  get noauth(): boolean {
    return this.token === undefined
  }

  /** A client acting as another project (noauth mode only). */
  as(projectId: string, roles = 'member'): Neutron {
    return new Neutron(this.base, undefined, { 'x-project-id': projectId, 'x-roles': roles })
  }

  /**
   * A member of a new project: with Keystone, a project, a user with the
   * `member` role on it and a token for it; without, the noauth headers.
   */
  async member(tc: TestCloud, name: string): Promise<Neutron> {
    if (this.noauth) return this.as(name)
    const identity = tc.url('identity')
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${identity}${path}`, {
        method,
        headers: { 'x-auth-token': this.token!, 'content-type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      })
      const text = await res.text()
      assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`)
      return text ? JSON.parse(text) : undefined
    }
    const password = `pw-${name}-secret`
    const { project } = await call('POST', '/v3/projects', { project: { name, domain_id: 'default' } })
    const { user } = await call('POST', '/v3/users', { user: { name, password, domain_id: 'default' } })
    const { roles } = await call('GET', '/v3/roles?name=member')
    await call('PUT', `/v3/projects/${project.id}/users/${user.id}/roles/${roles[0].id}`)
    const token = await login(tc, name, password, name)
    return new Neutron(this.base, token)
  }

  async req(method: string, path: string, body?: unknown): Promise<Reply> {
    const headers: Record<string, string> = { ...this.#headers, accept: 'application/json' }
    if (this.token) headers['x-auth-token'] = this.token
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : undefined }
  }

  /** A request that must answer `status`; returns the body. */
  async ok(method: string, path: string, body: unknown, status: number): Promise<any> {
    const r = await this.req(method, path, body)
    assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`)
    return r.body
  }

  /** A request that must fail with `status` and Neutron error `type`. */
  async fails(method: string, path: string, body: unknown, status: number, type: string): Promise<string> {
    const r = await this.req(method, path, body)
    assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`)
    assert.equal(r.body?.NeutronError?.type, type, JSON.stringify(r.body))
    assert.equal(r.body.NeutronError.detail, '')
    return r.body.NeutronError.message as string
  }

  create(collection: string, key: string, attrs: Record<string, unknown>): Promise<any> {
    return this.ok('POST', `/v2.0/${collection}`, { [key]: attrs }, 201).then((b) => b[key])
  }
}

async function adminToken(tc: TestCloud): Promise<string | undefined> {
  try {
    tc.url('identity')
  } catch {
    return undefined
  }
  return login(tc, 'admin', ADMIN_PASSWORD, 'admin')
}

async function login(
  tc: TestCloud,
  user: string,
  password: string,
  project: string,
): Promise<string | undefined> {
  const res = await fetch(`${tc.url('identity')}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
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
  await res.text()
  return res.status === 201 ? (res.headers.get('x-subject-token') ?? undefined) : undefined
}
