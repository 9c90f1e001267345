import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { Keystone } from './client.ts'

const TEST_TIMEOUT_MS = 60_000

/** Details Tempest's identity tests check against Keystone's behaviour. */
describe('identity: Keystone details', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let ks: Keystone

  before(async () => {
    tc = await startTestCloud()
    ks = new Keystone(tc)
  })
  after(() => tc?.stop())

  it('a token rescoped with the token method keeps the methods of the token it came from', async () => {
    const { user, project } = await ks.userWithRole('rescoper', 'member')
    const unscoped = await ks.login('rescoper', 'rescoper-password')
    assert.deepEqual(unscoped.body.token.methods, ['password'])
    const r = await ks.req('POST', '/v3/auth/tokens', {
      body: {
        auth: {
          identity: { methods: ['token'], token: { id: unscoped.token } },
          scope: { project: { id: project.id } },
        },
      },
    })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    assert.deepEqual(new Set(r.body.token.methods), new Set(['password', 'token']))
    assert.equal(r.body.token.user.id, user.id)
    assert.equal(r.body.token.expires_at, unscoped.body.token.expires_at)
  })

  it("an application credential's expires_at is shown as given (naive UTC, microseconds)", async () => {
    const { user, token } = await ks.userWithRole('appcred-expiry', 'member')
    const future = new Date(Date.now() + 3_600_000).toISOString().slice(0, 23)
    for (const [given, shown] of [
      [`${future}456`, `${future}456`],
      [`${future.slice(0, 19)}`, `${future.slice(0, 19)}`],
      [`${future}Z`, `${future}000`],
    ]) {
      const r = await ks.req('POST', `/v3/users/${user.id}/application_credentials`, {
        token,
        body: { application_credential: { name: `exp-${shown}`, expires_at: given } },
      })
      assert.equal(r.status, 201, JSON.stringify(r.body))
      assert.equal(r.body.application_credential.expires_at, shown)
    }
  })

  it('HEAD of a role inference answers 204, GET shows it', async () => {
    const prior = await ks.ok('POST', '/v3/roles', { role: { name: 'prior-x' } }, 201)
    const implied = await ks.ok('POST', '/v3/roles', { role: { name: 'implied-x' } }, 201)
    const path = `/v3/roles/${prior.role.id}/implies/${implied.role.id}`
    await ks.ok('PUT', path, undefined, 201)
    const head = await ks.req('HEAD', path, { token: await ks.admin() })
    assert.equal(head.status, 204)
    const shown = await ks.ok('GET', path)
    assert.equal(shown.role_inference.implies.id, implied.role.id)
    await ks.ok('DELETE', path, undefined, 204)
    assert.equal((await ks.req('HEAD', path, { token: await ks.admin() })).status, 404)
  })
})
