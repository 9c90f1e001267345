import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ComputeFilter } from '../../../src/scheduler/filters/compute-filter.ts'
import type { HostFilter } from '../../../src/scheduler/types.ts'
import { host, spec } from './fixtures.ts'

describe('ComputeFilter', () => {
  const filter: HostFilter = new ComputeFilter()

  it('passes a host whose service is up and enabled', () => {
    assert.deepEqual(filter.hostPasses(host('a'), spec()), { pass: true })
  })

  it('rejects a disabled service and names the disabled reason', () => {
    const verdict = filter.hostPasses(
      host('a', { serviceDisabled: true, serviceDisabledReason: 'maintenance' }),
      spec(),
    )
    assert.deepEqual(verdict, { pass: false, reason: 'compute service disabled: maintenance' })
  })

  it('says so when a disabled service has no reason', () => {
    const verdict = filter.hostPasses(host('a', { serviceDisabled: true }), spec())
    assert.deepEqual(verdict, { pass: false, reason: 'compute service disabled: no reason given' })
  })

  it('rejects a down service', () => {
    const verdict = filter.hostPasses(host('a', { serviceUp: false }), spec())
    assert.equal(verdict.pass, false)
    assert.match(
      !verdict.pass ? verdict.reason : '',
      /^compute service down: no heartbeat within service_down_time/,
    )
  })

  it('reports disabled before down, as Nova does', () => {
    const verdict = filter.hostPasses(host('a', { serviceUp: false, serviceDisabled: true }), spec())
    assert.match(!verdict.pass ? verdict.reason : '', /disabled/)
  })

  it('summarises with counts of disabled and down hosts', () => {
    const rejected = [host('a', { serviceDisabled: true }), host('b', { serviceUp: false })]
    assert.equal(
      filter.summarize(rejected, 3, spec()),
      'ComputeFilter rejected 2 of 3 hosts: 1 disabled, 1 down',
    )
  })

  it('runs once per request', () => {
    assert.equal(filter.runOncePerRequest, true)
  })
})
