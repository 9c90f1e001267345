import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startImageCloud, type ImageClient, type ImageCloud, type Session } from './support.ts'

/** Visibility and members between two projects, as Glance rules them. */

const TEST_TIMEOUT_MS = 60_000

describe('image API: visibility and members', { timeout: TEST_TIMEOUT_MS }, () => {
  let cloud: ImageCloud
  let admin: ImageClient
  let owner: ImageClient
  let other: ImageClient
  let otherSession: Session

  before(async () => {
    cloud = await startImageCloud()
    admin = cloud.client(cloud.admin)
    owner = cloud.client(await cloud.newProject('owner'))
    otherSession = await cloud.newProject('other')
    other = cloud.client(otherSession)
  })
  after(() => cloud?.stop())

  const listed = async (client: ImageClient, query = '') =>
    ((await client.get(`/v2/images?${query}`)).body.images as { id: string }[]).map((i) => i.id)

  it('hides a private image from other projects, not from admins', async () => {
    const image = await owner.create({ visibility: 'private' })
    assert.equal((await other.get(`/v2/images/${image.id}`)).status, 404)
    assert.ok(!(await listed(other)).includes(image.id))
    assert.equal((await other.patch(image.id, [{ op: 'replace', path: '/name', value: 'x' }])).status, 404)
    assert.equal((await other.request('DELETE', `/v2/images/${image.id}`)).status, 404)
    assert.equal((await other.upload(image.id, new Uint8Array(1))).status, 404)
    assert.equal((await admin.get(`/v2/images/${image.id}`)).status, 200)
    assert.ok((await listed(admin)).includes(image.id))
  })

  it('shows a public image to everyone, and lets only its owner change it', async () => {
    const image = await admin.create({ visibility: 'public' })
    assert.equal((await other.get(`/v2/images/${image.id}`)).status, 200)
    assert.ok((await listed(other)).includes(image.id))
    const patch = await other.patch(image.id, [{ op: 'replace', path: '/name', value: 'mine' }])
    assert.equal(patch.status, 403)
    assert.match(patch.text, /You do not own this image/)
    assert.equal((await other.request('DELETE', `/v2/images/${image.id}`)).status, 403)
    const upload = await other.upload(image.id, new Uint8Array(1))
    assert.equal(upload.status, 403)
    assert.match(upload.text, /Not allowed to upload image data/)
    assert.equal((await other.request('PUT', `/v2/images/${image.id}/tags/x`)).status, 403)
    assert.equal((await other.request('POST', `/v2/images/${image.id}/actions/deactivate`)).status, 403)
  })

  it('lists community images only when asked, but shows them to anyone', async () => {
    const image = await owner.create({ visibility: 'community' })
    assert.ok((await listed(owner)).includes(image.id))
    assert.ok(!(await listed(other)).includes(image.id))
    assert.ok((await listed(other, 'visibility=community')).includes(image.id))
    assert.equal((await other.get(`/v2/images/${image.id}`)).status, 200)
  })

  it('shares an image: pending, accepted, rejected, removed', async () => {
    const image = await owner.create({ name: 'shared-one' })
    assert.equal(image.visibility, 'shared')
    const path = `/v2/images/${image.id}/members`
    const me = `${path}/${otherSession.projectId}`

    const added = await owner.request('POST', path, { json: { member: otherSession.projectId } })
    assert.equal(added.status, 200)
    assert.deepEqual(
      { ...added.body, created_at: undefined, updated_at: undefined },
      {
        member_id: otherSession.projectId,
        image_id: image.id,
        status: 'pending',
        created_at: undefined,
        updated_at: undefined,
        schema: '/v2/schemas/member',
      },
    )
    assert.equal(
      (await owner.request('POST', path, { json: { member: otherSession.projectId } })).status,
      409,
    )

    // A pending member can see the image but does not list it, except when asking for it.
    assert.equal((await other.get(`/v2/images/${image.id}`)).status, 200)
    assert.ok(!(await listed(other)).includes(image.id))
    assert.ok((await listed(other, 'visibility=shared&member_status=pending')).includes(image.id))
    assert.ok((await listed(other, 'member_status=all')).includes(image.id))

    // Only the member answers; the owner may not.
    assert.equal((await owner.request('PUT', me, { json: { status: 'accepted' } })).status, 403)
    assert.equal((await other.request('PUT', me, { json: { status: 'maybe' } })).status, 400)
    assert.equal((await other.request('PUT', me, { json: {} })).status, 400)
    const accepted = await other.request('PUT', me, { json: { status: 'accepted' } })
    assert.equal(accepted.status, 200)
    assert.equal(accepted.body.status, 'accepted')
    assert.ok((await listed(other)).includes(image.id))

    // The member sees its own membership; the owner sees all.
    assert.equal((await other.get(me)).body.status, 'accepted')
    assert.deepEqual(
      (await other.get(path)).body.members.map((m: { member_id: string }) => m.member_id),
      [otherSession.projectId],
    )
    assert.equal((await owner.get(path)).body.schema, '/v2/schemas/members')
    assert.equal((await owner.get(path)).body.members.length, 1)

    // A member may neither share further nor remove members, nor change the image.
    assert.equal((await other.request('POST', path, { json: { member: 'someone' } })).status, 403)
    assert.equal((await other.request('DELETE', me)).status, 403)
    assert.equal((await other.patch(image.id, [{ op: 'replace', path: '/name', value: 'x' }])).status, 403)

    assert.equal((await other.request('PUT', me, { json: { status: 'rejected' } })).status, 200)
    assert.ok(!(await listed(other)).includes(image.id))

    assert.equal((await owner.request('DELETE', me)).status, 204)
    assert.equal((await owner.get(me)).status, 404)
    assert.equal((await other.get(`/v2/images/${image.id}`)).status, 404)
  })

  it('lets a member download what it can see', async () => {
    const image = await owner.create()
    await owner.upload(image.id, new Uint8Array([7, 7, 7]))
    await owner.request('POST', `/v2/images/${image.id}/members`, {
      json: { member: otherSession.projectId },
    })
    const r = await other.raw('GET', `/v2/images/${image.id}/file`)
    assert.equal(r.status, 200)
    assert.deepEqual(new Uint8Array(await r.arrayBuffer()), new Uint8Array([7, 7, 7]))
  })

  it('refuses members on images that are not shared, and bad member bodies', async () => {
    const image = await owner.create({ visibility: 'private' })
    const path = `/v2/images/${image.id}/members`
    const add = await owner.request('POST', path, { json: { member: otherSession.projectId } })
    assert.equal(add.status, 403)
    assert.match(add.text, /Not allowed to create members/)
    assert.equal((await owner.get(path)).status, 403)
    assert.equal((await owner.get(`${path}/${otherSession.projectId}`)).status, 404)
    const shared = await owner.create()
    const sharedPath = `/v2/images/${shared.id}/members`
    assert.equal((await owner.request('POST', sharedPath, { json: {} })).status, 400)
    assert.equal((await owner.request('POST', sharedPath, { json: { member: '' } })).status, 400)
    assert.equal((await owner.get(`${sharedPath}/nobody`)).status, 404)
    assert.equal((await owner.request('DELETE', `${sharedPath}/nobody`)).status, 404)
    assert.equal((await other.request('POST', sharedPath, { json: { member: 'x' } })).status, 404)
  })

  it('lets an admin manage any image', async () => {
    const image = await owner.create({ visibility: 'private' })
    const r = await admin.patch(image.id, [{ op: 'replace', path: '/owner', value: otherSession.projectId }])
    assert.equal(r.status, 200)
    assert.equal(r.body.owner, otherSession.projectId)
    assert.equal((await other.get(`/v2/images/${image.id}`)).status, 200)
    assert.equal((await owner.get(`/v2/images/${image.id}`)).status, 404)
    assert.equal((await admin.request('DELETE', `/v2/images/${image.id}`)).status, 204)
  })
})
