import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { Neutron } from './client.ts'

const TEST_TIMEOUT_MS = 120_000

/**
 * Neutron's request handling at the edge (issue #22, issue #17 finding 7):
 * bodies without a JSON Content-Type, the attribute converters (numeric
 * strings, booleans as text), wrong types refused as 400 NeutronError and
 * never a 500, pagination links as Neutron writes them, bulk create.
 */
describe('network API attributes and bodies', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let api: Neutron
  let netId: string
  let subnetId: string
  let portId: string

  before(async () => {
    tc = await startTestCloud()
    api = await Neutron.connect(tc)
    netId = (await api.create('networks', 'network', { name: 'attrs' })).id
    subnetId = (
      await api.create('subnets', 'subnet', { network_id: netId, cidr: '192.0.2.0/24', ip_version: 4 })
    ).id
    portId = (await api.create('ports', 'port', { network_id: netId })).id
  })
  after(() => tc?.stop())

  /** A request with raw bytes as the body and exactly the headers given (no Content-Type unless named). */
  async function raw(
    method: string,
    path: string,
    body: string | undefined,
    headers: Record<string, string> = {},
  ) {
    const res = await fetch(`${api.base}${path}`, {
      method,
      headers: { 'x-auth-token': api.token!, ...headers },
      ...(body !== undefined ? { body: new TextEncoder().encode(body) } : {}),
    })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : undefined }
  }

  describe('bodies', () => {
    it('takes a PUT body without Content-Type as JSON, as Neutron does', async () => {
      const r = await raw('PUT', `/v2.0/networks/${netId}`, JSON.stringify({ network: { name: 'no-type' } }))
      assert.equal(r.status, 200, JSON.stringify(r.body))
      assert.equal(r.body.network.name, 'no-type')
    })

    it('takes a body with another Content-Type as JSON', async () => {
      const r = await raw('PUT', `/v2.0/ports/${portId}`, JSON.stringify({ port: { name: 'text' } }), {
        'content-type': 'text/plain',
      })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      assert.equal(r.body.port.name, 'text')
    })

    it('deletes with an empty body and a JSON Content-Type', async () => {
      const id = (await api.create('networks', 'network', { name: 'gone' })).id
      const r = await raw('DELETE', `/v2.0/networks/${id}`, '', { 'content-type': 'application/json' })
      assert.equal(r.status, 204, JSON.stringify(r.body))
      await api.fails('GET', `/v2.0/networks/${id}`, undefined, 404, 'NetworkNotFound')
    })

    it('refuses a body that is not JSON with a 400', async () => {
      const r = await raw('PUT', `/v2.0/networks/${netId}`, '{not json', { 'content-type': 'text/plain' })
      assert.equal(r.status, 400, JSON.stringify(r.body))
      assert.ok(r.body.NeutronError, JSON.stringify(r.body))
    })
  })

  describe('converters', () => {
    it('takes ip_version as a numeric string', async () => {
      const net = await api.create('networks', 'network', { name: 'v4-text' })
      const sub = await api.create('subnets', 'subnet', {
        network_id: net.id,
        cidr: '198.51.100.0/24',
        ip_version: '4',
      })
      assert.equal(sub.ip_version, 4)
    })

    it('takes booleans as "true"/"false"/"1"/"0" and refuses "maybe"', async () => {
      const down = await api.create('networks', 'network', { name: 'b1', admin_state_up: 'false' })
      assert.equal(down.admin_state_up, false)
      const up = await api.ok('PUT', `/v2.0/networks/${down.id}`, { network: { admin_state_up: '1' } }, 200)
      assert.equal(up.network.admin_state_up, true)
      const msg = await api.fails(
        'POST',
        '/v2.0/networks',
        { network: { name: 'b2', admin_state_up: 'maybe' } },
        400,
        'InvalidInput',
      )
      assert.equal(msg, "Invalid input for operation: 'maybe' cannot be converted to boolean.")
      await api.fails(
        'PUT',
        `/v2.0/ports/${portId}`,
        { port: { admin_state_up: 'maybe' } },
        400,
        'InvalidInput',
      )
    })

    it('refuses an integer attribute that is no integer', async () => {
      await api.fails(
        'POST',
        '/v2.0/subnets',
        { subnet: { network_id: netId, cidr: '203.0.113.0/24', ip_version: 'four' } },
        400,
        'InvalidInput',
      )
      const msg = await api.fails(
        'POST',
        '/v2.0/subnets',
        { subnet: { network_id: netId, cidr: '203.0.113.0/24', ip_version: '5' } },
        400,
        'HTTPBadRequest',
      )
      assert.equal(msg, 'Invalid input for ip_version. Reason: 5 is not in [4, 6].')
    })
  })

  describe('wrong types are 400, never 500', () => {
    const cases: [string, string, () => string, Record<string, unknown>][] = [
      ['cidr', 'POST', () => '/v2.0/subnets', { subnet: { network_id: '', ip_version: 4, cidr: 5 } }],
      [
        'cidr list',
        'POST',
        () => '/v2.0/subnets',
        { subnet: { network_id: '', ip_version: 4, cidr: ['10.0.0.0/8'] } },
      ],
      [
        'host_routes',
        'POST',
        () => '/v2.0/subnets',
        { subnet: { network_id: '', ip_version: 4, cidr: '203.0.113.0/24', host_routes: 'x' } },
      ],
      [
        'host_routes item',
        'POST',
        () => '/v2.0/subnets',
        {
          subnet: {
            network_id: '',
            ip_version: 4,
            cidr: '203.0.113.0/24',
            host_routes: [{ destination: 5, nexthop: '203.0.113.1' }],
          },
        },
      ],
      [
        'dns_nameservers',
        'POST',
        () => '/v2.0/subnets',
        { subnet: { network_id: '', ip_version: 4, cidr: '203.0.113.0/24', dns_nameservers: [7] } },
      ],
      [
        'allocation_pools',
        'POST',
        () => '/v2.0/subnets',
        { subnet: { network_id: '', ip_version: 4, cidr: '203.0.113.0/24', allocation_pools: 'x' } },
      ],
      ['mac_address', 'POST', () => '/v2.0/ports', { port: { network_id: '', mac_address: 5 } }],
      [
        'mac_address object',
        'POST',
        () => '/v2.0/ports',
        { port: { network_id: '', mac_address: { a: 1 } } },
      ],
      [
        'allowed_address_pairs',
        'POST',
        () => '/v2.0/ports',
        { port: { network_id: '', allowed_address_pairs: 'x' } },
      ],
      [
        'allowed_address_pairs item',
        'POST',
        () => '/v2.0/ports',
        { port: { network_id: '', allowed_address_pairs: [{ ip_address: 5 }] } },
      ],
      ['device_owner', 'POST', () => '/v2.0/ports', { port: { network_id: '', device_owner: 7 } }],
      ['device_id', 'POST', () => '/v2.0/ports', { port: { network_id: '', device_id: ['x'] } }],
      ['security_groups', 'POST', () => '/v2.0/ports', { port: { network_id: '', security_groups: 'x' } }],
      ['fixed_ips on update', 'PUT', () => `/v2.0/ports/${portId}`, { port: { fixed_ips: 'x' } }],
      [
        'fixed_ips item on update',
        'PUT',
        () => `/v2.0/ports/${portId}`,
        { port: { fixed_ips: [{ ip_address: 5 }] } },
      ],
      ['name type', 'PUT', () => `/v2.0/networks/${netId}`, { network: { name: true } }],
      ['name length', 'PUT', () => `/v2.0/networks/${netId}`, { network: { name: 'x'.repeat(256) } }],
      [
        'remote_ip_prefix',
        'POST',
        () => '/v2.0/security-group-rules',
        { security_group_rule: { security_group_id: '', direction: 'ingress', remote_ip_prefix: 7 } },
      ],
      ['router routes', 'POST', () => '/v2.0/routers', { router: { name: 'r', routes: 'x' } }],
      [
        'floating_ip_address',
        'POST',
        () => '/v2.0/floatingips',
        { floatingip: { floating_network_id: '', floating_ip_address: 7 } },
      ],
    ]
    for (const [name, method, path, body] of cases) {
      it(name, async () => {
        // Ids of the resources made in before() (the table is built before they exist).
        const text = JSON.stringify(body).replace(/"network_id":""/, `"network_id":"${netId}"`)
        const sgs = await api.ok('GET', '/v2.0/security-groups?name=default', undefined, 200)
        const withIds = JSON.parse(
          text
            .replace(/"security_group_id":""/, `"security_group_id":"${sgs.security_groups[0].id}"`)
            .replace(/"floating_network_id":""/, `"floating_network_id":"${netId}"`),
        )
        const r = await api.req(method, path(), withIds)
        assert.equal(r.status, 400, `${name}: ${JSON.stringify(r.body)}`)
        assert.ok(
          ['HTTPBadRequest', 'InvalidInput'].includes(r.body?.NeutronError?.type),
          JSON.stringify(r.body),
        )
      })
    }

    it('refuses a rule protocol given as a list', async () => {
      const sgs = await api.ok('GET', '/v2.0/security-groups?name=default', undefined, 200)
      await api.fails(
        'POST',
        '/v2.0/security-group-rules',
        {
          security_group_rule: {
            security_group_id: sgs.security_groups[0].id,
            direction: 'ingress',
            protocol: ['tcp'],
          },
        },
        400,
        'SecurityGroupRuleInvalidProtocol',
      )
    })

    it('left the port as it was after the refused updates', async () => {
      const { port } = await api.ok('GET', `/v2.0/ports/${portId}`, undefined, 200)
      assert.equal(port.fixed_ips.length, 1)
      assert.equal(port.fixed_ips[0].subnet_id, subnetId)
    })
  })

  describe('quotas', () => {
    it('takes null as unlimited (-1) and refuses values out of range', async () => {
      const project = 'quota-null-project'
      const set = await api.ok('PUT', `/v2.0/quotas/${project}`, { quota: { network: null, port: '7' } }, 200)
      assert.equal(set.quota.network, -1)
      assert.equal(set.quota.port, 7)
      for (const value of [-2, 2147483648, 'value', 1.5, [1]]) {
        await api.fails(
          'PUT',
          `/v2.0/quotas/${project}`,
          { quota: { network: value } },
          400,
          'HTTPBadRequest',
        )
      }
      const after = await api.ok('GET', `/v2.0/quotas/${project}`, undefined, 200)
      assert.equal(after.quota.network, -1)
    })
  })

  describe('pagination', () => {
    it('walks forward to an empty last page and back by the links, as Neutron writes them', async () => {
      const tag = `walk-${Date.now()}`
      const made: string[] = []
      for (const n of ['a', 'b', 'c'])
        made.push((await api.create('networks', 'network', { name: `${tag}-${n}` })).id)
      const linkOf = (body: any, rel: string): string | undefined => {
        const href = (body.networks_links ?? []).find((l: { rel: string }) => l.rel === rel)?.href
        if (!href) return undefined
        const url = new URL(href)
        return `${url.pathname}${url.search}`
      }
      let page = await api.ok(
        'GET',
        `/v2.0/networks?name=${tag}-a&name=${tag}-b&name=${tag}-c&limit=1&sort_key=name`,
        undefined,
        200,
      )
      const forward: string[] = []
      for (;;) {
        if (page.networks.length === 0) break
        forward.push(page.networks[0].name)
        const next = linkOf(page, 'next')
        assert.ok(next, `a full page links onwards: ${JSON.stringify(page)}`)
        page = await api.ok('GET', next, undefined, 200)
      }
      assert.deepEqual(forward, [`${tag}-a`, `${tag}-b`, `${tag}-c`])
      assert.equal(linkOf(page, 'next'), undefined)
      const backward: string[] = []
      for (let i = 0; i < 3; i++) {
        const previous = linkOf(page, 'previous')
        assert.ok(previous, `page ${i} links back: ${JSON.stringify(page)}`)
        page = await api.ok('GET', previous, undefined, 200)
        assert.equal(page.networks.length, 1)
        backward.push(page.networks[0].name)
      }
      assert.deepEqual(backward, [`${tag}-c`, `${tag}-b`, `${tag}-a`])
    })
  })

  describe('bulk create', () => {
    it('takes items wrapped in their singular key, and makes none when one is refused', async () => {
      const tag = `bulk-${Date.now()}`
      const made = await api.ok(
        'POST',
        '/v2.0/security-groups',
        { security_groups: [{ security_group: { name: `${tag}-1` } }, { name: `${tag}-2` }] },
        201,
      )
      assert.deepEqual(
        made.security_groups.map((g: { name: string }) => g.name),
        [`${tag}-1`, `${tag}-2`],
      )
      await api.fails(
        'POST',
        '/v2.0/networks',
        { networks: [{ name: `${tag}-ok` }, { name: `${tag}-bad`, admin_state_up: 'maybe' }] },
        400,
        'InvalidInput',
      )
      const left = await api.ok('GET', `/v2.0/networks?name=${tag}-ok`, undefined, 200)
      assert.equal(left.networks.length, 0)
      await api.fails('POST', '/v2.0/networks', { networks: [] }, 400, 'HTTPBadRequest')
    })
  })
})
