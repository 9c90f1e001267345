import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { BuildFailureWeigher } from '../../../src/scheduler/weighers/build-failure-weigher.ts'
import { CPUWeigher } from '../../../src/scheduler/weighers/cpu-weigher.ts'
import { DiskWeigher } from '../../../src/scheduler/weighers/disk-weigher.ts'
import { RAMWeigher } from '../../../src/scheduler/weighers/ram-weigher.ts'
import { ServerGroupSoftAffinityWeigher } from '../../../src/scheduler/weighers/server-group-soft-affinity-weigher.ts'
import { ServerGroupSoftAntiAffinityWeigher } from '../../../src/scheduler/weighers/server-group-soft-anti-affinity-weigher.ts'
import { weighHosts } from '../../../src/scheduler/weigh.ts'
import type { HostWeigher } from '../../../src/scheduler/types.ts'
import { group, host, spec } from './fixtures.ts'

describe('RAMWeigher', () => {
  it('weighs physical free RAM (no overcommit), normalised against 0', () => {
    const weigher: HostWeigher = new RAMWeigher(1.0)
    const h = host('a', { usedMemoryMb: 2048, reservedMemoryMb: 512, ramAllocationRatio: 1.5 })
    assert.equal(weigher.weigh(h, spec()), 5632)
    assert.equal(weigher.minval, 0)
    assert.equal(weigher.multiplier, 1.0)
  })

  it('spreads with a positive multiplier and stacks with a negative one', () => {
    const hosts = [host('full', { usedMemoryMb: 6144 }), host('empty')]
    assert.equal(weighHosts([new RAMWeigher(1.0)], hosts, spec())[0]!.host.host, 'empty')
    assert.equal(weighHosts([new RAMWeigher(-1.0)], hosts, spec())[0]!.host.host, 'full')
  })
})

describe('CPUWeigher', () => {
  it('weighs free vCPUs after overcommit', () => {
    const weigher: HostWeigher = new CPUWeigher(1.0)
    assert.equal(weigher.weigh(host('a', { cpuAllocationRatio: 4.0, usedVcpus: 10 }), spec()), 22)
    assert.equal(weigher.minval, 0)
  })
})

describe('DiskWeigher', () => {
  it('weighs physical free disk in MB', () => {
    const weigher: HostWeigher = new DiskWeigher(1.0)
    assert.equal(weigher.weigh(host('a', { usedDiskGb: 20, reservedDiskGb: 10 }), spec()), 70 * 1024)
    assert.equal(weigher.minval, 0)
  })
})

describe('BuildFailureWeigher', () => {
  it("negates Nova's configured multiplier and weighs the failure count", () => {
    const weigher: HostWeigher = new BuildFailureWeigher(1_000_000)
    assert.equal(weigher.multiplier, -1_000_000)
    assert.equal(weigher.weigh(host('a', { failedBuilds: 3 }), spec()), 3)
  })

  it('outweighs every resource weigher with the default multiplier', () => {
    const hosts = [host('flaky', { failedBuilds: 1 }), host('busy', { usedMemoryMb: 8000, usedVcpus: 7 })]
    const weighers = [
      new RAMWeigher(1),
      new CPUWeigher(1),
      new DiskWeigher(1),
      new BuildFailureWeigher(1_000_000),
    ]
    assert.equal(weighHosts(weighers, hosts, spec())[0]!.host.host, 'busy')
  })
})

describe('ServerGroupSoftAffinityWeigher', () => {
  const weigher: HostWeigher = new ServerGroupSoftAffinityWeigher(1.0)
  const soft = spec({ instanceGroup: group({ policy: 'soft-affinity', members: ['m1', 'm2', 'm3'] }) })

  it('weighs the number of group members on the host', () => {
    assert.equal(weigher.weigh(host('a', { instanceUuids: ['m1', 'm2', 'x'] }), soft), 2)
    assert.equal(weigher.weigh(host('b'), soft), 0)
  })

  it('weighs 0 for other policies or no group', () => {
    const hard = spec({ instanceGroup: group({ policy: 'affinity', members: ['m1'] }) })
    assert.equal(weigher.weigh(host('a', { instanceUuids: ['m1'] }), hard), 0)
    assert.equal(weigher.weigh(host('a', { instanceUuids: ['m1'] }), spec()), 0)
  })

  it('prefers the host with more members', () => {
    const hosts = [host('a', { instanceUuids: ['m1'] }), host('b', { instanceUuids: ['m2', 'm3'] })]
    assert.equal(weighHosts([weigher], hosts, soft)[0]!.host.host, 'b')
  })
})

describe('ServerGroupSoftAntiAffinityWeigher', () => {
  const weigher: HostWeigher = new ServerGroupSoftAntiAffinityWeigher(1.0)
  const soft = spec({ instanceGroup: group({ policy: 'soft-anti-affinity', members: ['m1', 'm2'] }) })

  it('weighs minus the number of group members on the host', () => {
    assert.equal(weigher.weigh(host('a', { instanceUuids: ['m1', 'm2'] }), soft), -2)
    assert.equal(weigher.weigh(host('a', { instanceUuids: ['m1'] }), spec()), 0)
  })

  it('prefers the host with fewer members', () => {
    const hosts = [host('a', { instanceUuids: ['m1'] }), host('b')]
    assert.equal(weighHosts([weigher], hosts, soft)[0]!.host.host, 'b')
  })
})
