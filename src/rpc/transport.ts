import { Invalid } from '../common/errors.ts'
import { AmqpTransport } from './amqp.ts'
import { InprocTransport } from './inproc.ts'

/**
 * The low-level messaging contract. `RpcClient` and `RpcServer` are written
 * against it; `inproc.ts` and `amqp.ts` implement it with the same
 * promises, timeouts and typed errors, so a service behaves the same in
 * embedded mode and distributed mode.
 *
 * Payloads are plain JSON data. Every receiver gets its own copy.
 */

/** Where a cast or call goes: one server of `topic`, or exactly `topic.<server>`. */
export interface Target {
  readonly topic: string
  readonly server?: string | undefined
}

/** What a server listens on: its topic's shared queue, `topic.<server>` and the topic's fanout. */
export interface ServerTarget {
  readonly topic: string
  readonly server: string
}

/** How a message was sent: `call` expects a reply, `cast` and `fanout` do not. */
export type MessageKind = 'cast' | 'call' | 'fanout'

export interface IncomingMessage {
  readonly kind: MessageKind
  /** A private copy of what the sender passed: mutating it affects nobody else. */
  readonly payload: unknown
}

/**
 * Handles one message. For a `call`, the resolved value is the reply and a
 * rejection travels back as the same typed error (see `toWire`/`fromWire`);
 * for a cast or fanout the outcome is only logged.
 */
export type MessageHandler = (message: IncomingMessage) => Promise<unknown>

export interface ListenOptions {
  /** Most handlers of this listener running at once. */
  readonly concurrency: number
}

export interface RequestOptions {
  /** Time to wait for the reply, from the moment `request` is called. */
  readonly timeoutMs: number
  /** Names the request in errors, e.g. `'get_console_output' on topic 'compute'`. */
  readonly label: string
}

/** A running subscription made by `Transport.listen`. */
export interface Listener {
  /**
   * Stops taking messages. Messages this listener received but has not
   * started are handed back (AMQP: requeued for another server). Resolves
   * once no new handler will start; handlers already running go on and their
   * replies are still sent. Idempotent.
   */
  stop(): Promise<void>
}

/** One queue as `nimbus status` shows it (the in-process bus or the broker's answer). */
export interface QueueStat {
  /** Queue name without the AMQP exchange prefix: `topic` or `topic.<server>`. */
  readonly name: string
  /** Messages waiting. */
  readonly depth: number
  /** Listeners consuming from it. */
  readonly consumers: number
}

export interface Transport {
  /** The transport URL with any password masked, for logs. */
  readonly url: string

  /**
   * Subscribes `handler` to `target`: the topic's shared queue (round-robin
   * among every server of the topic), the queue `topic.<server>` and a private
   * fanout queue. Resolves once messages can arrive. At most
   * `options.concurrency` handlers run at once; the handler is never invoked
   * synchronously from a sender's `send`/`request`/`fanout`.
   * Rejects with MessageDeliveryFailure if the transport is closed or down.
   */
  listen(target: ServerTarget, handler: MessageHandler, options: ListenOptions): Promise<Listener>

  /**
   * Cast: delivers `payload` to one server of `target`. Resolves when the
   * transport has accepted the message (AMQP: the broker confirmed it into a
   * queue), not when it is handled. Rejects with PayloadTooLarge above
   * `limits.rpcMaxMessageBytes`, with MessageDeliveryFailure when no queue
   * exists for the target, the transport is closed or down, too many casts
   * are buffered, or the connection was lost before the broker confirmed
   * (`detail.maybeDelivered` is then true). A resolved cast is never dropped
   * silently.
   */
  send(target: Target, payload: unknown): Promise<void>

  /**
   * Delivers a copy of `payload` to every server currently listening on
   * `topic`. Resolves when accepted; zero listeners is not an error. Rejects
   * like `send`.
   */
  fanout(topic: string, payload: unknown): Promise<void>

  /**
   * Call: delivers `payload` to one server of `target` and resolves with the
   * handler's result. Rejects with the handler's typed error, with
   * MessagingTimeout after `options.timeoutMs` (a message still queued then is
   * discarded unhandled), or like `send` if the message cannot be delivered;
   * on AMQP, also with MessageDeliveryFailure if the connection drops while
   * waiting (the handler may or may not have run).
   */
  request(target: Target, payload: unknown, options: RequestOptions): Promise<unknown>

  /**
   * Stops every listener, rejects pending requests and buffered sends with
   * MessageDeliveryFailure and releases the connection. Later calls reject.
   * Idempotent. Call `RpcServer.stop()` first to let handlers finish.
   */
  close(): Promise<void>
}

/**
 * Builds a transport from its URL:
 * - `inproc://` a private in-process bus; `inproc://NAME` the process-wide
 *   bus NAME, shared by every transport created with that name.
 * - `amqp://user:pass@host:port/vhost?exchange=nimbus` RabbitMQ (see docs/rpc.md
 *   for the query parameters). Connects in the background; sends made before
 *   the connection is up are buffered.
 */
export function createTransport(url: string): Transport {
  const scheme = url.slice(0, url.indexOf(':'))
  if (scheme === 'inproc') return InprocTransport.fromUrl(url)
  if (scheme === 'amqp' || scheme === 'amqps') return AmqpTransport.fromUrl(url)
  throw new Invalid(`unsupported transport URL scheme '${scheme}' (expected inproc:// or amqp://)`)
}
