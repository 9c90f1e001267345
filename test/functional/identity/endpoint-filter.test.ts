import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, TEST_ADMIN_PASSWORD, type TestCloud } from '../harness.ts'
import { assertError, Keystone } from './client.ts'

const TEST_TIMEOUT_MS = 60_000
const EP = '/v3/OS-EP-FILTER'

describe('identity OS-EP-FILTER', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let ks: Keystone
  let admin: string
  let serviceId: string
  let publicEp: string
  let adminEp: string

  before(async () => {
    tc = await startTestCloud({ services: ['identity'] })
    ks = new Keystone(tc)
    admin = await ks.admin()
    serviceId = (await ks.ok('POST', '/v3/services', { service: { type: 'filtered', name: 'flt' } }, 201))
      .service.id
    const ep = async (iface: string) =>
      (
        await ks.ok(
          'POST',
          '/v3/endpoints',
          { endpoint: { service_id: serviceId, interface: iface, url: `http://flt.example/${iface}` } },
          201,
        )
      ).endpoint.id
    publicEp = await ep('public')
    adminEp = await ep('admin')
  })
  after(() => tc?.stop())

  it('endpoint groups: create, show, HEAD, list by name, update, delete', async () => {
    const r = await ks.req('POST', `${EP}/endpoint_groups`, {
      token: admin,
      body: { endpoint_group: { name: 'g1', description: 'd', filters: { service_id: serviceId } } },
    })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    const g = r.body.endpoint_group
    assert.match(g.id, /^[0-9a-f]{32}$/)
    assert.deepEqual(g, {
      id: g.id,
      name: 'g1',
      description: 'd',
      filters: { service_id: serviceId },
      links: { self: `${ks.base}${EP}/endpoint_groups/${g.id}` },
    })
    assert.deepEqual((await ks.ok('GET', `${EP}/endpoint_groups/${g.id}`)).endpoint_group, g)
    assert.equal((await ks.req('HEAD', `${EP}/endpoint_groups/${g.id}`, { token: admin })).status, 200)
    await ks.ok(
      'POST',
      `${EP}/endpoint_groups`,
      { endpoint_group: { name: 'g2', filters: { interface: 'admin' } } },
      201,
    )
    const byName = await ks.ok('GET', `${EP}/endpoint_groups?name=g1`)
    assert.deepEqual(byName.endpoint_groups, [g])
    assert.ok((await ks.ok('GET', `${EP}/endpoint_groups`)).endpoint_groups.length >= 2)

    const up = await ks.ok('PATCH', `${EP}/endpoint_groups/${g.id}`, {
      endpoint_group: { name: 'g1b', filters: { interface: 'public', service_id: serviceId } },
    })
    assert.equal(up.endpoint_group.name, 'g1b')
    assert.equal(up.endpoint_group.description, 'd')
    assert.deepEqual(up.endpoint_group.filters, { interface: 'public', service_id: serviceId })
    const eps = await ks.ok('GET', `${EP}/endpoint_groups/${g.id}/endpoints`)
    assert.deepEqual(
      eps.endpoints.map((e: any) => e.id),
      [publicEp],
    )

    assert.equal((await ks.req('DELETE', `${EP}/endpoint_groups/${g.id}`, { token: admin })).status, 204)
    assertError(await ks.req('GET', `${EP}/endpoint_groups/${g.id}`, { token: admin }), 404)
    assertError(await ks.req('DELETE', `${EP}/endpoint_groups/${g.id}`, { token: admin }), 404)
  })

  it('400 for missing, empty or unknown filters and an empty update; 403 for a member', async () => {
    const post = (body: unknown) => ks.req('POST', `${EP}/endpoint_groups`, { token: admin, body })
    assertError(await post({ endpoint_group: { name: 'x' } }), 400, /'filters' is a required property/)
    assertError(
      await post({ endpoint_group: { name: 'x', filters: {} } }),
      400,
      'filters field is required and cannot be empty',
    )
    assertError(
      await post({ endpoint_group: { name: 'x', filters: { enabled: true } } }),
      400,
      /^Expecting to find service_id or region_id or interface in endpoint_group/,
    )
    assertError(await post({ endpoint_group: { name: 'x', filters: { interface: 'private' } } }), 400)
    assertError(
      await post({ endpoint_group: { name: 'x', filters: { interface: 'public' }, extra: 1 } }),
      400,
    )
    const g = (await post({ endpoint_group: { name: 'v', filters: { interface: 'public' } } })).body
      .endpoint_group
    assertError(
      await ks.req('PATCH', `${EP}/endpoint_groups/${g.id}`, { token: admin, body: { endpoint_group: {} } }),
      400,
    )

    const member = await ks.userWithRole('epf-member', 'member')
    assertError(await ks.req('GET', `${EP}/endpoint_groups`, { token: member.token }), 403)
    const asMember = await ks.req('POST', `${EP}/endpoint_groups`, {
      token: member.token,
      body: { endpoint_group: { name: 'x', filters: { interface: 'public' } } },
    })
    assertError(asMember, 403)
  })

  it('project <-> endpoint: add, check (GET and HEAD 204), list both ways, remove; the token catalog follows', async () => {
    const p = await ks.createProject('epf-direct')
    const path = `${EP}/projects/${p.id}/endpoints/${publicEp}`
    assert.equal((await ks.req('HEAD', path, { token: admin })).status, 404)
    assertError(
      await ks.req('GET', path, { token: admin }),
      404,
      `Endpoint ${publicEp} not found in project ${p.id}`,
    )
    assert.equal((await ks.req('PUT', path, { token: admin })).status, 204)
    assert.equal((await ks.req('PUT', path, { token: admin })).status, 204, 'adding again changes nothing')
    assert.equal((await ks.req('HEAD', path, { token: admin })).status, 204)
    assert.equal((await ks.req('GET', path, { token: admin })).status, 204)
    assertError(await ks.req('PUT', `${EP}/projects/${p.id}/endpoints/nope`, { token: admin }), 404)
    assertError(await ks.req('PUT', `${EP}/projects/nope/endpoints/${publicEp}`, { token: admin }), 404)

    const listed = await ks.ok('GET', `${EP}/projects/${p.id}/endpoints`)
    assert.deepEqual(
      listed.endpoints.map((e: any) => [e.id, e.interface, e.service_id]),
      [[publicEp, 'public', serviceId]],
    )
    const projects = await ks.ok('GET', `${EP}/endpoints/${publicEp}/projects`)
    assert.deepEqual(
      projects.projects.map((x: any) => x.id),
      [p.id],
    )

    // A token scoped to the project now carries only that endpoint.
    const u = await ks.createUser('epf-user', 'epf-password')
    await ks.grant(p.id, u.id, 'member')
    const login = await ks.login('epf-user', 'epf-password', { project: { id: p.id } })
    const catalog = login.body.token.catalog
    assert.deepEqual(
      catalog.map((s: any) => [s.id, s.endpoints.map((e: any) => e.id)]),
      [[serviceId, [publicEp]]],
    )
    // The admin project has no association: it sees the whole catalog.
    const full = await ks.login('admin', TEST_ADMIN_PASSWORD, {
      project: { name: 'admin', domain: { id: 'default' } },
    })
    assert.ok(full.body.token.catalog.some((s: any) => s.type === 'identity'))

    assert.equal((await ks.req('DELETE', path, { token: admin })).status, 204)
    assertError(await ks.req('DELETE', path, { token: admin }), 404)
    assert.deepEqual((await ks.ok('GET', `${EP}/projects/${p.id}/endpoints`)).endpoints, [])
  })

  it('project <-> endpoint group: add, show, list both ways, remove; gone with the project', async () => {
    const p = await ks.createProject('epf-groups')
    const g = (
      await ks.ok(
        'POST',
        `${EP}/endpoint_groups`,
        { endpoint_group: { name: 'admins', filters: { interface: 'admin', service_id: serviceId } } },
        201,
      )
    ).endpoint_group
    const path = `${EP}/endpoint_groups/${g.id}/projects/${p.id}`
    assertError(
      await ks.req('GET', path, { token: admin }),
      404,
      'Endpoint Group Project Association not found',
    )
    assert.equal((await ks.req('PUT', path, { token: admin })).status, 204)
    assertError(await ks.req('PUT', path, { token: admin }), 409)
    const shown = await ks.ok('GET', path)
    assert.deepEqual(shown.project_endpoint_group, {
      endpoint_group_id: g.id,
      project_id: p.id,
      links: { self: `${ks.base}${path}` },
    })
    assert.deepEqual(
      (await ks.ok('GET', `${EP}/projects/${p.id}/endpoint_groups`)).endpoint_groups.map((x: any) => x.id),
      [g.id],
    )
    assert.deepEqual(
      (await ks.ok('GET', `${EP}/endpoint_groups/${g.id}/projects`)).projects.map((x: any) => x.id),
      [p.id],
    )
    assert.deepEqual(
      (await ks.ok('GET', `${EP}/projects/${p.id}/endpoints`)).endpoints.map((e: any) => e.id),
      [adminEp],
    )
    assertError(await ks.req('PUT', `${EP}/endpoint_groups/nope/projects/${p.id}`, { token: admin }), 404)
    assertError(await ks.req('GET', `${EP}/projects/nope/endpoint_groups`, { token: admin }), 404)

    assert.equal((await ks.req('DELETE', path, { token: admin })).status, 204)
    assertError(await ks.req('DELETE', path, { token: admin }), 404)
    assert.equal((await ks.req('PUT', path, { token: admin })).status, 204)

    await ks.ok('PATCH', `/v3/projects/${p.id}`, { project: { enabled: false } })
    await ks.ok('DELETE', `/v3/projects/${p.id}`, undefined, 204)
    assert.deepEqual((await ks.ok('GET', `${EP}/endpoint_groups/${g.id}/projects`)).projects, [])
  })
})
