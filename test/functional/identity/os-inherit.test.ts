import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { assertError, Keystone, passwordAuth } from './client.ts'

const TEST_TIMEOUT_MS = 60_000
const INHERITED = 'inherited_to_projects'

describe('identity OS-INHERIT', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let ks: Keystone
  let admin: string
  let domainId: string
  let parent: any
  let child: any
  let roleId: string
  let n = 0

  const newUser = async () => {
    const name = `inh-user-${++n}`
    const user = (
      await ks.ok('POST', '/v3/users', { user: { name, password: 'pw-inherit', domain_id: domainId } }, 201)
    ).user
    return user
  }
  const loginOn = (user: any, scope: unknown) =>
    ks.req('POST', '/v3/auth/tokens', {
      body: passwordAuth({ id: user.id, password: 'pw-inherit' }, scope as never),
    })
  const effective = async (query: string) =>
    (await ks.ok('GET', `/v3/role_assignments?effective&${query}`)).role_assignments

  before(async () => {
    tc = await startTestCloud({ services: ['identity'] })
    ks = new Keystone(tc)
    admin = await ks.admin()
    domainId = (await ks.ok('POST', '/v3/domains', { domain: { name: 'inh' } }, 201)).domain.id
    parent = (await ks.ok('POST', '/v3/projects', { project: { name: 'parent', domain_id: domainId } }, 201))
      .project
    child = (
      await ks.ok(
        'POST',
        '/v3/projects',
        { project: { name: 'child', domain_id: domainId, parent_id: parent.id } },
        201,
      )
    ).project
    roleId = (await ks.ok('POST', '/v3/roles', { role: { name: 'inh-role' } }, 201)).role.id
  })
  after(() => tc?.stop())

  it('a user grant on a domain reaches every project of the domain, not the domain itself', async () => {
    const user = await newUser()
    const path = `/v3/OS-INHERIT/domains/${domainId}/users/${user.id}/roles/${roleId}/${INHERITED}`
    assertError(await ks.req('GET', path, { token: admin }), 404)
    assert.equal((await ks.req('PUT', path, { token: admin })).status, 204)
    assert.equal((await ks.req('GET', path, { token: admin })).status, 204)
    assert.equal((await ks.req('HEAD', path, { token: admin })).status, 204)
    const listed = await ks.ok(
      'GET',
      `/v3/OS-INHERIT/domains/${domainId}/users/${user.id}/roles/${INHERITED}`,
    )
    assert.deepEqual(
      listed.roles.map((r: any) => r.id),
      [roleId],
    )
    // Not an ordinary grant on the domain.
    assertError(
      await ks.req('GET', `/v3/domains/${domainId}/users/${user.id}/roles/${roleId}`, { token: admin }),
      404,
    )
    assert.deepEqual((await ks.ok('GET', `/v3/domains/${domainId}/users/${user.id}/roles`)).roles, [])

    // The direct listing shows the grant with its OS-INHERIT flag.
    const direct = (await ks.ok('GET', `/v3/role_assignments?user.id=${user.id}`)).role_assignments
    assert.deepEqual(direct, [
      {
        role: { id: roleId },
        user: { id: user.id },
        scope: { domain: { id: domainId }, 'OS-INHERIT:inherited_to': 'projects' },
        links: { assignment: `${ks.base}${path}` },
      },
    ])
    const onlyInherited = await ks.ok('GET', `/v3/role_assignments?scope.OS-INHERIT:inherited_to=projects`)
    assert.ok(onlyInherited.role_assignments.some((x: any) => x.user?.id === user.id))
    assert.ok(
      onlyInherited.role_assignments.every((x: any) => x.scope['OS-INHERIT:inherited_to'] === 'projects'),
    )

    // Effective: one assignment per project of the domain, linked to the inherited grant.
    for (const p of [parent, child]) {
      const eff = await effective(`user.id=${user.id}&scope.project.id=${p.id}`)
      assert.deepEqual(eff, [
        {
          role: { id: roleId },
          user: { id: user.id },
          scope: { project: { id: p.id } },
          links: { assignment: `${ks.base}${path}` },
        },
      ])
    }
    assert.deepEqual(
      (await effective(`user.id=${user.id}`)).map((x: any) => x.scope.project.id).sort(),
      [parent.id, child.id].sort(),
    )
    assert.deepEqual(await effective(`user.id=${user.id}&scope.domain.id=${domainId}`), [])

    // Tokens: the role on every project of the domain; no domain-scoped token.
    const onChild = await loginOn(user, { project: { id: child.id } })
    assert.equal(onChild.status, 201, JSON.stringify(onChild.body))
    assert.deepEqual(
      onChild.body.token.roles.map((r: any) => r.id),
      [roleId],
    )
    assert.equal((await loginOn(user, { domain: { id: domainId } })).status, 401)
    const projects = await ks.ok('GET', `/v3/users/${user.id}/projects`)
    assert.deepEqual(projects.projects.map((p: any) => p.id).sort(), [parent.id, child.id].sort())

    assert.equal((await ks.req('DELETE', path, { token: admin })).status, 204)
    assertError(await ks.req('DELETE', path, { token: admin }), 404)
    assert.deepEqual(await effective(`user.id=${user.id}`), [])
    assert.equal((await loginOn(user, { project: { id: child.id } })).status, 401)
  })

  it('a grant on a project reaches its subtree only; a group grant reaches its members', async () => {
    const user = await newUser()
    const path = `/v3/OS-INHERIT/projects/${parent.id}/users/${user.id}/roles/${roleId}/${INHERITED}`
    assert.equal((await ks.req('PUT', path, { token: admin })).status, 204)
    assert.equal((await ks.req('GET', path, { token: admin })).status, 204)
    assert.equal((await effective(`user.id=${user.id}&scope.project.id=${child.id}`)).length, 1)
    assert.deepEqual(await effective(`user.id=${user.id}&scope.project.id=${parent.id}`), [])
    assert.equal((await loginOn(user, { project: { id: child.id } })).status, 201)
    assert.equal((await loginOn(user, { project: { id: parent.id } })).status, 401)
    assert.equal((await ks.req('DELETE', path, { token: admin })).status, 204)
    assert.deepEqual(await effective(`user.id=${user.id}&scope.project.id=${child.id}`), [])

    const member = await newUser()
    const group = (
      await ks.ok('POST', '/v3/groups', { group: { name: 'inh-group', domain_id: domainId } }, 201)
    ).group
    await ks.ok('PUT', `/v3/groups/${group.id}/users/${member.id}`, undefined, 204)
    const gpath = `/v3/OS-INHERIT/domains/${domainId}/groups/${group.id}/roles/${roleId}/${INHERITED}`
    assert.equal((await ks.req('PUT', gpath, { token: admin })).status, 204)
    assert.equal((await ks.req('GET', gpath, { token: admin })).status, 204)
    assert.deepEqual(
      (
        await ks.ok('GET', `/v3/OS-INHERIT/domains/${domainId}/groups/${group.id}/roles/${INHERITED}`)
      ).roles.map((r: any) => r.id),
      [roleId],
    )
    const eff = await effective(`user.id=${member.id}&scope.project.id=${child.id}`)
    assert.equal(eff.length, 1)
    assert.equal(eff[0].links.assignment, `${ks.base}${gpath}`)
    assert.equal(eff[0].links.membership, `${ks.base}/v3/groups/${group.id}/users/${member.id}`)
    const ppath = `/v3/OS-INHERIT/projects/${parent.id}/groups/${group.id}/roles/${roleId}/${INHERITED}`
    assert.equal((await ks.req('PUT', ppath, { token: admin })).status, 204)
    assert.equal((await ks.req('GET', ppath, { token: admin })).status, 204)
    assert.equal((await ks.req('DELETE', ppath, { token: admin })).status, 204)
    assert.equal((await ks.req('DELETE', gpath, { token: admin })).status, 204)
    assert.deepEqual(await effective(`user.id=${member.id}`), [])
  })

  it('400 for another inherited_to value; 404 for unknown parties; 403 for a member', async () => {
    assertError(
      await ks.req('GET', '/v3/role_assignments?scope.OS-INHERIT:inherited_to=domains', { token: admin }),
      400,
    )
    const user = await newUser()
    assertError(
      await ks.req('PUT', `/v3/OS-INHERIT/domains/nope/users/${user.id}/roles/${roleId}/${INHERITED}`, {
        token: admin,
      }),
      404,
    )
    assertError(
      await ks.req('PUT', `/v3/OS-INHERIT/projects/${parent.id}/users/${user.id}/roles/nope/${INHERITED}`, {
        token: admin,
      }),
      404,
    )
    const m = await ks.userWithRole('inh-member', 'member')
    assertError(
      await ks.req(
        'PUT',
        `/v3/OS-INHERIT/domains/${domainId}/users/${user.id}/roles/${roleId}/${INHERITED}`,
        {
          token: m.token,
        },
      ),
      403,
    )
  })
})
