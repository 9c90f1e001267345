import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { fernetEncrypt } from '../../../src/identity/token/fernet.ts'
import { FernetKeyRepository } from '../../../src/identity/token/key-repository.ts'
import { encodePayload } from '../../../src/identity/token/payload.ts'
import type { IdentityService } from '../../../src/identity/service.ts'
import { startTestCloud, TEST_ADMIN_PASSWORD, type TestCloud } from '../harness.ts'
import { assertError, Keystone, passwordAuth, projectScope } from './client.ts'

const AUTH_REQUIRED = 'The request you have made requires authentication.'
const TEST_TIMEOUT_MS = 60_000
// Interleaved samples per login path in the timing comparison (the median is compared).
const TIMING_SAMPLES = 5

describe('identity tokens', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let ks: Keystone
  let adminId: string
  let adminProjectId: string

  before(async () => {
    tc = await startTestCloud()
    ks = new Keystone(tc)
    const { body } = await ks.login('admin', TEST_ADMIN_PASSWORD, projectScope('admin'))
    adminId = body.token.user.id
    adminProjectId = body.token.project.id
  })
  after(() => tc?.stop())

  describe('POST /v3/auth/tokens', () => {
    it('password by name + domain name, project by name: 201, token header, Keystone body', async () => {
      const r = await ks.req('POST', '/v3/auth/tokens', {
        body: passwordAuth(
          { name: 'admin', password: TEST_ADMIN_PASSWORD, domain: { name: 'Default' } },
          { project: { name: 'admin', domain: { name: 'Default' } } },
        ),
      })
      assert.equal(r.status, 201)
      const token = r.headers.get('x-subject-token')!
      assert.match(token, /^gAAAAA[A-Za-z0-9_-]+$/)
      assert.ok(token.length < 255, `token length ${token.length}`)
      const t = r.body.token
      assert.deepEqual(t.methods, ['password'])
      assert.deepEqual(t.user, {
        domain: { id: 'default', name: 'Default' },
        id: adminId,
        name: 'admin',
        password_expires_at: null,
      })
      assert.deepEqual(t.project, {
        domain: { id: 'default', name: 'Default' },
        id: adminProjectId,
        name: 'admin',
      })
      assert.equal(t.is_domain, false)
      assert.deepEqual(t.roles.map((x: any) => x.name).sort(), ['admin', 'member', 'reader'])
      assert.equal(t.audit_ids.length, 1)
      assert.match(t.audit_ids[0], /^[A-Za-z0-9_-]{22}$/)
      assert.match(t.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
      assert.match(t.issued_at, /\.000000Z$/)
      const lifetimeS = (Date.parse(t.expires_at) - Date.parse(t.issued_at)) / 1000
      assert.ok(lifetimeS > 3590 && lifetimeS <= 3601, `lifetime ${lifetimeS}`)
      const types = t.catalog.map((s: any) => s.type).sort()
      assert.deepEqual(types, ['compute', 'identity', 'image', 'network'])
      const compute = t.catalog.find((s: any) => s.type === 'compute')
      assert.equal(compute.name, 'nova')
      assert.deepEqual(compute.endpoints.map((e: any) => e.interface).sort(), ['admin', 'internal', 'public'])
      for (const e of compute.endpoints) {
        assert.equal(e.url, tc.endpoint('compute').url)
        assert.match(e.url, /\/v2\.1$/)
        assert.equal(e.region, 'RegionOne')
        assert.equal(e.region_id, 'RegionOne')
      }
      const identity = t.catalog.find((s: any) => s.type === 'identity')
      assert.match(identity.endpoints[0].url, /\/v3$/)
    })

    it('password by user id, project by id, ?nocatalog', async () => {
      const r = await ks.req('POST', '/v3/auth/tokens?nocatalog', {
        body: passwordAuth(
          { id: adminId, password: TEST_ADMIN_PASSWORD },
          { project: { id: adminProjectId } },
        ),
      })
      assert.equal(r.status, 201)
      assert.equal(r.body.token.catalog, undefined)
      assert.equal(r.body.token.project.id, adminProjectId)
    })

    it('unscoped: no roles, no catalog', async () => {
      const r = await ks.req('POST', '/v3/auth/tokens', {
        body: passwordAuth({ name: 'admin', password: TEST_ADMIN_PASSWORD, domain: { id: 'default' } }),
      })
      assert.equal(r.status, 201)
      assert.equal(r.body.token.project, undefined)
      assert.equal(r.body.token.roles, undefined)
      assert.equal(r.body.token.catalog, undefined)
    })

    it('domain scope and system scope', async () => {
      // The admin has no role on the domain yet: 401, as Keystone.
      const denied = await ks.req('POST', '/v3/auth/tokens', {
        body: passwordAuth({ id: adminId, password: TEST_ADMIN_PASSWORD }, { domain: { id: 'default' } }),
      })
      assertError(denied, 401)
      await ks.ok(
        'PUT',
        `/v3/domains/default/users/${adminId}/roles/${await ks.roleId('reader')}`,
        undefined,
        204,
      )
      const domain = await ks.req('POST', '/v3/auth/tokens', {
        body: passwordAuth({ id: adminId, password: TEST_ADMIN_PASSWORD }, { domain: { name: 'Default' } }),
      })
      assert.equal(domain.status, 201)
      assert.deepEqual(domain.body.token.domain, { id: 'default', name: 'Default' })
      assert.deepEqual(
        domain.body.token.roles.map((x: any) => x.name),
        ['reader'],
      )

      const system = await ks.req('POST', '/v3/auth/tokens', {
        body: passwordAuth({ id: adminId, password: TEST_ADMIN_PASSWORD }, { system: { all: true } }),
      })
      assert.equal(system.status, 201)
      assert.deepEqual(system.body.token.system, { all: true })
      assert.ok(system.body.token.roles.some((x: any) => x.name === 'admin'))
      assert.ok(Array.isArray(system.body.token.catalog))
    })

    it('scopes to the default project when no scope is asked', async () => {
      const project = await ks.createProject('default-scope-project')
      const user = await ks.createUser('default-scope-user', 'pw-default-scope', {
        default_project_id: project.id,
      })
      await ks.grant(project.id, user.id, 'member')
      const { body } = await ks.login('default-scope-user', 'pw-default-scope')
      assert.equal(body.token.project.id, project.id)
      const { body: unscoped } = await ks.login('default-scope-user', 'pw-default-scope', 'unscoped')
      assert.equal(unscoped.token.project, undefined)
    })

    it('token method: rescopes, keeps the expiry, chains the audit ids', async () => {
      const first = await ks.login('admin', TEST_ADMIN_PASSWORD)
      const r = await ks.req('POST', '/v3/auth/tokens', {
        body: {
          auth: {
            identity: { methods: ['token'], token: { id: first.token } },
            scope: projectScope('admin'),
          },
        },
      })
      assert.equal(r.status, 201)
      const t = r.body.token
      // Keystone's token plugin adds the presented token's methods.
      assert.deepEqual(new Set(t.methods), new Set(['token', 'password']))
      assert.equal(t.expires_at, first.body.token.expires_at)
      assert.equal(t.audit_ids.length, 2)
      assert.equal(t.audit_ids[1], first.body.token.audit_ids[0])
      assert.equal(t.project.name, 'admin')
    })

    it('token method with a revoked or unknown token: 404, as Keystone (its token plugin validates it)', async () => {
      const first = await ks.login('admin', TEST_ADMIN_PASSWORD)
      const withToken = (id: string) =>
        ks.req('POST', '/v3/auth/tokens', {
          body: { auth: { identity: { methods: ['token'], token: { id } } } },
        })
      const revoke = await ks.req('DELETE', '/v3/auth/tokens', {
        token: first.token,
        headers: { 'x-subject-token': first.token },
      })
      assert.equal(revoke.status, 204)
      assertError(await withToken(first.token), 404, `Could not find token: ${first.token}.`)
      assertError(await withToken('not-a-token'), 404, 'Could not find token: not-a-token.')
    })

    it('a wrong password and an unknown user get the same 401, in about the same time', async () => {
      const time = async (user: Record<string, unknown>) => {
        const t0 = performance.now()
        const r = await ks.req('POST', '/v3/auth/tokens', { body: passwordAuth(user) })
        return { r, ms: performance.now() - t0 }
      }
      // Warm up both paths once.
      await time({ name: 'admin', password: 'wrong', domain: { id: 'default' } })
      await time({ name: 'nobody', password: 'wrong', domain: { id: 'default' } })
      // One sample is at the mercy of a GC pause or a busy core: compare the medians of
      // interleaved samples, so noise hits both paths alike.
      const wrongSamples: Awaited<ReturnType<typeof time>>[] = []
      const unknownSamples: Awaited<ReturnType<typeof time>>[] = []
      for (let i = 0; i < TIMING_SAMPLES; i++) {
        wrongSamples.push(await time({ name: 'admin', password: 'wrong', domain: { id: 'default' } }))
        unknownSamples.push(await time({ name: 'nobody', password: 'wrong', domain: { id: 'default' } }))
      }
      const median = (xs: readonly { ms: number }[]) =>
        xs.map((x) => x.ms).sort((a, b) => a - b)[xs.length >> 1]!
      const wrong = { r: wrongSamples[0]!.r, ms: median(wrongSamples) }
      const unknown = { r: unknownSamples[0]!.r, ms: median(unknownSamples) }
      const badDomain = await time({ name: 'admin', password: 'wrong', domain: { name: 'no-such-domain' } })
      for (const x of [...wrongSamples, ...unknownSamples, badDomain]) {
        assertError(x.r, 401, AUTH_REQUIRED)
        assert.equal(x.r.headers.get('www-authenticate'), `Keystone uri="${ks.base}"`)
      }
      assert.deepEqual(unknown.r.body, wrong.r.body)
      // Both paths run the KDF once; allow generous noise on a shared machine.
      const ratio = Math.max(wrong.ms, unknown.ms) / Math.min(wrong.ms, unknown.ms)
      assert.ok(
        ratio < 5,
        `wrong password ${wrong.ms.toFixed(1)} ms, unknown user ${unknown.ms.toFixed(1)} ms`,
      )
    })

    it('refuses bad requests with Keystone error bodies', async () => {
      assertError(await ks.req('POST', '/v3/auth/tokens', { body: '{"auth": ' }), 400)
      assertError(
        await ks.req('POST', '/v3/auth/tokens', { body: { auth: {} } }),
        400,
        "'identity' is a required property",
      )
      assertError(
        await ks.req('POST', '/v3/auth/tokens', { body: { auth: { identity: { methods: 'password' } } } }),
        400,
        "Invalid input for field 'identity/methods': 'password' is not of type 'array'",
      )
      assertError(
        await ks.req('POST', '/v3/auth/tokens', { body: { auth: { identity: { methods: ['password'] } } } }),
        400,
        /Expecting to find password in identity/,
      )
      assertError(
        await ks.req('POST', '/v3/auth/tokens', {
          body: { auth: { identity: { methods: ['kerberos'], kerberos: {} } } },
        }),
        401,
        'Attempted to authenticate with an unsupported method.',
      )
      const both = passwordAuth({ id: adminId, password: TEST_ADMIN_PASSWORD }, {
        project: { id: adminProjectId },
        domain: { id: 'default' },
      } as any)
      assertError(await ks.req('POST', '/v3/auth/tokens', { body: both }), 400, /system, project, domain/)
      const noProject = passwordAuth(
        { id: adminId, password: TEST_ADMIN_PASSWORD },
        { project: { id: 'nope' } },
      )
      assertError(await ks.req('POST', '/v3/auth/tokens', { body: noProject }), 401)
    })

    it('a disabled user, a disabled project and a disabled domain get 401', async () => {
      const { user, project } = await ks.userWithRole('disable-me', 'member')
      await ks.ok('PATCH', `/v3/projects/${project.id}`, { project: { enabled: false } })
      const onProject = await ks.req('POST', '/v3/auth/tokens', {
        body: passwordAuth({ id: user.id, password: 'disable-me-password' }, { project: { id: project.id } }),
      })
      assertError(onProject, 401)
      await ks.ok('PATCH', `/v3/users/${user.id}`, { user: { enabled: false } })
      const disabled = await ks.req('POST', '/v3/auth/tokens', {
        body: passwordAuth({ id: user.id, password: 'disable-me-password' }),
      })
      assertError(disabled, 401)
    })
  })

  describe('GET/HEAD/DELETE /v3/auth/tokens', () => {
    it('validates: 200 with X-Subject-Token and the token body; HEAD 200 without a body', async () => {
      const admin = await ks.admin()
      const { token, body } = await ks.login('admin', TEST_ADMIN_PASSWORD, projectScope('admin'))
      const r = await ks.req('GET', '/v3/auth/tokens', {
        token: admin,
        headers: { 'x-subject-token': token },
      })
      assert.equal(r.status, 200)
      assert.equal(r.headers.get('x-subject-token'), token)
      assert.equal(r.body.token.expires_at, body.token.expires_at)
      assert.equal(r.body.token.issued_at, body.token.issued_at)
      assert.deepEqual(r.body.token.audit_ids, body.token.audit_ids)
      assert.ok(r.body.token.catalog)
      const nocatalog = await ks.req('GET', '/v3/auth/tokens?nocatalog', {
        token: admin,
        headers: { 'x-subject-token': token },
      })
      assert.equal(nocatalog.body.token.catalog, undefined)
      const head = await ks.req('HEAD', '/v3/auth/tokens', {
        token: admin,
        headers: { 'x-subject-token': token },
      })
      assert.equal(head.status, 200)
      assert.equal(head.body, undefined)
    })

    it("a user may validate their own token but not another user's", async () => {
      const { token } = await ks.userWithRole('validator', 'member')
      const own = await ks.req('GET', '/v3/auth/tokens', { token, headers: { 'x-subject-token': token } })
      assert.equal(own.status, 200)
      const other = await ks.req('GET', '/v3/auth/tokens', {
        token,
        headers: { 'x-subject-token': await ks.admin() },
      })
      assertError(
        other,
        403,
        'You are not authorized to perform the requested action: identity:validate_token.',
      )
    })

    it('an unknown subject token is a 404, a missing or bad X-Auth-Token a 401', async () => {
      const admin = await ks.admin()
      const garbage = await ks.req('GET', '/v3/auth/tokens', {
        token: admin,
        headers: { 'x-subject-token': 'gAAAAABnot-a-token' },
      })
      assertError(garbage, 404, 'Could not find token: gAAAAABnot-a-token.')
      assertError(
        await ks.req('GET', '/v3/auth/tokens', { headers: { 'x-subject-token': admin } }),
        401,
        AUTH_REQUIRED,
      )
      assertError(
        await ks.req('GET', '/v3/projects', { token: `${admin.slice(0, -4)}AAAA` }),
        401,
        AUTH_REQUIRED,
      )
    })

    it('DELETE revokes: the token is refused by identity and by another service', async () => {
      const admin = await ks.admin()
      const { token } = await ks.login('admin', TEST_ADMIN_PASSWORD, projectScope('admin'))
      const image = tc.url('image')
      assert.equal((await fetch(`${image}/v2/images`, { headers: { 'x-auth-token': token } })).status, 200)
      const del = await ks.req('DELETE', '/v3/auth/tokens', {
        token: admin,
        headers: { 'x-subject-token': token },
      })
      assert.equal(del.status, 204)
      assertError(
        await ks.req('GET', '/v3/auth/tokens', { token: admin, headers: { 'x-subject-token': token } }),
        404,
      )
      assertError(await ks.req('GET', '/v3/projects', { token }), 401, AUTH_REQUIRED)
      assert.equal((await fetch(`${image}/v2/images`, { headers: { 'x-auth-token': token } })).status, 401)
      const network = tc.url('network')
      assert.equal(
        (await fetch(`${network}/v2.0/networks`, { headers: { 'x-auth-token': token } })).status,
        401,
      )
      // Other tokens of the same user are not affected.
      assert.equal((await ks.req('GET', '/v3/projects', { token: admin })).status, 200)
    })

    it('a user may revoke their own token', async () => {
      const { token } = await ks.userWithRole('self-revoker', 'member')
      assert.equal(
        (await ks.req('DELETE', '/v3/auth/tokens', { token, headers: { 'x-subject-token': token } })).status,
        204,
      )
      assertError(await ks.req('GET', '/v3/auth/projects', { token }), 401)
    })
  })

  describe('revocation events', () => {
    it("a password change revokes the user's tokens; a new login right after works", async () => {
      const { user, project, token } = await ks.userWithRole('pw-changer', 'member')
      const r = await ks.req('POST', `/v3/users/${user.id}/password`, {
        body: { user: { original_password: 'pw-changer-password', password: 'new-password' } },
      })
      assert.equal(r.status, 204)
      assertError(await ks.req('GET', '/v3/auth/projects', { token }), 401)
      const fresh = await ks.login('pw-changer', 'new-password', { project: { id: project.id } })
      assert.equal((await ks.req('GET', '/v3/auth/projects', { token: fresh.token })).status, 200)
      assertError(
        await ks.req('POST', '/v3/auth/tokens', {
          body: passwordAuth({ id: user.id, password: 'pw-changer-password' }),
        }),
        401,
      )
    })

    it('a wrong original password is a 401', async () => {
      const { user } = await ks.userWithRole('pw-wrong', 'member')
      const r = await ks.req('POST', `/v3/users/${user.id}/password`, {
        body: { user: { original_password: 'not-it', password: 'new-password' } },
      })
      assertError(r, 401)
    })

    it('disabling and deleting a user revokes their tokens', async () => {
      const a = await ks.userWithRole('to-disable', 'member')
      await ks.ok('PATCH', `/v3/users/${a.user.id}`, { user: { enabled: false } })
      assertError(await ks.req('GET', '/v3/auth/projects', { token: a.token }), 401)
      const b = await ks.userWithRole('to-delete', 'member')
      await ks.ok('DELETE', `/v3/users/${b.user.id}`, undefined, 204)
      assertError(await ks.req('GET', '/v3/auth/projects', { token: b.token }), 401)
    })

    it("removing a role assignment revokes the user's tokens on that project", async () => {
      const { user, project, token } = await ks.userWithRole('unassigned', 'member')
      await ks.grant(project.id, user.id, 'reader')
      assert.equal((await ks.req('GET', '/v3/auth/projects', { token })).status, 200)
      await ks.ok(
        'DELETE',
        `/v3/projects/${project.id}/users/${user.id}/roles/${await ks.roleId('member')}`,
        undefined,
        204,
      )
      assertError(await ks.req('GET', '/v3/auth/projects', { token }), 401)
      // Still holding `reader`, the user can log in again.
      const again = await ks.login('unassigned', 'unassigned-password', { project: { id: project.id } })
      assert.deepEqual(
        again.body.token.roles.map((x: any) => x.name),
        ['reader'],
      )
    })
  })

  describe('fernet keys', () => {
    it('an expired token is refused', async () => {
      const keys = new FernetKeyRepository(`${tc.stateDir}/fernet-keys`, 3).load()
      const expired = fernetEncrypt(
        keys.primary,
        encodePayload({
          userId: adminId,
          methods: ['password'],
          scope: { kind: 'project', projectId: adminProjectId },
          expiresAtMs: Date.now() - 1000,
          auditIds: ['AAECAwQFBgcICQoLDA0ODw'],
        }),
      )
      assertError(await ks.req('GET', '/v3/projects', { token: expired }), 401, AUTH_REQUIRED)
      assertError(
        await ks.req('GET', '/v3/auth/tokens', {
          token: await ks.admin(),
          headers: { 'x-subject-token': expired },
        }),
        404,
      )
    })

    it('rotation: tokens of an old key validate until the key is purged', async () => {
      const { token } = await ks.login('admin', TEST_ADMIN_PASSWORD, projectScope('admin'))
      const repo = new FernetKeyRepository(`${tc.stateDir}/fernet-keys`, 3)
      const provider = tc.cloud.service<IdentityService>('identity').identity.tokens
      repo.rotate()
      provider.clearCache()
      await waitForKeyReload()
      assert.equal((await ks.req('GET', '/v3/projects', { token })).status, 200)
      // New tokens are signed with the new primary and validate too.
      const fresh = await ks.login('admin', TEST_ADMIN_PASSWORD, projectScope('admin'))
      assert.equal((await ks.req('GET', '/v3/projects', { token: fresh.token })).status, 200)
      repo.rotate()
      provider.clearCache()
      await waitForKeyReload()
      assertError(await ks.req('GET', '/v3/projects', { token }), 401)
      assert.equal((await ks.req('GET', '/v3/projects', { token: fresh.token })).status, 200)
    })
  })
})

/** The provider looks for rotated keys at most every `limits.identityKeyReloadMs` (1 s). */
async function waitForKeyReload(): Promise<void> {
  await new Promise((r) => setTimeout(r, 1_100))
}
