import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RamFilter } from '../../../src/scheduler/filters/ram-filter.ts'
import type { HostFilter } from '../../../src/scheduler/types.ts'
import { flavor, host, spec } from './fixtures.ts'

describe('RamFilter', () => {
  const filter: HostFilter = new RamFilter()
  const needs4096 = spec({ flavor: flavor({ memoryMb: 4096 }) })

  it('passes a host with exactly enough free RAM', () => {
    assert.deepEqual(filter.hostPasses(host('a', { usedMemoryMb: 4096 }), needs4096), { pass: true })
  })

  it('rejects a host without enough free RAM, with the arithmetic', () => {
    const verdict = filter.hostPasses(host('a', { usedMemoryMb: 6144 }), needs4096)
    assert.deepEqual(verdict, {
      pass: false,
      reason: 'needs 4096 MB, 2048 MB free (8192 MB x 1.0 - 6144 MB used - 0 MB reserved)',
    })
  })

  it('counts memory reserved for the host', () => {
    const verdict = filter.hostPasses(host('a', { usedMemoryMb: 4096, reservedMemoryMb: 512 }), needs4096)
    assert.deepEqual(verdict, {
      pass: false,
      reason: 'needs 4096 MB, 3584 MB free (8192 MB x 1.0 - 4096 MB used - 512 MB reserved)',
    })
  })

  it('lets the allocation ratio overcommit against other instances', () => {
    const overcommitted = host('a', { usedMemoryMb: 8192, ramAllocationRatio: 1.5 })
    assert.deepEqual(filter.hostPasses(overcommitted, needs4096), { pass: true })
  })

  it('never lets an instance overcommit against itself', () => {
    const small = host('a', { totalMemoryMb: 2048, ramAllocationRatio: 4.0 })
    assert.deepEqual(filter.hostPasses(small, needs4096), {
      pass: false,
      reason: 'needs 4096 MB, host has 2048 MB in total',
    })
  })

  it('summarises the need and the most free RAM among the rejected hosts', () => {
    const rejected = [
      host('a', { usedMemoryMb: 7168 }),
      host('b', { usedMemoryMb: 6144 }),
      host('c', { usedMemoryMb: 9000 }),
    ]
    assert.equal(
      filter.summarize(rejected, 3, needs4096),
      'RamFilter rejected 3 of 3 hosts: needs 4096 MB, most free 2048 MB',
    )
  })

  it('runs for every instance, since each pick consumes RAM', () => {
    assert.ok(!filter.runOncePerRequest)
  })
})
