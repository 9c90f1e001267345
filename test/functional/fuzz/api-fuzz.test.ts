import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import { HttpService } from '../../../src/service/service.ts'
import { createNetwork, startComputeCloud, type Caller, type ComputeCloud } from '../compute/helpers.ts'

/**
 * Property-based fuzzing of every API route of a whole test cloud (issue 17):
 * random and adversarial bodies (wrong types, huge and unicode strings, deep
 * nesting, malformed JSON), query strings and headers, as a member (path
 * parameters filled with the member's real resources) and as admin (random
 * ids). Properties: no answer is a 5xx; a create refused with a 4xx leaves
 * no record behind; the cloud still answers at the end.
 *
 * The seed is fixed and the counts bounded so `npm test` stays reproducible
 * and under a minute; `npm run fuzz` runs longer (NIMBUS_FUZZ_SCALE,
 * NIMBUS_FUZZ_SEED).
 */

const SEED = Number(process.env.NIMBUS_FUZZ_SEED ?? 17)
/** Multiplies every count below (the long run of `npm run fuzz`). */
const SCALE = Number(process.env.NIMBUS_FUZZ_SCALE ?? 1)
/** Requests per route and caller in the walk over every route. */
const CASES_PER_ROUTE = 1 * SCALE
/** Mutations of each valid create body (with the no-partial-record check). */
const CASES_PER_CREATE = 8 * SCALE
/** Longest one fuzz request may take before it counts as the cloud not answering. */
const REQUEST_TIMEOUT_MS = 20_000
/** Whole-suite bound, generous for a loaded two-core machine. */
const SUITE_TIMEOUT_MS = 600_000 * SCALE

interface Finding {
  readonly what: string
  readonly status: number
  readonly answer: string
}

interface FuzzRequest {
  readonly method: string
  readonly url: string
  readonly headers: Record<string, string>
  readonly body?: string | undefined
}

// ---- values ----

/** Leaves that break assumptions: types, sizes, unicode, numbers at the edges. */
const adversarialLeaf: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '\u202e\u200b',
    '💥'.repeat(300),
    'x'.repeat(70_000),
    '../../etc/passwd',
    "'; drop table instances; --",
    '%s%n',
    '0',
    '-1',
    'true',
    'None',
    '192.0.2.0/33',
    '::/0',
    '0.0.0.0/0',
    'fe80::1%eth0',
    '00000000-0000-0000-0000-000000000000',
    2 ** 53,
    -(2 ** 31) - 1,
    2 ** 63,
    1e308,
    -0,
    [],
    {},
    [null],
    { '': null },
  ),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 5 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 4 }),
)

/** JSON nested near and past the edge's depth bound (100). */
const deepValue: fc.Arbitrary<unknown> = fc.integer({ min: 20, max: 150 }).map((depth) => {
  let v: unknown = 1
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v }
  return v
})

/**
 * Stands for JSON nested 5,000 deep (the issue's 500), spliced in as text by
 * `serialize`: JSON.stringify itself runs out of stack at that depth.
 */
const HOSTILE_DEPTH_MARKER = '\u0000deep\u0000'
const HOSTILE_DEPTH = 5_000
const HOSTILE_DEPTH_JSON = '['.repeat(HOSTILE_DEPTH) + ']'.repeat(HOSTILE_DEPTH)

function serialize(value: unknown): string {
  return (JSON.stringify(value) ?? 'null').replaceAll(
    JSON.stringify(HOSTILE_DEPTH_MARKER),
    HOSTILE_DEPTH_JSON,
  )
}

const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: adversarialLeaf },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 1, arbitrary: deepValue },
  { weight: 1, arbitrary: fc.constant(HOSTILE_DEPTH_MARKER) },
)

/** What a body is: JSON of some shape, or text that is not JSON at all. */
function bodyFor(resourceKey: string | undefined): fc.Arbitrary<string> {
  const keyed = resourceKey
    ? [
        fc
          .dictionary(fc.string({ maxLength: 12 }), anyValue, { maxKeys: 5 })
          .map((o) => ({ [resourceKey]: o })),
      ]
    : []
  return fc.oneof(
    ...[...keyed, anyValue, fc.jsonValue({ maxDepth: 3 })].map((a) => a.map(serialize)),
    fc.constantFrom('{', '{"a":}', '[1,]', 'nul', '\u0000', '{"a":1}{"b":2}', '"\\ud800"', ''),
  )
}

const queryString: fc.Arbitrary<string> = fc
  .array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom(
          'limit',
          'marker',
          'sort_key',
          'sort_dir',
          'name',
          'status',
          'all_tenants',
          'all_projects',
          'fields',
          'tags',
          'tags-any',
          'changes-since',
          'ip',
          'deleted',
          'project_id',
          'tenant_id',
          'id',
          'page_reverse',
          'visibility',
          'member_status',
          'is_public',
          'domain_id',
          'enabled',
          'user_id',
          'host',
          'shared',
          'router:external',
        ),
        fc.string({ maxLength: 10 }),
      ),
      fc.oneof(
        fc.string({ maxLength: 30 }),
        fc.string({ unit: 'binary', maxLength: 30 }),
        fc.constantFrom(
          '-1',
          '0',
          '1e9',
          '99999999999999999999',
          'true',
          '^(a+)+$',
          '%',
          'None',
          'x'.repeat(2_000),
        ),
      ),
    ),
    { maxLength: 4 },
  )
  .map((pairs) => new URLSearchParams(pairs.map(([k, v]) => [k, v])).toString())

const extraHeaders: fc.Arbitrary<Record<string, string>> = fc.record(
  {
    'openstack-api-version': fc.oneof(
      fc.constantFrom(
        'compute 2.1',
        'compute latest',
        'compute 2.100',
        'compute 2.x',
        'volume 3.0',
        'compute 2.96',
      ),
      fc.string({ maxLength: 20 }).map((s) => `compute ${s.replace(/[^\x20-\x7e]/g, '')}`),
    ),
    'x-openstack-nova-api-version': fc.constantFrom('2.1', '2.53', 'latest', '3.0', ''),
    'content-type': fc.constantFrom(
      'application/json',
      'text/plain',
      'application/octet-stream',
      'application/xml',
    ),
    'x-openstack-request-id': fc.constantFrom('req-00000000-0000-0000-0000-000000000000', 'bogus'),
  },
  { requiredKeys: ['content-type'] },
)

// ---- routes ----

interface RouteCase {
  readonly api: string
  readonly method: string
  readonly path: string
}

/** Fastify path `/v2.1/servers/:server_id` with each `:param` filled by `fill`. */
function fillPath(path: string, fill: (param: string) => string): string {
  return path.replace(/:([A-Za-z_]\w*)/g, (_, name: string) => encodeURIComponent(fill(name)))
}

/** The JSON key a body for this path usually wraps its fields in (`/v2.0/networks` -> `network`). */
function resourceKeyOf(path: string): string | undefined {
  const last = path
    .split('/')
    .filter((s) => s && !s.startsWith(':'))
    .at(-1)
  if (!last || last.startsWith('v')) return undefined
  const word = last.replace(/^os-/, '').replace(/-/g, '_')
  return word.endsWith('ies') ? `${word.slice(0, -3)}y` : word.replace(/s$/, '')
}

// ---- the suite ----

describe('fuzz: every API route (issue 17)', { timeout: SUITE_TIMEOUT_MS }, () => {
  let cloud: ComputeCloud
  let member: Caller
  const fixtures = new Map<string, string>()
  const findings: Finding[] = []
  let cases = 0

  before(async () => {
    cloud = await startComputeCloud()
    member = await cloud.newMember()
    const { networkId, subnetId } = await createNetwork(cloud, member, 'fuzz-net')
    const serverId = await member.createServer({ name: 'fuzz-vm', imageRef: cloud.imageId, flavorRef: '1' })
    await member.waitStatus(serverId)
    const neutron = await send(member.token, 'POST', `${cloud.tc.url('network')}/v2.0/ports`, {
      port: { network_id: networkId },
    })
    const sg = await send(member.token, 'POST', `${cloud.tc.url('network')}/v2.0/security-groups`, {
      security_group: { name: 'fuzz-sg' },
    })
    const router = await send(member.token, 'POST', `${cloud.tc.url('network')}/v2.0/routers`, {
      router: { name: 'fuzz-router' },
    })
    const keypair = await member.nova('POST', '/os-keypairs', { keypair: { name: 'fuzz-key' } })
    for (const [names, id] of [
      [['server_id', 'id', 'instance_id', 'uuid'], serverId],
      [['network_id'], networkId],
      [['subnet_id'], subnetId],
      [['port_id'], (neutron.body as { port: { id: string } }).port.id],
      [['security_group_id', 'group_id'], (sg.body as { security_group: { id: string } }).security_group.id],
      [['router_id'], (router.body as { router: { id: string } }).router.id],
      [['image_id'], cloud.imageId],
      [['project_id', 'tenant_id'], member.projectId],
      [['user_id'], member.userId],
      [['keypair_name', 'name'], (keypair.body as { keypair: { name: string } }).keypair.name],
      [['flavor_id'], '1'],
    ] as const) {
      for (const name of names) fixtures.set(name, id)
    }
  })

  after(async () => {
    await cloud?.stop()
  })

  /** One request; a 5xx (or no answer) is recorded as a finding. */
  async function probe(what: string, req: FuzzRequest): Promise<number> {
    cases++
    let status: number
    let text: string
    try {
      const res = await fetch(req.url, {
        method: req.method,
        headers: req.headers,
        body: req.method === 'GET' || req.method === 'HEAD' ? undefined : req.body,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      })
      status = res.status
      text = await res.text()
    } catch (err) {
      findings.push({ what, status: 0, answer: `no answer: ${(err as Error).message}` })
      return 0
    }
    if (status >= 500) findings.push({ what, status, answer: text.slice(0, 300) })
    return status
  }

  function routes(): RouteCase[] {
    const out: RouteCase[] = []
    for (const service of cloud.tc.cloud.services) {
      if (!(service instanceof HttpService)) continue
      for (const route of service.server.routes) {
        for (const method of route.methods) out.push({ api: service.endpoint.type, method, path: route.path })
      }
    }
    // Deletes last, so the member's fixtures live through the other routes.
    return out.sort((a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'))
  }

  it('answers every route without a 5xx, as a member with real ids and as admin with random ones', async () => {
    const all = routes()
    assert.ok(all.length > 300, `found ${all.length} routes`)
    let index = 0
    for (const route of all) {
      const base = cloud.tc.url(route.api)
      const key = resourceKeyOf(route.path)
      await fc.assert(
        fc.asyncProperty(
          bodyFor(key),
          queryString,
          extraHeaders,
          fc.string({ minLength: 1, maxLength: 40 }),
          fc.boolean(),
          async (body, query, headers, randomId, asAdmin) => {
            const token = asAdmin ? cloud.admin.token : member.token
            const path = fillPath(route.path, (param) =>
              asAdmin ? randomId : (fixtures.get(param) ?? randomId),
            )
            const what = `${asAdmin ? 'admin' : 'member'} ${route.method} ${path}?${query} ${body.slice(0, 120)}`
            await probe(what, {
              method: route.method,
              url: `${base}${path}${query ? `?${query}` : ''}`,
              headers: { ...headers, 'x-auth-token': token },
              body,
            })
            return true
          },
        ),
        { seed: SEED + index++, numRuns: CASES_PER_ROUTE * 2, endOnFailure: true },
      )
    }
  })

  it('refused creates leave no partial record', async () => {
    const nova = cloud.tc.url('compute')
    const neutron = cloud.tc.url('network')
    const keystone = cloud.tc.url('identity')
    const glance = cloud.tc.url('image')
    const networkId = fixtures.get('network_id')!
    const creates: {
      readonly url: string
      readonly token: () => string
      readonly body: Record<string, unknown>
      /** Ids of the records of this kind, as admin sees them. */
      readonly ids: () => Promise<string[]>
    }[] = [
      {
        url: `${nova}/v2.1/servers`,
        token: () => member.token,
        body: { server: { name: 'f', imageRef: cloud.imageId, flavorRef: '1', networks: 'none' } },
        ids: async () => idsOf(await get(`${nova}/v2.1/servers?all_tenants=1&limit=1000`), 'servers'),
      },
      {
        url: `${nova}/v2.1/os-keypairs`,
        token: () => member.token,
        body: { keypair: { name: 'fk' } },
        ids: async () =>
          (
            (await get(`${nova}/v2.1/os-keypairs`, member.token)).keypairs as { keypair: { name: string } }[]
          ).map((k) => k.keypair.name),
      },
      {
        url: `${nova}/v2.1/os-server-groups`,
        token: () => member.token,
        body: { server_group: { name: 'g', policies: ['affinity'] } },
        ids: async () => idsOf(await get(`${nova}/v2.1/os-server-groups?all_projects=True`), 'server_groups'),
      },
      {
        url: `${nova}/v2.1/flavors`,
        token: () => cloud.admin.token,
        body: { flavor: { name: 'ff', ram: 64, vcpus: 1, disk: 1 } },
        ids: async () => idsOf(await get(`${nova}/v2.1/flavors?is_public=None`), 'flavors'),
      },
      {
        url: `${neutron}/v2.0/networks`,
        token: () => member.token,
        body: { network: { name: 'n' } },
        ids: async () => idsOf(await get(`${neutron}/v2.0/networks`), 'networks'),
      },
      {
        url: `${neutron}/v2.0/subnets`,
        token: () => member.token,
        body: { subnet: { network_id: networkId, cidr: '198.51.100.0/24', ip_version: 4 } },
        ids: async () => idsOf(await get(`${neutron}/v2.0/subnets`), 'subnets'),
      },
      {
        url: `${neutron}/v2.0/ports`,
        token: () => member.token,
        body: { port: { network_id: networkId, name: 'p' } },
        ids: async () => idsOf(await get(`${neutron}/v2.0/ports`), 'ports'),
      },
      {
        url: `${neutron}/v2.0/security-groups`,
        token: () => member.token,
        body: { security_group: { name: 's', description: 'd' } },
        ids: async () => idsOf(await get(`${neutron}/v2.0/security-groups`), 'security_groups'),
      },
      {
        url: `${neutron}/v2.0/routers`,
        token: () => member.token,
        body: { router: { name: 'r', admin_state_up: true } },
        ids: async () => idsOf(await get(`${neutron}/v2.0/routers`), 'routers'),
      },
      {
        url: `${glance}/v2/images`,
        token: () => member.token,
        body: { name: 'i', disk_format: 'raw', container_format: 'bare' },
        ids: async () => idsOf(await get(`${glance}/v2/images?limit=1000`), 'images'),
      },
      {
        url: `${keystone}/v3/projects`,
        token: () => cloud.admin.token,
        body: { project: { name: 'fp', domain_id: 'default' } },
        ids: async () => idsOf(await get(`${keystone}/v3/projects`), 'projects'),
      },
      {
        url: `${keystone}/v3/users`,
        token: () => cloud.admin.token,
        body: { user: { name: 'fu', domain_id: 'default', password: 'pw' } },
        ids: async () => idsOf(await get(`${keystone}/v3/users`), 'users'),
      },
    ]
    let refused = 0
    for (const [i, create] of creates.entries()) {
      await fc.assert(
        fc.asyncProperty(mutation(create.body), async (body) => {
          const before = new Set(await create.ids())
          const status = await probe(`POST ${create.url} ${body.slice(0, 160)}`, {
            method: 'POST',
            url: create.url,
            headers: { 'content-type': 'application/json', 'x-auth-token': create.token() },
            body,
          })
          if (status < 400 || status >= 500) return true
          refused++
          const leftover = (await create.ids()).filter((id) => !before.has(id))
          assert.deepEqual(
            leftover,
            [],
            `a ${status} on POST ${create.url} left ${leftover.join(', ')}: ${body}`,
          )
          return true
        }),
        { seed: SEED * 31 + i, numRuns: CASES_PER_CREATE },
      )
    }
    assert.ok(refused > creates.length, `only ${refused} refused creates were checked`)
  })

  it('still answers afterwards, and saw no 5xx', async (t) => {
    const res = await member.nova('GET', '/servers')
    assert.equal(res.status, 200)
    const token = await fetch(`${cloud.tc.url('identity')}/v3/auth/tokens`, {
      headers: { 'x-auth-token': cloud.admin.token, 'x-subject-token': member.token },
    })
    assert.equal(token.status, 200)
    t.diagnostic(`fuzz: ${cases} cases (seed ${SEED}, scale ${SCALE}), ${findings.length} 5xx or unanswered`)
    for (const f of findings.slice(0, 40))
      t.diagnostic(`  ${f.status} ${f.what.slice(0, 200)} -> ${f.answer.slice(0, 200)}`)
    assert.deepEqual(
      findings.map((f) => `${f.status} ${f.what.slice(0, 160)}`),
      [],
    )
  })

  async function get(url: string, token = cloud.admin.token): Promise<Record<string, unknown>> {
    const res = await fetch(url, { headers: { 'x-auth-token': token } })
    assert.equal(res.status, 200, `${url}: ${res.status}`)
    return (await res.json()) as Record<string, unknown>
  }
})

function idsOf(body: Record<string, unknown>, key: string): string[] {
  return (body[key] as { id: string }[]).map((r) => String(r.id))
}

async function send(token: string, method: string, url: string, body: unknown) {
  const res = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', 'x-auth-token': token },
    body: JSON.stringify(body),
  })
  const parsed = (await res.json()) as unknown
  if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${JSON.stringify(parsed)}`)
  return { status: res.status, body: parsed }
}

/** A valid body with one thing broken: a leaf replaced, a field added or removed, or the wrapper replaced. */
function mutation(valid: Record<string, unknown>): fc.Arbitrary<string> {
  const paths: string[][] = []
  const walk = (v: unknown, path: string[]) => {
    paths.push(path)
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, child] of Object.entries(v)) walk(child, [...path, k])
    }
  }
  walk(valid, [])
  const setAt = (path: readonly string[], value: unknown, remove: boolean): unknown => {
    const copy = structuredClone(valid) as Record<string, unknown>
    if (path.length === 0) return value
    let node = copy
    for (const k of path.slice(0, -1)) node = node[k] as Record<string, unknown>
    if (remove) delete node[path.at(-1)!]
    else node[path.at(-1)!] = value
    return copy
  }
  return fc
    .tuple(
      fc.constantFrom(...paths),
      anyValue,
      fc.constantFrom('replace', 'remove', 'add'),
      fc.string({ maxLength: 12 }),
    )
    .map(([path, value, op, extraKey]) => {
      if (op === 'add') {
        // An unknown field beside the real ones: inside the wrapper (`server`, ...) when there is one.
        const wrapper = Object.keys(valid).find((k) => typeof valid[k] === 'object' && valid[k] !== null)
        return serialize(setAt(wrapper ? [wrapper, extraKey || 'x'] : [extraKey || 'x'], value, false))
      }
      return serialize(setAt(path, value, op === 'remove'))
    })
}
