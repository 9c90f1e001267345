import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, TEST_ADMIN_PASSWORD, type TestCloud } from '../harness.ts'
import { Keystone, projectScope } from './client.ts'

/**
 * Distributed mode: an image service in another "process" (another Cloud,
 * which shares nothing with the identity service's) validates tokens over
 * HTTP against `[keystone_authtoken] auth_url`, caching answers for at most
 * `token_cache_time_s`.
 */
const TEST_TIMEOUT_MS = 60_000
const SERVICE_USER = 'nimbus-service'
const SERVICE_PASSWORD = 'service-secret'
const CACHE_TIME_S = 2

describe('token validation over HTTP (distributed mode)', { timeout: TEST_TIMEOUT_MS }, () => {
  let identity: TestCloud
  let withServiceUser: TestCloud
  let selfValidating: TestCloud
  let ks: Keystone

  before(async () => {
    identity = await startTestCloud({
      config: {
        'keystone_authtoken.username': SERVICE_USER,
        'keystone_authtoken.password': SERVICE_PASSWORD,
      },
    })
    ks = new Keystone(identity)
    const authUrl = identity.url('identity')
    withServiceUser = await startTestCloud({
      services: ['image'],
      config: {
        'keystone_authtoken.auth_url': `${authUrl}/v3`,
        'keystone_authtoken.username': SERVICE_USER,
        'keystone_authtoken.password': SERVICE_PASSWORD,
        'keystone_authtoken.token_cache_time_s': String(CACHE_TIME_S),
      },
    })
    selfValidating = await startTestCloud({
      services: ['image'],
      config: { 'keystone_authtoken.auth_url': authUrl, 'keystone_authtoken.token_cache_time_s': '0' },
    })
  })
  after(async () => {
    await withServiceUser?.stop()
    await selfValidating?.stop()
    await identity?.stop()
  })

  const images = async (tc: TestCloud, token?: string) =>
    (await fetch(`${tc.url('image')}/v2/images`, { headers: token ? { 'x-auth-token': token } : {} })).status

  it('bootstrap created the service user in the service project', async () => {
    const { body } = await ks.login(SERVICE_USER, SERVICE_PASSWORD, projectScope('service'))
    assert.ok(body.token.roles.some((r: any) => r.name === 'admin'))
  })

  it('valid tokens pass, missing and bad ones are 401, with or without a service user', async () => {
    const { token } = await ks.login('admin', TEST_ADMIN_PASSWORD, projectScope('admin'))
    for (const tc of [withServiceUser, selfValidating]) {
      assert.equal(await images(tc, token), 200)
      assert.equal(await images(tc), 401)
      assert.equal(await images(tc, 'gAAAAABbogus'), 401)
    }
  })

  it('a revoked token is refused at once without a cache, and within token_cache_time_s with one', async () => {
    const { token } = await ks.login('admin', TEST_ADMIN_PASSWORD, projectScope('admin'))
    assert.equal(await images(withServiceUser, token), 200)
    assert.equal(await images(selfValidating, token), 200)
    const del = await ks.req('DELETE', '/v3/auth/tokens', {
      token: await ks.admin(),
      headers: { 'x-subject-token': token },
    })
    assert.equal(del.status, 204)
    assert.equal(await images(selfValidating, token), 401)
    // The caching service may still accept it, but no longer than the cache time.
    await new Promise((r) => setTimeout(r, CACHE_TIME_S * 1000 + 200))
    assert.equal(await images(withServiceUser, token), 401)
  })

  it('an identity service that cannot be reached is a 503, not a 401', async () => {
    const { token } = await ks.login('admin', TEST_ADMIN_PASSWORD, projectScope('admin'))
    await identity.stop()
    assert.equal(await images(selfValidating, token), 503)
  })
})
