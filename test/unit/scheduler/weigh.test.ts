import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { normalize, weighHosts } from '../../../src/scheduler/weigh.ts'
import { CPUWeigher } from '../../../src/scheduler/weighers/cpu-weigher.ts'
import { RAMWeigher } from '../../../src/scheduler/weighers/ram-weigher.ts'
import type { HostState, HostWeigher } from '../../../src/scheduler/types.ts'
import { host, spec } from './fixtures.ts'

/** A weigher with fixed raw weights by host name. */
function fixed(name: string, multiplier: number, raw: Record<string, number>, minval?: number): HostWeigher {
  return { name, multiplier, minval, weigh: (h: HostState) => raw[h.host] ?? 0 }
}

describe('normalize (nova.weights.normalize)', () => {
  it('maps the list onto 0..1 between its minimum and maximum', () => {
    assert.deepEqual(normalize([10, 20, 15]), [0, 1, 0.5])
  })

  it('gives all zeros when every weight is equal, and nothing for an empty list', () => {
    assert.deepEqual(normalize([7, 7, 7]), [0, 0, 0])
    assert.deepEqual(normalize([]), [])
  })

  it('uses minval/maxval instead of the list bounds when given', () => {
    assert.deepEqual(normalize([2048, 4096], 0), [0.5, 1])
    assert.deepEqual(normalize([5, 5], 0), [1, 1])
    assert.deepEqual(normalize([1, 3], 0, 4), [0.25, 0.75])
  })
})

describe('weighHosts', () => {
  const hosts = [host('a'), host('b'), host('c')]

  it('normalises each weigher, multiplies and sums, best first', () => {
    const weighers = [fixed('W1', 1.0, { a: 0, b: 10, c: 5 }), fixed('W2', 2.0, { a: 100, b: 0, c: 50 })]
    const weighed = weighHosts(weighers, hosts, spec())
    assert.deepEqual(
      weighed.map((w) => [w.host.host, w.total, w.weights]),
      [
        ['a', 2, { W1: 0, W2: 2 }],
        ['c', 1.5, { W1: 0.5, W2: 1 }],
        ['b', 1, { W1: 1, W2: 0 }],
      ],
    )
  })

  it('clamps raw weights to minval before normalising (RAM, CPU, disk use 0)', () => {
    const weighed = weighHosts([fixed('W', 1.0, { a: -100, b: 50, c: 100 }, 0)], hosts, spec())
    assert.deepEqual(
      weighed.map((w) => [w.host.host, w.total]),
      [
        ['c', 1],
        ['b', 0.5],
        ['a', 0],
      ],
    )
  })

  it('spreads with positive multipliers and stacks with negative ones', () => {
    const two = [host('half', { usedMemoryMb: 4096, usedVcpus: 4 }), host('empty')]
    const spread = weighHosts([new RAMWeigher(1), new CPUWeigher(1)], two, spec())
    assert.deepEqual(
      spread.map((w) => [w.host.host, w.total]),
      [
        ['empty', 2],
        ['half', 1],
      ],
    )
    const stack = weighHosts([new RAMWeigher(-1), new CPUWeigher(-1)], two, spec())
    assert.deepEqual(
      stack.map((w) => [w.host.host, w.total]),
      [
        ['half', -1],
        ['empty', -2],
      ],
    )
  })

  it('keeps the input order for ties', () => {
    const weighed = weighHosts([fixed('W', 1.0, {})], hosts, spec())
    assert.deepEqual(
      weighed.map((w) => w.host.host),
      ['a', 'b', 'c'],
    )
  })

  it('records 0, not -0, for a negative multiplier on a zero weight', () => {
    const weighed = weighHosts([fixed('W', -1.0, { a: 0, b: 1 })], [host('a'), host('b')], spec())
    assert.ok(Object.is(weighed[0]!.weights['W'], 0))
  })

  it('does not weigh a single host', () => {
    assert.deepEqual(
      weighHosts([fixed('W', 1.0, { a: 5 })], [host('a')], spec()).map((w) => [w.total, w.weights]),
      [[0, {}]],
    )
  })
})
