import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { CoreFilter } from '../../../src/scheduler/filters/core-filter.ts'
import type { HostFilter } from '../../../src/scheduler/types.ts'
import { flavor, host, spec } from './fixtures.ts'

describe('CoreFilter', () => {
  const filter: HostFilter = new CoreFilter()
  const needs2 = spec({ flavor: flavor({ vcpus: 2 }) })

  it('passes a host with enough vCPUs after overcommit', () => {
    assert.deepEqual(
      filter.hostPasses(host('a', { totalVcpus: 4, usedVcpus: 14, cpuAllocationRatio: 4.0 }), needs2),
      {
        pass: true,
      },
    )
  })

  it('rejects a host without enough vCPUs, with the arithmetic', () => {
    const verdict = filter.hostPasses(
      host('a', { totalVcpus: 4, usedVcpus: 15, cpuAllocationRatio: 4.0 }),
      needs2,
    )
    assert.deepEqual(verdict, { pass: false, reason: 'needs 2 vCPUs, 1 vCPU free (4 x 4.0 - 15 used)' })
  })

  it('never lets an instance have more vCPUs than the host has cores', () => {
    const verdict = filter.hostPasses(
      host('a', { totalVcpus: 8, cpuAllocationRatio: 16.0 }),
      spec({ flavor: flavor({ vcpus: 16 }) }),
    )
    assert.deepEqual(verdict, { pass: false, reason: 'needs 16 vCPUs, host has 8 vCPUs in total' })
  })

  it('passes a host that reports no vCPUs (broken collection), as Nova does', () => {
    assert.deepEqual(filter.hostPasses(host('a', { totalVcpus: 0 }), needs2), { pass: true })
  })

  it('summarises the need and the most free vCPUs', () => {
    const rejected = [host('a', { usedVcpus: 7 }), host('b', { usedVcpus: 8 })]
    assert.equal(
      filter.summarize(rejected, 2, needs2),
      'CoreFilter rejected 2 of 2 hosts: needs 2 vCPUs, most free 1 vCPU',
    )
  })
})
