import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { DifferentHostFilter } from '../../../src/scheduler/filters/different-host-filter.ts'
import { ForcedHostFilter } from '../../../src/scheduler/filters/forced-host-filter.ts'
import { RetryFilter } from '../../../src/scheduler/filters/retry-filter.ts'
import { SameHostFilter } from '../../../src/scheduler/filters/same-host-filter.ts'
import type { HostFilter } from '../../../src/scheduler/types.ts'
import { host, spec } from './fixtures.ts'

const withVm1 = host('a', { instanceUuids: ['vm-1'] })
const withVm2 = host('b', { instanceUuids: ['vm-2'] })

describe('SameHostFilter', () => {
  const filter: HostFilter = new SameHostFilter()

  it('passes every host without the hint or with an empty one', () => {
    assert.deepEqual(filter.hostPasses(withVm2, spec()), { pass: true })
    assert.deepEqual(filter.hostPasses(withVm2, spec({ schedulerHints: { same_host: [] } })), { pass: true })
  })

  it('passes a host running one of the instances (a string or a list)', () => {
    assert.deepEqual(filter.hostPasses(withVm1, spec({ schedulerHints: { same_host: 'vm-1' } })), {
      pass: true,
    })
    const list = spec({ schedulerHints: { same_host: ['vm-9', 'vm-1'] } })
    assert.deepEqual(filter.hostPasses(withVm1, list), { pass: true })
    assert.deepEqual(filter.hostPasses(withVm2, list), {
      pass: false,
      reason: 'runs none of the same_host instances vm-9, vm-1',
    })
  })

  it('summarises', () => {
    const hint = spec({ schedulerHints: { same_host: ['vm-9', 'vm-1'] } })
    assert.equal(
      filter.summarize([withVm2], 2, hint),
      'SameHostFilter rejected 1 of 2 hosts: none runs an instance named in same_host',
    )
  })
})

describe('DifferentHostFilter', () => {
  const filter: HostFilter = new DifferentHostFilter()

  it('passes every host without the hint', () => {
    assert.deepEqual(filter.hostPasses(withVm1, spec()), { pass: true })
  })

  it('rejects a host running one of the instances and passes the others', () => {
    const hint = spec({ schedulerHints: { different_host: ['vm-1'] } })
    assert.deepEqual(filter.hostPasses(withVm1, hint), {
      pass: false,
      reason: 'runs different_host instance vm-1',
    })
    assert.deepEqual(filter.hostPasses(withVm2, hint), { pass: true })
    assert.deepEqual(
      filter.hostPasses(withVm1, spec({ schedulerHints: { different_host: 'vm-1' } })).pass,
      false,
    )
  })

  it('summarises', () => {
    const hint = spec({ schedulerHints: { different_host: 'vm-1' } })
    assert.equal(
      filter.summarize([withVm1], 2, hint),
      'DifferentHostFilter rejected 1 of 2 hosts: each runs an instance named in different_host',
    )
  })
})

describe('RetryFilter (ignoreHosts)', () => {
  const filter: HostFilter = new RetryFilter()

  it('rejects hosts where this build already failed, ignoring case', () => {
    const retry = spec({ ignoreHosts: ['HOST-A'] })
    assert.deepEqual(filter.hostPasses(host('host-a'), retry), {
      pass: false,
      reason: 'an earlier attempt of this build failed here',
    })
    assert.deepEqual(filter.hostPasses(host('host-b'), retry), { pass: true })
  })
})

describe('ForcedHost', () => {
  const filter: HostFilter = new ForcedHostFilter()

  it('keeps only the forced host, ignoring case', () => {
    const forced = spec({ forceHost: 'Host-A' })
    assert.deepEqual(filter.hostPasses(host('host-a'), forced), { pass: true })
    assert.deepEqual(filter.hostPasses(host('host-b'), forced), {
      pass: false,
      reason: "an admin forced host 'Host-A'",
    })
  })
})
