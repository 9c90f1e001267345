import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { assertError, Keystone } from './client.ts'

const TEST_TIMEOUT_MS = 60_000

describe('identity roles and assignments', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let ks: Keystone
  let admin: string
  const role: Record<string, string> = {}

  before(async () => {
    tc = await startTestCloud()
    ks = new Keystone(tc)
    admin = await ks.admin()
    for (const name of ['admin', 'member', 'reader']) role[name] = await ks.roleId(name)
  })
  after(() => tc?.stop())

  describe('roles', () => {
    it('bootstrap made admin > member > reader', async () => {
      const rules = (await ks.ok('GET', '/v3/role_inferences')).role_inferences
      const pairs = rules
        .flatMap((r: any) => r.implies.map((i: any) => `${r.prior_role.name}>${i.name}`))
        .sort()
      assert.deepEqual(pairs, ['admin>member', 'member>reader'])
      const implies = (await ks.ok('GET', `/v3/roles/${role.admin}/implies`)).role_inference
      assert.equal(implies.prior_role.name, 'admin')
      assert.deepEqual(
        implies.implies.map((r: any) => r.name),
        ['member'],
      )
    })

    it('create, get, update, 409, delete', async () => {
      const r = (await ks.ok('POST', '/v3/roles', { role: { name: 'operator', description: 'Ops' } }, 201))
        .role
      assert.deepEqual(Object.keys(r).sort(), ['description', 'domain_id', 'id', 'links', 'name', 'options'])
      assert.equal(r.domain_id, null)
      assert.deepEqual((await ks.ok('GET', `/v3/roles/${r.id}`)).role, r)
      assertError(
        await ks.req('POST', '/v3/roles', { token: admin, body: { role: { name: 'operator' } } }),
        409,
        'Conflict occurred attempting to store role - Duplicate entry found with name operator.',
      )
      assert.equal(
        (await ks.ok('PATCH', `/v3/roles/${r.id}`, { role: { description: 'Operators' } })).role.description,
        'Operators',
      )
      await ks.ok('DELETE', `/v3/roles/${r.id}`, undefined, 204)
      assertError(
        await ks.req('GET', `/v3/roles/${r.id}`, { token: admin }),
        404,
        `Could not find role: ${r.id}.`,
      )
    })

    it('implied roles: create, check, delete; admin cannot be implied', async () => {
      const a = (await ks.ok('POST', '/v3/roles', { role: { name: 'a-role' } }, 201)).role
      const b = (await ks.ok('POST', '/v3/roles', { role: { name: 'b-role' } }, 201)).role
      const created = await ks.ok('PUT', `/v3/roles/${a.id}/implies/${b.id}`, undefined, 201)
      assert.equal(created.role_inference.prior_role.id, a.id)
      assert.equal(created.role_inference.implies.id, b.id)
      assert.equal((await ks.req('HEAD', `/v3/roles/${a.id}/implies/${b.id}`, { token: admin })).status, 204)
      await ks.ok('DELETE', `/v3/roles/${a.id}/implies/${b.id}`, undefined, 204)
      assertError(
        await ks.req('GET', `/v3/roles/${a.id}/implies/${b.id}`, { token: admin }),
        404,
        `${a.id} does not imply ${b.id}.`,
      )
      assertError(
        await ks.req('PUT', `/v3/roles/${a.id}/implies/${role.admin}`, { token: admin }),
        403,
        'admin cannot be an implied roles.',
      )
    })
  })

  describe('grants', () => {
    it('project grants for users: PUT 204, HEAD/GET 204, list, DELETE 204, then 404', async () => {
      const p = await ks.createProject('grant-p')
      const u = await ks.createUser('grant-u', 'x')
      const path = `/v3/projects/${p.id}/users/${u.id}/roles`
      await ks.ok('PUT', `${path}/${role.member}`, undefined, 204)
      assert.equal((await ks.req('HEAD', `${path}/${role.member}`, { token: admin })).status, 204)
      await ks.ok('GET', `${path}/${role.member}`, undefined, 204)
      assert.deepEqual(
        (await ks.ok('GET', path)).roles.map((r: any) => r.name),
        ['member'],
      )
      await ks.ok('DELETE', `${path}/${role.member}`, undefined, 204)
      assertError(
        await ks.req('GET', `${path}/${role.member}`, { token: admin }),
        404,
        `Could not find role assignment with role: ${role.member}, user or group: ${u.id}, project, domain, or system: ${p.id}.`,
      )
      assertError(await ks.req('PUT', `${path}/nope`, { token: admin }), 404, 'Could not find role: nope.')
      assertError(
        await ks.req('PUT', `/v3/projects/nope/users/${u.id}/roles/${role.member}`, { token: admin }),
        404,
        'Could not find project: nope.',
      )
    })

    it('domain and group grants, system grants', async () => {
      const g = (await ks.ok('POST', '/v3/groups', { group: { name: 'grant-g' } }, 201)).group
      await ks.ok('PUT', `/v3/domains/default/groups/${g.id}/roles/${role.reader}`, undefined, 204)
      assert.deepEqual(
        (await ks.ok('GET', `/v3/domains/default/groups/${g.id}/roles`)).roles.map((r: any) => r.name),
        ['reader'],
      )
      const u = await ks.createUser('sys-u', 'x')
      await ks.ok('PUT', `/v3/system/users/${u.id}/roles/${role.reader}`, undefined, 204)
      await ks.ok('GET', `/v3/system/users/${u.id}/roles/${role.reader}`, undefined, 204)
      assert.deepEqual(
        (await ks.ok('GET', `/v3/system/users/${u.id}/roles`)).roles.map((r: any) => r.name),
        ['reader'],
      )
      const { body } = await ks.login('sys-u', 'x', { system: { all: true } })
      assert.deepEqual(body.token.system, { all: true })
      const sys = await ks.req('GET', '/v3/auth/system', { token: (await ks.login('sys-u', 'x')).token })
      assert.deepEqual(sys.body.system, [{ all: true }])
      await ks.ok('DELETE', `/v3/system/users/${u.id}/roles/${role.reader}`, undefined, 204)
      assertError(await ks.req('GET', `/v3/system/users/${u.id}/roles/${role.reader}`, { token: admin }), 404)
    })
  })

  describe('GET /v3/role_assignments', () => {
    let project: any
    let child: any
    let user: any
    let group: any

    before(async () => {
      project = await ks.createProject('ra-project')
      child = (
        await ks.ok('POST', '/v3/projects', { project: { name: 'ra-child', parent_id: project.id } }, 201)
      ).project
      user = await ks.createUser('ra-user', 'x')
      group = (await ks.ok('POST', '/v3/groups', { group: { name: 'ra-group' } }, 201)).group
      await ks.ok('PUT', `/v3/groups/${group.id}/users/${user.id}`, undefined, 204)
      await ks.ok('PUT', `/v3/projects/${project.id}/users/${user.id}/roles/${role.member}`, undefined, 204)
      await ks.ok('PUT', `/v3/projects/${child.id}/groups/${group.id}/roles/${role.admin}`, undefined, 204)
    })

    it('filters by user, role and scope, with assignment links', async () => {
      const body = await ks.ok('GET', `/v3/role_assignments?user.id=${user.id}`)
      assert.equal(body.role_assignments.length, 1)
      const a = body.role_assignments[0]
      assert.deepEqual(a.role, { id: role.member })
      assert.deepEqual(a.user, { id: user.id })
      assert.deepEqual(a.scope, { project: { id: project.id } })
      assert.equal(
        a.links.assignment,
        `${ks.base}/v3/projects/${project.id}/users/${user.id}/roles/${role.member}`,
      )
      assert.equal(body.links.next, null)
      const byGroup = await ks.ok('GET', `/v3/role_assignments?group.id=${group.id}`)
      assert.deepEqual(
        byGroup.role_assignments.map((x: any) => x.scope.project.id),
        [child.id],
      )
      const byScope = await ks.ok('GET', `/v3/role_assignments?scope.project.id=${project.id}`)
      assert.deepEqual(
        byScope.role_assignments.map((x: any) => x.user.id),
        [user.id],
      )
      const byRole = await ks.ok(
        'GET',
        `/v3/role_assignments?role.id=${role.member}&scope.project.id=${project.id}`,
      )
      assert.equal(byRole.role_assignments.length, 1)
      const system = await ks.ok('GET', '/v3/role_assignments?scope.system=all')
      assert.ok(system.role_assignments.every((x: any) => x.scope.system?.all === true))
      assert.ok(system.role_assignments.length >= 1)
      const domain = await ks.ok('GET', '/v3/role_assignments?scope.domain.id=default')
      assert.ok(domain.role_assignments.every((x: any) => x.scope.domain?.id === 'default'))
    })

    it('effective: group roles expanded to members, implied roles added, with membership and prior_role links', async () => {
      const body = await ks.ok('GET', `/v3/role_assignments?user.id=${user.id}&effective`)
      const seen = body.role_assignments
        .map(
          (x: any) =>
            `${x.scope.project.id === child.id ? 'child' : 'parent'}:${x.role.id === role.admin ? 'admin' : x.role.id === role.member ? 'member' : 'reader'}`,
        )
        .sort()
      assert.deepEqual(seen, [
        'child:admin',
        'child:member',
        'child:reader',
        'parent:member',
        'parent:reader',
      ])
      for (const a of body.role_assignments) assert.equal(a.group, undefined)
      const viaGroup = body.role_assignments.find(
        (x: any) => x.scope.project.id === child.id && x.role.id === role.admin,
      )
      assert.equal(viaGroup.links.membership, `${ks.base}/v3/groups/${group.id}/users/${user.id}`)
      assert.equal(
        viaGroup.links.assignment,
        `${ks.base}/v3/projects/${child.id}/groups/${group.id}/roles/${role.admin}`,
      )
      const implied = body.role_assignments.find(
        (x: any) => x.scope.project.id === project.id && x.role.id === role.reader,
      )
      assert.equal(implied.links.prior_role, `${ks.base}/v3/roles/${role.member}`)
    })

    it('include_names and include_subtree', async () => {
      const body = await ks.ok(
        'GET',
        `/v3/role_assignments?scope.project.id=${project.id}&include_subtree=true&include_names`,
      )
      assert.equal(body.role_assignments.length, 2)
      const direct = body.role_assignments.find((x: any) => x.user)
      assert.deepEqual(direct.user, {
        id: user.id,
        name: 'ra-user',
        domain: { id: 'default', name: 'Default' },
      })
      assert.deepEqual(direct.role, { id: role.member, name: 'member' })
      assert.deepEqual(direct.scope.project, {
        id: project.id,
        name: 'ra-project',
        domain: { id: 'default', name: 'Default' },
      })
      const viaGroup = body.role_assignments.find((x: any) => x.group)
      assert.deepEqual(viaGroup.group, {
        id: group.id,
        name: 'ra-group',
        domain: { id: 'default', name: 'Default' },
      })
      assertError(await ks.req('GET', '/v3/role_assignments?include_subtree=true', { token: admin }), 400)
    })
  })
})
