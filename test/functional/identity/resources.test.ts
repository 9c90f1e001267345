import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { assertError, Keystone } from './client.ts'

const TEST_TIMEOUT_MS = 60_000

describe('identity domains and projects', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let ks: Keystone
  let admin: string

  before(async () => {
    tc = await startTestCloud()
    ks = new Keystone(tc)
    admin = await ks.admin()
  })
  after(() => tc?.stop())

  describe('domains', () => {
    it('lists the Default domain with links', async () => {
      const body = await ks.ok('GET', '/v3/domains')
      assert.deepEqual(body.links, { self: `${ks.base}/v3/domains`, previous: null, next: null })
      const def = body.domains.find((d: any) => d.id === 'default')
      assert.equal(def.name, 'Default')
      assert.equal(def.enabled, true)
      assert.equal(def.links.self, `${ks.base}/v3/domains/default`)
    })

    it('create, get, filter, update, 409 on a duplicate, delete only when disabled', async () => {
      const created = (
        await ks.ok('POST', '/v3/domains', { domain: { name: 'dom1', description: 'first' } }, 201)
      ).domain
      assert.match(created.id, /^[0-9a-f]{32}$/)
      assert.equal(created.description, 'first')
      assert.deepEqual((await ks.ok('GET', `/v3/domains/${created.id}`)).domain, created)
      assert.deepEqual(
        (await ks.ok('GET', '/v3/domains?name=dom1')).domains.map((d: any) => d.id),
        [created.id],
      )
      const dup = await ks.req('POST', '/v3/domains', { token: admin, body: { domain: { name: 'dom1' } } })
      assertError(
        dup,
        409,
        'Conflict occurred attempting to store domain - Duplicate entry found with name dom1.',
      )
      const enabledDelete = await ks.req('DELETE', `/v3/domains/${created.id}`, { token: admin })
      assertError(enabledDelete, 403, 'Cannot delete a domain that is enabled, please disable it first.')
      const updated = (await ks.ok('PATCH', `/v3/domains/${created.id}`, { domain: { enabled: false } }))
        .domain
      assert.equal(updated.enabled, false)
      await ks.ok('DELETE', `/v3/domains/${created.id}`, undefined, 204)
      assertError(
        await ks.req('GET', `/v3/domains/${created.id}`, { token: admin }),
        404,
        `Could not find domain: ${created.id}.`,
      )
    })

    it('deleting a domain removes its projects and users', async () => {
      const d = (await ks.ok('POST', '/v3/domains', { domain: { name: 'doomed' } }, 201)).domain
      const p = (await ks.ok('POST', '/v3/projects', { project: { name: 'p', domain_id: d.id } }, 201))
        .project
      const u = (await ks.ok('POST', '/v3/users', { user: { name: 'u', domain_id: d.id } }, 201)).user
      await ks.ok('PATCH', `/v3/domains/${d.id}`, { domain: { enabled: false } })
      await ks.ok('DELETE', `/v3/domains/${d.id}`, undefined, 204)
      assertError(await ks.req('GET', `/v3/projects/${p.id}`, { token: admin }), 404)
      assertError(await ks.req('GET', `/v3/users/${u.id}`, { token: admin }), 404)
    })
  })

  describe('projects', () => {
    it('create: 201 with every Keystone field; parent_id is the domain at the top', async () => {
      const r = await ks.req('POST', '/v3/projects', {
        token: admin,
        body: {
          project: { name: 'alpha', description: 'A', domain_id: 'default', tags: ['t1'], color: 'blue' },
        },
      })
      assert.equal(r.status, 201)
      const p = r.body.project
      assert.deepEqual(
        { ...p, id: undefined, links: undefined },
        {
          id: undefined,
          links: undefined,
          name: 'alpha',
          description: 'A',
          domain_id: 'default',
          enabled: true,
          parent_id: 'default',
          is_domain: false,
          tags: ['t1'],
          options: {},
          color: 'blue',
        },
      )
      assert.equal(p.links.self, `${ks.base}/v3/projects/${p.id}`)
      const got = (await ks.ok('GET', `/v3/projects/${p.id}`)).project
      assert.deepEqual(got, p)
    })

    it('a project without domain_id goes to the Default domain', async () => {
      const p = (await ks.ok('POST', '/v3/projects', { project: { name: 'nodomain' } }, 201)).project
      assert.equal(p.domain_id, 'default')
    })

    it('409 on a duplicate name in the domain, 400 for bad input, 404 with Keystone words', async () => {
      await ks.createProject('dup-project')
      const dup = await ks.req('POST', '/v3/projects', {
        token: admin,
        body: { project: { name: 'dup-project', domain_id: 'default' } },
      })
      assertError(
        dup,
        409,
        /^Conflict occurred attempting to store project - it is not permitted to have two projects/,
      )
      assertError(
        await ks.req('POST', '/v3/projects', { token: admin, body: { project: {} } }),
        400,
        "'name' is a required property",
      )
      assertError(
        await ks.req('POST', '/v3/projects', {
          token: admin,
          body: { project: { name: 'x', enabled: 'yes' } },
        }),
        400,
        "Invalid input for field 'enabled': 'yes' is not of type 'boolean'",
      )
      assertError(await ks.req('POST', '/v3/projects', { token: admin, body: '{not json' }), 400)
      assertError(
        await ks.req('POST', '/v3/projects', {
          token: admin,
          body: { project: { name: 'x', domain_id: 'nope' } },
        }),
        400,
        'Could not find domain: nope.',
      )
      assertError(
        await ks.req('GET', '/v3/projects/missing', { token: admin }),
        404,
        'Could not find project: missing.',
      )
      assertError(
        await ks.req('PATCH', '/v3/projects/missing', { token: admin, body: { project: { name: 'y' } } }),
        404,
      )
      assertError(await ks.req('DELETE', '/v3/projects/missing', { token: admin }), 404)
    })

    it('list filters: name, domain_id, enabled, parent_id, tags', async () => {
      const parent = await ks.createProject('filter-parent', { tags: ['a', 'b'] })
      const child = (
        await ks.ok(
          'POST',
          '/v3/projects',
          { project: { name: 'filter-child', parent_id: parent.id, tags: ['b'] } },
          201,
        )
      ).project
      assert.equal(child.parent_id, parent.id)
      assert.equal(child.domain_id, 'default')
      const off = await ks.createProject('filter-off', { enabled: false })
      const names = async (q: string) =>
        (await ks.ok('GET', `/v3/projects?${q}`)).projects.map((p: any) => p.name).sort()
      assert.deepEqual(await names('name=filter-child'), ['filter-child'])
      assert.deepEqual(await names(`parent_id=${parent.id}`), ['filter-child'])
      assert.ok((await names('enabled=false')).includes(off.name))
      assert.ok(!(await names('enabled=true')).includes(off.name))
      assert.deepEqual(await names('tags=a,b'), ['filter-parent'])
      assert.deepEqual(await names('tags-any=b'), ['filter-child', 'filter-parent'])
      assert.ok(!(await names('not-tags-any=b')).includes('filter-child'))
      assert.ok((await names('domain_id=default')).includes('filter-parent'))
      const list = await ks.ok('GET', '/v3/projects?name=filter-child')
      assert.deepEqual(list.links, {
        self: `${ks.base}/v3/projects?name=filter-child`,
        previous: null,
        next: null,
      })
    })

    it('update: fields change, domain_id and parent_id cannot; a non-leaf cannot be deleted', async () => {
      const parent = await ks.createProject('upd-parent')
      const child = (
        await ks.ok('POST', '/v3/projects', { project: { name: 'upd-child', parent_id: parent.id } }, 201)
      ).project
      const updated = (
        await ks.ok('PATCH', `/v3/projects/${parent.id}`, {
          project: { description: 'new', name: 'upd-parent2' },
        })
      ).project
      assert.equal(updated.description, 'new')
      assert.equal(updated.name, 'upd-parent2')
      assertError(
        await ks.req('PATCH', `/v3/projects/${parent.id}`, {
          token: admin,
          body: { project: { domain_id: 'other' } },
        }),
        400,
        'Update of `domain_id` is not allowed.',
      )
      assertError(
        await ks.req('DELETE', `/v3/projects/${parent.id}`, { token: admin }),
        403,
        /is not a leaf in the hierarchy/,
      )
      await ks.ok('DELETE', `/v3/projects/${child.id}`, undefined, 204)
      await ks.ok('DELETE', `/v3/projects/${parent.id}`, undefined, 204)
    })

    it('tags: list, replace, add, check, remove', async () => {
      const p = await ks.createProject('tagged')
      const base = `/v3/projects/${p.id}/tags`
      assert.deepEqual((await ks.ok('GET', base)).tags, [])
      assert.deepEqual((await ks.ok('PUT', base, { tags: ['x', 'y'] })).tags, ['x', 'y'])
      await ks.ok('PUT', `${base}/z`, undefined, 201)
      assert.deepEqual((await ks.ok('GET', base)).tags, ['x', 'y', 'z'])
      await ks.ok('GET', `${base}/z`, undefined, 204)
      assertError(await ks.req('GET', `${base}/nope`, { token: admin }), 404)
      await ks.ok('DELETE', `${base}/x`, undefined, 204)
      assert.deepEqual((await ks.ok('GET', `/v3/projects/${p.id}`)).project.tags, ['y', 'z'])
      await ks.ok('DELETE', base, undefined, 204)
      assert.deepEqual((await ks.ok('GET', base)).tags, [])
      assertError(await ks.req('PUT', `${base}/bad,tag`, { token: admin }), 400)
    })
  })
})
