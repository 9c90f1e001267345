import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Unauthorized } from '../../../src/common/errors.ts'
import { accessRulePathMatches, checkAccessRules, type TokenInfo } from '../../../src/identity/middleware.ts'

/** Longest a hostile access rule may take against a 4,000-character path (linear: about a millisecond). */
const HOSTILE_PATH_MATCH_MS = 1_000

const info = (accessRules?: TokenInfo['accessRules']): TokenInfo => ({
  userId: 'u',
  userName: 'u',
  userDomainId: 'default',
  system: false,
  roles: ['member'],
  expiresAtMs: Date.now() + 60_000,
  accessRules,
})

describe('access rule paths (keystonemiddleware _path_matches)', () => {
  it('* and {name} match one segment, ** anything, the rest literally', () => {
    assert.ok(accessRulePathMatches('/v2.1/servers/abc/ips', '/v2.1/servers/*/ips'))
    assert.ok(accessRulePathMatches('/v2.1/servers/abc/ips', '/v2.1/servers/{server_id}/ips'))
    assert.ok(!accessRulePathMatches('/v2.1/servers/a/b/ips', '/v2.1/servers/*/ips'))
    assert.ok(!accessRulePathMatches('/v2.1/servers//ips', '/v2.1/servers/*/ips'))
    assert.ok(accessRulePathMatches('/v2.1/servers/a/b/ips', '/v2.1/servers/**'))
    assert.ok(!accessRulePathMatches('/v2.1/servers', '/v2.1/servers/*'))
    assert.ok(accessRulePathMatches('/v2/images', '/v2/images'))
    assert.ok(!accessRulePathMatches('/v2/images/x', '/v2/images'))
    assert.ok(!accessRulePathMatches('/v2ximages', '/v2.images'), 'a dot is literal')
    assert.ok(accessRulePathMatches('/a/b', '/**/b'))
    assert.ok(accessRulePathMatches('/b', '/**b'), '** matches nothing too')
    assert.ok(accessRulePathMatches('/x/y/z', '/*/**'))
    assert.ok(!accessRulePathMatches('/x', '/*/**'))
    assert.ok(accessRulePathMatches('/ab', '/{a}{b}'), 'two segments need two characters')
    assert.ok(!accessRulePathMatches('/a', '/{a}{b}'))
  })

  it('takes linear time on a hostile pattern (issue 17: no user pattern in a backtracking engine)', () => {
    // As a RegExp this is ^(?:.*){12}x$ plus segment runs: polynomial of degree 12 in the path's length.
    const pattern = `${'/**'.repeat(12)}${'{s}'.repeat(12)}x`
    const path = `/${'a/'.repeat(2_000)}`
    const started = performance.now()
    assert.ok(!accessRulePathMatches(path, pattern))
    assert.ok(performance.now() - started < HOSTILE_PATH_MATCH_MS)
  })
})

describe('access rule enforcement (keystonemiddleware validate_allowed_request)', () => {
  const rules = [{ service: 'compute', method: 'GET', path: '/v2.1/servers/*/ips' }]

  it('a token without rules may call anything', () => {
    assert.doesNotThrow(() => checkAccessRules(info(), 'DELETE', '/v2.1/servers/x', 'compute'))
    assert.doesNotThrow(() => checkAccessRules(info(), 'GET', '/anything', undefined))
  })

  it('a token with rules may call only what a rule names, on the right service', () => {
    assert.doesNotThrow(() => checkAccessRules(info(rules), 'GET', '/v2.1/servers/x/ips', 'compute'))
    assert.throws(() => checkAccessRules(info(rules), 'POST', '/v2.1/servers/x/ips', 'compute'), Unauthorized)
    assert.throws(() => checkAccessRules(info(rules), 'GET', '/v2.1/servers', 'compute'), Unauthorized)
    assert.throws(() => checkAccessRules(info(rules), 'GET', '/v2.1/servers/x/ips', 'image'), Unauthorized)
    assert.throws(() => checkAccessRules(info(rules), 'GET', '/v2.1/servers/x/ips', undefined), Unauthorized)
  })

  it('validating a token on the identity service is always allowed', () => {
    assert.doesNotThrow(() => checkAccessRules(info(rules), 'GET', '/v3/auth/tokens', 'identity'))
    assert.throws(() => checkAccessRules(info(rules), 'GET', '/v3/users', 'identity'), Unauthorized)
  })
})
