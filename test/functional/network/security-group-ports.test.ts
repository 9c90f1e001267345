import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { Neutron } from './client.ts'

const TEST_TIMEOUT_MS = 60_000

/** Security group rule port ranges, checked as Neutron's _validate_port_range (Tempest's invalid-ports test). */
describe('security group rule port ranges', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let api: Neutron
  let sgId: string

  before(async () => {
    tc = await startTestCloud()
    api = await Neutron.connect(tc)
    sgId = (await api.ok('POST', '/v2.0/security-groups', { security_group: { name: 'ports' } }, 201))
      .security_group.id
  })
  after(() => tc?.stop())

  const rule = (protocol: string, min: number | null, max: number | null) => ({
    security_group_rule: {
      security_group_id: sgId,
      direction: 'ingress',
      protocol,
      port_range_min: min,
      port_range_max: max,
    },
  })

  it('TCP: both ends in order within 1..65535', async () => {
    for (const [min, max, type, text] of [
      [-16, 80, 'SecurityGroupInvalidPortValue', 'Invalid value for port -16'],
      [80, 79, 'SecurityGroupInvalidPortRange', 'port_range_min must be <= port_range_max'],
      [80, 65536, 'SecurityGroupInvalidPortValue', 'Invalid value for port 65536'],
      [null, 6, 'SecurityGroupInvalidPortRange', 'port_range_min must be <= port_range_max'],
      [6, null, 'SecurityGroupInvalidPortRange', 'port_range_min must be <= port_range_max'],
    ] as const) {
      const msg = await api.fails('POST', '/v2.0/security-group-rules', rule('tcp', min, max), 400, type)
      assert.ok(msg.includes(text), `${min}-${max}: ${msg}`)
    }
  })

  it('ICMP: type and code 0..255, a code needs a type', async () => {
    for (const [min, max, text] of [
      [1, 256, 'Invalid value for ICMP code'],
      [-1, 25, 'Invalid value'],
      [null, 6, 'ICMP type (port-range-min) is missing'],
      [300, 1, 'Invalid value for ICMP type'],
    ] as const) {
      const r = await api.req('POST', '/v2.0/security-group-rules', rule('icmp', min, max))
      assert.equal(r.status, 400, JSON.stringify(r.body))
      assert.ok(
        String(r.body.NeutronError.message).includes(text),
        `${min}-${max}: ${r.body.NeutronError.message}`,
      )
    }
  })

  it('the whole TCP range is stored as any port; a single port stays', async () => {
    const all = await api.ok('POST', '/v2.0/security-group-rules', rule('tcp', 1, 65535), 201)
    assert.equal(all.security_group_rule.port_range_min, null)
    assert.equal(all.security_group_rule.port_range_max, null)
    const one = await api.ok('POST', '/v2.0/security-group-rules', rule('udp', 53, 53), 201)
    assert.equal(one.security_group_rule.port_range_min, 53)
    assert.equal(one.security_group_rule.port_range_max, 53)
  })
})
