import assert from 'node:assert/strict'
import { after, describe, it } from 'node:test'
import { limits } from '../../../src/common/limits.ts'
import { InvalidPattern, toRe2Syntax, UserPatternMatcher } from '../../../src/common/user-regex.ts'

/** Longest the worker may take for a catastrophic-backtracking pattern over a few 255-character values. */
const LINEAR_BATCH_MS = 2_000

describe('common: user regex patterns', () => {
  const matcher = new UserPatternMatcher()
  after(() => matcher.close())

  it("translates Python's leading flags and \\Z, leaving the rest", () => {
    assert.equal(toRe2Syntax('(?iu)^web\\Z'), '(?i)^web\\z')
    assert.equal(toRe2Syntax('(?a)x'), 'x')
    assert.equal(toRe2Syntax('[\\Z]\\\\Z'), '[\\Z]\\\\Z', 'inside a class, and an escaped backslash, stay')
    assert.equal(toRe2Syntax('(?P<n>a)'), '(?P<n>a)')
    assert.throws(() => toRe2Syntax('(?x)a b'), InvalidPattern)
    assert.throws(() => toRe2Syntax('a'.repeat(limits.userRegexMaxChars + 1)), InvalidPattern)
    assert.throws(() => toRe2Syntax(`a{600}b{401}`), InvalidPattern)
    assert.doesNotThrow(() => toRe2Syntax(`a{600}b{400}`))
  })

  it('checks patterns in the worker: RE2 syntax and program size', async () => {
    const errors = await matcher.check(['^web', '(a)\\1', 'a(?=b)', '(ab|cd){500}', '(?i)x'])
    assert.equal(errors[0], null)
    assert.match(errors[1]!, /invalid escape/)
    assert.match(errors[2]!, /unsupported Perl syntax/)
    assert.match(errors[3]!, /instructions, more than/)
    assert.equal(errors[4], null)
  })

  it('matches rows (every pattern, a list cell matches when any member does) in linear time', async () => {
    const evil = `${'a'.repeat(254)}!`
    const started = performance.now()
    const rows = await matcher.matchRows(
      ['^(a+)+$', '^10\\.'],
      [
        [evil, ['10.0.0.1']],
        ['aaaa', ['192.0.2.1', '10.1.1.1']],
        ['aaaa', ['192.0.2.1']],
        [null, ['10.0.0.2']],
        ['aaaa', []],
      ],
    )
    assert.deepEqual(rows, [false, true, false, false, false])
    assert.ok(performance.now() - started < LINEAR_BATCH_MS)
  })

  it('fails a batch that outruns the time limit with 503 and recovers with a fresh worker', async () => {
    const saved = limits.userRegexWorkerTimeoutMs
    limits.userRegexWorkerTimeoutMs = 1
    try {
      const rows = Array.from({ length: 20_000 }, () => [`${'ab'.repeat(127)}a`])
      await assert.rejects(
        matcher.matchRows(['[ab]*a[ab]{20}c'], rows),
        (err: Error & { status?: number }) => err.status === 503,
      )
    } finally {
      limits.userRegexWorkerTimeoutMs = saved
    }
    assert.deepEqual(await matcher.matchRows(['b$'], [['ab'], ['ba']]), [true, false])
  })
})
