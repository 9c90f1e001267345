import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { AvailabilityZoneFilter } from '../../../src/scheduler/filters/availability-zone-filter.ts'
import type { HostFilter } from '../../../src/scheduler/types.ts'
import { host, spec } from './fixtures.ts'

describe('AvailabilityZoneFilter', () => {
  const filter: HostFilter = new AvailabilityZoneFilter()

  it('passes every host when no zone is requested', () => {
    assert.deepEqual(filter.hostPasses(host('a', { availabilityZone: 'az2' }), spec()), { pass: true })
  })

  it('passes a host in the requested zone', () => {
    const verdict = filter.hostPasses(
      host('a', { availabilityZone: 'az1' }),
      spec({ availabilityZone: 'az1' }),
    )
    assert.deepEqual(verdict, { pass: true })
  })

  it('rejects a host in another zone, naming both zones', () => {
    const verdict = filter.hostPasses(host('a'), spec({ availabilityZone: 'az1' }))
    assert.deepEqual(verdict, { pass: false, reason: "host is in zone 'nova', request asks for 'az1'" })
  })

  it('summarises the requested zone and the zones the hosts are in', () => {
    const rejected = [host('a'), host('b', { availabilityZone: 'az2' }), host('c')]
    assert.equal(
      filter.summarize(rejected, 4, spec({ availabilityZone: 'az1' })),
      "AvailabilityZoneFilter rejected 3 of 4 hosts: requested zone 'az1', hosts are in 'nova', 'az2'",
    )
  })
})
