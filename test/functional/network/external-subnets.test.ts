import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { Neutron } from './client.ts'

const TEST_TIMEOUT_MS = 60_000

/** Neutron's get_subnet: a member sees an external network but not its subnets (Tempest's external network visibility). */
describe('subnets of external and shared networks', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let api: Neutron

  before(async () => {
    tc = await startTestCloud()
    api = await Neutron.connect(tc)
  })
  after(() => tc?.stop())

  it('a member sees the external network, not its subnet; a shared network shows both', async () => {
    const ext = (
      await api.ok('POST', '/v2.0/networks', { network: { name: 'ext', 'router:external': true } }, 201)
    ).network
    const extSubnet = (
      await api.ok(
        'POST',
        '/v2.0/subnets',
        { subnet: { network_id: ext.id, cidr: '203.0.113.0/24', ip_version: 4 } },
        201,
      )
    ).subnet
    const shared = (
      await api.ok('POST', '/v2.0/networks', { network: { name: 'shared', shared: true } }, 201)
    ).network
    const sharedSubnet = (
      await api.ok(
        'POST',
        '/v2.0/subnets',
        { subnet: { network_id: shared.id, cidr: '198.51.100.0/24', ip_version: 4 } },
        201,
      )
    ).subnet
    const member = await api.member(tc, 'ext-viewer')
    await member.ok('GET', `/v2.0/networks/${ext.id}`, undefined, 200)
    assert.deepEqual(
      (await member.ok('GET', `/v2.0/subnets?network_id=${ext.id}`, undefined, 200)).subnets,
      [],
    )
    await member.fails('GET', `/v2.0/subnets/${extSubnet.id}`, undefined, 404, 'SubnetNotFound')
    const seen = await member.ok('GET', `/v2.0/subnets?network_id=${shared.id}`, undefined, 200)
    assert.deepEqual(
      seen.subnets.map((s: { id: string }) => s.id),
      [sharedSubnet.id],
    )
  })
})
