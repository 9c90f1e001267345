import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { assertError, Keystone } from './client.ts'

const TEST_TIMEOUT_MS = 60_000
const TRUSTS = '/v3/OS-TRUST/trusts'

describe('identity OS-TRUST trusts', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let ks: Keystone
  let admin: string
  let project: any
  let trustor: any
  let trustorToken: string
  let trustee: any
  let trusteeToken: string
  let delegated: any
  let kept: any

  before(async () => {
    tc = await startTestCloud({ services: ['identity'] })
    ks = new Keystone(tc)
    admin = await ks.admin()
    project = await ks.createProject('trust-project')
    trustor = await ks.createUser('trustor', 'trustor-pw')
    trustee = await ks.createUser('trustee', 'trustee-pw')
    delegated = (await ks.ok('POST', '/v3/roles', { role: { name: 'delegated' } }, 201)).role
    kept = (await ks.ok('POST', '/v3/roles', { role: { name: 'kept' } }, 201)).role
    for (const role of ['delegated', 'kept']) await ks.grant(project.id, trustor.id, role)
    await ks.grant(project.id, trustee.id, 'member')
    trustorToken = (await ks.login('trustor', 'trustor-pw', { project: { id: project.id } })).token
    trusteeToken = (await ks.login('trustee', 'trustee-pw', { project: { id: project.id } })).token
  })
  after(() => tc?.stop())

  const create = (trust: Record<string, unknown>, token = trustorToken) =>
    ks.req('POST', TRUSTS, {
      token,
      body: {
        trust: {
          trustor_user_id: trustor.id,
          trustee_user_id: trustee.id,
          project_id: project.id,
          impersonation: true,
          roles: [{ name: 'delegated' }],
          ...trust,
        },
      },
    })

  it('the trustor creates a trust; trustor and trustee show it and its roles; the trustor deletes it', async () => {
    const expires = new Date(Date.now() + 3_600_000)
    expires.setUTCMilliseconds(0)
    const expiresStr = `${expires.toISOString().slice(0, 19)}Z`
    const r = await create({ expires_at: expiresStr, purpose: 'backup' })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    const t = r.body.trust
    assert.match(t.id, /^[0-9a-f]{32}$/)
    assert.equal(t.trustor_user_id, trustor.id)
    assert.equal(t.trustee_user_id, trustee.id)
    assert.equal(t.project_id, project.id)
    assert.equal(t.impersonation, true)
    assert.equal(t.expires_at, `${expires.toISOString().slice(0, 19)}.000000Z`)
    assert.equal(t.remaining_uses, null)
    assert.equal(t.redelegation_count, 0)
    assert.equal(t.purpose, 'backup', 'extra attributes are kept')
    assert.deepEqual(
      t.roles.map((x: any) => [x.id, x.name]),
      [[delegated.id, 'delegated']],
    )
    assert.equal(t.links.self, `${ks.base}${TRUSTS}/${t.id}`)

    for (const token of [trustorToken, trusteeToken, admin]) {
      const shown = await ks.req('GET', `${TRUSTS}/${t.id}`, { token })
      assert.equal(shown.status, 200, JSON.stringify(shown.body))
      assert.deepEqual(shown.body.trust, t)
    }
    const roles = await ks.ok('GET', `${TRUSTS}/${t.id}/roles`, undefined, 200, trusteeToken)
    assert.deepEqual(
      roles.roles.map((x: any) => x.id),
      [delegated.id],
    )
    const role = await ks.ok('GET', `${TRUSTS}/${t.id}/roles/${delegated.id}`, undefined, 200, trustorToken)
    assert.equal(role.role.name, 'delegated')
    assert.equal(
      (await ks.req('HEAD', `${TRUSTS}/${t.id}/roles/${delegated.id}`, { token: trustorToken })).status,
      200,
    )
    assertError(await ks.req('GET', `${TRUSTS}/${t.id}/roles/${kept.id}`, { token: trustorToken }), 404)

    const mine = await ks.ok('GET', `${TRUSTS}?trustor_user_id=${trustor.id}`, undefined, 200, trustorToken)
    assert.deepEqual(
      mine.trusts.map((x: any) => x.id),
      [t.id],
    )
    assert.ok(!('roles' in mine.trusts[0]), 'lists leave the roles out')
    const theirs = await ks.ok('GET', `${TRUSTS}?trustee_user_id=${trustee.id}`, undefined, 200, trusteeToken)
    assert.deepEqual(
      theirs.trusts.map((x: any) => x.id),
      [t.id],
    )
    assert.ok((await ks.ok('GET', TRUSTS)).trusts.some((x: any) => x.id === t.id))
    assertError(await ks.req('GET', TRUSTS, { token: trustorToken }), 403)
    assertError(await ks.req('GET', `${TRUSTS}?trustor_user_id=${trustor.id}`, { token: trusteeToken }), 403)

    assertError(await ks.req('DELETE', `${TRUSTS}/${t.id}`, { token: trusteeToken }), 403)
    assert.equal((await ks.req('DELETE', `${TRUSTS}/${t.id}`, { token: trustorToken })).status, 204)
    assertError(
      await ks.req('GET', `${TRUSTS}/${t.id}`, { token: trustorToken }),
      404,
      `Could not find trust: ${t.id}.`,
    )
  })

  it('refuses what Keystone refuses: another trustor, roles the trustor lacks, bad expiry, no roles', async () => {
    // As in Keystone, the create_trust rule (the caller is the trustor) refuses before the handler does.
    assertError(
      await create({}, trusteeToken),
      403,
      'You are not authorized to perform the requested action: identity:create_trust.',
    )
    assertError(await create({ roles: [] }), 403, /At least one role should be specified/)
    assertError(await create({ roles: [{ name: 'member' }] }), 404, /Could not find role/)
    assertError(await create({ roles: [{ id: 'nope' }] }), 404, 'Could not find role: nope.')
    assertError(await create({ trustee_user_id: 'nope' }), 404, /Could not find user/)
    assertError(await create({ expires_at: 'bad.123Z' }), 400, /^Timestamp not in expected format/)
    assertError(
      await create({ expires_at: '2001-01-01T00:00:00Z' }),
      400,
      /^The 'expires_at' must not be before now/,
    )
    assertError(await create({ impersonation: undefined }), 400, /'impersonation' is a required property/)
    assertError(await create({ remaining_uses: 0 }), 400)
    assertError(
      await create({ allow_redelegation: true, redelegation_count: 9 }),
      403,
      /greater than allowed 3/,
    )
    assertError(
      await create({ allow_redelegation: true, remaining_uses: 2 }),
      400,
      /remaining_uses must not be set/,
    )
    const redelegatable = await create({ allow_redelegation: true })
    assert.equal(redelegatable.status, 201)
    assert.equal(redelegatable.body.trust.redelegation_count, 3)
  })
})
