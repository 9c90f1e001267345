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

describe('identity: domain-specific roles', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let ks: Keystone

  before(async () => {
    tc = await startTestCloud()
    ks = new Keystone(tc)
  })
  after(() => tc?.stop())

  it('are listed by domain, imply global roles but not the reverse, and never reach effective lists', async () => {
    const domain = (await ks.ok('POST', '/v3/domains', { domain: { name: 'dr-domain' } }, 201)).domain
    const dr = (await ks.ok('POST', '/v3/roles', { role: { name: 'dr-role', domain_id: domain.id } }, 201))
      .role
    assert.equal(dr.domain_id, domain.id)
    const inDomain = await ks.ok('GET', `/v3/roles?domain_id=${domain.id}`)
    assert.deepEqual(
      inDomain.roles.map((r: { id: string }) => r.id),
      [dr.id],
    )
    const global = await ks.ok('GET', '/v3/roles')
    assert.ok(!global.roles.some((r: { id: string }) => r.id === dr.id), 'a domain role is not a global role')
    await ks.ok('POST', '/v3/roles', { role: { name: 'dr-x', domain_id: 'no-such-domain' } }, 404)

    const globalRole = (await ks.ok('POST', '/v3/roles', { role: { name: 'dr-global' } }, 201)).role
    await ks.ok('PUT', `/v3/roles/${dr.id}/implies/${globalRole.id}`, undefined, 201)
    await ks.ok('PUT', `/v3/roles/${globalRole.id}/implies/${dr.id}`, undefined, 403)

    const { user, project } = await ks.userWithRole('dr-user', 'reader')
    await ks.ok('PUT', `/v3/projects/${project.id}/users/${user.id}/roles/${dr.id}`, undefined, 204)
    const effective = await ks.ok(
      'GET',
      `/v3/role_assignments?effective&user.id=${user.id}&scope.project.id=${project.id}`,
    )
    const ids = effective.role_assignments.map((a: { role: { id: string } }) => a.role.id)
    assert.ok(!ids.includes(dr.id), 'the domain role itself is not effective')
    assert.ok(ids.includes(globalRole.id), 'the global role it implies is')
    const login = await ks.login('dr-user', 'dr-user-password', { project: { id: project.id } })
    const tokenRoles = login.body.token.roles.map((r: { id: string }) => r.id)
    assert.ok(!tokenRoles.includes(dr.id))
    assert.ok(tokenRoles.includes(globalRole.id))

    await ks.ok('DELETE', `/v3/roles/${dr.id}`, undefined, 204)
    assert.deepEqual((await ks.ok('GET', `/v3/roles?domain_id=${domain.id}`)).roles, [])
  })
})
