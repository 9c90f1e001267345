import { after, afterEach, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { setLimits } from '../../../src/common/limits.ts'
import type { VirtImage } from '../../../src/compute/virt/driver.ts'
import { imagesInUse } from '../../../src/compute/virt/libvirt/driver.ts'
import { ImageCache, type ImageSource } from '../../../src/compute/virt/libvirt/image-cache.ts'

/**
 * The compute host's base image cache: one download per image however many
 * spawns ask at once, the bytes checked against the image's checksum, and
 * a size limit kept by evicting the least recently used bases no instance
 * is built on. Needs `qemu-img` (the cache inspects every base).
 */

const KIB = 1024
/** Delay the fake image service holds each download open (so concurrent requests overlap). */
const DOWNLOAD_DELAY_MS = 50

function bytesOf(id: string, size = 64 * KIB): Buffer {
  return Buffer.alloc(size, id)
}

function imageOf(id: string, data: Buffer, checks: Partial<VirtImage> = {}): VirtImage {
  return {
    id,
    sizeBytes: data.length,
    properties: {},
    checksum: createHash('md5').update(data).digest('hex'),
    ...checks,
  }
}

/** A fake image service serving `data` by image id, counting opens. */
function sourceOf(data: Map<string, Buffer>): ImageSource & { opens: string[] } {
  const opens: string[] = []
  return {
    opens,
    async open(image) {
      opens.push(image.id)
      await sleep(DOWNLOAD_DELAY_MS)
      return { stream: Readable.from([data.get(image.id)!]), checksum: null }
    },
  }
}

describe('libvirt image cache', () => {
  let root: string
  let dir: string
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'nimbus-image-cache-'))
  })
  after(() => rmSync(root, { recursive: true, force: true }))
  afterEach(() => setLimits({}))

  let n = 0
  const freshDir = (): string => {
    dir = join(root, `cache-${++n}`)
    return dir
  }

  it('downloads an image once for concurrent requests, and not again later', async () => {
    const data = new Map([['a', bytesOf('a')]])
    const source = sourceOf(data)
    const cache = new ImageCache(freshDir(), source, { inUse: async () => new Set() })
    const image = imageOf('a', data.get('a')!)
    const bases = await Promise.all([cache.get(image), cache.get(image), cache.get(image)])
    assert.deepEqual(source.opens, ['a'])
    assert.equal(new Set(bases.map((b) => b.path)).size, 1)
    assert.equal(bases[0]!.format, 'raw')
    assert.equal(bases[0]!.virtualSizeBytes, data.get('a')!.length)
    await cache.get(image)
    assert.deepEqual(source.opens, ['a'])
    assert.equal(cache.downloads, 1)
    // A new cache over the same folder (the host restarted) finds the base on disk.
    const again = new ImageCache(dir, source, { inUse: async () => new Set() })
    await again.get(image)
    assert.equal(again.downloads, 0)
  })

  it('refuses data whose checksum differs from the image, and keeps nothing of it', async () => {
    const data = new Map([['bad', bytesOf('b')]])
    const cache = new ImageCache(freshDir(), sourceOf(data), { inUse: async () => new Set() })
    const wrongMd5 = imageOf('bad', bytesOf('x'))
    await assert.rejects(
      cache.get(wrongMd5),
      /md5 of the downloaded data is [0-9a-f]{32}, the image service says/,
    )
    assert.deepEqual(readdirSync(dir), [])
    const wrongSha = imageOf('bad', data.get('bad')!, { osHashAlgo: 'sha512', osHashValue: 'f'.repeat(128) })
    // The multihash wins over a right md5.
    await assert.rejects(cache.get(wrongSha), /sha512 of the downloaded data/)
    assert.deepEqual(readdirSync(dir), [])
    const right = imageOf('bad', data.get('bad')!, {
      osHashAlgo: 'sha512',
      osHashValue: createHash('sha512').update(data.get('bad')!).digest('hex'),
    })
    assert.ok(existsSync((await cache.get(right)).path))
  })

  it('checks against the checksum the service sent when the image gives none', async () => {
    const body = bytesOf('s')
    const cache = new ImageCache(
      freshDir(),
      {
        open: async () => ({ stream: Readable.from([body]), checksum: 'a'.repeat(32) }),
      },
      { inUse: async () => new Set() },
    )
    await assert.rejects(cache.get({ id: 's', sizeBytes: body.length, properties: {} }), /md5/)
  })

  it('evicts the least recently used unused bases beyond its size limit, never one in use', async () => {
    const ids = ['old', 'used', 'recent', 'new']
    const data = new Map(ids.map((id) => [id, bytesOf(id)]))
    const inUse = new Set(['used'])
    const cache = new ImageCache(freshDir(), sourceOf(data), { inUse: async () => inUse })
    // Three bases fit; each is backdated so the order of last use is old < used < recent.
    setLimits({ imageCacheMaxBytes: 3 * 64 * KIB, imageCacheUnusedMinAgeMs: 1_000 })
    const paths = new Map<string, string>()
    for (const [i, id] of ['old', 'used', 'recent'].entries()) {
      const base = await cache.get(imageOf(id, data.get(id)!))
      paths.set(id, base.path)
      const at = new Date(Date.now() - (10 - i) * 60_000)
      utimesSync(`${base.path}.json`, at, at)
    }
    paths.set('new', (await cache.get(imageOf('new', data.get('new')!))).path)
    // Over by one base: the oldest unused one goes; the older one in use stays.
    assert.equal(existsSync(paths.get('old')!), false)
    assert.equal(existsSync(`${paths.get('old')!}.json`), false)
    for (const id of ['used', 'recent', 'new']) assert.ok(existsSync(paths.get(id)!), id)
    // Asked again, the evicted image is downloaded again.
    await cache.get(imageOf('old', data.get('old')!))
    assert.equal(cache.downloads, 5)
    assert.equal(existsSync(paths.get('recent')!), false, 'the next least recently used unused base went')
    assert.ok(existsSync(paths.get('used')!))
  })

  it('keeps bases used recently, or when it cannot tell which are in use, over its limit', async () => {
    const data = new Map(['p', 'q'].map((id) => [id, bytesOf(id)]))
    setLimits({ imageCacheMaxBytes: 64 * KIB })
    const recent = new ImageCache(freshDir(), sourceOf(data), { inUse: async () => new Set() })
    const p = await recent.get(imageOf('p', data.get('p')!))
    await recent.get(imageOf('q', data.get('q')!))
    assert.ok(existsSync(p.path), 'used within imageCacheUnusedMinAgeMs: kept')

    setLimits({ imageCacheMaxBytes: 64 * KIB, imageCacheUnusedMinAgeMs: 0 })
    const unknown = new ImageCache(freshDir(), sourceOf(data), { inUse: async () => undefined })
    const p2 = await unknown.get(imageOf('p', data.get('p')!))
    await unknown.get(imageOf('q', data.get('q')!))
    assert.ok(existsSync(p2.path), 'usage unknown: nothing evicted')
  })

  it('reads the images in use from the instances’ domain XML', () => {
    const instances = join(root, 'instances')
    mkdirSync(join(instances, '_base'), { recursive: true })
    mkdirSync(join(instances, 'uuid-1'))
    writeFileSync(join(instances, 'uuid-1', 'domain.xml'), "<domain><nimbus:image id='img-1'/></domain>")
    writeFileSync(
      join(instances, 'uuid-1', 'unrescue.xml'),
      "<domain><nimbus:image id='img-&amp;2'/></domain>",
    )
    assert.deepEqual([...imagesInUse(instances)!].sort(), ['img-&2', 'img-1'])
    mkdirSync(join(instances, 'uuid-2'))
    assert.equal(imagesInUse(instances), undefined, 'an instance folder without its XML yet: unknown')
    assert.deepEqual([...imagesInUse(join(root, 'nowhere'))!], [])
  })
})
