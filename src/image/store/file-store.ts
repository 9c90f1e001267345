import { randomUUID } from 'node:crypto'
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { Writable, type Readable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { PayloadTooLarge } from '../../common/errors.ts'
import { logger } from '../../common/log.ts'
import { INSPECT_HEADER_BYTES } from './format-inspector.ts'
import { ParallelDigests } from './hash-workers.ts'

/**
 * Image data on the local file system, one file per image under the store's
 * directory (Glance's `file` store). An upload streams into a temporary file
 * under `tmp/` while its size and hashes are computed, and is renamed into
 * place only once complete, so a reader never sees a partial image and a
 * failed upload leaves nothing behind. Memory use is bounded (a ring of
 * RING_SLOTS slots per upload) whatever the image size.
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
/** Read buffer and upload slot size: large enough that a transfer costs few system calls. */
const STREAM_CHUNK_BYTES = 1024 * 1024
/**
 * Slots of an upload's ring: how many slots may be written and hashed at
 * once while the next fills. Bounds an upload's memory to
 * RING_SLOTS * STREAM_CHUNK_BYTES.
 */
const RING_SLOTS = 8
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
    // Listen to the source at once: an error it emits before a listener would crash the process.
    const sink = new ImageSink(tmp, opts.maxSizeBytes)
    const detach = feed(source, sink)
    try {
      await finished(sink)
      await rename(tmp, target)
      return sink.result()
    } catch (err) {
      sink.destroy()
      await finished(sink).catch(() => undefined)
      await rm(tmp, { force: true })
      throw err
    } finally {
      detach()
    }
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
function feed(source: Readable, into: Writable): () => void {
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
 * Where an upload's bytes go: copied into slots of a shared ring; each full
 * slot is written to the file at its offset and hashed on the hash workers,
 * all at once, while the next slot fills. A slot is refilled only when its
 * write and both digests are done, which is also the backpressure on the
 * source. Refuses as soon as the size cap is passed, so a too-large upload
 * does not fill the disk first.
 */
class ImageSink extends Writable {
  readonly #path: string
  #file: FileHandle | undefined
  readonly #maxSizeBytes: number
  readonly #ring = new SharedArrayBuffer(RING_SLOTS * STREAM_CHUNK_BYTES)
  readonly #bytes = Buffer.from(this.#ring)
  readonly #digests = new ParallelDigests(this.#ring)
  /** Slots dispatched, oldest first, each settled when written and hashed. */
  readonly #inflight: Promise<void>[] = []
  #header: Buffer = Buffer.alloc(0)
  #seq = 0
  #fill = 0
  #size = 0
  #failure: unknown
  #result: StoredImageData | undefined

  constructor(path: string, maxSizeBytes: number) {
    super({ highWaterMark: STREAM_CHUNK_BYTES })
    this.#path = path
    this.#maxSizeBytes = maxSizeBytes
  }

  override _construct(done: (err?: Error | null) => void): void {
    open(this.#path, 'wx', 0o600).then((file) => {
      this.#file = file
      done()
    }, done)
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.#take(chunk).then(() => done(), done)
  }

  override _final(done: (err?: Error | null) => void): void {
    this.#finish().then(() => done(), done)
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    // Let dispatched writes and digests settle before the file and ring go away.
    Promise.allSettled(this.#inflight)
      .then(() => this.#file?.close())
      .catch(() => undefined)
      .finally(() => {
        if (!this.#result) this.#digests.drop()
        done(err)
      })
  }

  result(): StoredImageData {
    if (!this.#result) throw new Error('the upload did not finish')
    return this.#result
  }

  async #take(chunk: Buffer): Promise<void> {
    this.#size += chunk.length
    if (this.#size > this.#maxSizeBytes) {
      throw new PayloadTooLarge('The incoming image is too large: The provided image is too large.')
    }
    if (this.#header.length < INSPECT_HEADER_BYTES) {
      this.#header = Buffer.concat([
        this.#header,
        chunk.subarray(0, INSPECT_HEADER_BYTES - this.#header.length),
      ])
    }
    for (let done = 0; done < chunk.length;) {
      if (this.#fill === 0) await this.#slotFree()
      // Copy no further than the end of this slot (copy() alone would run on into the next).
      const end = Math.min(chunk.length, done + STREAM_CHUNK_BYTES - this.#fill)
      const copied = chunk.copy(this.#bytes, this.#slotOffset() + this.#fill, done, end)
      this.#fill += copied
      done += copied
      if (this.#fill === STREAM_CHUNK_BYTES) this.#dispatch()
    }
  }

  async #finish(): Promise<void> {
    if (this.#fill > 0) this.#dispatch()
    await Promise.all(this.#inflight)
    this.#check()
    const { md5, sha512 } = await this.#digests.digests()
    await this.#file!.close()
    this.#file = undefined
    this.#result = { size: this.#size, checksum: md5, osHashValue: sha512, header: this.#header }
  }

  /** Waits until the slot about to fill is no longer being written or hashed. */
  async #slotFree(): Promise<void> {
    if (this.#inflight.length === RING_SLOTS) await this.#inflight.shift()
    this.#check()
  }

  /** Writes and hashes the filled part of the current slot, without waiting. */
  #dispatch(): void {
    const offset = this.#slotOffset()
    const length = this.#fill
    const position = this.#seq * STREAM_CHUNK_BYTES
    const work = Promise.all([
      writeAll(this.#file!, this.#bytes.subarray(offset, offset + length), position),
      this.#digests.update(this.#seq, offset, length),
    ])
    // Record a failure for the next step to throw; never leave a rejection unhandled.
    this.#inflight.push(
      work.then(
        () => undefined,
        (err: unknown) => {
          this.#failure ??= err
        },
      ),
    )
    this.#seq++
    this.#fill = 0
  }

  #slotOffset(): number {
    return (this.#seq % RING_SLOTS) * STREAM_CHUNK_BYTES
  }

  #check(): void {
    if (this.#failure !== undefined) throw this.#failure
  }
}

/** Writes all of `data` at `position` (a positional write may be short). */
async function writeAll(file: FileHandle, data: Buffer, position: number): Promise<void> {
  for (let done = 0; done < data.length;) {
    const { bytesWritten } = await file.write(data, done, data.length - done, position + done)
    done += bytesWritten
  }
}
