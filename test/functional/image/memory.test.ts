import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes, type Hash } from 'node:crypto'
import { request } from 'node:http'
import { Readable } from 'node:stream'
import { startServerProcess, type ServerProcess } from './server-process.ts'

/**
 * A large image goes up and comes back down without the server holding it in
 * memory: the server (in its own process) grows by less than
 * MAX_RSS_GROWTH_BYTES, and the data that comes back has the sha512 that
 * went up. NIMBUS_IMAGE_MEMORY_TEST_MIB sets the size (CI: 256; the
 * acceptance run: 2048).
 */

const SIZE_MIB = Number(process.env.NIMBUS_IMAGE_MEMORY_TEST_MIB ?? 256)
const SIZE_BYTES = SIZE_MIB * 1024 * 1024
const MAX_RSS_GROWTH_BYTES = 100 * 1024 * 1024
const CHUNK_BYTES = 1024 * 1024
/** Generous for slow disks: 2 GiB up and down at 20 MB/s. */
const TEST_TIMEOUT_MS = Math.max(120_000, (2 * SIZE_BYTES) / 20_000)

/** SIZE_BYTES of distinct-looking data, hashed as it is produced. */
function generated(size: number, hash: Hash): Readable {
  const block = randomBytes(CHUNK_BYTES)
  let sent = 0
  return new Readable({
    read() {
      if (sent >= size) return void this.push(null)
      const chunk = Buffer.from(block.subarray(0, Math.min(CHUNK_BYTES, size - sent)))
      chunk.writeUInt32BE(sent / CHUNK_BYTES, 0)
      hash.update(chunk)
      sent += chunk.length
      this.push(chunk)
    },
  })
}

function call(
  server: ServerProcess,
  method: string,
  path: string,
  body?: Readable | string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Readable }> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.imageUrl}${path}`, {
      method,
      headers: { 'x-auth-token': server.token, ...headers },
    })
    req.on('response', (res) => resolve({ status: res.statusCode ?? 0, body: res }))
    req.on('error', reject)
    if (body instanceof Readable) body.pipe(req)
    else req.end(body)
  })
}

async function drain(stream: Readable, hash?: Hash): Promise<{ bytes: number; text: string }> {
  let bytes = 0
  let text = ''
  for await (const chunk of stream) {
    bytes += (chunk as Buffer).length
    if (hash) hash.update(chunk as Buffer)
    else text += chunk
  }
  return { bytes, text }
}

describe(
  `image data of ${SIZE_MIB} MiB through a separate server process`,
  { timeout: TEST_TIMEOUT_MS },
  () => {
    let server: ServerProcess

    before(async () => {
      server = await startServerProcess()
    })
    after(() => server?.stop())

    async function createImage(): Promise<string> {
      const body = JSON.stringify({ name: 'big', disk_format: 'raw', container_format: 'bare' })
      const r = await call(server, 'POST', '/v2/images', body, { 'content-type': 'application/json' })
      const { text } = await drain(r.body)
      assert.equal(r.status, 201, text)
      return (JSON.parse(text) as { id: string }).id
    }

    async function roundTrip(size: number): Promise<{ sent: string; received: string; bytes: number }> {
      const id = await createImage()
      const sentHash = createHash('sha512')
      const up = await call(server, 'PUT', `/v2/images/${id}/file`, generated(size, sentHash), {
        'content-type': 'application/octet-stream',
        'content-length': String(size),
      })
      const upBody = await drain(up.body)
      assert.equal(up.status, 204, upBody.text)
      const down = await call(server, 'GET', `/v2/images/${id}/file`)
      assert.equal(down.status, 200)
      const receivedHash = createHash('sha512')
      const { bytes } = await drain(down.body, receivedHash)
      const shown = await call(server, 'GET', `/v2/images/${id}`)
      const image = JSON.parse((await drain(shown.body)).text) as { os_hash_value: string; size: number }
      const sent = sentHash.digest('hex')
      assert.equal(image.os_hash_value, sent)
      assert.equal(image.size, size)
      return { sent, received: receivedHash.digest('hex'), bytes }
    }

    it('keeps the server under the memory bound and the data intact', async () => {
      // Warm up first, so code loading and JIT do not count as growth.
      await roundTrip(8 * CHUNK_BYTES)
      const baseline = server.rssBytes()
      server.resetPeak()
      const { sent, received, bytes } = await roundTrip(SIZE_BYTES)
      const growth = server.peakRssBytes() - baseline
      console.log(
        `image memory: ${SIZE_MIB} MiB up and down, server RSS ${(baseline / 2 ** 20).toFixed(1)} MiB -> peak ${(
          server.peakRssBytes() /
          2 ** 20
        ).toFixed(1)} MiB (growth ${(growth / 2 ** 20).toFixed(1)} MiB)`,
      )
      assert.equal(bytes, SIZE_BYTES)
      assert.equal(received, sent)
      assert.ok(growth < MAX_RSS_GROWTH_BYTES, `server RSS grew by ${growth} bytes`)
    })
  },
)
