import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { Readable } from 'node:stream'
import type { RequestContext } from '../../../src/common/context.ts'
import { Conflict, Forbidden } from '../../../src/common/errors.ts'
import { createLocalImageClient, HttpImageClient, type ImageClient } from '../../../src/image/client.ts'
import { ImageNotFound, ImageServiceError } from '../../../src/objects/image.ts'
import { startImageCloud, type ImageCloud, type Session, type ImageClient as ApiClient } from './support.ts'

/**
 * The image service's door, both implementations under one suite: what
 * compute and the conductor are told about an image, and the bytes a
 * compute host caches, are the same in process (`nimbus up`) and over
 * Glance's HTTP API (a compute host on another machine), under the API's
 * own visibility and download rules.
 */

const TEST_TIMEOUT_MS = 60_000

const IMPLEMENTATIONS: readonly { name: string; make(cloud: ImageCloud): ImageClient }[] = [
  { name: 'in process', make: (cloud) => createLocalImageClient(cloud.tc.cloud.config, cloud.tc.cloud.db) },
  { name: 'http', make: (cloud) => new HttpImageClient(cloud.imageUrl) },
]

function contextOf(session: Session, isAdmin = false): RequestContext {
  return {
    requestId: `req-${session.userId}`,
    projectId: session.projectId,
    userId: session.userId,
    roles: isAdmin ? ['admin', 'member', 'reader'] : ['member', 'reader'],
    isAdmin,
    authToken: session.token,
  }
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const chunk of stream) parts.push(chunk as Buffer)
  return Buffer.concat(parts)
}

describe('image client (the image service door)', { timeout: TEST_TIMEOUT_MS }, () => {
  let cloud: ImageCloud
  let ownerApi: ApiClient
  let owner: RequestContext
  let other: RequestContext
  let member: RequestContext
  let admin: RequestContext
  let memberProject: string

  before(async () => {
    cloud = await startImageCloud()
    const ownerSession = await cloud.newProject('owner')
    ownerApi = cloud.client(ownerSession)
    owner = contextOf(ownerSession)
    other = contextOf(await cloud.newProject('other'))
    const memberSession = await cloud.newProject('member')
    memberProject = memberSession.projectId
    member = contextOf(memberSession)
    admin = contextOf(cloud.admin, true)
  })
  after(() => cloud?.stop())

  for (const impl of IMPLEMENTATIONS) {
    describe(impl.name, () => {
      let images: ImageClient
      before(() => {
        images = impl.make(cloud)
      })

      it('gives the image with what compute checks, to those who may see it', async () => {
        const created = await ownerApi.create({
          name: 'boot',
          visibility: 'private',
          disk_format: 'qcow2',
          min_ram: 256,
          min_disk: 2,
          hw_disk_bus: 'virtio',
        })
        const seen = await images.get(owner, created.id)
        assert.equal(seen.id, created.id)
        assert.equal(seen.name, 'boot')
        assert.equal(seen.status, 'queued')
        assert.equal(seen.minRamMb, 256)
        assert.equal(seen.minDiskGb, 2)
        assert.equal(seen.diskFormat, 'qcow2')
        assert.equal(seen.containerFormat, 'bare')
        assert.deepEqual(seen.properties, { hw_disk_bus: 'virtio' })
        await assert.rejects(images.get(other, created.id), (err: Error) => {
          assert.ok(err instanceof ImageNotFound, `${err.name}: ${err.message}`)
          assert.equal(err.message, `Image ${created.id} could not be found.`)
          return true
        })
        assert.equal((await images.get(admin, created.id)).id, created.id)
        await assert.rejects(images.get(owner, '00000000-0000-0000-0000-000000000000'), ImageNotFound)
      })

      it('shows a shared image to its members only', async () => {
        const created = await ownerApi.create({ visibility: 'shared' })
        await assert.rejects(images.get(member, created.id), ImageNotFound)
        const added = await ownerApi.request('POST', `/v2/images/${created.id}/members`, {
          json: { member: memberProject },
        })
        assert.equal(added.status, 200, added.text)
        // Glance shows a shared image to a member whatever the membership status (pending here).
        assert.equal((await images.get(member, created.id)).id, created.id)
        await assert.rejects(images.get(other, created.id), ImageNotFound)
      })

      it('streams the data with its checksum; no data yet is a Conflict', async () => {
        const created = await ownerApi.create({ visibility: 'private' })
        await assert.rejects(images.openData(owner, created.id), Conflict)
        const bytes = Buffer.from(`disk bytes for ${impl.name}`)
        const up = await ownerApi.upload(created.id, bytes)
        assert.equal(up.status, 204, up.text)
        const meta = await images.get(owner, created.id)
        assert.equal(meta.status, 'active')
        assert.equal(meta.sizeBytes, bytes.length)
        assert.match(meta.checksum ?? '', /^[0-9a-f]{32}$/)
        assert.equal(meta.osHashAlgo, 'sha512')
        assert.match(meta.osHashValue ?? '', /^[0-9a-f]{128}$/)
        const data = await images.openData(owner, created.id)
        assert.equal(data.size, bytes.length)
        assert.equal(data.checksum, meta.checksum)
        assert.deepEqual(await readAll(data.stream), bytes)
        await assert.rejects(images.openData(other, created.id), ImageNotFound)
      })

      it('refuses the data of a deactivated image to non-admins', async () => {
        const created = await ownerApi.create({ visibility: 'private' })
        await ownerApi.upload(created.id, Buffer.from('x'))
        const deactivated = await cloud
          .client(cloud.admin)
          .request('POST', `/v2/images/${created.id}/actions/deactivate`)
        assert.equal(deactivated.status, 204, deactivated.text)
        await assert.rejects(images.openData(owner, created.id), Forbidden)
        const data = await images.openData(admin, created.id)
        assert.equal((await readAll(data.stream)).toString(), 'x')
      })
    })
  }

  it('http: an image service that does not answer is an ImageServiceError, not a hang', async () => {
    // Port 9 on loopback (discard) is closed here: the connection is refused at once.
    const images = new HttpImageClient('http://127.0.0.1:9')
    await assert.rejects(images.get(owner, 'x'), ImageServiceError)
  })
})
