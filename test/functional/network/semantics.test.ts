import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { Neutron } from './client.ts'

const TEST_TIMEOUT_MS = 120_000
/** How long a router's ports may take to be reported ACTIVE (the change listener runs after the answer). */
const PORT_ACTIVE_WAIT_MS = 10_000
const POLL_INTERVAL_MS = 50

/**
 * Neutron semantics the neutron-tempest-plugin checks (issue #22): If-Match
 * revisions, parents' revisions bumped by their children, security group
 * quotas and protocols, duplicate and unknown groups on ports, router
 * interface ids and status, a blank floating IP update.
 */
describe('network API semantics', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let api: Neutron

  before(async () => {
    tc = await startTestCloud()
    api = await Neutron.connect(tc)
  })
  after(() => tc?.stop())

  async function putWithIfMatch(path: string, body: unknown, ifMatch: string) {
    const res = await fetch(`${api.base}${path}`, {
      method: 'PUT',
      headers: { 'x-auth-token': api.token!, 'content-type': 'application/json', 'if-match': ifMatch },
      body: JSON.stringify(body),
    })
    return { status: res.status, body: (await res.json()) as any }
  }

  describe('revisions', () => {
    it('updates only at the revision If-Match names (412 otherwise)', async () => {
      const net = await api.create('networks', 'network', { name: 'rev' })
      const stale = await putWithIfMatch(
        `/v2.0/networks/${net.id}`,
        { network: { name: 'x' } },
        `revision_number=${net.revision_number + 1}`,
      )
      assert.equal(stale.status, 412, JSON.stringify(stale.body))
      assert.equal(stale.body.NeutronError.type, 'RevisionNumberConstraintFailed')
      const ok = await putWithIfMatch(
        `/v2.0/networks/${net.id}`,
        { network: { name: 'x' } },
        `revision_number=${net.revision_number}`,
      )
      assert.equal(ok.status, 200, JSON.stringify(ok.body))
      assert.equal(ok.body.network.name, 'x')
      const bad = await putWithIfMatch(
        `/v2.0/networks/${net.id}`,
        { network: { name: 'y' } },
        'revision_number=x',
      )
      assert.equal(bad.status, 400)
    })

    it("bumps a network's revision with its subnets, a group's with its rules, a router's with its interfaces", async () => {
      const net = await api.create('networks', 'network', { name: 'parent' })
      const sub = await api.create('subnets', 'subnet', {
        network_id: net.id,
        cidr: '192.0.2.0/24',
        ip_version: 4,
      })
      const afterCreate = (await api.ok('GET', `/v2.0/networks/${net.id}`, undefined, 200)).network
      assert.ok(afterCreate.revision_number > net.revision_number)

      const sg = await api.create('security-groups', 'security_group', { name: 'parent-sg' })
      const rule = await api.create('security-group-rules', 'security_group_rule', {
        security_group_id: sg.id,
        direction: 'ingress',
        protocol: 'tcp',
        port_range_min: 60,
        port_range_max: 70,
      })
      const sgAfter = (await api.ok('GET', `/v2.0/security-groups/${sg.id}`, undefined, 200)).security_group
      assert.ok(sgAfter.revision_number > sg.revision_number)
      await api.ok('DELETE', `/v2.0/security-group-rules/${rule.id}`, undefined, 204)
      const sgGone = (await api.ok('GET', `/v2.0/security-groups/${sg.id}`, undefined, 200)).security_group
      assert.ok(sgGone.revision_number > sgAfter.revision_number)

      const router = await api.create('routers', 'router', { name: 'parent-r' })
      await api.ok('PUT', `/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: sub.id }, 200)
      const rAfter = (await api.ok('GET', `/v2.0/routers/${router.id}`, undefined, 200)).router
      assert.ok(rAfter.revision_number > router.revision_number)
      await api.ok('PUT', `/v2.0/routers/${router.id}/remove_router_interface`, { subnet_id: sub.id }, 200)

      await api.ok('DELETE', `/v2.0/subnets/${sub.id}`, undefined, 204)
      const afterDelete = (await api.ok('GET', `/v2.0/networks/${net.id}`, undefined, 200)).network
      assert.ok(afterDelete.revision_number > afterCreate.revision_number)
    })
  })

  describe('security groups', () => {
    it('counts a new group against the quota before the default group is made, and its rules too', async () => {
      const project = 'sg-quota-order'
      await api.ok('PUT', `/v2.0/quotas/${project}`, { quota: { security_group: 1 } }, 200)
      await api.create('security-groups', 'security_group', { name: 'one', project_id: project })
      await api.fails(
        'POST',
        '/v2.0/security-groups',
        { security_group: { name: 'two', project_id: project } },
        409,
        'OverQuota',
      )
      const other = 'sg-rule-quota'
      await api.ok('PUT', `/v2.0/quotas/${other}`, { quota: { security_group_rule: 0 } }, 200)
      await api.fails(
        'POST',
        '/v2.0/security-groups',
        { security_group: { name: 'no-rules', project_id: other } },
        409,
        'OverQuota',
      )
    })

    it('refuses an IPv6 protocol on an IPv4 rule', async () => {
      const sg = await api.create('security-groups', 'security_group', { name: 'v6proto' })
      for (const protocol of ['ipv6-frag', 'ipv6-icmp', '58', 41]) {
        await api.fails(
          'POST',
          '/v2.0/security-group-rules',
          {
            security_group_rule: {
              security_group_id: sg.id,
              direction: 'ingress',
              ethertype: 'IPv4',
              protocol,
            },
          },
          400,
          'SecurityGroupEthertypeConflictWithProtocol',
        )
      }
      await api.create('security-group-rules', 'security_group_rule', {
        security_group_id: sg.id,
        direction: 'ingress',
        ethertype: 'IPv6',
        protocol: 'ipv6-frag',
      })
    })

    it('refuses a group named twice (400) or unknown (404) on a port, and leaves the port as it was', async () => {
      const net = await api.create('networks', 'network', { name: 'sg-port' })
      const sg = await api.create('security-groups', 'security_group', { name: 'twice' })
      const port = await api.create('ports', 'port', { network_id: net.id })
      await api.fails(
        'PUT',
        `/v2.0/ports/${port.id}`,
        { port: { security_groups: [sg.id, sg.id] } },
        400,
        'HTTPBadRequest',
      )
      await api.fails(
        'PUT',
        `/v2.0/ports/${port.id}`,
        { port: { security_groups: [sg.id, '0b7d3b8e-5a52-4c34-9d6e-1f2a3b4c5d6e'] } },
        404,
        'SecurityGroupNotFound',
      )
      const now = (await api.ok('GET', `/v2.0/ports/${port.id}`, undefined, 200)).port
      assert.deepEqual(now.security_groups, port.security_groups)
    })
  })

  describe('routers', () => {
    it('refuses an interface id that is no UUID, and reports interface ports ACTIVE', async () => {
      const net = await api.create('networks', 'network', { name: 'r-status' })
      const sub = await api.create('subnets', 'subnet', {
        network_id: net.id,
        cidr: '198.51.100.0/24',
        ip_version: 4,
      })
      const router = await api.create('routers', 'router', { name: 'r-status' })
      await api.fails(
        'PUT',
        `/v2.0/routers/${router.id}/add_router_interface`,
        { port_id: 'tempest-port-1' },
        400,
        'BadRequest',
      )
      const intf = await api.ok(
        'PUT',
        `/v2.0/routers/${router.id}/add_router_interface`,
        { subnet_id: sub.id },
        200,
      )
      const deadline = Date.now() + PORT_ACTIVE_WAIT_MS
      let status = ''
      while (Date.now() < deadline) {
        status = (await api.ok('GET', `/v2.0/ports/${intf.port_id}`, undefined, 200)).port.status
        if (status === 'ACTIVE') break
        await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS))
      }
      assert.equal(status, 'ACTIVE')
    })
  })

  describe('floating IPs', () => {
    it('disassociates on an update with an empty body, keeps the port on an update of other attributes', async () => {
      const ext = await api.create('networks', 'network', { name: 'fip-ext', 'router:external': true })
      await api.create('subnets', 'subnet', {
        network_id: ext.id,
        cidr: '203.0.113.0/24',
        ip_version: 4,
        enable_dhcp: false,
      })
      const net = await api.create('networks', 'network', { name: 'fip-int' })
      const sub = await api.create('subnets', 'subnet', {
        network_id: net.id,
        cidr: '10.9.0.0/24',
        ip_version: 4,
      })
      const router = await api.create('routers', 'router', {
        name: 'fip-r',
        external_gateway_info: { network_id: ext.id },
      })
      await api.ok('PUT', `/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: sub.id }, 200)
      const port = await api.create('ports', 'port', { network_id: net.id })
      const fip = await api.create('floatingips', 'floatingip', {
        floating_network_id: ext.id,
        port_id: port.id,
      })
      const described = await api.ok(
        'PUT',
        `/v2.0/floatingips/${fip.id}`,
        { floatingip: { description: 'd' } },
        200,
      )
      assert.equal(described.floatingip.port_id, port.id)
      const blank = await api.ok('PUT', `/v2.0/floatingips/${fip.id}`, { floatingip: {} }, 200)
      assert.equal(blank.floatingip.port_id, null)
      assert.equal(blank.floatingip.description, 'd')
    })
  })
})
