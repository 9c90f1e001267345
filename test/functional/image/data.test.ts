import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { request, type ClientRequest } from 'node:http'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { startImageCloud, type ImageClient, type ImageCloud } from './support.ts'

/** Image data: streamed upload and download, ranges, interrupted and oversized uploads. */

const TEST_TIMEOUT_MS = 60_000
const MAX_IMAGE_BYTES = 4 * 1024 * 1024
/** Bound on waiting for the server to notice a client that went away. */
const SETTLE_TIMEOUT_MS = 5_000
const POLL_INTERVAL_MS = 20

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex')
const sha512 = (b: Uint8Array) => createHash('sha512').update(b).digest('hex')

/** A body streamed in chunks, without Content-Length (chunked transfer encoding). */
function chunkedBody(data: Buffer, chunkBytes: number): ReadableStream<Uint8Array> {
  let offset = 0
  return new ReadableStream({
    pull(controller) {
      if (offset >= data.length) return controller.close()
      controller.enqueue(data.subarray(offset, offset + chunkBytes))
      offset += chunkBytes
    },
  })
}

/** Starts a raw upload the test controls: it writes what it wants, then ends or aborts. */
function rawUpload(cloud: ImageCloud, token: string, id: string, headers: Record<string, string> = {}) {
  const url = new URL(`${cloud.imageUrl}/v2/images/${id}/file`)
  const req: ClientRequest = request(url, {
    method: 'PUT',
    headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream', ...headers },
  })
  const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
    })
    req.on('error', reject)
  })
  response.catch(() => undefined)
  return { req, response }
}

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(POLL_INTERVAL_MS)
  }
}

describe('image API: image data', { timeout: TEST_TIMEOUT_MS }, () => {
  let cloud: ImageCloud
  let user: ImageClient
  let token: string
  const storeFiles = () => readdirSync(join(cloud.tc.stateDir, 'images')).filter((n) => n !== 'tmp')
  const tmpFiles = () => readdirSync(join(cloud.tc.stateDir, 'images', 'tmp'))

  before(async () => {
    cloud = await startImageCloud({ config: { 'image.max_image_size_bytes': String(MAX_IMAGE_BYTES) } })
    const session = await cloud.newProject('uploader')
    token = session.token
    user = cloud.client(session)
  })
  after(() => cloud?.stop())

  it('answers 204 with no body for an image without data', async () => {
    const image = await user.create()
    const r = await user.get(`/v2/images/${image.id}/file`)
    assert.equal(r.status, 204)
    assert.equal(r.text, '')
  })

  it('uploads (204) and the image becomes active with its size and hashes', async () => {
    const data = randomBytes(1024 * 1024 + 3)
    const image = await user.create({ disk_format: 'raw', container_format: 'bare' })
    const r = await user.upload(image.id, data)
    assert.equal(r.status, 204)
    const shown = (await user.get(`/v2/images/${image.id}`)).body
    assert.equal(shown.status, 'active')
    assert.equal(shown.size, data.length)
    assert.equal(shown.virtual_size, data.length)
    assert.equal(shown.checksum, md5(data))
    assert.equal(shown.os_hash_algo, 'sha512')
    assert.equal(shown.os_hash_value, sha512(data))

    const download = await user.raw('GET', `/v2/images/${image.id}/file`)
    assert.equal(download.status, 200)
    assert.equal(download.headers.get('content-type'), 'application/octet-stream')
    assert.equal(download.headers.get('content-length'), String(data.length))
    assert.equal(download.headers.get('content-md5'), md5(data))
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), data)
  })

  it('uploads a chunked body (no Content-Length) and reads the qcow2 virtual size', async () => {
    const data = randomBytes(600_000)
    data.write('QFI\xfb', 0, 'latin1')
    data.writeBigUInt64BE(1024n ** 3n, 24)
    const image = await user.create({ disk_format: 'qcow2', container_format: 'bare' })
    const r = await user.upload(image.id, chunkedBody(data, 65_536) as unknown as BodyInit)
    assert.equal(r.status, 204)
    const shown = (await user.get(`/v2/images/${image.id}`)).body
    assert.equal(shown.size, data.length)
    assert.equal(shown.virtual_size, 1024 ** 3)
    assert.equal(shown.os_hash_value, sha512(data))
  })

  it('serves ranges: 206 with Content-Range, suffixes, 416 and 400', async () => {
    const data = randomBytes(1000)
    const image = await user.create()
    await user.upload(image.id, data)
    const get = (range: string) => user.raw('GET', `/v2/images/${image.id}/file`, { headers: { range } })
    const part = await get('bytes=10-19')
    assert.equal(part.status, 206)
    assert.equal(part.headers.get('content-range'), 'bytes 10-19/1000')
    assert.equal(part.headers.get('content-length'), '10')
    assert.equal(part.headers.get('content-md5'), md5(data))
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), data.subarray(10, 20))
    const tail = await get('bytes=-5')
    assert.equal(tail.headers.get('content-range'), 'bytes 995-999/1000')
    assert.deepEqual(Buffer.from(await tail.arrayBuffer()), data.subarray(995))
    const open = await get('bytes=990-')
    assert.deepEqual(Buffer.from(await open.arrayBuffer()), data.subarray(990))
    assert.equal((await get('bytes=1000-')).status, 416)
    assert.equal((await get('bytes=junk')).status, 416)
    assert.equal((await get('bytes=0-1,5-6')).status, 400)
  })

  it('refuses a second upload (409), an image without formats (400) and a wrong media type (415)', async () => {
    const image = await user.create()
    await user.upload(image.id, new Uint8Array(10))
    const again = await user.upload(image.id, new Uint8Array(10))
    assert.equal(again.status, 409)
    assert.match(again.text, /transition from active to saving is not allowed/)
    const bare = await user.create({ disk_format: null, container_format: null })
    const missing = await user.upload(bare.id, new Uint8Array(10))
    assert.equal(missing.status, 400)
    assert.match(missing.text, /Properties disk_format, container_format must be set prior to saving data/)
    assert.equal((await user.get(`/v2/images/${bare.id}`)).body.status, 'queued')
    const text = await user.request('PUT', `/v2/images/${bare.id}/file`, {
      body: 'abc',
      headers: { 'content-type': 'text/plain' },
    })
    assert.equal(text.status, 415)
    assert.equal((await user.upload('00000000-0000-0000-0000-000000000000', new Uint8Array(1))).status, 404)
  })

  it('refuses an upload over the maximum size (413), declared or streamed, keeping the image queued', async () => {
    const image = await user.create()
    const declared = await user.upload(image.id, randomBytes(MAX_IMAGE_BYTES + 1))
    assert.equal(declared.status, 413)
    assert.equal((await user.get(`/v2/images/${image.id}`)).body.status, 'queued')
    const streamed = await user
      .upload(image.id, chunkedBody(randomBytes(MAX_IMAGE_BYTES + 1), 65_536) as unknown as BodyInit)
      .catch((err: Error) => ({ status: 0, text: err.message }))
    // The server answers 413 and closes; a client still sending may see the close first.
    assert.ok(streamed.status === 413 || streamed.status === 0, `status ${streamed.status}`)
    await waitFor(
      'the image back in queued',
      async () => (await user.get(`/v2/images/${image.id}`)).body.status === 'queued',
    )
    assert.deepEqual(tmpFiles(), [])
    assert.equal(storeFiles().includes(image.id), false)
    assert.equal((await user.upload(image.id, randomBytes(MAX_IMAGE_BYTES))).status, 204)
  })

  it('leaves no data and a queued image when the client goes away mid-upload', async () => {
    const image = await user.create()
    const { req } = rawUpload(cloud, token, image.id, { 'content-length': String(2 * 1024 * 1024) })
    req.write(randomBytes(512 * 1024))
    await waitFor(
      'the upload to start',
      async () => (await user.get(`/v2/images/${image.id}`)).body.status === 'saving',
    )
    assert.equal(tmpFiles().length, 1)
    req.destroy()
    await waitFor(
      'the image back in queued',
      async () => (await user.get(`/v2/images/${image.id}`)).body.status === 'queued',
    )
    await waitFor('the temporary file to go', async () => tmpFiles().length === 0)
    assert.equal(storeFiles().includes(image.id), false)
    const shown = (await user.get(`/v2/images/${image.id}`)).body
    assert.equal(shown.size, null)
    assert.equal(shown.checksum, null)
    const data = randomBytes(1000)
    assert.equal((await user.upload(image.id, data)).status, 204)
    assert.equal((await user.get(`/v2/images/${image.id}`)).body.checksum, md5(data))
  })

  it('answers 410 and keeps nothing when the image is deleted during its upload', async () => {
    const image = await user.create()
    const { req, response } = rawUpload(cloud, token, image.id, { 'content-length': '2000' })
    req.write(randomBytes(1000))
    await waitFor(
      'the upload to start',
      async () => (await user.get(`/v2/images/${image.id}`)).body.status === 'saving',
    )
    assert.equal((await user.request('DELETE', `/v2/images/${image.id}`)).status, 204)
    req.end(randomBytes(1000))
    const r = await response
    assert.equal(r.status, 410)
    assert.match(r.text, /may have been deleted during the upload/)
    assert.equal(storeFiles().includes(image.id), false)
    assert.deepEqual(tmpFiles(), [])
  })

  it('deletes the data with the image', async () => {
    const image = await user.create()
    await user.upload(image.id, new Uint8Array(100))
    assert.equal(storeFiles().includes(image.id), true)
    await user.request('DELETE', `/v2/images/${image.id}`)
    assert.equal(storeFiles().includes(image.id), false)
  })
})
