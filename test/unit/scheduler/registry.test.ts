import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Invalid } from '../../../src/common/errors.ts'
import { DEFAULT_SCHEDULER_OPTIONS } from '../../../src/scheduler/options.ts'
import { createFilters, createWeighers, FILTERS, WEIGHERS } from '../../../src/scheduler/registry.ts'

describe('scheduler registry', () => {
  it('builds the default filters in the configured order', () => {
    assert.deepEqual(
      createFilters(DEFAULT_SCHEDULER_OPTIONS).map((f) => f.name),
      DEFAULT_SCHEDULER_OPTIONS.enabledFilters,
    )
  })

  it('knows every filter and weigher by its Nova class name', () => {
    for (const [name, make] of Object.entries(FILTERS))
      assert.equal(make(DEFAULT_SCHEDULER_OPTIONS).name, name)
    for (const [name, make] of Object.entries(WEIGHERS))
      assert.equal(make(DEFAULT_SCHEDULER_OPTIONS).name, name)
  })

  it('passes the multipliers from the options', () => {
    const opts = { ...DEFAULT_SCHEDULER_OPTIONS, enabledWeighers: ['RAMWeigher', 'BuildFailureWeigher'] }
    const weighers = createWeighers({ ...opts, ramWeightMultiplier: -2.5, buildFailureWeightMultiplier: 10 })
    assert.deepEqual(
      weighers.map((w) => [w.name, w.multiplier]),
      [
        ['RAMWeigher', -2.5],
        ['BuildFailureWeigher', -10],
      ],
    )
  })

  it("accepts Nova's dotted class paths and all_weighers", () => {
    const opts = {
      ...DEFAULT_SCHEDULER_OPTIONS,
      enabledFilters: ['nova.scheduler.filters.ram_filter.RamFilter'],
      enabledWeighers: ['nova.scheduler.weights.all_weighers'],
    }
    assert.deepEqual(
      createFilters(opts).map((f) => f.name),
      ['RamFilter'],
    )
    assert.deepEqual(
      createWeighers(opts).map((w) => w.name),
      Object.keys(WEIGHERS),
    )
  })

  it('refuses an unknown name and lists the known ones', () => {
    assert.throws(
      () =>
        createFilters({ ...DEFAULT_SCHEDULER_OPTIONS, enabledFilters: ['RamFilter', 'NUMATopologyFilter'] }),
      (err: Error) =>
        err instanceof Invalid &&
        /unknown scheduler filter 'NUMATopologyFilter'; known: .*RamFilter/.test(err.message),
    )
    assert.throws(
      () => createWeighers({ ...DEFAULT_SCHEDULER_OPTIONS, enabledWeighers: ['toString'] }),
      /unknown scheduler weigher 'toString'/,
    )
  })
})
