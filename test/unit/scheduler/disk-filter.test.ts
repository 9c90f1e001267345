import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { DiskFilter } from '../../../src/scheduler/filters/disk-filter.ts'
import type { HostFilter } from '../../../src/scheduler/types.ts'
import { flavor, host, spec } from './fixtures.ts'

describe('DiskFilter', () => {
  const filter: HostFilter = new DiskFilter()
  // 20 GB root + 10 GB ephemeral + 512 MB swap = 30.5 GB
  const needs = spec({ flavor: flavor({ rootGb: 20, ephemeralGb: 10, swapMb: 512 }) })

  it('passes a host with room for root, ephemeral and swap', () => {
    assert.deepEqual(filter.hostPasses(host('a', { usedDiskGb: 69.5 }), needs), { pass: true })
  })

  it('rejects a host without room, counting swap and reserved disk', () => {
    const verdict = filter.hostPasses(host('a', { usedDiskGb: 60, reservedDiskGb: 10 }), needs)
    assert.deepEqual(verdict, {
      pass: false,
      reason: 'needs 30.5 GB, 30 GB free (100 GB x 1.0 - 60 GB used - 10 GB reserved)',
    })
  })

  it('lets the allocation ratio overcommit, but not past the physical disk for one instance', () => {
    assert.deepEqual(filter.hostPasses(host('a', { usedDiskGb: 100, diskAllocationRatio: 2.0 }), needs), {
      pass: true,
    })
    const tiny = host('a', { totalDiskGb: 20, diskAllocationRatio: 10.0 })
    assert.deepEqual(filter.hostPasses(tiny, needs), {
      pass: false,
      reason: 'needs 30.5 GB, host has 20 GB in total',
    })
  })

  it('summarises the need and the most free disk', () => {
    const rejected = [host('a', { usedDiskGb: 80 }), host('b', { usedDiskGb: 90 })]
    assert.equal(
      filter.summarize(rejected, 5, needs),
      'DiskFilter rejected 2 of 5 hosts: needs 30.5 GB disk, most free 20 GB',
    )
  })
})
