import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  moduleOf,
  parseSubunitCsv,
  passRate,
  renderConformance,
  summarize,
  summarizeAreas,
} from '../../tempest/results.ts'
import { tempestConf, type TempestTarget } from '../../tempest/conf.ts'
import { CONFORMANCE_AREAS, FEATURE_FLAGS } from '../../tempest/features.ts'

const CSV = [
  'test,status,start_time,stop_time',
  '"tempest.api.identity.v3.test_tokens.TokensV3Test.test_create_token[id-6f8e4436,smoke]",success,2026-11-25 21:00:00+00:00,2026-11-25 21:00:01+00:00',
  'tempest.api.identity.v3.test_tokens.TokensV3Test.test_validate_token[id-a9512ac3],fail,x,y',
  '"tempest.api.compute.servers.test_create_server.ServersTestJSON.test_list_servers[id-9a438d88,smoke]",skip,x,y',
  'setUpClass (tempest.api.compute.admin.test_flavors.FlavorsAdminTestJSON),failure,x,y',
  'tempest.api.image.v2.test_images.X.test_y,surprise,x,y',
].join('\n')

/** A cloud as run.ts describes it to tempestConf. */
const TARGET: TempestTarget = {
  authUrl: 'http://127.0.0.1:5000/v3',
  region: 'RegionOne',
  adminUser: 'admin',
  adminPassword: 'pw',
  adminProject: 'admin',
  domain: 'Default',
  imageRef: 'i1',
  imageRefAlt: 'i2',
  flavorRef: 'f1',
  flavorRefAlt: 'f2',
  minMicroversion: '2.1',
  maxMicroversion: '2.1',
  lockPath: '/tmp/l',
  logFile: '/tmp/t.log',
}

describe('tempest results', () => {
  it('finds the module of a test id', () => {
    assert.equal(
      moduleOf('tempest.api.identity.v3.test_tokens.TokensV3Test.test_create_token[id-1,smoke]'),
      'tempest.api.identity.v3.test_tokens',
    )
  })

  it('counts pass, fail and skip per module', () => {
    const results = parseSubunitCsv(CSV)
    assert.equal(results.length, 5)
    const s = summarize(results)
    assert.deepEqual(s.total, { passed: 1, failed: 3, skipped: 1 })
    assert.deepEqual(s.modules.get('tempest.api.identity.v3.test_tokens'), {
      passed: 1,
      failed: 1,
      skipped: 0,
    })
    assert.deepEqual(s.modules.get('tempest.api.compute.admin.test_flavors'), {
      passed: 0,
      failed: 1,
      skipped: 0,
    })
    assert.deepEqual(s.modules.get('tempest.api.compute.servers.test_create_server'), {
      passed: 0,
      failed: 0,
      skipped: 1,
    })
  })

  it('lists disabled flags with their reasons and the failures in the conformance page', () => {
    const results = parseSubunitCsv(CSV)
    const doc = renderConformance(
      summarize(results),
      results,
      { date: 'd', commit: 'c', regex: 'r' },
      FEATURE_FLAGS,
    )
    assert.match(doc, /1 passed, 3 failed, 1 skipped/)
    assert.match(doc, /\[service_available\] cinder = False`: no block storage service/)
    assert.match(doc, /test_validate_token/)
    for (const f of FEATURE_FLAGS) {
      if (f.value === 'False') assert.ok(f.why, `${f.section}.${f.key} is off without a reason`)
    }
  })

  it('sums each area and rates the tests that ran', () => {
    const s = summarize(parseSubunitCsv(CSV))
    const areas = summarizeAreas(s, CONFORMANCE_AREAS)
    assert.deepEqual(
      areas.map((a) => [a.name, a.counts.passed, a.counts.failed, a.counts.skipped]),
      [
        ['compute', 0, 1, 1],
        ['identity', 1, 1, 0],
        ['image', 0, 1, 0],
      ],
    )
    assert.equal(passRate(areas[1]!.counts), '50.0%')
    assert.equal(passRate({ passed: 0, failed: 0, skipped: 3 }), '-')
    const doc = renderConformance(s, [], { date: 'd', commit: 'c', regex: 'r' }, [], CONFORMANCE_AREAS)
    assert.match(doc, /\| identity \| 1 \| 1 \| 0 \| 50\.0% \|/)
    assert.match(doc, /\(25\.0% of the tests that ran passed\)/)
  })

  it('writes every feature flag into tempest.conf', () => {
    const conf = tempestConf(TARGET)
    assert.match(conf, /\[identity\]\nuri_v3 = http:\/\/127\.0\.0\.1:5000\/v3/)
    assert.match(conf, /\[service_available\][^[]*cinder = False/)
    assert.match(conf, /max_microversion = 2\.1/)
    assert.doesNotMatch(conf, /min_compute_nodes/)
  })

  it('tells Tempest how many compute nodes the cloud has, so it runs the multi-node tests', () => {
    const conf = tempestConf({ ...TARGET, minComputeNodes: 2 })
    assert.match(conf, /\[compute\][^[]*min_compute_nodes = 2\n/)
  })
})
