import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { Keystone } from '../identity/client.ts'

const TEST_TIMEOUT_MS = 60_000

/** Glance's metadata definitions catalog (`/v2/metadefs`) with Glance's bodies and codes. */
describe('image metadefs', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let admin: string
  let member: string
  let base: string

  before(async () => {
    tc = await startTestCloud()
    const ks = new Keystone(tc)
    admin = await ks.admin()
    member = (await ks.userWithRole('metadef-member', 'member')).token
    base = tc.url('image')
  })
  after(() => tc?.stop())

  async function call(method: string, path: string, body?: unknown, token = admin) {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        'x-auth-token': token,
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    })
    const text = await res.text()
    // Glance renders its errors as HTML pages; successes are JSON.
    const json = res.headers.get('content-type')?.includes('json') && text
    return { status: res.status, body: json ? JSON.parse(text) : text }
  }
  async function ok(method: string, path: string, status: number, body?: unknown, token = admin) {
    const r = await call(method, path, body, token)
    assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`)
    return r.body
  }

  it('lists the seeded resource types and serves the metadefs schemas', async () => {
    const { resource_types } = await ok('GET', '/v2/metadefs/resource_types', 200)
    assert.ok(resource_types.some((t: { name: string }) => t.name === 'OS::Glance::Image'))
    for (const [path, name] of [
      ['namespace', 'namespace'],
      ['namespaces', 'namespaces'],
      ['resource_type', 'resource_type_association'],
      ['resource_types', 'resource_type_associations'],
      ['object', 'object'],
      ['objects', 'objects'],
      ['property', 'property'],
      ['properties', 'properties'],
      ['tag', 'tag'],
      ['tags', 'tags'],
    ]) {
      assert.equal((await ok('GET', `/v2/schemas/metadefs/${path}`, 200)).name, name)
    }
  })

  it('namespaces: create with associations, show, list, protect, update, delete', async () => {
    const created = await ok('POST', '/v2/metadefs/namespaces', 201, {
      namespace: 'ns-one',
      display_name: 'One',
      visibility: 'public',
      protected: true,
      resource_type_associations: [{ name: 'OS::Glance::Image', prefix: 'one_' }],
    })
    assert.equal(created.self, '/v2/metadefs/namespaces/ns-one')
    assert.equal(created.schema, '/v2/schemas/metadefs/namespace')
    assert.match(created.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    await ok('POST', '/v2/metadefs/namespaces', 409, { namespace: 'ns-one' })
    const shown = await ok('GET', '/v2/metadefs/namespaces/ns-one', 200)
    assert.equal(shown.resource_type_associations[0].prefix, 'one_')
    const list = await ok('GET', '/v2/metadefs/namespaces?resource_types=OS::Glance::Image', 200)
    assert.deepEqual(
      list.namespaces.map((n: { namespace: string }) => n.namespace),
      ['ns-one'],
    )
    assert.equal(list.first, '/v2/metadefs/namespaces')
    await ok('DELETE', '/v2/metadefs/namespaces/ns-one', 403)
    await ok('POST', '/v2/metadefs/namespaces', 403, { namespace: 'x', created_at: 'now' })
    await ok('POST', '/v2/metadefs/namespaces', 400, { namespace: 'x', bogus: 1 })
    const up = await ok('PUT', '/v2/metadefs/namespaces/ns-one', 200, {
      namespace: 'ns-one',
      visibility: 'private',
      protected: false,
    })
    assert.equal(up.visibility, 'private')
    assert.equal(up.protected, false)
    await ok('GET', '/v2/metadefs/namespaces/ns-one', 404, undefined, member)
    await ok('DELETE', '/v2/metadefs/namespaces/ns-one', 204)
    await ok('GET', '/v2/metadefs/namespaces/ns-one', 404)
  })

  it('objects, properties and tags: CRUD and rename', async () => {
    await ok('POST', '/v2/metadefs/namespaces', 201, { namespace: 'ns-two', visibility: 'public' })
    const ns = '/v2/metadefs/namespaces/ns-two'
    const obj = await ok('POST', `${ns}/objects`, 201, { name: 'obj1', description: 'd' })
    assert.equal(obj.self, `${ns}/objects/obj1`)
    assert.deepEqual(obj.required, [])
    const renamed = await ok('PUT', `${ns}/objects/obj1`, 200, { name: 'obj2' })
    assert.equal(renamed.name, 'obj2')
    await ok('GET', `${ns}/objects/obj1`, 404)
    assert.deepEqual(
      (await ok('GET', `${ns}/objects`, 200)).objects.map((o: { name: string }) => o.name),
      ['obj2'],
    )

    const prop = await ok('POST', `${ns}/properties`, 201, {
      name: 'OS::Glance::Image',
      title: 'hv',
      type: 'string',
      enum: ['kvm', 'qemu'],
    })
    assert.equal(prop.title, 'hv')
    await ok('POST', `${ns}/properties`, 400, { name: 'p', title: 't', type: 'bogus' })
    assert.equal((await ok('GET', `${ns}/properties/OS::Glance::Image`, 200)).name, 'OS::Glance::Image')
    const listed = await ok('GET', `${ns}/properties`, 200)
    assert.equal(listed.properties['OS::Glance::Image'].type, 'string')
    await ok('DELETE', `${ns}/properties/OS::Glance::Image`, 204)
    assert.deepEqual((await ok('GET', `${ns}/properties`, 200)).properties, {})

    const tags = await ok('POST', `${ns}/tags`, 201, { tags: [{ name: 'a' }, { name: 'b' }] })
    assert.equal(tags.tags.length, 2)
    const one = await call('POST', `${ns}/tags/c`)
    assert.equal(one.status, 201, JSON.stringify(one.body))
    assert.equal(one.body.name, 'c')
    await ok('POST', `${ns}/tags/C`, 409)
    assert.equal((await ok('PUT', `${ns}/tags/c`, 200, { name: 'd' })).name, 'd')
    await ok('DELETE', `${ns}/tags/d`, 204)
    assert.equal((await ok('GET', `${ns}/tags`, 200)).tags.length, 2)
    await ok('DELETE', `${ns}/tags`, 204)
    assert.deepEqual((await ok('GET', `${ns}/tags`, 200)).tags, [])

    await ok('POST', `${ns}/objects`, 403, { name: 'x' }, member)
    await ok('DELETE', ns, 204)
  })

  it('resource type associations: add, list, remove', async () => {
    await ok('POST', '/v2/metadefs/namespaces', 201, { namespace: 'ns-three' })
    const ns = '/v2/metadefs/namespaces/ns-three'
    const a = await ok('POST', `${ns}/resource_types`, 201, { name: 'OS::Nova::Flavor' })
    assert.equal(a.name, 'OS::Nova::Flavor')
    await ok('POST', `${ns}/resource_types`, 409, { name: 'OS::Nova::Flavor' })
    await ok('POST', `${ns}/resource_types`, 404, { name: 'OS::Nope' })
    const list = await ok('GET', `${ns}/resource_types`, 200)
    assert.deepEqual(
      list.resource_type_associations.map((x: { name: string }) => x.name),
      ['OS::Nova::Flavor'],
    )
    await ok('DELETE', `${ns}/resource_types/OS::Nova::Flavor`, 204)
    assert.deepEqual((await ok('GET', `${ns}/resource_types`, 200)).resource_type_associations, [])
  })
})
