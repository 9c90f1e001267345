import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Invalid } from '../../../src/common/errors.ts'
import { limits } from '../../../src/common/limits.ts'
import { jsonDepth, parseJsonBody } from '../../../src/service/json-body.ts'

describe('service: JSON request bodies', () => {
  it('measures nesting, skipping brackets inside strings and escaped quotes', () => {
    assert.equal(jsonDepth('1'), 0)
    assert.equal(jsonDepth('{"a":[1,{"b":[]}]}'), 4)
    assert.equal(jsonDepth('{"a":"[[[[{{{{"}'), 1)
    assert.equal(jsonDepth('{"a":"\\"[[[[\\\\"}'), 1)
    assert.equal(jsonDepth('["\\\\",[[]]]'), 3)
  })

  it('stops counting once past the bound', () => {
    assert.equal(jsonDepth('['.repeat(1_000_000), 10), 11)
  })

  it('parses bodies up to the depth limit and refuses deeper ones with Invalid', () => {
    const at = '['.repeat(limits.maxJsonDepth) + ']'.repeat(limits.maxJsonDepth)
    assert.equal(jsonDepth(JSON.stringify(parseJsonBody(at))), limits.maxJsonDepth)
    const deeper = `[${at}]`
    assert.throws(
      () => parseJsonBody(deeper),
      (err: unknown) =>
        err instanceof Invalid &&
        /nested deeper than/.test(err.message) &&
        err.detail.type === 'MalformedRequestBody',
    )
    assert.throws(
      () => parseJsonBody('{"a": '),
      (err: unknown) => err instanceof Invalid && err.message === 'Malformed request body',
    )
  })
})
