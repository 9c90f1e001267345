import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { assertError, Keystone } from './client.ts'

const TEST_TIMEOUT_MS = 60_000

describe('identity /v3/policies', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let ks: Keystone
  let admin: string

  before(async () => {
    tc = await startTestCloud()
    ks = new Keystone(tc)
    admin = await ks.admin()
  })
  after(() => tc?.stop())

  it('create, show, list by type, update, delete with Keystone bodies', async () => {
    const r = await ks.req('POST', '/v3/policies', {
      token: admin,
      body: { policy: { type: 'application/json', blob: '{"a": "@"}', owner: 'ops' } },
    })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    const p = r.body.policy
    assert.match(p.id, /^[0-9a-f]{32}$/)
    assert.equal(p.type, 'application/json')
    assert.equal(p.blob, '{"a": "@"}')
    assert.equal(p.owner, 'ops', 'extra attributes are kept')
    assert.equal(p.links.self, `${ks.base}/v3/policies/${p.id}`)
    await ks.req('POST', '/v3/policies', { token: admin, body: { policy: { type: 'text/x', blob: 'b' } } })

    const shown = await ks.req('GET', `/v3/policies/${p.id}`, { token: admin })
    assert.deepEqual(shown.body.policy, p)
    const byType = await ks.req('GET', '/v3/policies?type=application/json', { token: admin })
    assert.deepEqual(
      byType.body.policies.map((x: any) => x.id),
      [p.id],
    )
    assert.equal((await ks.req('GET', '/v3/policies', { token: admin })).body.policies.length, 2)

    const up = await ks.req('PATCH', `/v3/policies/${p.id}`, {
      token: admin,
      body: { policy: { type: 'x/y' } },
    })
    assert.equal(up.status, 200)
    assert.equal(up.body.policy.type, 'x/y')
    assert.equal(up.body.policy.blob, '{"a": "@"}')

    assert.equal((await ks.req('DELETE', `/v3/policies/${p.id}`, { token: admin })).status, 204)
    assertError(await ks.req('GET', `/v3/policies/${p.id}`, { token: admin }), 404)
    assertError(await ks.req('DELETE', `/v3/policies/${p.id}`, { token: admin }), 404)
  })

  it('400 without blob or type or with an empty update; 403 for a member', async () => {
    const noBlob = { policy: { type: 't' } }
    assertError(await ks.req('POST', '/v3/policies', { token: admin, body: noBlob }), 400)
    assertError(await ks.req('POST', '/v3/policies', { token: admin, body: { policy: { blob: 'b' } } }), 400)
    const created = await ks.req('POST', '/v3/policies', {
      token: admin,
      body: { policy: { type: 't', blob: 'b' } },
    })
    const id = created.body.policy.id as string
    assertError(await ks.req('PATCH', `/v3/policies/${id}`, { token: admin, body: { policy: {} } }), 400)
    const { token } = await ks.userWithRole('policy-member', 'member')
    assertError(await ks.req('GET', '/v3/policies', { token }), 403)
    assertError(
      await ks.req('POST', '/v3/policies', { token, body: { policy: { type: 't', blob: 'b' } } }),
      403,
    )
  })
})
