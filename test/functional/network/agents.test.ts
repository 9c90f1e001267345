import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { Neutron } from './client.ts'

const TEST_TIMEOUT_MS = 60_000

/** `/v2.0/agents` and the DHCP/L3 agent schedulers, as Neutron answers them. */
describe('network agents API', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let api: Neutron

  before(async () => {
    tc = await startTestCloud()
    api = await Neutron.connect(tc)
  })
  after(() => tc?.stop())

  const agentOf = async (type: string) => {
    const { agents } = await api.ok(
      'GET',
      `/v2.0/agents?agent_type=${encodeURIComponent(type)}`,
      undefined,
      200,
    )
    assert.equal(agents.length, 1, type)
    return agents[0]
  }

  it("lists this host's data-plane, DHCP, L3 and metadata agents with Neutron's fields", async () => {
    const { agents } = await api.ok('GET', '/v2.0/agents', undefined, 200)
    const types = agents.map((a: { agent_type: string }) => a.agent_type).sort()
    assert.deepEqual(types, ['DHCP agent', 'L3 agent', 'Linux bridge agent', 'Metadata agent'])
    const dhcp = agents.find((a: { agent_type: string }) => a.agent_type === 'DHCP agent')
    assert.equal(dhcp.binary, 'neutron-dhcp-agent')
    assert.equal(dhcp.topic, 'dhcp_agent')
    assert.equal(dhcp.alive, true)
    assert.equal(dhcp.admin_state_up, true)
    assert.equal(dhcp.availability_zone, 'nova')
    assert.match(dhcp.heartbeat_timestamp, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
    assert.equal(dhcp.configurations.dataplane, false)
    const shown = await api.ok('GET', `/v2.0/agents/${dhcp.id}?fields=id&fields=host`, undefined, 200)
    assert.deepEqual(shown.agent, { id: dhcp.id, host: dhcp.host })
  })

  it('updates description and admin_state_up, refuses other attributes; 404 for an unknown agent', async () => {
    const l3 = await agentOf('L3 agent')
    const up = await api.ok('PUT', `/v2.0/agents/${l3.id}`, { agent: { description: 'edge' } }, 200)
    assert.equal(up.agent.description, 'edge')
    await api.fails('PUT', `/v2.0/agents/${l3.id}`, { agent: { host: 'x' } }, 400, 'HTTPBadRequest')
    await api.fails(
      'GET',
      '/v2.0/agents/00000000-0000-0000-0000-000000000000',
      undefined,
      404,
      'AgentNotFound',
    )
  })

  it('a member sees no agents and cannot schedule', async () => {
    const member = await api.member(tc, 'agents-member')
    assert.deepEqual((await member.ok('GET', '/v2.0/agents', undefined, 200)).agents, [])
    const dhcp = await agentOf('DHCP agent')
    await member.fails('GET', `/v2.0/agents/${dhcp.id}`, undefined, 404, 'AgentNotFound')
    await member.fails('GET', `/v2.0/agents/${dhcp.id}/dhcp-networks`, undefined, 403, 'PolicyNotAuthorized')
  })

  it('schedules a network with a DHCP subnet to the DHCP agent; an admin removes and adds it', async () => {
    const dhcp = await agentOf('DHCP agent')
    const net = (await api.ok('POST', '/v2.0/networks', { network: { name: 'dhcp-net' } }, 201)).network
    const bare = (await api.ok('POST', '/v2.0/networks', { network: { name: 'bare-net' } }, 201)).network
    await api.ok(
      'POST',
      '/v2.0/subnets',
      { subnet: { network_id: net.id, cidr: '198.51.100.0/28', ip_version: 4 } },
      201,
    )
    const hosting = await api.ok('GET', `/v2.0/networks/${net.id}/dhcp-agents`, undefined, 200)
    assert.deepEqual(
      hosting.agents.map((a: { id: string }) => a.id),
      [dhcp.id],
    )
    const hosted = async () =>
      (await api.ok('GET', `/v2.0/agents/${dhcp.id}/dhcp-networks`, undefined, 200)).networks.map(
        (n: { id: string }) => n.id,
      )
    assert.deepEqual(await hosted(), [net.id], 'a network without a DHCP subnet is not scheduled')

    await api.ok('DELETE', `/v2.0/agents/${dhcp.id}/dhcp-networks/${net.id}`, undefined, 204)
    assert.deepEqual(await hosted(), [], 'a removed network stays removed')
    await api.fails(
      'DELETE',
      `/v2.0/agents/${dhcp.id}/dhcp-networks/${net.id}`,
      undefined,
      409,
      'NetworkNotHostedByDhcpAgent',
    )
    await api.ok('POST', `/v2.0/agents/${dhcp.id}/dhcp-networks`, { network_id: bare.id }, 201)
    await api.fails(
      'POST',
      `/v2.0/agents/${dhcp.id}/dhcp-networks`,
      { network_id: bare.id },
      409,
      'NetworkHostedByDHCPAgent',
    )
    assert.deepEqual(await hosted(), [bare.id])
    const l3 = await agentOf('L3 agent')
    await api.fails(
      'POST',
      `/v2.0/agents/${l3.id}/dhcp-networks`,
      { network_id: net.id },
      404,
      'InvalidDHCPAgent',
    )
  })

  it('schedules routers to the L3 agent and moves them', async () => {
    const l3 = await agentOf('L3 agent')
    const router = (await api.ok('POST', '/v2.0/routers', { router: { name: 'r1' } }, 201)).router
    const agents = await api.ok('GET', `/v2.0/routers/${router.id}/l3-agents`, undefined, 200)
    assert.deepEqual(
      agents.agents.map((a: { id: string }) => a.id),
      [l3.id],
    )
    const routers = await api.ok('GET', `/v2.0/agents/${l3.id}/l3-routers`, undefined, 200)
    assert.ok(routers.routers.some((r: { id: string }) => r.id === router.id))
    await api.ok('DELETE', `/v2.0/agents/${l3.id}/l3-routers/${router.id}`, undefined, 204)
    assert.deepEqual((await api.ok('GET', `/v2.0/routers/${router.id}/l3-agents`, undefined, 200)).agents, [])
    await api.ok('POST', `/v2.0/agents/${l3.id}/l3-routers`, { router_id: router.id }, 201)
    await api.fails(
      'POST',
      `/v2.0/agents/${l3.id}/l3-routers`,
      { router_id: router.id },
      409,
      'RouterHostedByL3Agent',
    )
  })

  it("a router's floating IPs are DOWN while no L3 agent hosts it, ACTIVE again once one does", async () => {
    const l3 = await agentOf('L3 agent')
    const ext = (
      await api.ok('POST', '/v2.0/networks', { network: { name: 'ext', 'router:external': true } }, 201)
    ).network
    await api.ok(
      'POST',
      '/v2.0/subnets',
      { subnet: { network_id: ext.id, cidr: '203.0.113.0/24', ip_version: 4, enable_dhcp: false } },
      201,
    )
    const inner = (await api.ok('POST', '/v2.0/networks', { network: { name: 'inner' } }, 201)).network
    const sub = (
      await api.ok(
        'POST',
        '/v2.0/subnets',
        { subnet: { network_id: inner.id, cidr: '198.51.100.0/24', ip_version: 4 } },
        201,
      )
    ).subnet
    const router = (
      await api.ok(
        'POST',
        '/v2.0/routers',
        { router: { name: 'r-fip', external_gateway_info: { network_id: ext.id } } },
        201,
      )
    ).router
    await api.ok('PUT', `/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: sub.id }, 200)
    const port = (await api.ok('POST', '/v2.0/ports', { port: { network_id: inner.id } }, 201)).port
    const fip = (
      await api.ok(
        'POST',
        '/v2.0/floatingips',
        { floatingip: { floating_network_id: ext.id, port_id: port.id } },
        201,
      )
    ).floatingip
    const status = async () =>
      (await api.ok('GET', `/v2.0/floatingips/${fip.id}`, undefined, 200)).floatingip.status
    assert.equal(await status(), 'ACTIVE')
    await api.ok('GET', `/v2.0/routers/${router.id}/l3-agents`, undefined, 200)
    await api.ok('DELETE', `/v2.0/agents/${l3.id}/l3-routers/${router.id}`, undefined, 204)
    assert.equal(await status(), 'DOWN')
    await api.ok('POST', `/v2.0/agents/${l3.id}/l3-routers`, { router_id: router.id }, 201)
    assert.equal(await status(), 'ACTIVE')
  })

  it('deleting an agent removes it until its host reports again', async () => {
    const meta = await agentOf('Metadata agent')
    await api.ok('DELETE', `/v2.0/agents/${meta.id}`, undefined, 204)
    await api.fails('GET', `/v2.0/agents/${meta.id}`, undefined, 404, 'AgentNotFound')
  })
})
