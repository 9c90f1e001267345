import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { mergeRuns, moduleOf, type Outcome, type TestResult } from '../../tempest/results.ts'

const r = (id: string, outcome: Outcome): TestResult => ({ id, module: moduleOf(id), outcome })
const M = 'tempest.api.compute.servers.test_create_server'

describe('adding Tempest runs up', () => {
  it('a test that ran counts with its outcome; a skip elsewhere does not hide it', () => {
    const fake = [
      r(`${M}.ServersTestJSON.test_a[id-1]`, 'skipped'),
      r(`${M}.ServersTestJSON.test_b[id-2]`, 'passed'),
    ]
    const vms = [
      r(`${M}.ServersTestJSON.test_a[id-1]`, 'passed'),
      r(`${M}.ServersTestJSON.test_b[id-2]`, 'skipped'),
    ]
    const merged = mergeRuns([fake, vms])
    assert.deepEqual(
      merged.map((x) => [x.id, x.outcome]),
      [
        [`${M}.ServersTestJSON.test_a[id-1]`, 'passed'],
        [`${M}.ServersTestJSON.test_b[id-2]`, 'passed'],
      ],
    )
  })

  it('between two runs that ran a test, the later one wins (a failure is not hidden by an earlier pass)', () => {
    const merged = mergeRuns([[r(`${M}.X.test_a`, 'passed')], [r(`${M}.X.test_a`, 'failed')]])
    assert.deepEqual(
      merged.map((x) => x.outcome),
      ['failed'],
    )
  })

  it('a class skipped whole in one run stops counting once another run ran its tests', () => {
    const fake = [r(`setUpClass (${M}.AttachTest)`, 'skipped'), r(`setUpClass (${M}.OtherTest)`, 'skipped')]
    const vms = [r(`${M}.AttachTest.test_attach[id-3]`, 'passed')]
    const merged = mergeRuns([fake, vms])
    assert.deepEqual(
      merged.map((x) => x.id),
      [`setUpClass (${M}.OtherTest)`, `${M}.AttachTest.test_attach[id-3]`],
    )
  })
})
