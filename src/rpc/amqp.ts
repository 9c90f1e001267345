import { randomUUID } from 'node:crypto'
import type { Socket } from 'node:net'
import amqp, { type ChannelModel, type ConfirmChannel, type ConsumeMessage, type Options } from 'amqplib'
import type { NimbusError } from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import { logger } from '../common/log.ts'
import { AmqpListener, declareExchanges, fanoutExchangeName, type ListenerHost } from './amqp-listener.ts'
import { parseAmqpUrl, type AmqpSettings } from './amqp-url.ts'
import { Fifo } from './fifo.ts'
import type {
  ListenOptions,
  Listener,
  MessageHandler,
  MessageKind,
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
  targetKey,
  timeoutError,
  unwrapReply,
  type ReplyBody,
} from './wire.ts'

/**
 * The AMQP 0-9-1 transport (RabbitMQ), laid out as oslo.messaging's rabbit
 * driver does:
 * - exchange `<exchange>` (topic): queue `<exchange>.<topic>` bound by `topic`
 *   and shared by every server of the topic (the broker round-robins), queue
 *   `<exchange>.<topic>.<server>` bound by `topic.<server>`;
 * - exchange `<exchange>.fanout` (direct): one exclusive queue per server,
 *   bound by `topic`, so a fanout reaches each server once;
 * - calls: one exclusive reply queue per connection, correlation id per call,
 *   per-message expiration = the call's timeout so a request nobody took in
 *   time is discarded instead of run late.
 *
 * Publishing: one confirm channel per connection. A cast resolves when the
 * broker confirms it; casts and calls are `mandatory`, so a target with no
 * queue fails at once (MessageDeliveryFailure) instead of vanishing.
 *
 * Broker loss: the connection is rebuilt with exponential backoff
 * (`limits.rpcReconnect*`); consumers and the reply queue are re-declared.
 * A publish the broker had not confirmed when the connection dropped rejects
 * with MessageDeliveryFailure (`detail.maybeDelivered: true`): it is never
 * republished, because it may already sit in a queue and a duplicate build is
 * worse than a reported failure. Publishes made while disconnected are
 * buffered (at most `limits.rpcPendingCastsMax`) and sent after recovery, or
 * rejected when the reconnect loop gives up. Calls waiting for a reply when
 * the connection drops reject (their reply queue died with it).
 */

const log = logger('rpc.amqp')

/** How often overdue confirms are looked for (see `limits.rpcConfirmTimeoutMs`). */
const CONFIRM_SWEEP_INTERVAL_MS = 1_000
/** Bound on a clean connection close before the socket is simply destroyed. */
const CLOSE_TIMEOUT_MS = 2_000
/** Reconnect delays are spread ±20 % so services that lost the broker together do not return together. */
const RECONNECT_JITTER_RATIO = 0.2

type State = 'connecting' | 'open' | 'failed' | 'closed'

/** A message on its way to the broker. */
interface Outgoing {
  readonly exchange: string
  readonly routingKey: string
  readonly content: Buffer
  readonly kind: MessageKind | 'reply'
  readonly mandatory: boolean
  readonly properties: Options.Publish
  /** Names the message in errors. */
  readonly what: string
  /** Calls only: the pending call this request belongs to. */
  readonly callId?: string
  readonly expiresAtMs?: number
  readonly resolve: () => void
  readonly reject: (err: unknown) => void
}

interface Unconfirmed {
  readonly out: Outgoing
  readonly writtenAtMs: number
}

interface PendingCall {
  readonly resolve: (value: unknown) => void
  readonly reject: (err: unknown) => void
  readonly timer: NodeJS.Timeout
  /** Written to a connection, so its reply can only come back on that connection's reply queue. */
  sent: boolean
}

interface Connected {
  readonly connection: ChannelModel
  readonly channel: ConfirmChannel
  readonly replyQueue: string
}

export class AmqpTransport implements Transport, ListenerHost {
  readonly url: string
  readonly settings: AmqpSettings
  readonly #id = randomUUID()
  #state: State = 'connecting'
  #live: Connected | undefined
  #generation = 0
  #seq = 0
  #waitingForDrain = false
  #sleep: { timer: NodeJS.Timeout; wake: () => void } | undefined
  #openWaiters: { resolve: () => void; reject: (err: unknown) => void }[] = []
  readonly #buffer = new Fifo<Outgoing>()
  /** Written, awaiting the broker's confirm; insertion order is write order. */
  readonly #unconfirmed = new Map<string, Unconfirmed>()
  readonly #returned = new Set<string>()
  readonly #calls = new Map<string, PendingCall>()
  readonly #listeners = new Set<AmqpListener>()
  readonly #declaredQueues = new Set<string>()
  readonly #confirmSweep: NodeJS.Timeout

  private constructor(settings: AmqpSettings) {
    this.settings = settings
    this.url = settings.redactedUrl
    this.#confirmSweep = setInterval(() => this.#failOverdueConfirms(), CONFIRM_SWEEP_INTERVAL_MS).unref()
    void this.#connectLoop()
  }

  static fromUrl(url: string): AmqpTransport {
    return new AmqpTransport(parseAmqpUrl(url))
  }

  async listen(target: ServerTarget, handler: MessageHandler, options: ListenOptions): Promise<Listener> {
    checkTarget(target)
    this.#checkUsable()
    const listener = new AmqpListener(this, target, handler, options)
    this.#listeners.add(listener)
    try {
      // Attach unless the connect loop is about to (it attaches every registered listener).
      for (;;) {
        await this.#whenOpen()
        const live = this.#live
        if (!live) continue
        await listener.attach(live.connection)
        if (this.#live === live) return listener
      }
    } catch (err) {
      await listener.stop()
      throw err
    }
  }

  send(target: Target, payload: unknown): Promise<void> {
    return new Promise((resolve, reject) => {
      checkTarget(target)
      const key = targetKey(target)
      this.#submit({
        exchange: this.settings.exchange,
        routingKey: key,
        content: Buffer.from(encode(payload)),
        kind: 'cast',
        mandatory: true,
        properties: { type: 'cast' },
        what: `cast to '${key}'`,
        resolve,
        reject,
      })
    })
  }

  fanout(topic: string, payload: unknown): Promise<void> {
    return new Promise((resolve, reject) => {
      checkTopic(topic)
      this.#submit({
        exchange: fanoutExchangeName(this.settings.exchange),
        routingKey: topic,
        content: Buffer.from(encode(payload)),
        kind: 'fanout',
        // Zero servers listening is not an error for a broadcast.
        mandatory: false,
        properties: { type: 'fanout' },
        what: `fanout to topic '${topic}'`,
        resolve,
        reject,
      })
    })
  }

  request(target: Target, payload: unknown, options: RequestOptions): Promise<unknown> {
    return new Promise((resolve, reject) => {
      checkTarget(target)
      const content = Buffer.from(encode(payload))
      const callId = randomUUID()
      const timer = setTimeout(() => {
        this.#calls.delete(callId)
        reject(timeoutError(target, options))
      }, options.timeoutMs)
      this.#calls.set(callId, { resolve, reject, timer, sent: false })
      this.#submit({
        exchange: this.settings.exchange,
        routingKey: targetKey(target),
        content,
        kind: 'call',
        mandatory: true,
        properties: { type: 'call', correlationId: callId },
        what: `call ${options.label}`,
        callId,
        expiresAtMs: Date.now() + options.timeoutMs,
        resolve: () => undefined,
        reject: (err) => this.#settleCall(callId, err),
      })
    })
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    clearInterval(this.#confirmSweep)
    this.#sleep?.wake()
    for (const listener of [...this.#listeners]) await listener.stop()
    const live = this.#live
    this.#live = undefined
    // Let casts already written get their confirms rather than fail them.
    if (live) await withTimeout(live.channel.waitForConfirms(), CLOSE_TIMEOUT_MS).catch(() => undefined)
    this.#failEverything(deliveryFailure('transport closed', { maybeDelivered: false }))
    if (live) await closeConnection(live.connection)
  }

  // --- ListenerHost ---

  reply(replyTo: string, correlationId: string, body: ReplyBody): void {
    this.#submit({
      exchange: '',
      routingKey: replyTo,
      content: Buffer.from(encodeReply(body)),
      kind: 'reply',
      // The caller may have given up and its reply queue gone: that is fine.
      mandatory: false,
      properties: { correlationId },
      what: `reply to ${replyTo}`,
      resolve: () => undefined,
      reject: (err) => log.warn({ err, correlationId }, 'could not send an RPC reply'),
    })
  }

  recover(reason: string): void {
    if (this.#state !== 'open' || !this.#live) return
    log.warn({ reason }, 'rebuilding the broker connection')
    this.#breakConnection(reason)
  }

  declared(queue: string): void {
    this.#declaredQueues.add(queue)
  }

  stopped(listener: AmqpListener): void {
    this.#listeners.delete(listener)
  }

  // --- test helpers ---

  /**
   * Test only: cuts the TCP connection as a broker crash or a network fault
   * would, without telling the broker first. Affects only this transport.
   */
  dropConnectionForTest(): void {
    this.#breakConnection('connection dropped by test')
  }

  /** True while connected to the broker. */
  get connected(): boolean {
    return this.#state === 'open' && this.#live !== undefined
  }

  /** The topic and server queues this transport declared (fanout and reply queues delete themselves). */
  get declaredQueues(): ReadonlySet<string> {
    return this.#declaredQueues
  }

  /**
   * Test and teardown only: deletes the exchanges and `queues` (by default the
   * ones this transport declared). Other transports using them lose them too,
   * so close those first.
   */
  async deleteTopologyForTest(queues: Iterable<string> = this.#declaredQueues): Promise<void> {
    await this.#whenOpen()
    const channel = await (this.#live as Connected).connection.createChannel()
    try {
      for (const queue of queues) await channel.deleteQueue(queue)
      await channel.deleteExchange(this.settings.exchange)
      await channel.deleteExchange(fanoutExchangeName(this.settings.exchange))
    } finally {
      await channel.close().catch(() => undefined)
    }
  }

  // --- publishing ---

  #submit(out: Outgoing): void {
    if (this.#state === 'closed' || this.#state === 'failed') {
      out.reject(failure(out, `transport is ${this.#state}`, false))
    } else if (this.#live && !this.#waitingForDrain && this.#buffer.length === 0) {
      this.#write(this.#live, out)
    } else if (this.#buffer.length >= limits.rpcPendingCastsMax) {
      out.reject(failure(out, `${limits.rpcPendingCastsMax} messages already wait for the broker`, false))
    } else {
      this.#buffer.push(out)
    }
  }

  #write(live: Connected, out: Outgoing): void {
    let expiration: string | undefined
    if (out.expiresAtMs !== undefined) {
      const remainingMs = out.expiresAtMs - Date.now()
      if (remainingMs <= 0) return // the call already timed out
      expiration = String(remainingMs)
    }
    if (out.callId !== undefined) {
      const call = this.#calls.get(out.callId)
      if (!call) return // the call gave up while buffered
      call.sent = true
    }
    const messageId = `${this.#id}.${++this.#seq}`
    this.#unconfirmed.set(messageId, { out, writtenAtMs: Date.now() })
    const properties: Options.Publish = {
      ...out.properties,
      messageId,
      contentType: 'application/json',
      mandatory: out.mandatory,
      replyTo: out.kind === 'call' ? live.replyQueue : undefined,
      expiration,
    }
    try {
      const ok = live.channel.publish(out.exchange, out.routingKey, out.content, properties, (err) =>
        this.#confirmed(messageId, err),
      )
      if (!ok) this.#awaitDrain(live)
    } catch {
      // The channel is closing under us. This message never left, so it
      // waits in the buffer like any other until the connection is rebuilt.
      this.#unconfirmed.delete(messageId)
      if (out.callId !== undefined) (this.#calls.get(out.callId) as PendingCall).sent = false
      this.#buffer.push(out)
      this.recover('publish channel is closed')
    }
  }

  // amqplib buffers past its high-water mark; stop writing until it drains.
  #awaitDrain(live: Connected): void {
    this.#waitingForDrain = true
    live.channel.once('drain', () => {
      this.#waitingForDrain = false
      this.#flush()
    })
  }

  #flush(): void {
    while (this.#live && !this.#waitingForDrain && this.#buffer.length > 0) {
      this.#write(this.#live, this.#buffer.shift() as Outgoing)
    }
  }

  #confirmed(messageId: string, err: unknown): void {
    const out = this.#unconfirmed.get(messageId)?.out
    if (!out) return
    this.#unconfirmed.delete(messageId)
    if (this.#returned.delete(messageId)) {
      out.reject(failure(out, 'no queue is bound for it', false))
    } else if (err === null || err === undefined) {
      out.resolve()
    } else if (err instanceof Error && err.message === 'message nacked') {
      out.reject(failure(out, 'the broker refused it', false))
    } else {
      out.reject(failure(out, 'connection to the broker lost before it confirmed', true))
    }
  }

  /**
   * A broker blocking publishers (resource alarm) stops confirming without
   * closing the connection: reject what waited longer than
   * `limits.rpcConfirmTimeoutMs` rather than leave its promise pending forever.
   * A confirm arriving later is ignored.
   */
  #failOverdueConfirms(): void {
    const cutoffMs = Date.now() - limits.rpcConfirmTimeoutMs
    for (const [messageId, { out, writtenAtMs }] of this.#unconfirmed) {
      if (writtenAtMs > cutoffMs) break
      this.#unconfirmed.delete(messageId)
      this.#returned.delete(messageId)
      out.reject(failure(out, `the broker did not confirm it within ${limits.rpcConfirmTimeoutMs} ms`, true))
    }
  }

  // --- replies ---

  #onReply(msg: ConsumeMessage | null): void {
    if (msg === null) {
      this.recover('reply queue was deleted')
      return
    }
    const callId = msg.properties.correlationId as string | undefined
    const call = callId === undefined ? undefined : this.#calls.get(callId)
    if (!call || callId === undefined) {
      log.debug({ callId }, 'reply for a call that already gave up')
      return
    }
    this.#calls.delete(callId)
    clearTimeout(call.timer)
    try {
      call.resolve(unwrapReply(JSON.parse(msg.content.toString('utf8'))))
    } catch (err) {
      call.reject(err)
    }
  }

  #settleCall(callId: string, err: unknown): void {
    const call = this.#calls.get(callId)
    if (!call) return
    this.#calls.delete(callId)
    clearTimeout(call.timer)
    call.reject(err)
  }

  // --- connection lifecycle ---

  async #connectLoop(): Promise<void> {
    for (let attempt = 0; attempt <= limits.rpcReconnectMaxAttempts; attempt++) {
      if (attempt > 0) await this.#pause(backoffMs(attempt))
      if (this.#closed) return
      try {
        await this.#connectOnce()
        if (attempt > 0) log.info({ url: this.url, attempt }, 'reconnected to the broker')
        return
      } catch (err) {
        if (this.#closed) return
        log.warn({ err, url: this.url, attempt }, 'cannot connect to the broker')
      }
    }
    this.#giveUp()
  }

  async #connectOnce(): Promise<void> {
    const generation = ++this.#generation
    const connection = await amqp.connect(this.settings.connect, {
      noDelay: true, // small RPC frames must not wait for Nagle
      timeout: limits.rpcConnectTimeoutMs,
      clientProperties: { connection_name: `nimbus-rpc ${process.pid} ${this.#id}` },
    })
    connection.on('error', (err: Error) => log.warn({ err }, 'broker connection error'))
    connection.on('close', () => this.#lost(generation))
    connection.on('blocked', (reason: string) => log.warn({ reason }, 'broker blocked publishing'))
    try {
      const live = await this.#openChannel(connection)
      if (this.#closed) throw new Error('transport closed while connecting')
      for (const listener of this.#listeners) await listener.attach(connection)
      this.#opened(live)
    } catch (err) {
      destroySocket(connection, new Error('connect failed'))
      throw err
    }
  }

  async #openChannel(connection: ChannelModel): Promise<Connected> {
    const { exchange } = this.settings
    const channel = await connection.createConfirmChannel()
    channel.on('error', (err: Error) => log.warn({ err }, 'broker publish channel error'))
    channel.on('return', (msg: ConsumeMessage) => this.#returned.add(msg.properties.messageId as string))
    channel.on('close', () => {
      if (this.#live?.channel === channel) this.recover('publish channel closed')
    })
    await declareExchanges(channel, exchange)
    const replyQueue = `${exchange}.reply.${randomUUID()}`
    await channel.assertQueue(replyQueue, { exclusive: true, autoDelete: true, durable: false })
    await channel.consume(replyQueue, (msg) => this.#onReply(msg), { noAck: true })
    return { connection, channel, replyQueue }
  }

  /**
   * Destroys the socket: amqplib then fails unconfirmed publishes and emits
   * 'close', which starts the reconnect loop (`#lost`). From here on, new
   * publishes are buffered rather than written to the dying connection.
   */
  #breakConnection(reason: string): void {
    const live = this.#live
    this.#live = undefined
    if (live) destroySocket(live.connection, new Error(reason))
  }

  #opened(live: Connected): void {
    this.#live = live
    this.#state = 'open'
    const waiters = this.#openWaiters
    this.#openWaiters = []
    for (const waiter of waiters) waiter.resolve()
    this.#flush()
  }

  #lost(generation: number): void {
    if (generation !== this.#generation || this.#state !== 'open') return
    log.warn({ url: this.url }, 'lost the broker connection; reconnecting')
    this.#state = 'connecting'
    this.#live = undefined
    this.#waitingForDrain = false
    this.#returned.clear()
    // amqplib has already failed the unconfirmed publishes ('channel closed');
    // anything left over is failed the same way.
    for (const messageId of [...this.#unconfirmed.keys()])
      this.#confirmed(messageId, new Error('connection lost'))
    for (const [callId, call] of this.#calls) {
      if (call.sent) {
        this.#settleCall(
          callId,
          deliveryFailure('connection to the broker lost while waiting for the reply', {
            maybeDelivered: true,
          }),
        )
      }
    }
    for (const listener of this.#listeners) listener.detach()
    void this.#connectLoop()
  }

  #giveUp(): void {
    if (this.#state === 'closed') return
    this.#state = 'failed'
    log.error(
      { url: this.url, attempts: limits.rpcReconnectMaxAttempts },
      'giving up on the broker: RPC transport is down',
    )
    this.#failEverything(
      deliveryFailure(`broker unreachable after ${limits.rpcReconnectMaxAttempts} reconnect attempts`, {
        maybeDelivered: false,
      }),
    )
  }

  /** Rejects buffered publishes, pending calls and `listen`s waiting for a connection. */
  #failEverything(err: unknown): void {
    for (const out of this.#buffer.drain()) out.reject(err)
    for (const messageId of [...this.#unconfirmed.keys()])
      this.#confirmed(messageId, new Error('transport closed'))
    for (const callId of [...this.#calls.keys()]) this.#settleCall(callId, err)
    const waiters = this.#openWaiters
    this.#openWaiters = []
    for (const waiter of waiters) waiter.reject(err)
  }

  /** Resolves once connected (at once if already); rejects if the transport is closed or down. */
  #whenOpen(): Promise<void> {
    if (this.connected) return Promise.resolve()
    if (this.#state === 'closed' || this.#state === 'failed') {
      return Promise.reject(deliveryFailure(`transport is ${this.#state}`, { maybeDelivered: false }))
    }
    return new Promise((resolve, reject) => this.#openWaiters.push({ resolve, reject }))
  }

  // A getter, not a field test: TypeScript would narrow `#state` across awaits.
  get #closed(): boolean {
    return this.#state === 'closed'
  }

  #checkUsable(): void {
    if (this.#state === 'closed' || this.#state === 'failed') {
      throw deliveryFailure(`transport is ${this.#state}`, { maybeDelivered: false })
    }
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer)
        this.#sleep = undefined
        resolve()
      }
      const timer = setTimeout(wake, ms)
      this.#sleep = { timer, wake }
    })
  }
}

/**
 * Why a message failed. `maybeDelivered` tells the caller whether the broker
 * may hold it anyway (written, then the outcome was lost).
 */
function failure(out: Outgoing, reason: string, maybeDelivered: boolean): NimbusError {
  return deliveryFailure(`${out.what} failed: ${reason}`, { maybeDelivered })
}

/** Delay before reconnect attempt `attempt` (1-based): doubling from the initial delay up to the maximum. */
function backoffMs(attempt: number): number {
  const base = Math.min(limits.rpcReconnectInitialDelayMs * 2 ** (attempt - 1), limits.rpcReconnectMaxDelayMs)
  return Math.round(base * (1 - RECONNECT_JITTER_RATIO + 2 * RECONNECT_JITTER_RATIO * Math.random()))
}

// amqplib keeps the socket on its (untyped) Connection object.
function destroySocket(model: ChannelModel, err: Error): void {
  const stream = (model.connection as unknown as { stream?: Socket }).stream
  stream?.destroy(err)
}

async function closeConnection(connection: ChannelModel): Promise<void> {
  try {
    await withTimeout(connection.close(), CLOSE_TIMEOUT_MS)
  } catch {
    destroySocket(connection, new Error('close timed out'))
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
