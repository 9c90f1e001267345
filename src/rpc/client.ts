import type { RequestContext } from '../common/context.ts'
import { Invalid } from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import type { RpcMessage } from './message.ts'
import type { Target, Transport } from './transport.ts'
import { checkTarget } from './wire.ts'

/** setTimeout's largest delay (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2_147_483_647

export interface RpcClientOptions {
  readonly topic: string
  /** Send to `topic.<server>` instead of any server of the topic. */
  readonly server?: string | undefined
  /** Time a `call` waits for its reply; default `limits.rpcCallTimeoutMs` (read at call time). */
  readonly timeoutMs?: number | undefined
}

export interface PrepareOptions {
  readonly server?: string | undefined
  readonly timeoutMs?: number | undefined
}

/**
 * The sending side of RPC, like oslo.messaging's RPCClient: `cast` is
 * fire-and-forget, `call` waits for the result, `fanout` reaches every server
 * of the topic. Immutable: `prepare` returns a new client.
 */
export class RpcClient {
  readonly #transport: Transport
  readonly #options: RpcClientOptions

  constructor(transport: Transport, options: RpcClientOptions) {
    checkTarget(options)
    const { timeoutMs } = options
    if (
      timeoutMs !== undefined &&
      !(Number.isFinite(timeoutMs) && timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS)
    ) {
      throw new Invalid(`RPC timeoutMs must be between 1 and ${MAX_TIMER_MS}, got ${timeoutMs}`)
    }
    this.#transport = transport
    this.#options = { ...options }
  }

  get topic(): string {
    return this.#options.topic
  }

  get server(): string | undefined {
    return this.#options.server
  }

  /** A client for the same topic with some options replaced, e.g. `prepare({ server: host })`. */
  prepare(options: PrepareOptions): RpcClient {
    return new RpcClient(this.#transport, {
      ...this.#options,
      ...(options.server !== undefined ? { server: options.server } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    })
  }

  /** Resolves once the transport accepted the message; the handler's outcome is not reported. */
  cast(ctx: RequestContext, method: string, args: object = {}): Promise<void> {
    return this.#transport.send(this.#target(), message(ctx, method, args))
  }

  /**
   * Resolves with the handler's result; rejects with the handler's typed error
   * (unknown classes as RemoteError) or MessagingTimeout after `timeoutMs`.
   */
  async call<T>(ctx: RequestContext, method: string, args: object = {}): Promise<T> {
    // Clamped: a longer timer would fire at once (Node turns it into 1 ms).
    const timeoutMs = Math.min(this.#options.timeoutMs ?? limits.rpcCallTimeoutMs, MAX_TIMER_MS)
    const label = `'${method}' on topic '${this.#options.topic}'${serverSuffix(this.#options.server)}`
    return (await this.#transport.request(this.#target(), message(ctx, method, args), {
      timeoutMs,
      label,
    })) as T
  }

  /** Casts to every server of the topic (the `server` option is ignored). */
  fanout(ctx: RequestContext, method: string, args: object = {}): Promise<void> {
    return this.#transport.fanout(this.#options.topic, message(ctx, method, args))
  }

  #target(): Target {
    return { topic: this.#options.topic, server: this.#options.server }
  }
}

function message(ctx: RequestContext, method: string, args: object): RpcMessage {
  return { method, ctx, args }
}

function serverSuffix(server: string | undefined): string {
  return server === undefined ? '' : ` (server '${server}')`
}
