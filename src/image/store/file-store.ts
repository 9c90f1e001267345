import { createHash, randomUUID, type Hash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Transform, type Readable, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { PayloadTooLarge } from '../../common/errors.ts'
import { logger } from '../../common/log.ts'
import { INSPECT_HEADER_BYTES } from './format-inspector.ts'

/**
 * Image data on the local file system, one file per image under the store's
 * directory (Glance's `file` store). An upload streams into a temporary file
 * under `tmp/` while its size and hashes are computed, and is renamed into
 * place only once complete, so a reader never sees a partial image and a
 * failed upload leaves nothing behind. Memory use is bounded by the stream
 * buffers whatever the image size.
 */

/** What an upload produced. */
export interface StoredImageData {
  readonly size: number
  /** md5 hex digest (Glance's `checksum`). */
  readonly checksum: string
  /** sha512 hex digest (Glance's `os_hash_value`). */
  readonly osHashValue: string
  /** The first bytes of the data (up to INSPECT_HEADER_BYTES), for format inspection. */
  readonly header: Buffer
}

export interface AddOptions {
  /** Largest size accepted; beyond it the upload fails with PayloadTooLarge and nothing is kept. */
  readonly maxSizeBytes: number
}

/** A byte range of an image, both ends included (as in `Range: bytes=start-end`). */
export interface ByteRange {
  readonly start: number
  readonly end: number
}

export interface OpenedData {
  readonly stream: Readable
  /** Size of the whole image file. */
  readonly size: number
}

const TMP_DIR = 'tmp'
const TMP_SUFFIX = '.part'
/** Read and write buffer size: large enough that a transfer costs few system calls. */
const STREAM_CHUNK_BYTES = 1024 * 1024
/** Image ids are uuids; anything else never names a file (no path tricks). */
const ID_PATTERN = /^[0-9a-fA-F-]{36}$/

const log = logger('image.store')

export class FileStore {
  readonly dir: string
  readonly #tmpDir: string

  constructor(dir: string) {
    this.dir = dir
    this.#tmpDir = join(dir, TMP_DIR)
  }

  /**
   * Creates the directories and removes the temporary files of uploads a
   * previous process did not finish (it crashed or was killed mid-upload).
   * Call once, before the first upload.
   */
  async init(): Promise<void> {
    await mkdir(this.#tmpDir, { recursive: true, mode: 0o700 })
    for (const name of await readdir(this.#tmpDir)) {
      if (!name.endsWith(TMP_SUFFIX)) continue
      await rm(join(this.#tmpDir, name), { force: true })
      log.info({ file: name }, 'removed the temporary file of an unfinished upload')
    }
  }

  /**
   * Streams `source` into the store as image `id`: the file appears under its
   * final name only when every byte arrived. On any failure (source error,
   * client gone, size over the limit, disk full) the temporary file is
   * removed and the error rethrown; an existing file for `id` is untouched.
   * `source` is read but never destroyed: its owner (an HTTP request) decides
   * what happens to the rest of it, e.g. reading it so the client gets an answer.
   */
  async add(id: string, source: Readable, opts: AddOptions): Promise<StoredImageData> {
    const target = this.path(id)
    const tmp = join(this.#tmpDir, `${id}.${randomUUID()}${TMP_SUFFIX}`)
    const meter = new ImageMeter(opts.maxSizeBytes)
    const detach = feed(source, meter)
    try {
      await pipeline(meter, createWriteStream(tmp, { mode: 0o600, highWaterMark: STREAM_CHUNK_BYTES }))
      await rename(tmp, target)
    } catch (err) {
      await rm(tmp, { force: true })
      throw err
    } finally {
      detach()
    }
    return meter.result()
  }

  /**
   * Opens image `id` for reading, the whole file or `range` of it. Throws
   * ENOENT (as a Node error) when the store has no data for it.
   */
  async open(id: string, range?: ByteRange): Promise<OpenedData> {
    const handle = await open(this.path(id), 'r')
    try {
      const { size } = await handle.stat()
      const stream = handle.createReadStream({
        start: range?.start ?? 0,
        end: range?.end ?? Infinity,
        highWaterMark: STREAM_CHUNK_BYTES,
      })
      return { stream, size }
    } catch (err) {
      await handle.close()
      throw err
    }
  }

  /** Size of the stored data of `id`, or undefined when there is none. */
  async size(id: string): Promise<number | undefined> {
    try {
      return (await stat(this.path(id))).size
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  }

  /** Removes the data of `id`; succeeds when there is none. */
  async delete(id: string): Promise<void> {
    await rm(this.path(id), { force: true })
  }

  /** Where the data of `id` lives. */
  path(id: string): string {
    if (!ID_PATTERN.test(id)) throw new Error(`not an image id: ${JSON.stringify(id)}`)
    return join(this.dir, id)
  }
}

/**
 * Pipes `source` into `into`, failing `into` when the source fails or closes
 * before its end (a client that went away), without destroying the source.
 * Returns the function that disconnects them.
 */
function feed(source: Readable, into: Transform): () => void {
  const onError = (err: Error) => into.destroy(err)
  const onClose = () => {
    if (!source.readableEnded) into.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }))
  }
  source.on('error', onError)
  source.on('close', onClose)
  if (source.destroyed) queueMicrotask(onClose)
  source.pipe(into)
  return () => {
    source.off('error', onError)
    source.off('close', onClose)
    source.unpipe(into)
  }
}

/**
 * Counts, hashes and caps the bytes passing through, and keeps the first
 * INSPECT_HEADER_BYTES of them. Refusing as soon as the cap is passed keeps a
 * too-large upload from filling the disk first.
 */
class ImageMeter extends Transform {
  readonly #maxSizeBytes: number
  readonly #md5: Hash = createHash('md5')
  readonly #sha512: Hash = createHash('sha512')
  readonly #header: Buffer[] = []
  #headerBytes = 0
  #size = 0

  constructor(maxSizeBytes: number) {
    super()
    this.#maxSizeBytes = maxSizeBytes
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#size += chunk.length
    if (this.#size > this.#maxSizeBytes) {
      done(new PayloadTooLarge('The incoming image is too large: The provided image is too large.'))
      return
    }
    this.#md5.update(chunk)
    this.#sha512.update(chunk)
    if (this.#headerBytes < INSPECT_HEADER_BYTES) {
      const part = chunk.subarray(0, INSPECT_HEADER_BYTES - this.#headerBytes)
      this.#header.push(Buffer.from(part))
      this.#headerBytes += part.length
    }
    done(null, chunk)
  }

  result(): StoredImageData {
    return {
      size: this.#size,
      checksum: this.#md5.digest('hex'),
      osHashValue: this.#sha512.digest('hex'),
      header: Buffer.concat(this.#header),
    }
  }
}
