import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { assertError, Keystone } from './client.ts'

const TEST_TIMEOUT_MS = 60_000

describe('identity projects acting as domains (is_domain)', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let ks: Keystone
  let admin: string

  before(async () => {
    tc = await startTestCloud({ services: ['identity'] })
    ks = new Keystone(tc)
    admin = await ks.admin()
  })
  after(() => tc?.stop())

  it('a project created with is_domain=true is a domain, listed and shown by both APIs, deleted once disabled', async () => {
    const r = await ks.req('POST', '/v3/projects', {
      token: admin,
      body: { project: { name: 'acme', domain_id: null, is_domain: true, description: 'd' } },
    })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    const p = r.body.project
    assert.deepEqual(
      { ...p, id: undefined },
      {
        id: undefined,
        name: 'acme',
        domain_id: null,
        description: 'd',
        enabled: true,
        parent_id: null,
        is_domain: true,
        tags: [],
        options: {},
        links: { self: `${ks.base}/v3/projects/${p.id}` },
      },
    )
    const domain = (await ks.ok('GET', `/v3/domains/${p.id}`)).domain
    assert.equal(domain.name, 'acme')
    assert.ok((await ks.ok('GET', '/v3/domains')).domains.some((x: any) => x.id === p.id))
    const asDomains = (await ks.ok('GET', '/v3/projects?is_domain=true')).projects
    assert.ok(asDomains.some((x: any) => x.id === p.id && x.is_domain === true))
    assert.ok(
      asDomains.some((x: any) => x.id === 'default'),
      'every domain is a project acting as a domain',
    )
    assert.ok(!(await ks.ok('GET', '/v3/projects')).projects.some((x: any) => x.id === p.id))
    assert.deepEqual((await ks.ok('GET', `/v3/projects/${p.id}`)).project, p)

    // A project whose parent is the domain is a top-level project of that domain.
    const child = (await ks.ok('POST', '/v3/projects', { project: { name: 'c', parent_id: p.id } }, 201))
      .project
    assert.equal(child.domain_id, p.id)
    assert.equal(child.parent_id, p.id)
    await ks.ok('PATCH', `/v3/projects/${child.id}`, { project: { enabled: false } })
    await ks.ok('DELETE', `/v3/projects/${child.id}`, undefined, 204)

    assertError(await ks.req('DELETE', `/v3/projects/${p.id}`, { token: admin }), 403)
    const off = await ks.ok('PATCH', `/v3/projects/${p.id}`, { project: { enabled: false } })
    assert.equal(off.project.enabled, false)
    assert.equal(off.project.is_domain, true)
    assert.equal((await ks.ok('GET', `/v3/domains/${p.id}`)).domain.enabled, false)
    assert.equal((await ks.req('DELETE', `/v3/projects/${p.id}`, { token: admin })).status, 204)
    assertError(await ks.req('GET', `/v3/domains/${p.id}`, { token: admin }), 404)
    assertError(await ks.req('GET', `/v3/projects/${p.id}`, { token: admin }), 404)
  })

  it('400 for a project acting as a domain with a parent or domain; 409 for a taken domain name', async () => {
    const post = (project: unknown) => ks.req('POST', '/v3/projects', { token: admin, body: { project } })
    assertError(
      await post({ name: 'x', is_domain: true, domain_id: 'default' }),
      400,
      'only root projects are allowed to act as domains.',
    )
    assertError(await post({ name: 'x', is_domain: true, parent_id: 'default' }), 400)
    assertError(await post({ name: 'Default', is_domain: true }), 409)
    const p = (await post({ name: 'y', is_domain: true })).body.project
    assertError(
      await ks.req('PATCH', `/v3/projects/${p.id}`, {
        token: admin,
        body: { project: { is_domain: false } },
      }),
      400,
    )
  })
})
