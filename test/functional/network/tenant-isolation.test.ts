import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { Neutron } from './client.ts'

/**
 * Issue #17: what one project may do to a network others use. Findings 3
 * (network MTUs the kernel refuses) and 5 (owner-only port attributes on
 * shared networks, orphan router ports) with Neutron's API and policy
 * defaults as the reference.
 */
describe('network: tenant isolation', () => {
  let tc: TestCloud
  let admin: Neutron
  let bob: Neutron
  let alice: Neutron
  let shared: any

  before(async () => {
    tc = await startTestCloud()
    admin = await Neutron.connect(tc)
    alice = await admin.member(tc, 'iso-alice')
    bob = await admin.member(tc, 'iso-bob')
    shared = await admin.create('networks', 'network', { name: 'shared', shared: true })
    await admin.create('subnets', 'subnet', { network_id: shared.id, cidr: '192.0.2.0/24', ip_version: 4 })
  })
  after(() => tc?.stop())

  describe('network MTU bounds (finding 3)', () => {
    it('refuses MTUs the kernel would refuse: negative, under 68, not an integer (400)', async () => {
      // 1.5 is 1 after Neutron's convert_to_int (Python's int()), under 68.
      for (const mtu of [-1, 0, 67, 1.5, '67', 'x']) {
        const r = await bob.req('POST', '/v2.0/networks', { network: { name: 'mtu', mtu } })
        assert.equal(r.status, 400, `mtu ${String(mtu)}: ${JSON.stringify(r.body)}`)
      }
      const { networks } = await bob.ok('GET', '/v2.0/networks?name=mtu', undefined, 200)
      assert.deepEqual(networks, [], 'nothing was created')
      // An integral string is an integer to Neutron's convert_to_int (issue #22).
      const text = await bob.create('networks', 'network', { name: 'mtu-text', mtu: '1400' })
      assert.equal(text.mtu, 1400)
      const low = await bob.create('networks', 'network', { name: 'low', mtu: 68 })
      assert.equal(low.mtu, 68)
      await bob.fails('PUT', `/v2.0/networks/${low.id}`, { network: { mtu: -1 } }, 400, 'HTTPBadRequest')
      await bob.fails('PUT', `/v2.0/networks/${low.id}`, { network: { mtu: 9000 } }, 400, 'InvalidInput')
      assert.equal((await bob.ok('GET', `/v2.0/networks/${low.id}`, undefined, 200)).network.mtu, 68)
    })

    it('an IPv6 subnet needs an MTU of 1280, and keeps its network there', async () => {
      const small = await bob.create('networks', 'network', { name: 'v6-small', mtu: 1279 })
      const r = await bob.req('POST', '/v2.0/subnets', {
        subnet: { network_id: small.id, cidr: '2001:db8:1::/64', ip_version: 6 },
      })
      assert.equal(r.status, 400, JSON.stringify(r.body))
      const net = await bob.create('networks', 'network', { name: 'v6', mtu: 1280 })
      await bob.create('subnets', 'subnet', { network_id: net.id, cidr: '2001:db8:2::/64', ip_version: 6 })
      await bob.fails('PUT', `/v2.0/networks/${net.id}`, { network: { mtu: 1279 } }, 400, 'InvalidInput')
      await bob.ok('PUT', `/v2.0/networks/${net.id}`, { network: { mtu: 1400 } }, 200)
    })
  })

  describe('owner-only port attributes (finding 5)', () => {
    const ownerOnly: readonly [string, Record<string, unknown>, string][] = [
      ['port_security_enabled=false', { port_security_enabled: false }, 'create_port:port_security_enabled'],
      ['a chosen MAC', { mac_address: 'fa:16:3e:00:00:01' }, 'create_port:mac_address'],
      [
        'allowed_address_pairs 0.0.0.0/0',
        { allowed_address_pairs: [{ ip_address: '0.0.0.0/0' }] },
        'create_port:allowed_address_pairs',
      ],
      ['device_owner network:dhcp', { device_owner: 'network:dhcp' }, 'create_port:device_owner'],
      [
        'device_owner network:router_interface',
        { device_owner: 'network:router_interface' },
        'create_port:device_owner',
      ],
      [
        'a chosen fixed IP',
        { fixed_ips: [{ ip_address: '192.0.2.50' }] },
        'create_port:fixed_ips:ip_address',
      ],
    ]

    for (const [what, attrs, rule] of ownerOnly) {
      it(`a non-owner may not create a port on a shared network with ${what} (403)`, async () => {
        const message = await bob.fails(
          'POST',
          '/v2.0/ports',
          { port: { network_id: shared.id, ...attrs } },
          403,
          'PolicyNotAuthorized',
        )
        assert.equal(message, `(rule:${rule}) is disallowed by policy`)
      })
    }

    it('a non-owner may not turn them on for its own port on a shared network either', async () => {
      const port = await bob.create('ports', 'port', { network_id: shared.id, device_owner: 'compute:nova' })
      assert.equal(port.port_security_enabled, true)
      for (const [, attrs] of ownerOnly) {
        if ('mac_address' in attrs) continue // update_port:mac_address is admin-only, checked below
        const r = await bob.req('PUT', `/v2.0/ports/${port.id}`, { port: attrs })
        assert.equal(r.status, 403, `${JSON.stringify(attrs)}: ${JSON.stringify(r.body)}`)
        assert.equal(r.body.NeutronError.type, 'PolicyNotAuthorized')
      }
      await bob.fails(
        'PUT',
        `/v2.0/ports/${port.id}`,
        { port: { mac_address: 'fa:16:3e:00:00:02' } },
        403,
        'PolicyNotAuthorized',
      )
      // Restating what the port already has is no change: allowed.
      const same = await bob.ok(
        'PUT',
        `/v2.0/ports/${port.id}`,
        { port: { name: 'renamed', fixed_ips: port.fixed_ips, port_security_enabled: true } },
        200,
      )
      assert.equal(same.port.name, 'renamed')
      await bob.ok('DELETE', `/v2.0/ports/${port.id}`, undefined, 204)
    })

    it('the network owner and the admin may set them', async () => {
      const own = await alice.create('networks', 'network', { name: 'alice-own' })
      await alice.create('subnets', 'subnet', { network_id: own.id, cidr: '198.51.100.0/24', ip_version: 4 })
      const mine = await alice.create('ports', 'port', {
        network_id: own.id,
        port_security_enabled: false,
        mac_address: 'fa:16:3e:00:00:03',
        fixed_ips: [{ ip_address: '198.51.100.50' }],
      })
      assert.equal(mine.port_security_enabled, false)
      assert.equal(mine.mac_address, 'fa:16:3e:00:00:03')
      const byAdmin = await admin.create('ports', 'port', {
        network_id: shared.id,
        allowed_address_pairs: [{ ip_address: '192.0.2.0/28' }],
      })
      assert.equal(byAdmin.allowed_address_pairs.length, 1)
      await admin.ok('DELETE', `/v2.0/ports/${byAdmin.id}`, undefined, 204)
    })

    it('an orphan router_interface port does not block the network’s delete by the admin', async () => {
      const net = await admin.create('networks', 'network', { name: 'orphaned', shared: true })
      await admin.create('subnets', 'subnet', { network_id: net.id, cidr: '203.0.113.0/24', ip_version: 4 })
      await admin.create('ports', 'port', {
        network_id: net.id,
        project_id: (await bob.create('security-groups', 'security_group', { name: 'p' })).project_id,
        device_owner: 'network:router_interface',
        device_id: '3f1c7a52-0d5e-4a7f-9a51-6f1d2c3b4a59',
      })
      await admin.ok('DELETE', `/v2.0/networks/${net.id}`, undefined, 204)
    })

    it('an orphan router port may be deleted directly; a live router’s port may not', async () => {
      const orphan = await admin.create('ports', 'port', {
        network_id: shared.id,
        device_owner: 'network:router_interface',
        device_id: '5b0e2a1c-7d3f-4e6a-8b9c-0a1b2c3d4e5f',
      })
      await admin.ok('DELETE', `/v2.0/ports/${orphan.id}`, undefined, 204)
      const net = await alice.create('networks', 'network', { name: 'routed' })
      const sub = await alice.create('subnets', 'subnet', {
        network_id: net.id,
        cidr: '203.0.113.0/25',
        ip_version: 4,
      })
      const router = await alice.create('routers', 'router', { name: 'r' })
      const { port_id: portId } = await alice.ok(
        'PUT',
        `/v2.0/routers/${router.id}/add_router_interface`,
        { subnet_id: sub.id },
        200,
      )
      await admin.fails('DELETE', `/v2.0/ports/${portId}`, undefined, 409, 'ServicePortInUse')
      await admin.fails('DELETE', `/v2.0/networks/${net.id}`, undefined, 409, 'NetworkInUse')
    })

    it('a non-admin may not name another project’s router as its router port’s device (409)', async () => {
      const router = await alice.create('routers', 'router', { name: 'alice-r' })
      const own = await bob.create('networks', 'network', { name: 'bob-own' })
      await bob.fails(
        'POST',
        '/v2.0/ports',
        { port: { network_id: own.id, device_owner: 'network:router_interface', device_id: router.id } },
        409,
        'DeviceIDNotOwnedByTenant',
      )
    })
  })
})
