import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { limits } from '../../../common/limits.ts'
import { logger } from '../../../common/log.ts'
import { run } from '../../../guest-image/exec.ts'
import { VirtDriverError, type VirtImage } from '../driver.ts'

const log = logger('virt.libvirt.image-cache')

/** Formats QEMU may open as a backing file; anything else is refused (no format probing of user data). */
const BACKING_FORMATS = ['qcow2', 'raw'] as const
type BackingFormat = (typeof BACKING_FORMATS)[number]

/** Where the driver gets an image's bytes (the image service); the contract leaves this to the driver. */
export interface ImageSource {
  /** Writes the whole image `image.id` to `path` (created or replaced). */
  download(image: VirtImage, path: string): Promise<void>
}

export interface BaseImage {
  readonly path: string
  readonly format: BackingFormat
  readonly virtualSizeBytes: number
}

/**
 * The per-host cache of base images (Nova's `_base`): each image is fetched
 * once, checked with `qemu-img info`, and shared read-only by the qcow2
 * overlays of every instance booted from it. Concurrent spawns of one image
 * share one download.
 */
export class ImageCache {
  readonly #dir: string
  readonly #source: ImageSource
  readonly #inFlight = new Map<string, Promise<BaseImage>>()

  constructor(dir: string, source: ImageSource) {
    this.#dir = dir
    this.#source = source
  }

  get dir(): string {
    return this.#dir
  }

  /** The cached base of `image`, downloading it first if needed. */
  get(image: VirtImage): Promise<BaseImage> {
    const pending = this.#inFlight.get(image.id)
    if (pending) return pending
    const p = this.#fetch(image).finally(() => this.#inFlight.delete(image.id))
    this.#inFlight.set(image.id, p)
    return p
  }

  async #fetch(image: VirtImage): Promise<BaseImage> {
    mkdirSync(this.#dir, { recursive: true, mode: 0o755 })
    // Nova names bases by the SHA-1 of the image id: safe as a file name whatever the id holds.
    const name = createHash('sha1').update(image.id).digest('hex')
    const path = join(this.#dir, name)
    const infoPath = `${path}.json`
    if (existsSync(path) && existsSync(infoPath))
      return JSON.parse(readFileSync(infoPath, 'utf8')) as BaseImage
    const part = `${path}.part-${randomBytes(4).toString('hex')}`
    try {
      const started = Date.now()
      await this.#source.download(image, part)
      const info = await inspect(part)
      renameSync(part, path)
      const base: BaseImage = { path, ...info }
      writeFileSync(infoPath, JSON.stringify(base))
      log.info({ image: image.id, path, ms: Date.now() - started, ...info }, 'base image cached')
      return base
    } finally {
      rmSync(part, { force: true })
    }
  }
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
