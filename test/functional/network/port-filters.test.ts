import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { Neutron } from './client.ts'

const TEST_TIMEOUT_MS = 60_000

/** The `ip-substring-filtering` extension: `fixed_ips=ip_address_substr=...` on port lists. */
describe('port list filtered by an address substring', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let api: Neutron

  before(async () => {
    tc = await startTestCloud()
    api = await Neutron.connect(tc)
  })
  after(() => tc?.stop())

  it('is listed as an extension and matches ports whose address contains the text', async () => {
    await api.ok('GET', '/v2.0/extensions/ip-substring-filtering', undefined, 200)
    const net = (await api.ok('POST', '/v2.0/networks', { network: { name: 'substr' } }, 201)).network
    const subnet = (
      await api.ok(
        'POST',
        '/v2.0/subnets',
        { subnet: { network_id: net.id, cidr: '192.0.2.0/24', ip_version: 4, enable_dhcp: false } },
        201,
      )
    ).subnet
    const port = async (ip: string) =>
      (
        await api.ok(
          'POST',
          '/v2.0/ports',
          { port: { network_id: net.id, fixed_ips: [{ subnet_id: subnet.id, ip_address: ip }] } },
          201,
        )
      ).port
    const a = await port('192.0.2.17')
    await port('192.0.2.200')
    const found = await api.ok('GET', '/v2.0/ports?fixed_ips=ip_address_substr%3D2.17', undefined, 200)
    assert.deepEqual(
      found.ports.map((p: { id: string }) => p.id),
      [a.id],
    )
  })
})
