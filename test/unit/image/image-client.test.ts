import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { loadConfig } from '../../../src/common/config.ts'
import type { RequestContext } from '../../../src/common/context.ts'
import { Conflict, Forbidden, NotFound } from '../../../src/common/errors.ts'
import { openDatabase, type Database } from '../../../src/db/index.ts'
import { migrateToLatest } from '../../../src/db/migrate.ts'
import { createImageApi, createImageManager, type ImageApi } from '../../../src/image/client.ts'
import type { ImageManager } from '../../../src/image/manager.ts'

/** The in-process facade compute uses: same visibility and download rules as the API. */

const OWNER: RequestContext = {
  requestId: 'req-1',
  projectId: 'p1',
  roles: ['member', 'reader'],
  isAdmin: false,
}
const OTHER: RequestContext = {
  requestId: 'req-2',
  projectId: 'p2',
  roles: ['member', 'reader'],
  isAdmin: false,
}
const ADMIN: RequestContext = { requestId: 'req-3', projectId: 'adm', roles: ['admin'], isAdmin: true }

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const chunk of stream) parts.push(chunk as Buffer)
  return Buffer.concat(parts)
}

describe('ImageApi (in-process facade)', () => {
  let stateDir: string
  let db: Database
  let manager: ImageManager
  let api: ImageApi

  before(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'nimbus-image-api-'))
    const config = loadConfig({ env: {}, overrides: { 'DEFAULT.state_dir': stateDir } })
    db = await openDatabase('sqlite://:memory:')
    await migrateToLatest(db)
    manager = createImageManager(config, db)
    await manager.recover()
    api = createImageApi(config, db)
  })
  after(async () => {
    await db?.close()
    rmSync(stateDir, { recursive: true, force: true })
  })

  it('gives the image with what compute checks, to those who may see it', async () => {
    const image = await manager.create(OWNER, {
      name: 'boot',
      visibility: 'private',
      disk_format: 'qcow2',
      container_format: 'bare',
      min_ram: 256,
      min_disk: 2,
      hw_disk_bus: 'virtio',
    })
    const seen = await api.get(OWNER, image.id)
    assert.equal(seen.min_ram, 256)
    assert.equal(seen.min_disk, 2)
    assert.equal(seen.status, 'queued')
    assert.deepEqual(seen.properties, { hw_disk_bus: 'virtio' })
    await assert.rejects(api.get(OTHER, image.id), NotFound)
    assert.equal((await api.get(ADMIN, image.id)).id, image.id)
  })

  it('opens the data as a stream; no data yet is a Conflict', async () => {
    const image = await manager.create(OWNER, { disk_format: 'raw', container_format: 'bare' })
    await assert.rejects(api.openData(OWNER, image.id), Conflict)
    await manager.upload(OWNER, image.id, Readable.from([Buffer.from('disk bytes')]))
    const data = await api.openData(OWNER, image.id)
    assert.equal(data.size, 10)
    assert.equal(data.checksum, (await api.get(OWNER, image.id)).checksum)
    assert.equal((await readAll(data.stream)).toString(), 'disk bytes')
  })

  it('refuses the data of a deactivated image to non-admins', async () => {
    const image = await manager.create(OWNER, { disk_format: 'raw', container_format: 'bare' })
    await manager.upload(OWNER, image.id, Readable.from([Buffer.from('x')]))
    await manager.deactivate(OWNER, image.id)
    await assert.rejects(api.openData(OWNER, image.id), Forbidden)
    const data = await api.openData(ADMIN, image.id)
    assert.equal((await readAll(data.stream)).toString(), 'x')
  })
})
