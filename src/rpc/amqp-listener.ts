import { randomUUID } from 'node:crypto'
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib'
import { Invalid, PayloadTooLarge } from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import { logger } from '../common/log.ts'
import type { AmqpSettings } from './amqp-url.ts'
import { Fifo } from './fifo.ts'
import type { Listener, ListenOptions, MessageHandler, MessageKind, ServerTarget } from './transport.ts'
import { errorReply, okReply, targetKey, type ReplyBody } from './wire.ts'

const log = logger('rpc.amqp')

/** What a listener needs from its transport. */
export interface ListenerHost {
  readonly settings: AmqpSettings
  /** Publishes a call's reply (buffered across reconnects like any publish). */
  reply(replyTo: string, correlationId: string, body: ReplyBody): void
  /** Something broke under a live connection: rebuild everything. */
  recover(reason: string): void
  /** Remembers a queue this transport declared, for `deleteTopologyForTest`. */
  declared(queue: string): void
  stopped(listener: AmqpListener): void
}

export function sharedQueueName(exchange: string, topic: string): string {
  return `${exchange}.${topic}`
}

export function serverQueueName(exchange: string, target: ServerTarget): string {
  return `${exchange}.${targetKey(target)}`
}

export function fanoutExchangeName(exchange: string): string {
  return `${exchange}.fanout`
}

/**
 * Declares the topic exchange and the fanout exchange (idempotent). Never
 * auto-delete: an exchange that vanished when its last queue went would make
 * the next publish to it a channel error.
 */
export async function declareExchanges(channel: Channel, exchange: string): Promise<void> {
  await channel.assertExchange(exchange, 'topic', { durable: false, autoDelete: false })
  await channel.assertExchange(fanoutExchangeName(exchange), 'direct', { durable: false, autoDelete: false })
}

/**
 * One server's consumers: the topic's shared queue, `topic.<server>` and a
 * private fanout queue, all on one channel whose prefetch bounds what the
 * broker hands over.
 *
 * Ack semantics (at-most-once, as oslo.messaging does for RPC): a message is
 * acked the moment its handler starts, never before (so a message a server
 * received but had no slot for goes back to the queue when the server stops
 * or its connection drops, and another server takes it) and never after (so
 * a handler that crashes, or a connection lost mid-handler, cannot make the
 * broker hand the same `build_and_run_instance` to a second server). Nova's
 * handlers are not idempotent: a build that died half-way shows in the
 * instance's state, a second build of the same instance would fight the first.
 * The one gap AMQP leaves, an ack lost with the connection, is closed for the
 * same process by remembering recently started message ids.
 */
export class AmqpListener implements Listener {
  readonly #host: ListenerHost
  readonly #target: ServerTarget
  readonly #handler: MessageHandler
  readonly #concurrency: number
  /** Delivered but not started: no free handler slot yet. Unacked, so the broker requeues them if we go away. */
  readonly #waiting = new Fifo<ConsumeMessage>()
  readonly #seen = new Set<string>()
  #channel: Channel | undefined
  #attachedTo: ChannelModel | undefined
  #attaching: Promise<void> | undefined
  /** The latest started message whose ack is not yet written (see `#ack`). */
  #ackDue: { channel: Channel; msg: ConsumeMessage } | undefined
  #running = 0
  #stopped = false

  constructor(host: ListenerHost, target: ServerTarget, handler: MessageHandler, options: ListenOptions) {
    this.#host = host
    this.#target = target
    this.#handler = handler
    this.#concurrency = options.concurrency
  }

  /** Declares and consumes on `connection`; once per connection however often it is asked. */
  attach(connection: ChannelModel): Promise<void> {
    if (this.#attachedTo !== connection || !this.#attaching) {
      this.#attachedTo = connection
      this.#attaching = this.#attach(connection)
    }
    return this.#attaching
  }

  /** The connection is gone: forget its channel and the messages it held (the broker requeues them). */
  detach(): void {
    this.#channel = undefined
    this.#attachedTo = undefined
    this.#attaching = undefined
    this.#waiting.drain()
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.#host.stopped(this)
    const channel = this.#channel
    this.#flushAck() // started messages must not be requeued for another server
    this.detach()
    // Closing the channel cancels the consumers, requeues every unacked
    // (waiting) message for the other servers, and deletes the fanout queue.
    if (channel) await channel.close().catch(() => undefined)
  }

  async #attach(connection: ChannelModel): Promise<void> {
    const channel = await connection.createChannel()
    channel.on('error', (err: Error) =>
      log.warn({ err, topic: this.#target.topic }, 'RPC server channel error'),
    )
    channel.on('close', () => this.#channelClosed(channel))
    try {
      await this.#declareAndConsume(channel)
    } catch (err) {
      if (this.#channel === channel) this.#channel = undefined
      await channel.close().catch(() => undefined)
      throw err
    }
    if (this.#stopped || this.#attachedTo !== connection) {
      if (this.#channel === channel) this.#channel = undefined
      await channel.close().catch(() => undefined)
    }
  }

  async #declareAndConsume(channel: Channel): Promise<void> {
    const { exchange, expiresMs } = this.#host.settings
    // Per-consumer prefetch: RabbitMQ's channel-wide ("global") prefetch
    // costs the broker a coordination step per message and measured slower.
    // Messages are acked as they start, so this bounds the messages a server
    // holds unstarted: at most 3 × concurrency, handed back if it stops.
    await channel.prefetch(this.#concurrency, false)
    await declareExchanges(channel, exchange)
    const args = expiresMs === undefined ? {} : { 'x-expires': expiresMs }
    const shared = sharedQueueName(exchange, this.#target.topic)
    const own = serverQueueName(exchange, this.#target)
    const fanout = `${exchange}.${this.#target.topic}.fanout.${randomUUID()}`
    for (const [queue, key] of [
      [shared, this.#target.topic],
      [own, targetKey(this.#target)],
    ] as const) {
      await channel.assertQueue(queue, { durable: false, autoDelete: false, arguments: args })
      await channel.bindQueue(queue, exchange, key)
      this.#host.declared(queue)
    }
    await channel.assertQueue(fanout, { durable: false, exclusive: true, autoDelete: true })
    await channel.bindQueue(fanout, fanoutExchangeName(exchange), this.#target.topic)
    // Current before the first delivery, so its ack and a close are handled.
    this.#channel = channel
    for (const queue of [shared, own, fanout]) {
      await channel.consume(queue, (msg) => this.#onMessage(channel, msg))
    }
  }

  #channelClosed(channel: Channel): void {
    if (this.#channel !== channel) return
    this.detach()
    if (!this.#stopped) this.#host.recover(`RPC server channel for topic '${this.#target.topic}' closed`)
  }

  #onMessage(channel: Channel, msg: ConsumeMessage | null): void {
    if (msg === null) {
      // The broker cancelled the consumer: someone deleted one of our queues.
      if (!this.#stopped) this.#host.recover(`queue for topic '${this.#target.topic}' was deleted`)
      return
    }
    // Left unacked: closing the channel hands it back to the queue.
    if (this.#stopped) return
    // Start in delivery order (waiting ones first): `#ack` relies on it.
    if (this.#running < this.#concurrency && this.#waiting.length === 0) this.#start(channel, msg)
    else this.#waiting.push(msg)
  }

  #start(channel: Channel, msg: ConsumeMessage): void {
    this.#ack(channel, msg)
    const messageId = msg.properties.messageId as string | undefined
    if (messageId !== undefined) {
      if (msg.fields.redelivered && this.#seen.has(messageId)) {
        log.info(
          { messageId, topic: this.#target.topic },
          'dropped a redelivered message this server already ran',
        )
        return
      }
      this.#remember(messageId)
    }
    this.#running++
    void this.#run(msg)
  }

  async #run(msg: ConsumeMessage): Promise<void> {
    const kind = messageKind(msg.properties.type)
    let reply: ReplyBody
    try {
      reply = okReply(await this.#handler({ kind, payload: decodeIncoming(msg) }))
    } catch (err) {
      reply = errorReply(err)
      if (kind !== 'call')
        log.error({ err, topic: this.#target.topic }, 'RPC handler failed for a message with no reply')
    }
    this.#running--
    const { replyTo, correlationId } = msg.properties as { replyTo?: string; correlationId?: string }
    if (kind === 'call' && replyTo && correlationId) this.#host.reply(replyTo, correlationId, reply)
    this.#startWaiting()
  }

  #startWaiting(): void {
    const channel = this.#channel
    while (channel && this.#running < this.#concurrency && this.#waiting.length > 0) {
      this.#start(channel, this.#waiting.shift() as ConsumeMessage)
    }
  }

  /**
   * Acks `msg` and every earlier delivery on its channel with one frame per
   * event-loop turn (`multiple`): messages start in delivery order, so all of
   * them have started. One ack frame per burst instead of one per message
   * roughly doubles what the broker can push through. The ack is late by at
   * most one turn; if the connection drops in that turn the broker redelivers,
   * and `#seen` drops the duplicate.
   */
  #ack(channel: Channel, msg: ConsumeMessage): void {
    const scheduled = this.#ackDue !== undefined
    if (scheduled && this.#ackDue?.channel !== channel) this.#flushAck()
    this.#ackDue = { channel, msg }
    if (!scheduled) setImmediate(() => this.#flushAck())
  }

  #flushAck(): void {
    const due = this.#ackDue
    this.#ackDue = undefined
    try {
      due?.channel.ack(due.msg, true)
    } catch {
      // The channel is gone and the broker requeues; `#seen` catches a redelivery to this server.
    }
  }

  #remember(messageId: string): void {
    this.#seen.add(messageId)
    if (this.#seen.size > limits.rpcSeenMessageIdsMax) {
      this.#seen.delete(this.#seen.values().next().value as string)
    }
  }
}

function messageKind(type: unknown): MessageKind {
  return type === 'call' || type === 'fanout' ? type : 'cast'
}

function decodeIncoming(msg: ConsumeMessage): unknown {
  if (msg.content.length > limits.rpcMaxMessageBytes) {
    throw new PayloadTooLarge(`received an RPC message of ${msg.content.length} bytes`, {
      bytes: msg.content.length,
      limitBytes: limits.rpcMaxMessageBytes,
    })
  }
  try {
    return JSON.parse(msg.content.toString('utf8'))
  } catch {
    throw new Invalid('received an RPC message that is not JSON')
  }
}
