import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  parseVersionPredicate,
  satisfies,
  versionToString,
} from '../../../src/scheduler/version-predicate.ts'

describe('hypervisor version predicates', () => {
  it("turns Nova's integer versions into dotted ones", () => {
    assert.equal(versionToString(6_002_000), '6.2.0')
    assert.equal(versionToString(1_000_000), '1.0.0')
    assert.equal(versionToString(4_002_001), '4.2.1')
  })

  it('checks every comparison of a predicate', () => {
    const predicate = parseVersionPredicate('>=6.0, <6.2')!
    assert.equal(satisfies(6_001_000, predicate), true)
    assert.equal(satisfies(6_002_000, predicate), false)
    assert.equal(satisfies(6_000_000, parseVersionPredicate('==6.0')!), true)
    assert.equal(satisfies(6_000_000, parseVersionPredicate('!=6')!), false)
    assert.equal(satisfies(7_000_000, parseVersionPredicate('>6.9.9')!), true)
    assert.equal(satisfies(6_000_000, parseVersionPredicate('<=5')!), false)
  })

  it('refuses text that is not a predicate', () => {
    assert.equal(parseVersionPredicate('latest'), undefined)
    assert.equal(parseVersionPredicate('>=6.0,'), undefined)
    assert.equal(parseVersionPredicate(''), undefined)
  })
})
