import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { limits } from '../../../src/common/limits.ts'
import { getInstance } from '../../../src/compute/db/instances.ts'
import { signInstanceId } from '../../../src/metadata/signature.ts'
import { startComputeCloud, type Caller, type ComputeCloud } from '../compute/helpers.ts'

const SECRET = 'metadata-password-test-secret'

/**
 * A guest's password through the whole cloud: posted to the metadata service
 * as Nova's handle_password takes it, stored in the instance's system
 * metadata, read back by the owner with os-server-password and cleared by its
 * DELETE.
 */
describe('metadata: POST openstack/<version>/password', () => {
  let cloud: ComputeCloud
  let member: Caller
  let url = ''
  let id = ''

  before(async () => {
    cloud = await startComputeCloud({ config: { 'metadata.metadata_proxy_shared_secret': SECRET } })
    member = await cloud.newMember()
    url = cloud.tc.endpoint('metadata').url.replace(/\/$/, '')
    id = await member.createServer({ name: 'pw', imageRef: cloud.imageId, flavorRef: '1' })
    assert.equal((await member.waitStatus(id)).status, 'ACTIVE')
  })
  after(() => cloud?.stop())

  /** A request as the metadata relay sends it for the instance (signed X-Instance-ID). */
  async function md(method: string, path: string, body?: string | Blob, type?: string) {
    const headers: Record<string, string> = {
      'x-instance-id': id,
      'x-tenant-id': member.projectId,
      'x-instance-id-signature': signInstanceId(SECRET, id),
      'x-forwarded-for': '192.0.2.10',
      ...(type ? { 'content-type': type } : {}),
    }
    const res = await fetch(`${url}${path}`, { method, headers, ...(body === undefined ? {} : { body }) })
    return { status: res.status, body: await res.text() }
  }

  async function serverPassword(): Promise<string> {
    const res = await member.nova('GET', `/servers/${id}/os-server-password`)
    assert.equal(res.status, 200)
    return res.body.password as string
  }

  it('GET answers empty before any POST; versions before 2013-04-04 have no password', async () => {
    assert.deepEqual(await md('GET', '/openstack/latest/password'), { status: 200, body: '' })
    assert.equal((await md('GET', '/openstack/2013-04-04/password')).status, 200)
    assert.match((await md('GET', '/openstack/2013-04-04')).body, /^password$/m)
    assert.equal((await md('GET', '/openstack/2012-08-10/password')).status, 404)
    assert.equal((await md('POST', '/openstack/2012-08-10/password', 'x'.repeat(10))).status, 404)
  })

  it('a body over 256 bytes is 400 and stores nothing; other methods are 400', async () => {
    const tooLong = 'p'.repeat(limits.metadataPasswordMaxBytes + 1)
    const r = await md('POST', '/openstack/latest/password', tooLong, 'application/x-www-form-urlencoded')
    assert.equal(r.status, 400)
    assert.match(r.body, /Request is too large/)
    assert.equal((await md('HEAD', '/openstack/latest/password')).status, 400)
    assert.equal(await serverPassword(), '')
  })

  it('POST stores it (200); GET and os-server-password answer it; a second POST is 409', async () => {
    const password = 'a'.repeat(50) + 'B'.repeat(50)
    const r = await md(
      'POST',
      '/openstack/2013-10-17/password',
      password,
      'application/x-www-form-urlencoded',
    )
    assert.equal(r.status, 200)
    assert.equal(r.body, '')
    assert.deepEqual(await md('GET', '/openstack/latest/password'), { status: 200, body: password })
    assert.equal(await serverPassword(), password)
    const again = await md('POST', '/openstack/latest/password', 'other', 'text/plain')
    assert.equal(again.status, 409)
    assert.equal(await serverPassword(), password)
  })

  it('DELETE os-server-password clears it; a 256-byte body without a content type spans two chunks', async () => {
    assert.equal((await member.nova('DELETE', `/servers/${id}/os-server-password`)).status, 204)
    assert.equal(await serverPassword(), '')
    assert.deepEqual(await md('GET', '/openstack/latest/password'), { status: 200, body: '' })
    const password = 'x'.repeat(255) + 'y'
    const r = await md('POST', '/openstack/latest/password', new Blob([password]))
    assert.equal(r.status, 200)
    assert.equal(await serverPassword(), password)
    // Stored as Nova stores it: 255 characters per system metadata key.
    const { systemMetadata } = await getInstance(cloud.tc.cloud.db.kysely, id)
    assert.equal(systemMetadata.password_0, 'x'.repeat(255))
    assert.equal(systemMetadata.password_1, 'y')
    assert.equal(systemMetadata.password_2, '')
  })

  it('another instance’s identity cannot post: a bad signature is 403', async () => {
    const res = await fetch(`${url}/openstack/latest/password`, {
      method: 'POST',
      headers: {
        'x-instance-id': id,
        'x-tenant-id': member.projectId,
        'x-instance-id-signature': signInstanceId('guess', id),
      },
      body: 'stolen',
    })
    assert.equal(res.status, 403)
  })
})
