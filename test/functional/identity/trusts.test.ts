import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { assertError, Keystone, passwordAuth } from './client.ts'

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

describe('identity trust-scoped tokens', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let ks: Keystone
  let project: any
  let trustor: any
  let trustorToken: string
  let trustee: any
  let delegated: any

  before(async () => {
    tc = await startTestCloud({ services: ['identity'] })
    ks = new Keystone(tc)
    project = await ks.createProject('tt-project')
    trustor = await ks.createUser('tt-trustor', 'trustor-pw')
    trustee = await ks.createUser('tt-trustee', 'trustee-pw')
    delegated = (await ks.ok('POST', '/v3/roles', { role: { name: 'tt-delegated' } }, 201)).role
    await ks.ok('POST', '/v3/roles', { role: { name: 'tt-kept' } }, 201)
    for (const role of ['tt-delegated', 'tt-kept']) await ks.grant(project.id, trustor.id, role)
    trustorToken = (await ks.login('tt-trustor', 'trustor-pw', { project: { id: project.id } })).token
  })
  after(() => tc?.stop())

  const newTrust = async (extra: Record<string, unknown> = {}) =>
    (
      await ks.ok(
        'POST',
        TRUSTS,
        {
          trust: {
            trustor_user_id: trustor.id,
            trustee_user_id: trustee.id,
            project_id: project.id,
            impersonation: true,
            roles: [{ id: delegated.id }],
            ...extra,
          },
        },
        201,
        trustorToken,
      )
    ).trust
  const trustLogin = (trustId: string, name = 'tt-trustee', password = 'trustee-pw') =>
    ks.req('POST', '/v3/auth/tokens', {
      body: passwordAuth({ name, password, domain: { id: 'default' } }, {
        'OS-TRUST:trust': { id: trustId },
      } as never),
    })

  it('the trustee gets a token on the trust project with the delegated roles, as the trustor when impersonating', async () => {
    const t = await newTrust()
    const r = await trustLogin(t.id)
    assert.equal(r.status, 201, JSON.stringify(r.body))
    const token = r.body.token
    assert.deepEqual(token['OS-TRUST:trust'], {
      id: t.id,
      trustor_user: { id: trustor.id },
      trustee_user: { id: trustee.id },
      impersonation: true,
    })
    assert.equal(token.user.id, trustor.id, 'impersonation shows the trustor')
    assert.equal(token.project.id, project.id)
    assert.deepEqual(
      token.roles.map((x: any) => x.name),
      ['tt-delegated'],
    )
    const id = r.headers.get('x-subject-token')!
    const validated = await ks.req('GET', '/v3/auth/tokens', {
      token: await ks.admin(),
      headers: { 'x-subject-token': id },
    })
    assert.equal(validated.status, 200)
    assert.deepEqual(validated.body.token['OS-TRUST:trust'], token['OS-TRUST:trust'])

    const plain = await newTrust({ impersonation: false })
    const asTrustee = await trustLogin(plain.id)
    assert.equal(asTrustee.status, 201)
    assert.equal(asTrustee.body.token.user.id, trustee.id)

    // Only the trustee; a trust token is not rescoped; it cannot create trusts (not redelegatable).
    assertError(await trustLogin(t.id, 'tt-trustor', 'trustor-pw'), 403, 'User is not a trustee.')
    assertError(
      await ks.req('POST', '/v3/auth/tokens', {
        body: { auth: { identity: { methods: ['token'], token: { id } } } },
      }),
      403,
      /Using trust-scoped token to create another token/,
    )
    assertError(
      await ks.req('POST', TRUSTS, {
        token: id,
        body: {
          trust: { trustor_user_id: trustor.id, trustee_user_id: trustee.id, impersonation: false },
        },
      }),
      403,
      'Remaining redelegation depth of 0 out of allowed range of [0..3]',
    )
    assertError(await trustLogin('0123456789abcdef0123456789abcdef'), 401)

    // Deleting the trust ends its tokens.
    await ks.ok('DELETE', `${TRUSTS}/${t.id}`, undefined, 204, trustorToken)
    const after = await ks.req('GET', '/v3/auth/tokens', {
      token: await ks.admin(),
      headers: { 'x-subject-token': id },
    })
    assert.equal(after.status, 404)
  })

  it('remaining_uses counts tokens; a trustor who loses the role ends the trust tokens', async () => {
    const once = await newTrust({ remaining_uses: 1 })
    const first = await trustLogin(once.id)
    assert.equal(first.status, 201)
    assertError(await trustLogin(once.id), 401, `Could not find trust: ${once.id}.`)
    assertError(await ks.req('GET', `${TRUSTS}/${once.id}`, { token: trustorToken }), 404)

    const t = await newTrust()
    const r = await trustLogin(t.id)
    assert.equal(r.status, 201)
    const id = r.headers.get('x-subject-token')!
    await ks.ok(
      'DELETE',
      `/v3/projects/${project.id}/users/${trustor.id}/roles/${delegated.id}`,
      undefined,
      204,
    )
    const validated = await ks.req('GET', '/v3/auth/tokens', {
      token: await ks.admin(),
      headers: { 'x-subject-token': id },
    })
    assert.equal(validated.status, 404)
    assertError(await trustLogin(t.id), 401, 'Trustee has no delegated roles.')
  })
})
