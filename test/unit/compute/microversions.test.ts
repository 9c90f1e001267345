import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ApiVersion,
  COMPUTE_MAX_MICROVERSION,
  negotiateVersion,
  requestedVersion,
  versionResponseHeaders,
} from '../../../src/compute/api/microversions.ts'
import { Invalid, NotAcceptable } from '../../../src/common/errors.ts'

describe('compute microversions', () => {
  it('defaults to 2.1 without a header', () => {
    assert.equal(String(negotiateVersion({})), '2.1')
  })

  it('reads the standard header among other services', () => {
    assert.equal(requestedVersion({ 'openstack-api-version': 'identity 3.10, compute 2.37' }), '2.37')
    assert.equal(String(negotiateVersion({ 'openstack-api-version': 'compute 2.47' })), '2.47')
  })

  it('prefers the standard header over the legacy one', () => {
    const v = negotiateVersion({
      'openstack-api-version': 'compute 2.60',
      'x-openstack-nova-api-version': '2.10',
    })
    assert.equal(String(v), '2.60')
  })

  it('falls back to the legacy header', () => {
    assert.equal(String(negotiateVersion({ 'x-openstack-nova-api-version': '2.10' })), '2.10')
    assert.equal(
      String(
        negotiateVersion({ 'openstack-api-version': 'volume 3.0', 'x-openstack-nova-api-version': '2.3' }),
      ),
      '2.3',
    )
  })

  it('takes latest as the maximum', () => {
    assert.equal(
      String(negotiateVersion({ 'openstack-api-version': 'compute latest' })),
      COMPUTE_MAX_MICROVERSION,
    )
    assert.equal(
      String(negotiateVersion({ 'x-openstack-nova-api-version': 'latest' })),
      COMPUTE_MAX_MICROVERSION,
    )
  })

  it('answers 406 outside the range with Nova message', () => {
    assert.throws(
      () => negotiateVersion({ 'openstack-api-version': 'compute 2.1000' }),
      (err: unknown) =>
        err instanceof NotAcceptable &&
        err.message ===
          `Version 2.1000 is not supported by the API. Minimum is 2.1 and maximum is ${COMPUTE_MAX_MICROVERSION}.`,
    )
    assert.throws(() => negotiateVersion({ 'openstack-api-version': 'compute 3.0' }), NotAcceptable)
    assert.throws(() => negotiateVersion({ 'openstack-api-version': 'compute 2.0' }), NotAcceptable)
  })

  it('answers 400 for a malformed version', () => {
    assert.throws(
      () => negotiateVersion({ 'openstack-api-version': 'compute 2.x' }),
      (err: unknown) =>
        err instanceof Invalid &&
        err.message === 'API Version String 2.x is of invalid format. Must be of format MajorNum.MinorNum.',
    )
    assert.throws(() => negotiateVersion({ 'x-openstack-nova-api-version': '2.01' }), Invalid)
  })

  it('compares versions numerically', () => {
    const v = ApiVersion.parse('2.10')
    assert.ok(v.atLeast('2.9'))
    assert.ok(!v.atLeast('2.11'))
    assert.ok(v.between('2.2', '2.10'))
    assert.ok(!v.between('2.11', undefined))
  })

  it('names the version in the response headers', () => {
    assert.deepEqual(versionResponseHeaders(ApiVersion.parse('2.37')), {
      'OpenStack-API-Version': 'compute 2.37',
      'X-OpenStack-Nova-API-Version': '2.37',
      Vary: 'OpenStack-API-Version, X-OpenStack-Nova-API-Version',
    })
  })
})
