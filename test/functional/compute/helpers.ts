import { setTimeout as sleep } from 'node:timers/promises'
import type { ComputeService } from '../../../src/compute/service.ts'
import type { ConductorService } from '../../../src/conductor/service.ts'
import { createScratchDatabase } from '../../unit/db/backends.ts'
import { startTestCloud, TEST_ADMIN_PASSWORD, type TestCloud } from '../harness.ts'

/**
 * A compute test cloud and small HTTP helpers: tokens for the admin and for
 * member users of fresh projects, an active image, and JSON requests to the
 * compute API at a chosen microversion.
 */

export interface HttpResult<T = any> {
  readonly status: number
  readonly body: T
  readonly headers: Headers
}

/** Longest a test waits for a server to leave a state. */
export const WAIT_TIMEOUT_MS = 10_000
const POLL_INTERVAL_MS = 10

export class Caller {
  readonly token: string
  readonly projectId: string
  readonly userId: string
  readonly #base: string

  constructor(base: string, token: string, projectId: string, userId: string) {
    this.#base = base
    this.token = token
    this.projectId = projectId
    this.userId = userId
  }

  /** A request to the compute API (`/v2.1` + path) at microversion `mv` (none: the default). */
  async nova<T = any>(method: string, path: string, body?: unknown, mv?: string): Promise<HttpResult<T>> {
    const headers: Record<string, string> = { 'x-auth-token': this.token }
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (mv !== undefined) headers['openstack-api-version'] = `compute ${mv}`
    const res = await fetch(`${this.#base}/v2.1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    let parsed: unknown = text
    try {
      parsed = text ? JSON.parse(text) : undefined
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed as T, headers: res.headers }
  }

  /** Creates a server and returns its id (fails the test on anything but 202). */
  async createServer(server: Record<string, unknown>, mv = '2.37'): Promise<string> {
    const res = await this.nova('POST', '/servers', { server: { networks: 'none', ...server } }, mv)
    if (res.status !== 202) throw new Error(`create failed: ${res.status} ${JSON.stringify(res.body)}`)
    return res.body.server.id as string
  }

  /** Waits until the server's status is not one of `from` and returns the server (detailed view). */
  async waitStatus(id: string, from: readonly string[] = ['BUILD'], mv = '2.1'): Promise<any> {
    const deadline = Date.now() + WAIT_TIMEOUT_MS
    for (;;) {
      const res = await this.nova('GET', `/servers/${id}`, undefined, mv)
      if (res.status !== 200) throw new Error(`show ${id}: ${res.status} ${JSON.stringify(res.body)}`)
      if (!from.includes(res.body.server.status)) return res.body.server
      if (Date.now() > deadline) throw new Error(`server ${id} still ${res.body.server.status}`)
      await sleep(POLL_INTERVAL_MS)
    }
  }

  /** Deletes a server and waits until it is gone (404). */
  async deleteServer(id: string): Promise<void> {
    const res = await this.nova('DELETE', `/servers/${id}`)
    if (res.status !== 204 && res.status !== 404) throw new Error(`delete ${id}: ${res.status}`)
    const deadline = Date.now() + WAIT_TIMEOUT_MS
    while ((await this.nova('GET', `/servers/${id}`)).status !== 404) {
      if (Date.now() > deadline) throw new Error(`server ${id} not deleted`)
      await sleep(POLL_INTERVAL_MS)
    }
  }
}

export interface ComputeCloud {
  readonly tc: TestCloud
  readonly admin: Caller
  /** An active public image (1 KiB). */
  readonly imageId: string
  /** A member of a new project. */
  newMember(): Promise<Caller>
  compute(): ComputeService
  conductor(): ConductorService
  stop(): Promise<void>
}

async function token(
  identity: string,
  user: string,
  password: string,
  project: string,
): Promise<{ token: string; projectId: string; userId: string }> {
  const res = await fetch(`${identity}/v3/auth/tokens`, {
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
  if (res.status !== 201) throw new Error(`token for ${user}: ${res.status} ${await res.text()}`)
  const body = (await res.json()) as { token: { project: { id: string }; user: { id: string } } }
  return {
    token: res.headers.get('x-subject-token')!,
    projectId: body.token.project.id,
    userId: body.token.user.id,
  }
}

async function keystone(identity: string, adminToken: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${identity}/v3${path}`, {
    method,
    headers: { 'x-auth-token': adminToken, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
  return res.status === 204 ? undefined : ((await res.json()) as any)
}

let memberCount = 0

/**
 * Starts a whole cloud with `hosts` fake compute hosts and `config`
 * overrides. With NIMBUS_TEST_COMPUTE_DB=postgres the cloud runs on a
 * scratch PostgreSQL database (dropped at stop) instead of SQLite.
 */
export async function startComputeCloud(
  opts: { hosts?: number; config?: Readonly<Record<string, string>> } = {},
): Promise<ComputeCloud> {
  const scratch =
    process.env.NIMBUS_TEST_COMPUTE_DB === 'postgres' ? await createScratchDatabase('postgres') : undefined
  let tc: TestCloud
  try {
    tc = await startTestCloud({
      config: {
        'compute.fake_hosts': String(opts.hosts ?? 1),
        ...(scratch ? { 'database.connection': scratch.url } : {}),
        ...opts.config,
      },
    })
  } catch (err) {
    await scratch?.drop()
    throw err
  }
  const stop = async () => {
    try {
      await tc.stop()
    } finally {
      await scratch?.drop()
    }
  }
  try {
    const identity = tc.url('identity')
    const a = await token(identity, 'admin', TEST_ADMIN_PASSWORD, 'admin')
    const admin = new Caller(tc.url('compute'), a.token, a.projectId, a.userId)
    const imageId = await createImage(tc.url('image'), a.token)
    return {
      tc,
      admin,
      imageId,
      async newMember() {
        const n = ++memberCount
        const name = `member${n}-${Date.now()}`
        const project = await keystone(identity, a.token, 'POST', '/projects', {
          project: { name, domain_id: 'default' },
        })
        const user = await keystone(identity, a.token, 'POST', '/users', {
          user: {
            name,
            password: 'member-password',
            domain_id: 'default',
            default_project_id: project.project.id,
          },
        })
        const roles = await keystone(identity, a.token, 'GET', '/roles?name=member')
        await keystone(
          identity,
          a.token,
          'PUT',
          `/projects/${project.project.id}/users/${user.user.id}/roles/${roles.roles[0].id}`,
        )
        const m = await token(identity, name, 'member-password', name)
        return new Caller(tc.url('compute'), m.token, m.projectId, m.userId)
      },
      compute: () => tc.cloud.service<ComputeService>('compute'),
      conductor: () => tc.cloud.service<ConductorService>('conductor'),
      stop,
    }
  } catch (err) {
    await stop()
    throw err
  }
}

/** Uploads a small public raw image and returns its id. */
export async function createImage(
  glance: string,
  adminToken: string,
  fields: Record<string, unknown> = {},
): Promise<string> {
  const headers = { 'x-auth-token': adminToken, 'content-type': 'application/json' }
  const res = await fetch(`${glance}/v2/images`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      name: 'test-image',
      disk_format: 'raw',
      container_format: 'bare',
      visibility: 'public',
      ...fields,
    }),
  })
  if (res.status !== 201) throw new Error(`image create: ${res.status} ${await res.text()}`)
  const image = (await res.json()) as { id: string }
  const up = await fetch(`${glance}/v2/images/${image.id}/file`, {
    method: 'PUT',
    headers: { 'x-auth-token': adminToken, 'content-type': 'application/octet-stream' },
    body: new Uint8Array(1024),
  })
  if (up.status !== 204) throw new Error(`image upload: ${up.status} ${await up.text()}`)
  return image.id
}

/** Polls `check` until it returns a value other than undefined. */
export async function eventually<T>(check: () => Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + WAIT_TIMEOUT_MS
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(POLL_INTERVAL_MS)
  }
}

/** A network with one IPv4 subnet (documentation range) in the caller's project; returns the ids. */
export async function createNetwork(
  cloud: ComputeCloud,
  caller: Caller,
  name: string,
  cidr = '192.0.2.0/24',
  extra: Record<string, unknown> = {},
): Promise<{ networkId: string; subnetId: string }> {
  const neutron = async (path: string, body: unknown) => {
    const res = await fetch(`${cloud.tc.url('network')}/v2.0${path}`, {
      method: 'POST',
      headers: { 'x-auth-token': caller.token, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`)
    return (await res.json()) as any
  }
  const net = await neutron('/networks', { network: { name, ...extra } })
  const subnet = await neutron('/subnets', {
    subnet: { network_id: net.network.id, cidr, ip_version: 4, name: `${name}-subnet` },
  })
  return { networkId: net.network.id, subnetId: subnet.subnet.id }
}

/** Neutron ports bound to an instance (device_id), straight from the database. */
export async function portsOf(cloud: ComputeCloud, uuid: string): Promise<number> {
  const rows = await cloud.tc.cloud.db.kysely
    .selectFrom('ports')
    .select('id')
    .where('device_id', '=', uuid)
    .execute()
  return rows.length
}
