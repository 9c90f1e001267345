import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { assertError, Keystone } from './client.ts'

const TEST_TIMEOUT_MS = 60_000
const CONSUMERS = '/v3/OS-OAUTH1/consumers'

describe('identity OS-OAUTH1 consumers', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let ks: Keystone
  let admin: string

  before(async () => {
    tc = await startTestCloud({ services: ['identity'] })
    ks = new Keystone(tc)
    admin = await ks.admin()
  })
  after(() => tc?.stop())

  it('create shows the secret once; show, list, update, delete', async () => {
    const r = await ks.req('POST', CONSUMERS, {
      token: admin,
      body: { consumer: { description: 'app', owner: 'ops' } },
    })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    const c = r.body.consumer
    assert.match(c.id, /^[0-9a-f]{32}$/)
    assert.match(c.secret, /^[0-9a-f]{32}$/)
    assert.equal(c.description, 'app')
    assert.equal(c.owner, 'ops', 'extra attributes are kept')
    assert.equal(c.links.self, `${ks.base}${CONSUMERS}/${c.id}`)

    const shown = (await ks.ok('GET', `${CONSUMERS}/${c.id}`)).consumer
    const { secret: _secret, ...withoutSecret } = c
    assert.deepEqual(shown, withoutSecret, 'the secret is never shown again')
    const other = (await ks.ok('POST', CONSUMERS, { consumer: {} }, 201)).consumer
    assert.equal(other.description, null)
    const listed = (await ks.ok('GET', CONSUMERS)).consumers
    assert.deepEqual(
      listed.map((x: any) => x.id),
      [c.id, other.id],
    )
    assert.ok(listed.every((x: any) => !('secret' in x)))

    const up = (await ks.ok('PATCH', `${CONSUMERS}/${c.id}`, { consumer: { description: 'new' } })).consumer
    assert.equal(up.description, 'new')
    assert.equal(up.owner, 'ops')
    assert.equal((await ks.ok('GET', `${CONSUMERS}/${c.id}`)).consumer.description, 'new')

    assert.equal((await ks.req('DELETE', `${CONSUMERS}/${c.id}`, { token: admin })).status, 204)
    assertError(await ks.req('GET', `${CONSUMERS}/${c.id}`, { token: admin }), 404, 'Consumer not found')
    assertError(await ks.req('DELETE', `${CONSUMERS}/${c.id}`, { token: admin }), 404)
  })

  it('400 for a secret or another id in an update, or an empty one; 403 for a member', async () => {
    const c = (await ks.ok('POST', CONSUMERS, { consumer: { description: 'x' } }, 201)).consumer
    const patch = (consumer: unknown) =>
      ks.req('PATCH', `${CONSUMERS}/${c.id}`, { token: admin, body: { consumer } })
    assertError(await patch({ secret: 'mine' }), 400)
    assertError(await patch({ id: 'other' }), 400)
    assertError(await patch({}), 400)
    assertError(
      await ks.req('POST', CONSUMERS, { token: admin, body: { consumer: { description: 5 } } }),
      400,
    )
    const member = await ks.userWithRole('oauth-member', 'member')
    assertError(await ks.req('GET', CONSUMERS, { token: member.token }), 403)
    assertError(await ks.req('POST', CONSUMERS, { token: member.token, body: { consumer: {} } }), 403)
  })
})
