import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { assertError, Keystone, passwordAuth } from './client.ts'

const TEST_TIMEOUT_MS = 60_000

describe('identity users and groups', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let ks: Keystone
  let admin: string

  before(async () => {
    tc = await startTestCloud()
    ks = new Keystone(tc)
    admin = await ks.admin()
  })
  after(() => tc?.stop())

  describe('users', () => {
    it('create: 201, the password is never returned, extra attributes are kept', async () => {
      const r = await ks.req('POST', '/v3/users', {
        token: admin,
        body: { user: { name: 'bob', password: 'bob-pw', email: 'bob@example.org', description: 'Bob' } },
      })
      assert.equal(r.status, 201)
      const u = r.body.user
      assert.equal(u.password, undefined)
      assert.equal(JSON.stringify(r.body).includes('bob-pw'), false)
      assert.equal(u.domain_id, 'default')
      assert.equal(u.enabled, true)
      assert.equal(u.password_expires_at, null)
      assert.equal(u.email, 'bob@example.org')
      assert.equal(u.description, 'Bob')
      assert.equal(u.links.self, `${ks.base}/v3/users/${u.id}`)
      assert.deepEqual((await ks.ok('GET', `/v3/users/${u.id}`)).user, u)
    })

    it('409 on a duplicate name, 404 for an unknown user, 400 for bad input', async () => {
      await ks.createUser('dupuser', 'x')
      const dup = await ks.req('POST', '/v3/users', { token: admin, body: { user: { name: 'dupuser' } } })
      assertError(
        dup,
        409,
        'Conflict occurred attempting to store user - Duplicate entry found with name dupuser at domain ID default.',
      )
      assertError(
        await ks.req('GET', '/v3/users/nobody', { token: admin }),
        404,
        'Could not find user: nobody.',
      )
      assertError(
        await ks.req('POST', '/v3/users', { token: admin, body: { user: { name: '' } } }),
        400,
        /is too short/,
      )
      assertError(
        await ks.req('POST', '/v3/users', { token: admin, body: { user: { name: 'x', password: 3 } } }),
        400,
      )
    })

    it('list filters: name, enabled, domain_id', async () => {
      await ks.createUser('list-on', 'x')
      await ks.createUser('list-off', 'x', { enabled: false })
      const names = async (q: string) => (await ks.ok('GET', `/v3/users?${q}`)).users.map((u: any) => u.name)
      assert.deepEqual(await names('name=list-on'), ['list-on'])
      assert.ok((await names('enabled=false')).includes('list-off'))
      assert.ok(!(await names('enabled=true')).includes('list-off'))
      assert.ok((await names('domain_id=default')).includes('admin'))
      assert.deepEqual(await names('domain_id=nope'), [])
    })

    it('update: name, email, enabled, password (admin reset); domain_id is immutable', async () => {
      const u = await ks.createUser('upd-user', 'first-pw')
      const updated = (
        await ks.ok('PATCH', `/v3/users/${u.id}`, { user: { name: 'upd-user2', email: 'e@x' } })
      ).user
      assert.equal(updated.name, 'upd-user2')
      assert.equal(updated.email, 'e@x')
      await ks.ok('PATCH', `/v3/users/${u.id}`, { user: { password: 'second-pw' } })
      const r = await ks.req('POST', '/v3/auth/tokens', {
        body: passwordAuth({ id: u.id, password: 'second-pw' }),
      })
      assert.equal(r.status, 201)
      assertError(
        await ks.req('PATCH', `/v3/users/${u.id}`, { token: admin, body: { user: { domain_id: 'x' } } }),
        400,
        'Update of `domain_id` is not allowed.',
      )
    })

    it('/v3/users/{id}/projects lists the projects the user has roles on (direct or via a group)', async () => {
      const { user, project } = await ks.userWithRole('projects-user', 'member')
      const other = await ks.createProject('via-group')
      const group = (await ks.ok('POST', '/v3/groups', { group: { name: 'pg' } }, 201)).group
      await ks.ok('PUT', `/v3/groups/${group.id}/users/${user.id}`, undefined, 204)
      await ks.ok(
        'PUT',
        `/v3/projects/${other.id}/groups/${group.id}/roles/${await ks.roleId('reader')}`,
        undefined,
        204,
      )
      const body = await ks.ok('GET', `/v3/users/${user.id}/projects`)
      assert.deepEqual(body.projects.map((p: any) => p.id).sort(), [project.id, other.id].sort())
      assert.equal(body.links.self, `${ks.base}/v3/users/${user.id}/projects`)
      const groups = await ks.ok('GET', `/v3/users/${user.id}/groups`)
      assert.deepEqual(
        groups.groups.map((g: any) => g.name),
        ['pg'],
      )
    })

    it('POST /v3/users/{id}/password: 204; 400 without original_password', async () => {
      const u = await ks.createUser('own-pw', 'old-pw')
      assertError(
        await ks.req('POST', `/v3/users/${u.id}/password`, { body: { user: { password: 'new' } } }),
        400,
      )
      const r = await ks.req('POST', `/v3/users/${u.id}/password`, {
        body: { user: { original_password: 'old-pw', password: 'new-pw' } },
      })
      assert.equal(r.status, 204)
      const login = await ks.req('POST', '/v3/auth/tokens', {
        body: passwordAuth({ id: u.id, password: 'new-pw' }),
      })
      assert.equal(login.status, 201)
    })

    it('POST /v3/users/{id}/password: an unknown user id is the same 401 as a wrong password (issue 17)', async () => {
      const u = await ks.createUser('pw-probe', 'right-pw')
      const wrong = await ks.req('POST', `/v3/users/${u.id}/password`, {
        body: { user: { original_password: 'wrong-pw', password: 'new-pw' } },
      })
      const unknown = await ks.req('POST', '/v3/users/0123456789abcdef0123456789abcdef/password', {
        body: { user: { original_password: 'wrong-pw', password: 'new-pw' } },
      })
      assertError(wrong, 401)
      assertError(unknown, 401)
      assert.deepEqual(unknown.body, wrong.body)
      assert.equal(
        (unknown.body as { error: { message: string } }).error.message,
        'Error when changing user password: Invalid user / password',
      )
    })

    it('delete: 204, then 404', async () => {
      const u = await ks.createUser('del-user', 'x')
      await ks.ok('DELETE', `/v3/users/${u.id}`, undefined, 204)
      assertError(await ks.req('DELETE', `/v3/users/${u.id}`, { token: admin }), 404)
    })
  })

  describe('groups', () => {
    it('create, get, list, update, 409, membership, delete', async () => {
      const g = (
        await ks.ok('POST', '/v3/groups', { group: { name: 'devs', description: 'Developers' } }, 201)
      ).group
      assert.equal(g.domain_id, 'default')
      assert.equal(g.links.self, `${ks.base}/v3/groups/${g.id}`)
      assert.deepEqual((await ks.ok('GET', `/v3/groups/${g.id}`)).group, g)
      assert.deepEqual(
        (await ks.ok('GET', '/v3/groups?name=devs')).groups.map((x: any) => x.id),
        [g.id],
      )
      assertError(
        await ks.req('POST', '/v3/groups', { token: admin, body: { group: { name: 'devs' } } }),
        409,
        'Conflict occurred attempting to store group - Duplicate entry found with name devs at domain ID default.',
      )
      assert.equal(
        (await ks.ok('PATCH', `/v3/groups/${g.id}`, { group: { description: 'Devs' } })).group.description,
        'Devs',
      )

      const u = await ks.createUser('grouped', 'x')
      assert.equal((await ks.req('HEAD', `/v3/groups/${g.id}/users/${u.id}`, { token: admin })).status, 404)
      await ks.ok('PUT', `/v3/groups/${g.id}/users/${u.id}`, undefined, 204)
      assert.equal((await ks.req('HEAD', `/v3/groups/${g.id}/users/${u.id}`, { token: admin })).status, 204)
      assert.deepEqual(
        (await ks.ok('GET', `/v3/groups/${g.id}/users`)).users.map((x: any) => x.id),
        [u.id],
      )
      await ks.ok('DELETE', `/v3/groups/${g.id}/users/${u.id}`, undefined, 204)
      assertError(
        await ks.req('DELETE', `/v3/groups/${g.id}/users/${u.id}`, { token: admin }),
        404,
        `User '${u.id}' not found in group '${g.id}'`,
      )
      await ks.ok('DELETE', `/v3/groups/${g.id}`, undefined, 204)
      assertError(
        await ks.req('GET', `/v3/groups/${g.id}`, { token: admin }),
        404,
        `Could not find group: ${g.id}.`,
      )
    })
  })
})
