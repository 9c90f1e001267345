import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ServerGroupAffinityFilter } from '../../../src/scheduler/filters/server-group-affinity-filter.ts'
import { ServerGroupAntiAffinityFilter } from '../../../src/scheduler/filters/server-group-anti-affinity-filter.ts'
import type { HostFilter } from '../../../src/scheduler/types.ts'
import { group, host, spec } from './fixtures.ts'

describe('ServerGroupAffinityFilter', () => {
  const filter: HostFilter = new ServerGroupAffinityFilter()

  it('passes every host without an affinity group, or before the group has a host', () => {
    assert.deepEqual(filter.hostPasses(host('a'), spec()), { pass: true })
    const anti = spec({ instanceGroup: group({ policy: 'anti-affinity', hosts: ['b'] }) })
    assert.deepEqual(filter.hostPasses(host('a'), anti), { pass: true })
    const fresh = spec({ instanceGroup: group({ hosts: [] }) })
    assert.deepEqual(filter.hostPasses(host('a'), fresh), { pass: true })
  })

  it("passes only the group's host once it has one", () => {
    const placed = spec({ instanceGroup: group({ hosts: ['b'], members: ['old'] }) })
    assert.deepEqual(filter.hostPasses(host('b'), placed), { pass: true })
    assert.deepEqual(filter.hostPasses(host('a'), placed), {
      pass: false,
      reason: 'affinity group group-1 runs on b, not here',
    })
  })

  it('summarises without naming hosts', () => {
    const placed = spec({ instanceGroup: group({ hosts: ['b'] }) })
    assert.equal(
      filter.summarize([host('a'), host('c')], 3, placed),
      'ServerGroupAffinityFilter rejected 2 of 3 hosts: affinity group members already run on 1 other host',
    )
  })

  it('runs for every instance: each pick can give the group its host', () => {
    assert.ok(!filter.runOncePerRequest)
  })
})

describe('ServerGroupAntiAffinityFilter', () => {
  const filter: HostFilter = new ServerGroupAntiAffinityFilter()
  const anti = (over: Parameters<typeof group>[0] = {}) =>
    spec({ instanceGroup: group({ policy: 'anti-affinity', members: ['m1', 'm2'], ...over }) })

  it('passes every host without an anti-affinity group', () => {
    assert.deepEqual(filter.hostPasses(host('a', { instanceUuids: ['m1'] }), spec()), { pass: true })
    const affinity = spec({ instanceGroup: group({ members: ['m1'] }) })
    assert.deepEqual(filter.hostPasses(host('a', { instanceUuids: ['m1'] }), affinity), { pass: true })
  })

  it('rejects a host already running a member, and passes one running only non-members', () => {
    assert.deepEqual(filter.hostPasses(host('a', { instanceUuids: ['m1', 'x'] }), anti()), {
      pass: false,
      reason: 'runs 1 member of anti-affinity group group-1 (max_server_per_host 1)',
    })
    assert.deepEqual(filter.hostPasses(host('b', { instanceUuids: ['x', 'y'] }), anti()), { pass: true })
  })

  it('honours max_server_per_host', () => {
    const two = anti({ maxServerPerHost: 2 })
    assert.deepEqual(filter.hostPasses(host('a', { instanceUuids: ['m1'] }), two), { pass: true })
    assert.deepEqual(filter.hostPasses(host('a', { instanceUuids: ['m1', 'm2'] }), two), {
      pass: false,
      reason: 'runs 2 members of anti-affinity group group-1 (max_server_per_host 2)',
    })
  })

  it('summarises with max_server_per_host', () => {
    assert.equal(
      filter.summarize([host('a')], 2, anti()),
      'ServerGroupAntiAffinityFilter rejected 1 of 2 hosts: each already runs 1 or more members of the anti-affinity group (max_server_per_host 1)',
    )
  })
})
