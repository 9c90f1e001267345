import { Worker } from 'node:worker_threads'
import { logger } from '../../common/log.ts'

/**
 * md5 and sha512 of image uploads, each computed on a worker thread of its
 * own. Hashing is the costly part of an upload (each digest runs at a few
 * hundred MB/s on one core): on the event loop it would cap uploads at the
 * sum of both costs and stall every other request while an upload runs.
 * Here both digests run in parallel, off the event loop.
 *
 * Data is not copied to the workers: an upload fills slots of a
 * SharedArrayBuffer and sends each worker the slot's offset and length; the
 * worker answers once it has hashed it, and only then may the slot be
 * refilled. Workers keep one hash state per upload and process messages in
 * order, so digests see the bytes in upload order.
 */

export const DIGEST_ALGORITHMS = ['md5', 'sha512'] as const
export type DigestAlgorithm = (typeof DIGEST_ALGORITHMS)[number]

type Request =
  | { readonly op: 'start'; readonly id: number; readonly ring: SharedArrayBuffer }
  | {
      readonly op: 'update'
      readonly id: number
      readonly seq: number
      readonly offset: number
      readonly length: number
    }
  | { readonly op: 'digest'; readonly id: number }
  | { readonly op: 'drop'; readonly id: number }

type Reply =
  | { readonly id: number; readonly seq: number }
  | { readonly id: number; readonly digest: string }
  | { readonly id: number; readonly error: string }

/** The worker: plain JavaScript evaluated as a script, so it needs no TypeScript loader. */
const WORKER_SOURCE = `
const { createHash } = require('node:crypto')
const { parentPort, workerData } = require('node:worker_threads')
const states = new Map()
parentPort.on('message', (m) => {
  try {
    if (m.op === 'start') states.set(m.id, { hash: createHash(workerData.algorithm), ring: Buffer.from(m.ring) })
    else if (m.op === 'update') {
      const s = states.get(m.id)
      s.hash.update(s.ring.subarray(m.offset, m.offset + m.length))
      parentPort.postMessage({ id: m.id, seq: m.seq })
    } else if (m.op === 'digest') {
      const s = states.get(m.id)
      states.delete(m.id)
      parentPort.postMessage({ id: m.id, digest: s.hash.digest('hex') })
    } else if (m.op === 'drop') states.delete(m.id)
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String(err && err.message || err) })
  }
})
`

const log = logger('image.hash')

interface Pending {
  resolve(value: string | undefined): void
  reject(err: Error): void
}

/** One worker computing one algorithm for any number of uploads. */
class HashWorker {
  readonly #algorithm: DigestAlgorithm
  #worker: Worker | undefined
  /** `${id}:${seq}` for updates, `${id}` for digests. */
  readonly #pending = new Map<string, Pending>()

  constructor(algorithm: DigestAlgorithm) {
    this.#algorithm = algorithm
  }

  start(id: number, ring: SharedArrayBuffer): void {
    this.#send({ op: 'start', id, ring })
  }

  /** Resolves once the worker has hashed the slot (so it may be refilled). */
  update(id: number, seq: number, offset: number, length: number): Promise<unknown> {
    return this.#call(`${id}:${seq}`, { op: 'update', id, seq, offset, length })
  }

  async digest(id: number): Promise<string> {
    return (await this.#call(`${id}`, { op: 'digest', id })) as string
  }

  drop(id: number): void {
    if (this.#worker) this.#send({ op: 'drop', id })
  }

  #call(key: string, request: Request): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      this.#pending.set(key, { resolve, reject })
      // Keep the process alive only while answers are awaited.
      this.#ensure().ref()
      this.#send(request)
    })
  }

  #send(request: Request): void {
    this.#ensure().postMessage(request)
  }

  #ensure(): Worker {
    if (this.#worker) return this.#worker
    // No execArgv: the worker is plain JavaScript and needs none of the parent's loaders (tsx).
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      execArgv: [],
      workerData: { algorithm: this.#algorithm },
    })
    worker.unref()
    worker.on('message', (reply: Reply) => this.#settle(reply))
    worker.on('error', (err) => this.#fail(worker, err))
    worker.on('exit', (code) =>
      this.#fail(worker, new Error(`${this.#algorithm} worker exited with ${code}`)),
    )
    this.#worker = worker
    return worker
  }

  #settle(reply: Reply): void {
    const key = 'seq' in reply ? `${reply.id}:${reply.seq}` : `${reply.id}`
    const pending = this.#pending.get(key)
    if (!pending && 'error' in reply) {
      // An error names no sequence: fail everything of that upload.
      for (const [k, p] of this.#pending)
        if (k === key || k.startsWith(`${key}:`)) p.reject(new Error(reply.error))
    }
    this.#pending.delete(key)
    if ('error' in reply) pending?.reject(new Error(reply.error))
    else pending?.resolve('digest' in reply ? reply.digest : undefined)
    if (this.#pending.size === 0) this.#worker?.unref()
  }

  /** A dead worker fails what it owed; the next upload starts a new one. */
  #fail(worker: Worker, err: Error): void {
    if (this.#worker !== worker) return
    this.#worker = undefined
    if (this.#pending.size > 0)
      log.error({ err: err.message, algorithm: this.#algorithm }, 'hash worker failed')
    for (const p of this.#pending.values()) p.reject(err)
    this.#pending.clear()
  }
}

const WORKERS: Readonly<Record<DigestAlgorithm, HashWorker>> = {
  md5: new HashWorker('md5'),
  sha512: new HashWorker('sha512'),
}
let nextId = 1

/** The digests of one upload, fed slot by slot from a shared ring. */
export class ParallelDigests {
  readonly #id = nextId++

  constructor(ring: SharedArrayBuffer) {
    for (const a of DIGEST_ALGORITHMS) WORKERS[a].start(this.#id, ring)
  }

  /** Hashes `length` bytes at `offset` of the ring; resolves when every digest has them. */
  update(seq: number, offset: number, length: number): Promise<unknown> {
    return Promise.all(DIGEST_ALGORITHMS.map((a) => WORKERS[a].update(this.#id, seq, offset, length)))
  }

  /** The hex digests, once every update before this call was hashed. */
  async digests(): Promise<Record<DigestAlgorithm, string>> {
    const [md5, sha512] = await Promise.all(DIGEST_ALGORITHMS.map((a) => WORKERS[a].digest(this.#id)))
    return { md5: md5!, sha512: sha512! }
  }

  /** Forgets this upload's state (after a failure). */
  drop(): void {
    for (const a of DIGEST_ALGORITHMS) WORKERS[a].drop(this.#id)
  }
}
