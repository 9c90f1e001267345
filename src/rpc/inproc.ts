import { randomUUID } from 'node:crypto'
import { limits } from '../common/limits.ts'
import { logger } from '../common/log.ts'
import { Fifo } from './fifo.ts'
import type {
  IncomingMessage,
  ListenOptions,
  Listener,
  MessageHandler,
  MessageKind,
  QueueStat,
  RequestOptions,
  ServerTarget,
  Target,
  Transport,
} from './transport.ts'
import {
  checkTarget,
  checkTopic,
  deliveryFailure,
  encode,
  encodeReply,
  errorReply,
  okReply,
  targetKey,
  timeoutError,
  unwrapReply,
  type ReplyBody,
} from './wire.ts'

/**
 * The in-process transport (embedded mode and functional tests). It mirrors
 * the AMQP one so code that works here works on RabbitMQ:
 * - queues: one shared queue per topic (round-robin among its servers), one
 *   per `topic.<server>`, one fanout queue per listening server. Shared and
 *   server queues outlive their listeners (messages wait for a server), as
 *   declared AMQP queues do; a target nobody ever listened on is an error.
 * - every message crosses as JSON text and is parsed per receiver, so each
 *   side owns its copy, and values JSON cannot carry (Dates, undefined, class
 *   instances) arrive exactly as they would from the wire.
 * - delivery is always on a later event-loop turn (setImmediate), never inside
 *   the sender's call stack.
 * - each queue holds at most `limits.rpcInprocQueueLength` messages.
 */

const log = logger('rpc.inproc')

interface Envelope {
  readonly kind: MessageKind
  readonly json: string
  /** Calls only: where the reply goes. */
  readonly callId?: string
  /** Calls only: after this the caller has given up, so the call is dropped unhandled (AMQP expiration). */
  readonly expiresAtMs?: number
}

interface PendingCall {
  readonly owner: InprocTransport
  readonly resolve: (value: unknown) => void
  readonly reject: (err: unknown) => void
  readonly timer: NodeJS.Timeout
}

/** The queues and pending calls shared by every transport on one bus. */
class Bus {
  readonly queues = new Map<string, InprocQueue>()
  readonly fanouts = new Map<string, Set<InprocQueue>>()
  readonly calls = new Map<string, PendingCall>()
  users = 0

  queue(name: string): InprocQueue {
    let queue = this.queues.get(name)
    if (!queue) {
      queue = new InprocQueue(name)
      this.queues.set(name, queue)
    }
    return queue
  }

  /** Settles a pending call with a copy of its reply; late replies are dropped. */
  reply(callId: string, json: string): void {
    const call = this.calls.get(callId)
    if (!call) {
      log.debug({ callId }, 'reply for a call that already gave up')
      return
    }
    this.calls.delete(callId)
    clearTimeout(call.timer)
    try {
      call.resolve(unwrapReply(JSON.parse(json)))
    } catch (err) {
      call.reject(err)
    }
  }
}

/** Named buses shared by `inproc://NAME` transports in this process. */
const NAMED_BUSES = new Map<string, Bus>()

class InprocQueue {
  readonly name: string
  readonly #messages = new Fifo<Envelope>()
  readonly #consumers: InprocListener[] = []
  #next = 0
  #pumpScheduled = false

  constructor(name: string) {
    this.name = name
  }

  get length(): number {
    return this.#messages.length
  }

  /** Listeners attached to this queue. */
  get consumers(): number {
    return this.#consumers.length
  }

  /** Queues a message for a later turn; false when the queue is full. */
  offer(envelope: Envelope): boolean {
    if (this.#messages.length >= limits.rpcInprocQueueLength) return false
    this.#messages.push(envelope)
    this.schedulePump()
    return true
  }

  attach(consumer: InprocListener): void {
    this.#consumers.push(consumer)
    this.schedulePump()
  }

  detach(consumer: InprocListener): void {
    const index = this.#consumers.indexOf(consumer)
    if (index >= 0) this.#consumers.splice(index, 1)
  }

  /** Hands queued messages to consumers with a free slot, round-robin. */
  pump(): void {
    while (this.#messages.length > 0) {
      const consumer = this.#pickConsumer()
      if (!consumer) return
      const envelope = this.#messages.shift() as Envelope
      if (envelope.expiresAtMs !== undefined && envelope.expiresAtMs <= Date.now()) continue
      consumer.start(envelope)
    }
  }

  #pickConsumer(): InprocListener | undefined {
    const count = this.#consumers.length
    for (let i = 0; i < count; i++) {
      const index = (this.#next + i) % count
      const consumer = this.#consumers[index] as InprocListener
      if (consumer.hasSlot()) {
        this.#next = (index + 1) % count
        return consumer
      }
    }
    return undefined
  }

  /** Pumps on a later turn; one pump per turn however many messages arrive keeps casts cheap. */
  schedulePump(): void {
    if (this.#pumpScheduled) return
    this.#pumpScheduled = true
    setImmediate(() => {
      this.#pumpScheduled = false
      this.pump()
    })
  }
}

class InprocListener implements Listener {
  readonly #bus: Bus
  readonly #topic: string
  readonly #handler: MessageHandler
  readonly #concurrency: number
  readonly #queues: readonly InprocQueue[]
  readonly #fanoutQueue: InprocQueue
  readonly #onStop: (listener: InprocListener) => void
  #running = 0
  #stopped = false

  constructor(
    bus: Bus,
    target: ServerTarget,
    handler: MessageHandler,
    options: ListenOptions,
    onStop: (listener: InprocListener) => void,
  ) {
    this.#bus = bus
    this.#topic = target.topic
    this.#handler = handler
    this.#concurrency = options.concurrency
    this.#onStop = onStop
    this.#fanoutQueue = new InprocQueue(`${target.topic}.fanout.${randomUUID()}`)
    this.#queues = [bus.queue(target.topic), bus.queue(targetKey(target)), this.#fanoutQueue]
    let fanouts = bus.fanouts.get(target.topic)
    if (!fanouts) bus.fanouts.set(target.topic, (fanouts = new Set()))
    fanouts.add(this.#fanoutQueue)
    for (const queue of this.#queues) queue.attach(this)
  }

  hasSlot(): boolean {
    return !this.#stopped && this.#running < this.#concurrency
  }

  /** Runs one message; called by a queue's pump, never from a sender's stack. */
  start(envelope: Envelope): void {
    this.#running++
    void this.#run(envelope)
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    for (const queue of this.#queues) queue.detach(this)
    this.#bus.fanouts.get(this.#topic)?.delete(this.#fanoutQueue)
    this.#onStop(this)
    // Messages still queued go to the topic's other servers (or wait for a restart).
    for (const queue of this.#queues) queue.schedulePump()
  }

  async #run(envelope: Envelope): Promise<void> {
    let reply: ReplyBody | undefined
    try {
      const message: IncomingMessage = { kind: envelope.kind, payload: JSON.parse(envelope.json) }
      const result = await this.#handler(message)
      if (envelope.callId !== undefined) reply = okReply(result)
    } catch (err) {
      reply = errorReply(err)
      if (envelope.callId === undefined) log.error({ err }, 'RPC handler failed for a message with no reply')
    }
    this.#running--
    if (envelope.callId !== undefined) this.#bus.reply(envelope.callId, encodeReply(reply as ReplyBody))
    for (const queue of this.#queues) queue.pump()
  }
}

export class InprocTransport implements Transport {
  readonly url: string
  readonly #bus: Bus
  readonly #name: string | undefined
  readonly #listeners = new Set<InprocListener>()
  #closed = false

  private constructor(url: string, bus: Bus, name: string | undefined) {
    this.url = url
    this.#bus = bus
    this.#name = name
    bus.users++
  }

  /**
   * Messages waiting and listeners of every shared (`topic`) and server
   * (`topic.<server>`) queue on this bus, for `nimbus status`: the in-process
   * counterpart of the broker's queue depth and consumer count.
   */
  queueStats(): QueueStat[] {
    return [...this.#bus.queues.values()].map((q) => ({ name: q.name, depth: q.length, consumers: q.consumers }))
  }

  /** `inproc://` gives a private bus, `inproc://NAME` joins the process-wide bus NAME. */
  static fromUrl(url: string): InprocTransport {
    const name = url.slice('inproc://'.length).replace(/\/+$/, '')
    if (!name) return new InprocTransport(url, new Bus(), undefined)
    let bus = NAMED_BUSES.get(name)
    if (!bus) NAMED_BUSES.set(name, (bus = new Bus()))
    return new InprocTransport(url, bus, name)
  }

  async listen(target: ServerTarget, handler: MessageHandler, options: ListenOptions): Promise<Listener> {
    this.#checkOpen()
    checkTarget(target)
    const listener = new InprocListener(this.#bus, target, handler, options, (l) => this.#listeners.delete(l))
    this.#listeners.add(listener)
    return listener
  }

  async send(target: Target, payload: unknown): Promise<void> {
    this.#checkOpen()
    checkTarget(target)
    this.#offer(target, { kind: 'cast', json: encode(payload) })
  }

  async fanout(topic: string, payload: unknown): Promise<void> {
    this.#checkOpen()
    checkTopic(topic)
    const json = encode(payload)
    let refused = 0
    const queues = this.#bus.fanouts.get(topic) ?? new Set<InprocQueue>()
    for (const queue of queues) if (!queue.offer({ kind: 'fanout', json })) refused++
    if (refused > 0) {
      throw deliveryFailure(`fanout on topic '${topic}' refused by ${refused} full queue(s)`, {
        topic,
        refused,
        maybeDelivered: false,
      })
    }
  }

  async request(target: Target, payload: unknown, options: RequestOptions): Promise<unknown> {
    this.#checkOpen()
    checkTarget(target)
    const json = encode(payload)
    const callId = randomUUID()
    const reply = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#bus.calls.delete(callId)
        reject(timeoutError(target, options))
      }, options.timeoutMs)
      this.#bus.calls.set(callId, { owner: this, resolve, reject, timer })
    })
    try {
      this.#offer(target, { kind: 'call', json, callId, expiresAtMs: Date.now() + options.timeoutMs })
    } catch (err) {
      this.#settleCall(callId, err)
    }
    return reply
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const listener of [...this.#listeners]) await listener.stop()
    for (const [callId, call] of this.#bus.calls) {
      if (call.owner === this)
        this.#settleCall(callId, deliveryFailure('transport closed while waiting for a reply'))
    }
    if (--this.#bus.users === 0 && this.#name !== undefined) NAMED_BUSES.delete(this.#name)
  }

  #offer(target: Target, envelope: Envelope): void {
    const key = targetKey(target)
    const queue = this.#bus.queues.get(key)
    if (!queue) {
      throw deliveryFailure(`no server has listened on '${key}'`, { target: key, maybeDelivered: false })
    }
    if (!queue.offer(envelope)) {
      throw deliveryFailure(`queue '${key}' is full (${limits.rpcInprocQueueLength} messages)`, {
        target: key,
        maybeDelivered: false,
      })
    }
  }

  #settleCall(callId: string, err: unknown): void {
    const call = this.#bus.calls.get(callId)
    if (!call) return
    this.#bus.calls.delete(callId)
    clearTimeout(call.timer)
    call.reject(err)
  }

  #checkOpen(): void {
    if (this.#closed) throw deliveryFailure('transport is closed', { maybeDelivered: false })
  }
}
