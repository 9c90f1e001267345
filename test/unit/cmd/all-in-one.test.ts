import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ALL_SERVICES, isAllInOne, withAllInOneDefaults } from '../../../src/cmd/cloud.ts'
import { loadConfig } from '../../../src/common/config.ts'

/** allow_resize_to_same_host / allow_migrate_to_same_host: on for the all-in-one, Nova's defaults otherwise. */
describe('all-in-one defaults', () => {
  const config = (overrides: Record<string, string> = {}) => loadConfig({ env: {}, overrides })

  it('Nova defaults (both off) when loaded without a deployment', () => {
    const c = config()
    assert.equal(c.compute.allowResizeToSameHost, false)
    assert.equal(c.compute.allowMigrateToSameHost, false)
  })

  it('turns both on for every service with one compute host (nimbus up)', () => {
    const c = withAllInOneDefaults(config(), ALL_SERVICES)
    assert.equal(c.compute.allowResizeToSameHost, true)
    assert.equal(c.compute.allowMigrateToSameHost, true)
  })

  it('keeps Nova defaults with several fake hosts, or without the API or a host in the process', () => {
    const multi = config({ 'compute.fake_hosts': '2' })
    assert.equal(isAllInOne(multi, ALL_SERVICES), false)
    assert.equal(withAllInOneDefaults(multi, ALL_SERVICES).compute.allowResizeToSameHost, false)
    assert.equal(isAllInOne(config(), ['compute']), false, 'nimbus serve compute: other hosts may join')
    assert.equal(isAllInOne(config(), ['compute-api', 'conductor', 'scheduler']), false)
    const distributed = withAllInOneDefaults(config(), ['compute'])
    assert.equal(distributed.compute.allowMigrateToSameHost, false)
  })

  it("keeps an operator's explicit false on the all-in-one", () => {
    const c = withAllInOneDefaults(config({ 'compute.allow_resize_to_same_host': 'false' }), ALL_SERVICES)
    assert.equal(c.compute.allowResizeToSameHost, false)
    assert.equal(c.compute.allowMigrateToSameHost, true)
  })
})
