import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  canonicalIp,
  cidrsOverlap,
  defaultPools,
  firstFree,
  formatCidr,
  isValidMac,
  parseCidr,
  poolSize,
  randomMac,
} from '../../../src/network/ipam.ts'

describe('ipam', () => {
  it('parses CIDRs, strictly when asked', () => {
    assert.equal(formatCidr(parseCidr('192.0.2.0/24')!), '192.0.2.0/24')
    assert.equal(formatCidr(parseCidr('192.0.2.7/24')!), '192.0.2.0/24')
    assert.equal(parseCidr('192.0.2.7/24', true), undefined)
    assert.equal(parseCidr('192.0.2.0/33'), undefined)
    assert.equal(parseCidr('nonsense'), undefined)
    assert.equal(formatCidr(parseCidr('2001:db8:0:0::/64')!), '2001:db8::/64')
  })

  it('canonicalises addresses (RFC 5952)', () => {
    assert.equal(canonicalIp('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1')
    assert.equal(canonicalIp('::ffff:192.0.2.1'), '::ffff:c000:201')
    assert.equal(canonicalIp('192.0.2.1'), '192.0.2.1')
    assert.equal(canonicalIp('x'), undefined)
  })

  it('detects overlap only within one IP version', () => {
    assert.ok(cidrsOverlap(parseCidr('192.0.2.0/24')!, parseCidr('192.0.2.128/25')!))
    assert.ok(!cidrsOverlap(parseCidr('192.0.2.0/25')!, parseCidr('192.0.2.128/25')!))
    assert.ok(!cidrsOverlap(parseCidr('192.0.2.0/24')!, parseCidr('2001:db8::/64')!))
  })

  it('builds default pools around the gateway', () => {
    const c = parseCidr('192.0.2.0/24')!
    assert.deepEqual(defaultPools(c, '192.0.2.1'), [{ start: '192.0.2.2', end: '192.0.2.254' }])
    assert.deepEqual(defaultPools(c, '192.0.2.100'), [
      { start: '192.0.2.1', end: '192.0.2.99' },
      { start: '192.0.2.101', end: '192.0.2.254' },
    ])
    assert.deepEqual(defaultPools(c, null), [{ start: '192.0.2.1', end: '192.0.2.254' }])
    assert.equal(poolSize(defaultPools(c, '192.0.2.1')), 253n)
  })

  it('picks the first free address and reports exhaustion', () => {
    const pools = [{ start: '198.51.100.2', end: '198.51.100.3' }]
    assert.equal(firstFree(pools, new Set(), 4), '198.51.100.2')
    assert.equal(firstFree(pools, new Set(['198.51.100.2']), 4), '198.51.100.3')
    assert.equal(firstFree(pools, new Set(['198.51.100.2', '198.51.100.3']), 4), undefined)
  })

  it('makes and checks MAC addresses', () => {
    assert.match(randomMac(), /^fa:16:3e(:[0-9a-f]{2}){3}$/)
    assert.ok(isValidMac('fa:16:3e:00:00:01'))
    assert.ok(!isValidMac('01:00:5e:00:00:01'))
    assert.ok(!isValidMac('00:00:00:00:00:00'))
    assert.ok(!isValidMac('zz'))
  })
})
