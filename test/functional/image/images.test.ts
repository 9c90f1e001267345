import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startImageCloud, type ImageClient, type ImageCloud } from './support.ts'

/** The image record routes of the Glance v2 API, as real clients see them. */

const TEST_TIMEOUT_MS = 60_000
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const ISO_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/

describe('image API: image records', { timeout: TEST_TIMEOUT_MS }, () => {
  let cloud: ImageCloud
  let admin: ImageClient
  let user: ImageClient
  let userProject: string

  before(async () => {
    cloud = await startImageCloud()
    admin = cloud.client(cloud.admin)
    const session = await cloud.newProject('alice')
    userProject = session.projectId
    user = cloud.client(session)
  })
  after(() => cloud?.stop())

  it("creates an image with Glance's defaults (201, Location)", async () => {
    const r = await user.request('POST', '/v2/images', { json: { name: 'cirros', os_distro: 'cirros' } })
    assert.equal(r.status, 201)
    const image = r.body
    assert.match(image.id, UUID)
    assert.equal(r.headers.get('location'), `${cloud.imageUrl}/v2/images/${image.id}`)
    assert.deepEqual(
      { ...image, id: undefined, created_at: undefined, updated_at: undefined },
      {
        os_distro: 'cirros',
        name: 'cirros',
        disk_format: null,
        container_format: null,
        visibility: 'shared',
        size: null,
        virtual_size: null,
        status: 'queued',
        checksum: null,
        protected: false,
        min_ram: 0,
        min_disk: 0,
        owner: userProject,
        os_hidden: false,
        os_hash_algo: null,
        os_hash_value: null,
        id: undefined,
        created_at: undefined,
        updated_at: undefined,
        tags: [],
        self: `/v2/images/${image.id}`,
        file: `/v2/images/${image.id}/file`,
        schema: '/v2/schemas/image',
      },
    )
    assert.match(image.created_at, ISO_SECONDS)
    assert.equal(image.updated_at, image.created_at)
    assert.match(r.headers.get('x-openstack-request-id') ?? '', /^req-/)
  })

  it('creates with a chosen id, tags and settings; a duplicate id is 409', async () => {
    const id = '6f4b2a1c-1111-4222-8333-944455556666'
    const image = await user.create({
      id,
      tags: ['a', 'b', 'a'],
      min_ram: 512,
      min_disk: 1,
      protected: false,
    })
    assert.equal(image.id, id)
    assert.deepEqual(image.tags.sort(), ['a', 'b'])
    assert.equal(image.min_ram, 512)
    assert.equal((await user.request('POST', '/v2/images', { json: { id } })).status, 409)
  })

  it('never gives a deleted image’s id to a new image, whoever asks (OSSN-0075, 409)', async () => {
    const id = '0e5b7c3a-2222-4333-8444-a55566667777'
    const pub = await admin.create({ id, name: 'public-g', visibility: 'public' })
    assert.equal((await admin.upload(pub.id, new Uint8Array([1, 2, 3]))).status, 204)
    assert.equal((await admin.request('DELETE', `/v2/images/${id}`)).status, 204)
    assert.equal((await user.get(`/v2/images/${id}`)).status, 404)
    const again = await user.request('POST', '/v2/images', {
      json: { id, name: 'public-g', disk_format: 'raw', container_format: 'bare' },
    })
    assert.equal(again.status, 409, again.text)
    assert.match(again.text, new RegExp(`Image with identifier ${id} already exists!`))
    assert.equal((await admin.request('POST', '/v2/images', { json: { id } })).status, 409)
    assert.equal((await user.get(`/v2/images/${id}`)).status, 404, 'no image was created')
  })

  it("refuses bad create bodies with Glance's codes", async () => {
    const cases: [unknown, number, RegExp][] = [
      [{ disk_format: 'floppy' }, 400, /does not match schema 'image'/],
      [{ container_format: 'zip' }, 400, /does not match schema 'image'/],
      [{ name: 7 }, 400, /is not of type/],
      [{ foo: 7 }, 400, /is not of type 'string'/],
      [{ min_ram: -1 }, 400, /Cannot be a negative value/],
      [{ status: 'active' }, 403, /Attribute 'status' is read-only/],
      [{ self: '/x' }, 403, /Attribute 'self' is read-only/],
      [{ os_glance_foo: 'bar' }, 403, /Attribute 'os_glance_foo' is reserved/],
      [{ deleted: 'x' }, 403, /is reserved/],
      [{ owner: 'someone-else' }, 403, /not permitted to create images owned by 'someone-else'/],
      [{ visibility: 'public' }, 403, /publicize_image/],
      [[1, 2], 400, /./],
    ]
    for (const [json, status, message] of cases) {
      const r = await user.request('POST', '/v2/images', { json })
      assert.equal(r.status, status, JSON.stringify(json))
      assert.match(r.text, message, JSON.stringify(json))
    }
    const empty = await user.request('POST', '/v2/images', {
      headers: { 'content-type': 'application/json' },
    })
    assert.equal(empty.status, 400)
  })

  it('lets an admin create public images and images for another project', async () => {
    const image = await admin.create({ visibility: 'public', owner: userProject })
    assert.equal(image.visibility, 'public')
    assert.equal(image.owner, userProject)
  })

  it("shows an image; an unknown or malformed id is 404 in Glance's HTML error page", async () => {
    const image = await user.create({ name: 'show-me' })
    const r = await user.get(`/v2/images/${image.id}`)
    assert.equal(r.status, 200)
    assert.deepEqual(r.body, image)
    const missing = await user.get('/v2/images/00000000-0000-0000-0000-000000000000')
    assert.equal(missing.status, 404)
    assert.match(missing.headers.get('content-type') ?? '', /text\/html/)
    assert.match(missing.text, /404 Not Found/)
    assert.equal((await user.get('/v2/images/null')).status, 404)
    // An empty id (Tempest's null-id tests): not the image list.
    assert.equal((await user.get('/v2/images/')).status, 404)
    assert.equal((await user.request('DELETE', '/v2/images/')).status, 404)
  })

  it('needs a token (401) and answers 405 with Allow for a wrong method', async () => {
    const anonymous = await fetch(`${cloud.imageUrl}/v2/images`)
    assert.equal(anonymous.status, 401)
    const r = await user.request('PUT', '/v2/images')
    assert.equal(r.status, 405)
    assert.match(r.headers.get('allow') ?? '', /GET/)
  })

  it('updates by JSON patch (v2.1 and v2.0 media types)', async () => {
    const image = await user.create({ name: 'before', os_distro: 'debian', kept: 'yes' })
    const r = await user.patch(image.id, [
      { op: 'replace', path: '/name', value: 'after' },
      { op: 'add', path: '/hw_disk_bus', value: 'virtio' },
      { op: 'remove', path: '/os_distro' },
      { op: 'replace', path: '/min_disk', value: 2 },
      { op: 'add', path: '/tags', value: ['t1'] },
    ])
    assert.equal(r.status, 200)
    assert.equal(r.body.name, 'after')
    assert.equal(r.body.hw_disk_bus, 'virtio')
    assert.equal(r.body.kept, 'yes')
    assert.equal(r.body.os_distro, undefined)
    assert.equal(r.body.min_disk, 2)
    assert.deepEqual(r.body.tags, ['t1'])
    const v20 = await user.patch(
      image.id,
      [{ replace: '/name', value: 'v20' }],
      'application/openstack-images-v2.0-json-patch',
    )
    assert.equal(v20.status, 200)
    assert.equal(v20.body.name, 'v20')
    assert.equal((await user.get(`/v2/images/${image.id}`)).body.name, 'v20')
  })

  it("refuses bad patches with Glance's codes", async () => {
    const image = await user.create({ name: 'p' })
    const json = await user.request('PATCH', `/v2/images/${image.id}`, { json: [] })
    assert.equal(json.status, 415)
    assert.equal(
      json.headers.get('accept-patch'),
      'application/openstack-images-v2.0-json-patch, application/openstack-images-v2.1-json-patch',
    )
    const cases: [unknown[], number][] = [
      [[{ op: 'replace', path: '/status', value: 'active' }], 403],
      [[{ op: 'add', path: '/os_glance_x', value: 'y' }], 403],
      [[{ op: 'remove', path: '/name' }], 403],
      [[{ op: 'replace', path: '/missing', value: 'x' }], 409],
      [[{ op: 'remove', path: '/missing' }], 409],
      [[{ op: 'replace', path: '/visibility', value: 'nope' }], 400],
      [[{ op: 'replace', path: '/visibility', value: 'public' }], 403],
      [[{ op: 'replace', path: '/owner', value: 'x' }], 403],
      [[{ op: 'move', path: '/name' }], 400],
    ]
    for (const [ops, status] of cases)
      assert.equal((await user.patch(image.id, ops)).status, status, JSON.stringify(ops))
    assert.equal((await user.patch('00000000-0000-0000-0000-000000000000', [])).status, 404)
  })

  it('deletes (204), then the image is gone (404); a protected image is 403', async () => {
    const image = await user.create()
    assert.equal((await user.request('DELETE', `/v2/images/${image.id}`)).status, 204)
    assert.equal((await user.get(`/v2/images/${image.id}`)).status, 404)
    assert.equal((await user.request('DELETE', `/v2/images/${image.id}`)).status, 404)
    const guarded = await user.create({ protected: true })
    const refused = await user.request('DELETE', `/v2/images/${guarded.id}`)
    assert.equal(refused.status, 403)
    assert.match(refused.text, /is protected and cannot be deleted/)
    await user.patch(guarded.id, [{ op: 'replace', path: '/protected', value: false }])
    assert.equal((await user.request('DELETE', `/v2/images/${guarded.id}`)).status, 204)
  })

  it('adds and removes tags (204), a missing tag is 404', async () => {
    const image = await user.create()
    assert.equal((await user.request('PUT', `/v2/images/${image.id}/tags/blue`)).status, 204)
    assert.equal((await user.request('PUT', `/v2/images/${image.id}/tags/blue`)).status, 204)
    assert.equal((await user.request('PUT', `/v2/images/${image.id}/tags/green%20tag`)).status, 204)
    assert.deepEqual((await user.get(`/v2/images/${image.id}`)).body.tags, ['blue', 'green tag'])
    assert.equal((await user.request('DELETE', `/v2/images/${image.id}/tags/blue`)).status, 204)
    assert.equal((await user.request('DELETE', `/v2/images/${image.id}/tags/blue`)).status, 404)
    assert.equal(
      (await user.request('PUT', '/v2/images/00000000-0000-0000-0000-000000000000/tags/x')).status,
      404,
    )
    assert.deepEqual((await user.get(`/v2/images/${image.id}`)).body.tags, ['green tag'])
  })

  it('deactivates and reactivates an active image; other statuses are 403', async () => {
    const image = await user.create()
    assert.equal((await user.request('POST', `/v2/images/${image.id}/actions/deactivate`)).status, 403)
    assert.equal((await user.upload(image.id, new Uint8Array([1, 2, 3]))).status, 204)
    assert.equal((await user.request('POST', `/v2/images/${image.id}/actions/deactivate`)).status, 204)
    assert.equal((await user.request('POST', `/v2/images/${image.id}/actions/deactivate`)).status, 204)
    assert.equal((await user.get(`/v2/images/${image.id}`)).body.status, 'deactivated')
    const refused = await user.get(`/v2/images/${image.id}/file`)
    assert.equal(refused.status, 403)
    assert.match(refused.text, /has been deactivated/)
    assert.equal((await admin.get(`/v2/images/${image.id}/file`)).status, 200)
    assert.equal((await user.request('POST', `/v2/images/${image.id}/actions/reactivate`)).status, 204)
    assert.equal((await user.get(`/v2/images/${image.id}`)).body.status, 'active')
    assert.equal((await user.get(`/v2/images/${image.id}/file`)).status, 200)
  })

  it('takes application/octet-stream on bodiless requests, as glanceclient sends it', async () => {
    const image = await user.create()
    await user.upload(image.id, new Uint8Array(4))
    const octet = { headers: { 'content-type': 'application/octet-stream' } }
    assert.equal((await user.request('PUT', `/v2/images/${image.id}/tags/t`, octet)).status, 204)
    assert.equal((await user.request('POST', `/v2/images/${image.id}/actions/deactivate`, octet)).status, 204)
    assert.equal((await user.request('POST', `/v2/images/${image.id}/actions/reactivate`, octet)).status, 204)
    assert.equal((await user.request('DELETE', `/v2/images/${image.id}`, octet)).status, 204)
  })

  it('serves the schemas, import info and (empty) tasks', async () => {
    for (const name of ['image', 'images', 'member', 'members']) {
      const r = await user.get(`/v2/schemas/${name}`)
      assert.equal(r.status, 200)
      assert.equal(r.body.name, name)
    }
    const schema = (await user.get('/v2/schemas/image')).body
    assert.deepEqual(schema.additionalProperties, { type: 'string' })
    assert.deepEqual(schema.properties.disk_format.enum, [
      null,
      'ami',
      'ari',
      'aki',
      'vhd',
      'vhdx',
      'vmdk',
      'raw',
      'qcow2',
      'vdi',
      'iso',
      'ploop',
    ])
    assert.deepEqual((await user.get('/v2/info/import')).body['import-methods'].value, [])
    assert.equal((await user.get('/v2/info/stores')).status, 404)
    const image = await user.create()
    assert.deepEqual((await user.get(`/v2/images/${image.id}/tasks`)).body, { tasks: [] })
  })

  it('lists with filters, sorting and first/next links', async () => {
    const bobSession = await cloud.newProject('bob')
    const bob = cloud.client(bobSession)
    const own = `owner=${bobSession.projectId}`
    const made = []
    for (const [i, size] of [30, 10, 20].entries()) {
      const image = await bob.create({
        name: `list-${i}`,
        tags: i === 0 ? ['pick'] : [],
        flavour: i === 2 ? 'x' : 'y',
      })
      await bob.upload(image.id, new Uint8Array(size))
      made.push(image)
    }
    const names = async (query: string) =>
      ((await bob.get(`/v2/images?${own}&${query}`)).body.images as { name: string }[]).map((i) => i.name)
    assert.deepEqual(await names(''), ['list-2', 'list-1', 'list-0'])
    assert.deepEqual(await names('sort=size:asc'), ['list-1', 'list-2', 'list-0'])
    assert.deepEqual(await names('sort_key=name&sort_dir=asc'), ['list-0', 'list-1', 'list-2'])
    assert.deepEqual(await names('tag=pick'), ['list-0'])
    assert.deepEqual(await names('flavour=x'), ['list-2'])
    assert.deepEqual(await names('size_min=15&size_max=25'), ['list-2'])
    assert.deepEqual(await names('name=in:list-0,list-1&sort=name:asc'), ['list-0', 'list-1'])
    assert.equal((await bob.get('/v2/images?sort_key=owner')).status, 400)
    assert.equal((await bob.get('/v2/images?limit=x')).status, 400)

    const first = await bob.get(`/v2/images?${own}&limit=2&sort=name:asc`)
    assert.equal(first.body.first, `/v2/images?${own}&limit=2&sort=name%3Aasc`)
    assert.equal(first.body.schema, '/v2/schemas/images')
    assert.deepEqual(
      first.body.images.map((i: { name: string }) => i.name),
      ['list-0', 'list-1'],
    )
    const second = await bob.get(first.body.next)
    assert.deepEqual(
      second.body.images.map((i: { name: string }) => i.name),
      ['list-2'],
    )
    assert.equal(second.body.next, undefined)
  })
})
