import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { dropsHost } from '../../../src/network/dataplane/dnsmasq.ts'

/**
 * dnsmasq keeps leases in memory (--leasefile-ro): when a port goes, its
 * lease would keep its address from the next port given it, so the data
 * plane restarts dnsmasq (instead of SIGHUP) whenever a host entry goes.
 */
describe('dnsmasq host entries', () => {
  const a = 'fa:16:3e:00:00:01,host-192-0-2-10,192.0.2.10\n'
  const b = 'fa:16:3e:00:00:02,host-192-0-2-11,192.0.2.11\n'
  it('an added entry is a reload', () => {
    assert.equal(dropsHost(a, a + b), false)
    assert.equal(dropsHost('', a), false)
  })
  it('a removed or changed entry is a restart', () => {
    assert.equal(dropsHost(a + b, a), true)
    assert.equal(dropsHost(b, 'fa:16:3e:00:00:03,host-192-0-2-11,192.0.2.11\n'), true)
  })
})
