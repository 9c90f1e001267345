import assert from 'node:assert/strict'
import { TEST_ADMIN_PASSWORD, type TestCloud } from '../harness.ts'

/**
 * A small Keystone client for the identity functional tests: raw requests
 * (status, headers and parsed body) plus the few calls every test needs.
 */
export interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly body: any
}

export interface Login {
  readonly token: string
  readonly body: any
}

interface Named {
  readonly id?: string
  readonly name?: string
}

export type Scope =
  | { project: Named & { domain?: Named } }
  | { domain: Named }
  | { system: { all: true } }
  | 'unscoped'
  | undefined

export class Keystone {
  readonly base: string
  readonly tc: TestCloud
  #adminToken: string | undefined

  constructor(tc: TestCloud) {
    this.tc = tc
    this.base = tc.url('identity')
  }

  /** Any request; `token` goes in X-Auth-Token, a string body is sent as is (for malformed JSON). */
  async req(
    method: string,
    path: string,
    opts: { token?: string | undefined; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<Reply> {
    const headers: Record<string, string> = { accept: 'application/json', ...(opts.headers ?? {}) }
    if (opts.token) headers['x-auth-token'] = opts.token
    if (opts.body !== undefined) headers['content-type'] = 'application/json'
    const res = await fetch(`${path.startsWith('http') ? '' : this.base}${path}`, {
      method,
      headers,
      ...(opts.body !== undefined
        ? { body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) }
        : {}),
    })
    const text = await res.text()
    let body: unknown
    try {
      body = text ? JSON.parse(text) : undefined
    } catch {
      body = text
    }
    return { status: res.status, headers: res.headers, body }
  }

  /** A request as admin that must answer `status`. */
  async ok(method: string, path: string, body?: unknown, status = 200, token?: string): Promise<any> {
    const r = await this.req(method, path, { token: token ?? (await this.admin()), body })
    assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`)
    return r.body
  }

  /** Password login by user name in the Default domain. */
  async login(name: string, password: string, scope?: Scope): Promise<Login> {
    const r = await this.req('POST', '/v3/auth/tokens', {
      body: passwordAuth({ name, password, domain: { id: 'default' } }, scope),
    })
    assert.equal(r.status, 201, `login ${name}: ${JSON.stringify(r.body)}`)
    const token = r.headers.get('x-subject-token')
    assert.ok(token)
    return { token, body: r.body }
  }

  /** The bootstrap admin's project-scoped token (cached). */
  async admin(): Promise<string> {
    this.#adminToken ??= (await this.login('admin', TEST_ADMIN_PASSWORD, projectScope('admin'))).token
    return this.#adminToken
  }

  async roleId(name: string): Promise<string> {
    const body = await this.ok('GET', `/v3/roles?name=${name}`)
    assert.equal(body.roles.length, 1)
    return body.roles[0].id
  }

  async createProject(name: string, extra: Record<string, unknown> = {}): Promise<any> {
    return (await this.ok('POST', '/v3/projects', { project: { name, domain_id: 'default', ...extra } }, 201))
      .project
  }

  async createUser(name: string, password: string, extra: Record<string, unknown> = {}): Promise<any> {
    return (
      await this.ok('POST', '/v3/users', { user: { name, password, domain_id: 'default', ...extra } }, 201)
    ).user
  }

  async grant(projectId: string, userId: string, role: string): Promise<void> {
    await this.ok(
      'PUT',
      `/v3/projects/${projectId}/users/${userId}/roles/${await this.roleId(role)}`,
      undefined,
      204,
    )
  }

  /** A user with `role` on a new project, logged in on it. */
  async userWithRole(name: string, role: string): Promise<{ user: any; project: any; token: string }> {
    const project = await this.createProject(`${name}-project`)
    const user = await this.createUser(name, `${name}-password`)
    await this.grant(project.id, user.id, role)
    const { token } = await this.login(name, `${name}-password`, { project: { id: project.id } })
    return { user, project, token }
  }
}

export function projectScope(name: string): Scope {
  return { project: { name, domain: { id: 'default' } } }
}

export function passwordAuth(user: Record<string, unknown>, scope?: Scope): unknown {
  return {
    auth: {
      identity: { methods: ['password'], password: { user } },
      ...(scope !== undefined ? { scope } : {}),
    },
  }
}

/** Asserts a Keystone error body: `{"error": {"code", "message", "title"}}`. */
export function assertError(r: Reply, status: number, message?: string | RegExp): void {
  assert.equal(r.status, status, JSON.stringify(r.body))
  assert.equal(r.body?.error?.code, status, JSON.stringify(r.body))
  assert.equal(typeof r.body.error.title, 'string')
  if (typeof message === 'string') assert.equal(r.body.error.message, message)
  else if (message) assert.match(r.body.error.message, message)
}
