import { afterEach, beforeEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { PayloadTooLarge } from '../../../src/common/errors.ts'
import { FileStore } from '../../../src/image/store/file-store.ts'
import { isInspectable, virtualSizeOf } from '../../../src/image/store/format-inspector.ts'

const MAX = 1024 * 1024 * 1024
const TEST_TIMEOUT_MS = 10_000

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const chunk of stream) parts.push(chunk as Buffer)
  return Buffer.concat(parts)
}

/** A source that sends `chunks`, then fails as a client connection that drops does. */
function failingSource(chunks: Buffer[]): Readable {
  const source = new PassThrough()
  for (const c of chunks) source.write(c)
  setImmediate(() => source.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })))
  return source
}

describe('image file store', { timeout: TEST_TIMEOUT_MS }, () => {
  let dir: string
  let store: FileStore

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nimbus-image-store-'))
    store = new FileStore(join(dir, 'images'))
    await store.init()
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  const tmpFiles = () => readdirSync(join(dir, 'images', 'tmp'))

  it('stores the data under the image id with its size, md5 and sha512', async () => {
    const id = randomUUID()
    const data = randomBytes(3 * 1024 * 1024 + 17)
    const chunks = [data.subarray(0, 100), data.subarray(100, 70_000), data.subarray(70_000)]
    const stored = await store.add(id, Readable.from(chunks), { maxSizeBytes: MAX })
    assert.equal(stored.size, data.length)
    assert.equal(stored.checksum, createHash('md5').update(data).digest('hex'))
    assert.equal(stored.osHashValue, createHash('sha512').update(data).digest('hex'))
    assert.deepEqual(stored.header, data.subarray(0, 512))
    assert.deepEqual(readFileSync(store.path(id)), data)
    assert.deepEqual(tmpFiles(), [])
    assert.equal(await store.size(id), data.length)
  })

  it('keeps the bytes in order when chunks straddle slots and outnumber the ring', async () => {
    const id = randomUUID()
    const data = randomBytes(20 * 1024 * 1024 + 5)
    const chunks: Buffer[] = []
    for (let at = 0; at < data.length; at += 100_003) chunks.push(data.subarray(at, at + 100_003))
    const stored = await store.add(id, Readable.from(chunks), { maxSizeBytes: MAX })
    assert.equal(stored.size, data.length)
    assert.equal(stored.osHashValue, createHash('sha512').update(data).digest('hex'))
    assert.equal(stored.checksum, createHash('md5').update(data).digest('hex'))
    assert.ok(readFileSync(store.path(id)).equals(data))
  })

  it('stores an empty image', async () => {
    const id = randomUUID()
    const stored = await store.add(id, Readable.from([]), { maxSizeBytes: MAX })
    assert.equal(stored.size, 0)
    assert.equal(stored.checksum, createHash('md5').digest('hex'))
    assert.equal((await readAll((await store.open(id)).stream)).length, 0)
  })

  it('leaves nothing behind when the source fails midway (a client that went away)', async () => {
    const id = randomUUID()
    const source = failingSource([randomBytes(100_000), randomBytes(100_000)])
    await assert.rejects(store.add(id, source, { maxSizeBytes: MAX }), /aborted/)
    assert.equal(existsSync(store.path(id)), false)
    assert.deepEqual(tmpFiles(), [])
  })

  it('fails when the source closes before its end', async () => {
    const id = randomUUID()
    const source = new PassThrough()
    source.write(randomBytes(1000))
    setImmediate(() => source.destroy())
    await assert.rejects(store.add(id, source, { maxSizeBytes: MAX }), /aborted/)
    assert.deepEqual(tmpFiles(), [])
  })

  it('keeps an existing file when a new upload for the same id fails', async () => {
    const id = randomUUID()
    await store.add(id, Readable.from([Buffer.from('first')]), { maxSizeBytes: MAX })
    await assert.rejects(store.add(id, failingSource([Buffer.from('second')]), { maxSizeBytes: MAX }))
    assert.equal(readFileSync(store.path(id), 'utf8'), 'first')
  })

  it('refuses data over the maximum size, storing nothing, and leaves the source to its owner', async () => {
    const id = randomUUID()
    const source = new PassThrough()
    const added = store.add(id, source, { maxSizeBytes: 1000 })
    source.write(randomBytes(600))
    source.write(randomBytes(600))
    await assert.rejects(added, PayloadTooLarge)
    assert.equal(source.destroyed, false)
    assert.equal(existsSync(store.path(id)), false)
    assert.deepEqual(tmpFiles(), [])
  })

  it('accepts data of exactly the maximum size', async () => {
    const stored = await store.add(randomUUID(), Readable.from([randomBytes(1000)]), { maxSizeBytes: 1000 })
    assert.equal(stored.size, 1000)
  })

  it('reads the whole file or a range of it', async () => {
    const id = randomUUID()
    const data = randomBytes(5000)
    await store.add(id, Readable.from([data]), { maxSizeBytes: MAX })
    const whole = await store.open(id)
    assert.equal(whole.size, 5000)
    assert.deepEqual(await readAll(whole.stream), data)
    const part = await store.open(id, { start: 10, end: 19 })
    assert.deepEqual(await readAll(part.stream), data.subarray(10, 20))
  })

  it('says when there is no data, and deletes idempotently', async () => {
    const id = randomUUID()
    assert.equal(await store.size(id), undefined)
    await assert.rejects(store.open(id), { code: 'ENOENT' })
    await store.add(id, Readable.from([Buffer.from('x')]), { maxSizeBytes: MAX })
    await store.delete(id)
    await store.delete(id)
    assert.equal(existsSync(store.path(id)), false)
  })

  it('removes temporary files of uploads a previous process left', async () => {
    const tmp = join(dir, 'images', 'tmp')
    mkdirSync(tmp, { recursive: true })
    writeFileSync(join(tmp, `${randomUUID()}.abc.part`), 'partial')
    await new FileStore(join(dir, 'images')).init()
    assert.deepEqual(readdirSync(tmp), [])
  })

  it('refuses names that are not image ids', () => {
    assert.throws(() => store.path('../../etc/passwd'))
  })
})

describe('image format inspection', () => {
  const header = (write: (b: Buffer) => void): Buffer => {
    const b = Buffer.alloc(512)
    write(b)
    return b
  }

  it('reads the virtual size of raw, qcow2, vhd and vdi headers', () => {
    assert.equal(virtualSizeOf('raw', Buffer.alloc(10), 10), 10)
    const qcow2 = header((b) => {
      b.write('QFI\xfb', 0, 'latin1')
      b.writeBigUInt64BE(10n * 1024n ** 3n, 24)
    })
    assert.equal(virtualSizeOf('qcow2', qcow2, 512), 10 * 1024 ** 3)
    const vhd = header((b) => {
      b.write('conectix', 0, 'latin1')
      b.writeBigUInt64BE(4096n, 40)
    })
    assert.equal(virtualSizeOf('vhd', vhd, 512), 4096)
    const vdi = header((b) => {
      b.writeUInt32LE(0xbeda107f, 0x40)
      b.writeBigUInt64LE(8192n, 0x170)
    })
    assert.equal(virtualSizeOf('vdi', vdi, 512), 8192)
  })

  it('gives nothing for a header that does not match, a short image or an empty raw one', () => {
    assert.equal(virtualSizeOf('qcow2', Buffer.alloc(512), 512), null)
    assert.equal(virtualSizeOf('qcow2', Buffer.from('QFI\xfb', 'latin1'), 4), null)
    assert.equal(virtualSizeOf('raw', Buffer.alloc(0), 0), null)
    assert.equal(virtualSizeOf('iso', Buffer.alloc(512), 512), null)
  })

  it('inspects only bare containers of known formats', () => {
    assert.equal(isInspectable('qcow2', 'bare'), true)
    assert.equal(isInspectable('raw', 'bare'), true)
    assert.equal(isInspectable('qcow2', 'ovf'), false)
    assert.equal(isInspectable('iso', 'bare'), false)
  })
})
