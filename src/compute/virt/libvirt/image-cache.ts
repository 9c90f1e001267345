import { createHash, randomBytes } from 'node:crypto'
import {
  createWriteStream,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { limits } from '../../../common/limits.ts'
import { logger } from '../../../common/log.ts'
import { run } from '../../../guest-image/exec.ts'
import { VirtDriverError, type VirtImage } from '../driver.ts'
import { makeGuestDir, qemuGroupId } from './guest-dirs.ts'

const log = logger('virt.libvirt.image-cache')

/** Formats QEMU may open as a backing file; anything else is refused (no format probing of user data). */
const BACKING_FORMATS = ['qcow2', 'raw'] as const
type BackingFormat = (typeof BACKING_FORMATS)[number]

/** An image's bytes as the image service sends them. */
export interface ImageStream {
  readonly stream: Readable
  /** md5 hex the service sent with the data (Glance's Content-MD5), if any. */
  readonly checksum: string | null
}

/** Where the driver gets an image's bytes (the image service); the contract leaves this to the driver. */
export interface ImageSource {
  /** Opens the whole image `image.id` for reading; the cache reads it to its end or destroys it. */
  open(image: VirtImage): Promise<ImageStream>
}

export interface BaseImage {
  readonly path: string
  readonly format: BackingFormat
  readonly virtualSizeBytes: number
}

export interface ImageCacheOptions {
  /**
   * Image ids the host's instances are built on: their bases are never
   * evicted. undefined when that cannot be told (then nothing is evicted).
   */
  readonly inUse: () => Promise<ReadonlySet<string> | undefined>
}

/** Hash algorithms Glance's `os_hash_algo` may name that the cache can check (node's crypto names). */
const OS_HASH_ALGOS: ReadonlySet<string> = new Set(['sha512', 'sha384', 'sha256', 'sha1', 'md5'])

/** Suffix of the info file beside each base; its mtime is the base's last use. */
const INFO_SUFFIX = '.json'

/**
 * The per-host cache of base images (Nova's `_base`): each image is fetched
 * once from the image service, its bytes checked against the image's
 * checksum (the multihash when the image has one, else md5) as they are
 * written, checked with `qemu-img info`, and shared read-only by the qcow2
 * overlays of every instance booted from it. Concurrent spawns of one image
 * share one download. The cache holds at most limits.imageCacheMaxBytes:
 * after each download the least recently used bases that no instance here
 * is built on, and that have not been used for
 * limits.imageCacheUnusedMinAgeMs (Nova's remove_unused_original_minimum_age),
 * are removed until it fits (bases in use are never removed, so the cache
 * may stay over its limit while they are).
 */
export class ImageCache {
  readonly #dir: string
  readonly #source: ImageSource
  readonly #inUse: ImageCacheOptions['inUse']
  readonly #inFlight = new Map<string, Promise<BaseImage>>()
  /** Downloads started (a test and an operator see a second boot did not download again). */
  #downloads = 0

  constructor(dir: string, source: ImageSource, options: ImageCacheOptions) {
    this.#dir = dir
    this.#source = source
    this.#inUse = options.inUse
  }

  get dir(): string {
    return this.#dir
  }

  /** Downloads this cache has started since it was made. */
  get downloads(): number {
    return this.#downloads
  }

  /** The cached base of `image`, downloading it first if needed. */
  get(image: VirtImage): Promise<BaseImage> {
    const pending = this.#inFlight.get(image.id)
    if (pending) return pending
    const p = this.#getOrFetch(image).finally(() => this.#inFlight.delete(image.id))
    this.#inFlight.set(image.id, p)
    return p
  }

  async #getOrFetch(image: VirtImage): Promise<BaseImage> {
    makeGuestDir(this.#dir, qemuGroupId())
    const path = this.#pathOf(image.id)
    const infoPath = `${path}${INFO_SUFFIX}`
    if (existsSync(path) && existsSync(infoPath)) {
      const now = new Date()
      utimesSync(infoPath, now, now)
      return JSON.parse(readFileSync(infoPath, 'utf8')) as BaseImage
    }
    const base = await this.#fetch(image, path)
    writeFileSync(infoPath, JSON.stringify(base))
    await this.#evict(image.id)
    return base
  }

  // Nova names bases by the SHA-1 of the image id: safe as a file name whatever the id holds.
  #pathOf(imageId: string): string {
    return join(this.#dir, createHash('sha1').update(imageId).digest('hex'))
  }

  async #fetch(image: VirtImage, path: string): Promise<BaseImage> {
    const part = `${path}.part-${randomBytes(4).toString('hex')}`
    try {
      const started = Date.now()
      this.#downloads++
      const data = await this.#source.open(image)
      const check = checksumOf(image, data.checksum)
      const hash = check ? createHash(check.algo) : undefined
      let bytes = 0
      await pipeline(
        data.stream,
        new Transform({
          transform(chunk: Buffer, _enc, done) {
            bytes += chunk.length
            hash?.update(chunk)
            done(null, chunk)
          },
        }),
        createWriteStream(part, { mode: 0o644 }),
      )
      if (check && hash) {
        const got = hash.digest('hex')
        if (got !== check.value.toLowerCase()) {
          throw new VirtDriverError(
            `image ${image.id}: ${check.algo} of the downloaded data is ${got}, the image service says ${check.value}`,
            { step: 'image' },
          )
        }
      } else {
        log.warn({ image: image.id }, 'image has no checksum: its download is not verified')
      }
      const info = await inspect(part)
      renameSync(part, path)
      log.info({ image: image.id, path, bytes, ms: Date.now() - started, ...info }, 'base image cached')
      return { path, ...info }
    } finally {
      rmSync(part, { force: true })
    }
  }

  /** Removes unused bases, least recently used first, until the cache fits its limit. */
  async #evict(justFetched: string): Promise<void> {
    const entries = this.#entries()
    let total = entries.reduce((sum, e) => sum + e.sizeBytes, 0)
    if (total <= limits.imageCacheMaxBytes) return
    const inUse = await this.#inUse()
    if (!inUse) {
      log.warn(
        { totalBytes: total },
        'image cache over its limit, but which bases are in use is unknown: none evicted',
      )
      return
    }
    const keep = new Set([justFetched, ...this.#inFlight.keys(), ...inUse].map((id) => this.#pathOf(id)))
    const oldestUse = Date.now() - limits.imageCacheUnusedMinAgeMs
    for (const e of entries.sort((a, b) => a.lastUsedMs - b.lastUsedMs)) {
      if (total <= limits.imageCacheMaxBytes) break
      if (keep.has(e.path) || e.lastUsedMs > oldestUse) continue
      rmSync(`${e.path}${INFO_SUFFIX}`, { force: true })
      rmSync(e.path, { force: true })
      total -= e.sizeBytes
      log.info({ path: e.path, sizeBytes: e.sizeBytes }, 'unused base image evicted')
    }
    if (total > limits.imageCacheMaxBytes)
      log.warn(
        { totalBytes: total, maxBytes: limits.imageCacheMaxBytes },
        'image cache over its limit: every base is in use or recent',
      )
  }

  /** Every complete base: its path, size on disk and last use. */
  #entries(): { path: string; sizeBytes: number; lastUsedMs: number }[] {
    const out: { path: string; sizeBytes: number; lastUsedMs: number }[] = []
    for (const name of readdirSync(this.#dir)) {
      if (!name.endsWith(INFO_SUFFIX)) continue
      const path = join(this.#dir, name.slice(0, -INFO_SUFFIX.length))
      try {
        out.push({
          path,
          sizeBytes: statSync(path).size,
          lastUsedMs: statSync(`${path}${INFO_SUFFIX}`).mtimeMs,
        })
      } catch {
        // Removed meanwhile: nothing to count.
      }
    }
    return out
  }
}

/** What to check the data against: the image's multihash if the cache knows its algorithm, else md5. */
function checksumOf(image: VirtImage, sentMd5: string | null): { algo: string; value: string } | undefined {
  if (image.osHashAlgo && image.osHashValue && OS_HASH_ALGOS.has(image.osHashAlgo))
    return { algo: image.osHashAlgo, value: image.osHashValue }
  const md5 = image.checksum ?? sentMd5
  return md5 ? { algo: 'md5', value: md5 } : undefined
}

/** Format and virtual size of an image file, refusing formats QEMU should not open as a backing file. */
export async function inspect(path: string): Promise<{ format: BackingFormat; virtualSizeBytes: number }> {
  const { stdout } = await run(['qemu-img', 'info', '--output=json', path], {
    timeoutMs: limits.libvirtCommandTimeoutMs,
  })
  const info = JSON.parse(stdout) as { format?: string; 'virtual-size'?: number; 'backing-filename'?: string }
  const format = info.format as BackingFormat
  if (!BACKING_FORMATS.includes(format)) {
    throw new VirtDriverError(`image format ${info.format} is not supported (qcow2 or raw)`, {
      step: 'image',
    })
  }
  // An image with its own backing file could make QEMU read any host file.
  if (info['backing-filename'])
    throw new VirtDriverError('image has a backing file: refused', { step: 'image' })
  return { format, virtualSizeBytes: info['virtual-size'] ?? 0 }
}

/** The virtual size of one of our own disks (an instance overlay: its backing file is ours). */
export async function diskVirtualSizeBytes(path: string): Promise<number> {
  const { stdout } = await run(['qemu-img', 'info', '--output=json', path], {
    timeoutMs: limits.libvirtCommandTimeoutMs,
  })
  return (JSON.parse(stdout) as { 'virtual-size'?: number })['virtual-size'] ?? 0
}

/**
 * A qcow2 overlay on `base`. `-u` with the size given: qemu-img does not open
 * the base, so creating a disk costs the same whatever the image size.
 */
export async function createOverlay(base: BaseImage, path: string, sizeBytes: number): Promise<void> {
  const size = Math.max(sizeBytes, base.virtualSizeBytes)
  await run(
    ['qemu-img', 'create', '-q', '-f', 'qcow2', '-u', '-b', base.path, '-F', base.format, path, String(size)],
    {
      timeoutMs: limits.libvirtCommandTimeoutMs,
    },
  )
}

/** A blank qcow2 (ephemeral or swap disk). */
export async function createBlank(path: string, sizeBytes: number): Promise<void> {
  await run(['qemu-img', 'create', '-q', '-f', 'qcow2', path, String(sizeBytes)], {
    timeoutMs: limits.libvirtCommandTimeoutMs,
  })
}
