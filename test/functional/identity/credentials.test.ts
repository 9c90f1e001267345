import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { assertError, Keystone } from './client.ts'

const TEST_TIMEOUT_MS = 60_000

describe('identity credentials', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let ks: Keystone
  let admin: string

  before(async () => {
    tc = await startTestCloud()
    ks = new Keystone(tc)
    admin = await ks.admin()
  })
  after(() => tc?.stop())

  describe('/v3/credentials', () => {
    it('an ec2 credential: id is sha256(access), project required; others see only their own', async () => {
      const { user, project, token } = await ks.userWithRole('cred-owner', 'member')
      const blob = JSON.stringify({ access: 'AKIDEXAMPLE', secret: 's3cr3t' })
      const r = await ks.req('POST', '/v3/credentials', {
        token,
        body: { credential: { type: 'ec2', user_id: user.id, project_id: project.id, blob } },
      })
      assert.equal(r.status, 201, JSON.stringify(r.body))
      const c = r.body.credential
      assert.equal(c.id, createHash('sha256').update('AKIDEXAMPLE').digest('hex'))
      assert.equal(c.blob, blob)
      assert.equal(c.links.self, `${ks.base}/v3/credentials/${c.id}`)
      assertError(
        await ks.req('POST', '/v3/credentials', {
          token,
          body: { credential: { type: 'ec2', user_id: user.id, blob } },
        }),
        400,
      )
      assertError(
        await ks.req('POST', '/v3/credentials', {
          token,
          body: { credential: { type: 'ec2', user_id: user.id, project_id: project.id, blob } },
        }),
        409,
      )
      // Someone else's credential: a member may not create, see or delete it.
      const other = await ks.userWithRole('cred-other', 'member')
      assertError(
        await ks.req('POST', '/v3/credentials', {
          token: other.token,
          body: { credential: { type: 'cert', user_id: user.id, blob: 'x' } },
        }),
        403,
      )
      assertError(await ks.req('GET', `/v3/credentials/${c.id}`, { token: other.token }), 403)
      assert.deepEqual((await ks.req('GET', '/v3/credentials', { token: other.token })).body.credentials, [])
      assert.deepEqual(
        (await ks.req('GET', '/v3/credentials', { token })).body.credentials.map((x: any) => x.id),
        [c.id],
      )
      assert.ok((await ks.ok('GET', '/v3/credentials')).credentials.some((x: any) => x.id === c.id))
      assert.deepEqual(
        (await ks.ok('GET', `/v3/credentials?user_id=${user.id}&type=ec2`)).credentials.map((x: any) => x.id),
        [c.id],
      )
    })

    it('an ec2 credential: a new access/secret may be patched in, its scope may not change', async () => {
      const { user, project } = await ks.userWithRole('cred-ec2-upd', 'member')
      const blob = JSON.stringify({ access: 'AKIDUPD1', secret: 'one' })
      const c = (
        await ks.ok(
          'POST',
          '/v3/credentials',
          { credential: { type: 'ec2', user_id: user.id, project_id: project.id, blob } },
          201,
        )
      ).credential
      const blob2 = JSON.stringify({ access: 'AKIDUPD2', secret: 'two' })
      const u = (
        await ks.ok('PATCH', `/v3/credentials/${c.id}`, {
          credential: { blob: blob2, project_id: project.id },
        })
      ).credential
      assert.equal(u.id, c.id)
      assert.equal(u.blob, blob2)
      assert.equal((await ks.ok('GET', `/v3/credentials/${c.id}`)).credential.blob, blob2)
      assertError(
        await ks.req('PATCH', `/v3/credentials/${c.id}`, {
          token: admin,
          body: { credential: { blob: JSON.stringify({ access: 'AKIDUPD3', secret: 'x', trust_id: 't' }) } },
        }),
        400,
      )
    })

    it('a generic credential: update and delete', async () => {
      const u = await ks.createUser('cred-generic', 'x')
      const c = (
        await ks.ok(
          'POST',
          '/v3/credentials',
          { credential: { type: 'cert', user_id: u.id, blob: 'PEM...' } },
          201,
        )
      ).credential
      assert.match(c.id, /^[0-9a-f]{32}$/)
      assert.equal(
        (await ks.ok('PATCH', `/v3/credentials/${c.id}`, { credential: { blob: 'PEM2' } })).credential.blob,
        'PEM2',
      )
      await ks.ok('DELETE', `/v3/credentials/${c.id}`, undefined, 204)
      assertError(
        await ks.req('GET', `/v3/credentials/${c.id}`, { token: admin }),
        404,
        `Could not find credential: ${c.id}.`,
      )
    })
  })

  describe('OS-EC2', () => {
    it('create (201, access and secret), list, show, delete', async () => {
      const { user, project, token } = await ks.userWithRole('ec2-user', 'member')
      const base = `/v3/users/${user.id}/credentials/OS-EC2`
      const r = await ks.req('POST', base, { token, body: { tenant_id: project.id } })
      assert.equal(r.status, 201, JSON.stringify(r.body))
      const c = r.body.credential
      assert.deepEqual(Object.keys(c).sort(), [
        'access',
        'links',
        'secret',
        'tenant_id',
        'trust_id',
        'user_id',
      ])
      assert.equal(c.tenant_id, project.id)
      assert.equal(c.user_id, user.id)
      assert.equal(c.trust_id, null)
      assert.equal(c.links.self, `${ks.base}${base}/${c.access}`)
      const list = await ks.req('GET', base, { token })
      assert.deepEqual(
        list.body.credentials.map((x: any) => x.access),
        [c.access],
      )
      const shown = await ks.req('GET', `${base}/${c.access}`, { token })
      assert.equal(shown.body.credential.secret, c.secret)
      // It is a /v3/credentials entry of type ec2 too.
      const all = await ks.req('GET', `/v3/credentials?type=ec2`, { token })
      assert.ok(all.body.credentials.some((x: any) => JSON.parse(x.blob).access === c.access))
      assert.equal((await ks.req('DELETE', `${base}/${c.access}`, { token })).status, 204)
      assertError(
        await ks.req('GET', `${base}/${c.access}`, { token }),
        404,
        `Could not find credential: ${c.access}.`,
      )
    })

    it('a reader cannot create one; another user cannot list mine; unknown project is 404', async () => {
      const reader = await ks.userWithRole('ec2-reader', 'reader')
      const base = `/v3/users/${reader.user.id}/credentials/OS-EC2`
      assertError(
        await ks.req('POST', base, { token: reader.token, body: { tenant_id: reader.project.id } }),
        403,
      )
      const other = await ks.userWithRole('ec2-other', 'member')
      assertError(await ks.req('GET', base, { token: other.token }), 403)
      assertError(
        await ks.req('POST', base, { token: admin, body: { tenant_id: 'nope' } }),
        404,
        'Could not find project: nope.',
      )
    })
  })

  describe('application credentials', () => {
    it('create returns the secret once; roles are a subset; login works and is limited to those roles', async () => {
      const { user, project, token } = await ks.userWithRole('app-user', 'member')
      const base = `/v3/users/${user.id}/application_credentials`
      const r = await ks.req('POST', base, {
        token,
        body: { application_credential: { name: 'ci', description: 'CI', roles: [{ name: 'reader' }] } },
      })
      assert.equal(r.status, 201, JSON.stringify(r.body))
      const c = r.body.application_credential
      assert.equal(c.project_id, project.id)
      assert.equal(c.unrestricted, false)
      assert.equal(c.expires_at, null)
      assert.deepEqual(
        c.roles.map((x: any) => x.name),
        ['reader'],
      )
      assert.ok(c.secret.length >= 32)
      const shown = (await ks.req('GET', `${base}/${c.id}`, { token })).body.application_credential
      assert.equal(shown.secret, undefined)
      assert.deepEqual(
        (await ks.req('GET', `${base}?name=ci`, { token })).body.application_credentials.map(
          (x: any) => x.id,
        ),
        [c.id],
      )

      const login = await ks.req('POST', '/v3/auth/tokens', {
        body: {
          auth: {
            identity: {
              methods: ['application_credential'],
              application_credential: { id: c.id, secret: c.secret },
            },
          },
        },
      })
      assert.equal(login.status, 201, JSON.stringify(login.body))
      const t = login.body.token
      assert.deepEqual(t.methods, ['application_credential'])
      assert.equal(t.project.id, project.id)
      assert.deepEqual(
        t.roles.map((x: any) => x.name),
        ['reader'],
      )
      assert.deepEqual(t.application_credential, { id: c.id, name: 'ci', restricted: true })
      const appToken = login.headers.get('x-subject-token')!
      // A restricted credential's token may not mint more credentials.
      assertError(
        await ks.req('POST', base, { token: appToken, body: { application_credential: { name: 'more' } } }),
        403,
      )

      const byName = await ks.req('POST', '/v3/auth/tokens', {
        body: {
          auth: {
            identity: {
              methods: ['application_credential'],
              application_credential: {
                name: 'ci',
                secret: c.secret,
                user: { name: 'app-user', domain: { id: 'default' } },
              },
            },
          },
        },
      })
      assert.equal(byName.status, 201)
      const wrong = await ks.req('POST', '/v3/auth/tokens', {
        body: {
          auth: {
            identity: {
              methods: ['application_credential'],
              application_credential: { id: c.id, secret: 'nope' },
            },
          },
        },
      })
      assertError(wrong, 401, 'Invalid application credential ID or secret')

      // Deleting the credential invalidates its tokens.
      assert.equal((await ks.req('DELETE', `${base}/${c.id}`, { token })).status, 204)
      assertError(await ks.req('GET', '/v3/auth/projects', { token: appToken }), 401)
    })

    it('refuses roles the user does not hold, past expiry dates, duplicates, other users', async () => {
      const { user, token } = await ks.userWithRole('app-refused', 'reader')
      const base = `/v3/users/${user.id}/application_credentials`
      const post = (body: Record<string, unknown>, t = token) =>
        ks.req('POST', base, { token: t, body: { application_credential: body } })
      assertError(
        await post({ name: 'x', roles: [{ name: 'admin' }] }),
        400,
        /^Invalid application credential: Could not find role assignment/,
      )
      assertError(
        await post({ name: 'x', expires_at: '2000-01-01T00:00:00Z' }),
        400,
        /must not be before now/,
      )
      assertError(await post({ name: 'x', bogus: 1 }), 400, /Additional properties are not allowed/)
      assert.equal((await post({ name: 'dup', expires_at: '2999-01-01T00:00:00Z' })).status, 201)
      assertError(await post({ name: 'dup' }), 409)
      assertError(await post({ name: 'x' }, await ks.admin()), 403)
    })
  })
})

describe('identity application credential access rules', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let ks: Keystone

  before(async () => {
    tc = await startTestCloud()
    ks = new Keystone(tc)
  })
  after(() => tc?.stop())

  it('rules are stored per user, shown, listed, kept while in use, and restrict the tokens', async () => {
    const { user, token } = await ks.userWithRole('ar-user', 'member')
    const base = `/v3/users/${user.id}/application_credentials`
    const rule = { path: '/v2.1/servers/*/ips', method: 'GET', service: 'compute' }
    const r = await ks.req('POST', base, {
      token,
      body: { application_credential: { name: 'ips', access_rules: [rule] } },
    })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    const cred = r.body.application_credential
    const { id: ruleId, ...sent } = cred.access_rules[0]
    assert.deepEqual(sent, rule)
    assert.match(ruleId, /^[0-9a-f]{32}$/)
    // The same rule again is the same rule (one per user).
    const again = await ks.req('POST', base, {
      token,
      body: { application_credential: { name: 'ips2', access_rules: [rule] } },
    })
    assert.equal(again.body.application_credential.access_rules[0].id, ruleId)
    assertError(
      await ks.req('POST', base, {
        token,
        body: { application_credential: { name: 'bad', access_rules: [{ ...rule, method: 'FETCH' }] } },
      }),
      400,
    )

    const rules = `/v3/users/${user.id}/access_rules`
    const listed = (await ks.req('GET', rules, { token })).body.access_rules
    assert.deepEqual(listed, [{ id: ruleId, ...rule, links: { self: `${ks.base}${rules}/${ruleId}` } }])
    assert.equal((await ks.req('GET', `${rules}?service=image`, { token })).body.access_rules.length, 0)
    assert.deepEqual((await ks.req('GET', `${rules}/${ruleId}`, { token })).body.access_rule, listed[0])
    assertError(await ks.req('GET', `${rules}/nope`, { token }), 404, 'Could not find Access Rule: nope.')

    // A token from the credential carries the rules and may call only what they name.
    const login = await ks.req('POST', '/v3/auth/tokens', {
      body: {
        auth: {
          identity: {
            methods: ['application_credential'],
            application_credential: { id: cred.id, secret: cred.secret },
          },
        },
      },
    })
    assert.equal(login.status, 201, JSON.stringify(login.body))
    assert.deepEqual(login.body.token.application_credential.access_rules, [{ id: ruleId, ...rule }])
    const appToken = login.headers.get('x-subject-token')!
    const compute = tc.url('compute')
    const call = (path: string) => fetch(`${compute}${path}`, { headers: { 'x-auth-token': appToken } })
    assert.equal((await call('/v2.1/servers')).status, 401)
    assert.equal((await call('/v2.1/servers/00000000-0000-0000-0000-000000000000/ips')).status, 404)
    assertError(await ks.req('GET', `/v3/users/${user.id}`, { token: appToken }), 401)
    // Validators that do not say they enforce access rules do not see the token.
    const admin = await ks.admin()
    const subject = { 'x-subject-token': appToken }
    assert.equal((await ks.req('GET', '/v3/auth/tokens', { token: admin, headers: subject })).status, 404)
    const withHeader = { ...subject, 'openstack-identity-access-rules': '1' }
    assert.equal((await ks.req('GET', '/v3/auth/tokens', { token: admin, headers: withHeader })).status, 200)

    // In use: 403 until both credentials are gone.
    assertError(
      await ks.req('DELETE', `${rules}/${ruleId}`, { token }),
      403,
      'May not delete access rule in use',
    )
    for (const c of [cred.id, again.body.application_credential.id])
      assert.equal((await ks.req('DELETE', `${base}/${c}`, { token })).status, 204)
    assert.equal((await ks.req('DELETE', `${rules}/${ruleId}`, { token })).status, 204)
    assert.deepEqual((await ks.req('GET', rules, { token })).body.access_rules, [])
  })
})
