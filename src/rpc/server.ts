import { runInBackground, runWithContext, type RequestContext } from '../common/context.ts'
import { NimbusError } from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import { logger } from '../common/log.ts'
import { NoSuchMethod } from './errors.ts'
import { parseRpcMessage, type RpcMessage } from './message.ts'
import type { IncomingMessage, Listener, MessageKind, ServerTarget, Transport } from './transport.ts'
import { checkTarget } from './wire.ts'

const log = logger('rpc.server')

/** One RPC method: gets the caller's context and arguments, resolves with a JSON result. */
// `any` args: each endpoint declares its own argument type; the wire cannot check it.
export type Endpoint = (ctx: RequestContext, args: any) => Promise<unknown>

/**
 * The receiving side of RPC, like oslo.messaging's RPCServer: consumes the
 * topic's shared queue, `topic.<server>` and the topic's fanout, and
 * dispatches each message to the endpoint method of the same name inside the
 * caller's request context (so log lines carry its request id).
 *
 * `endpoints` is any object (typically a manager instance): its own and
 * inherited methods are the RPC methods, except `constructor` and names
 * starting with `_`.
 */
export class RpcServer {
  readonly #transport: Transport
  readonly #target: ServerTarget
  readonly #methods: ReadonlyMap<string, Endpoint>
  #listener: Listener | undefined
  #inFlight = 0
  #idleWaiters: (() => void)[] = []

  constructor(transport: Transport, target: ServerTarget, endpoints: object) {
    checkTarget(target)
    this.#transport = transport
    this.#target = { topic: target.topic, server: target.server }
    this.#methods = endpointMethods(endpoints)
  }

  /** Handlers running now. */
  get inFlight(): number {
    return this.#inFlight
  }

  /** Starts consuming; resolves once messages can arrive. */
  async start(): Promise<void> {
    if (this.#listener) return
    this.#listener = await this.#transport.listen(this.#target, (message) => this.#dispatch(message), {
      concurrency: limits.rpcServerConcurrency,
    })
    log.info({ topic: this.#target.topic, server: this.#target.server }, 'RPC server started')
  }

  /**
   * Stops consuming (messages not yet started go back to the queue), then
   * waits for running handlers, at most `limits.shutdownGraceMs`.
   */
  async stop(): Promise<void> {
    const listener = this.#listener
    this.#listener = undefined
    await listener?.stop()
    if (!(await this.#waitIdle(limits.shutdownGraceMs))) {
      log.warn(
        { topic: this.#target.topic, server: this.#target.server, inFlight: this.#inFlight },
        'RPC server stopped with handlers still running after the shutdown grace period',
      )
    }
  }

  // Not async: one promise fewer per message, and a malformed message still
  // rejects because the transport awaits this inside its try.
  #dispatch(message: IncomingMessage): Promise<unknown> {
    const rpc = parseRpcMessage(message.payload)
    // Background work: a database that went away is waited for longer than
    // in an API request, so a build survives a database restart.
    return runWithContext(rpc.ctx, () => runInBackground(() => this.#invoke(rpc, message.kind)))
  }

  async #invoke(rpc: RpcMessage, kind: MessageKind): Promise<unknown> {
    this.#inFlight++
    try {
      const endpoint = this.#methods.get(rpc.method)
      if (!endpoint) {
        throw new NoSuchMethod(`topic '${this.#target.topic}' has no RPC method '${rpc.method}'`, {
          method: rpc.method,
        })
      }
      return await endpoint(rpc.ctx, rpc.args)
    } catch (err) {
      // A call's caller gets the error; nobody waits on a cast, so its error
      // is only logged (with the request id, from the context).
      if (kind !== 'call') {
        log.error({ err, method: rpc.method, kind }, 'RPC cast handler failed')
        return undefined
      }
      if (!(err instanceof NimbusError))
        log.error({ err, method: rpc.method }, 'RPC call handler raised an untyped error')
      throw err
    } finally {
      if (--this.#inFlight === 0) this.#wakeIdle()
    }
  }

  #waitIdle(graceMs: number): Promise<boolean> {
    if (this.#inFlight === 0) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), graceMs)
      this.#idleWaiters.push(() => {
        clearTimeout(timer)
        resolve(true)
      })
    })
  }

  #wakeIdle(): void {
    const waiters = this.#idleWaiters
    this.#idleWaiters = []
    for (const wake of waiters) wake()
  }
}

/** The callable methods of `endpoints`, bound to it, walking the prototype chain up to Object. */
function endpointMethods(endpoints: object): ReadonlyMap<string, Endpoint> {
  const methods = new Map<string, Endpoint>()
  for (let proto: object | null = endpoints; proto && proto !== Object.prototype;) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === 'constructor' || name.startsWith('_') || methods.has(name)) continue
      // Read the descriptor, not the property: listing must not run getters.
      const value: unknown = Object.getOwnPropertyDescriptor(proto, name)?.value
      if (typeof value === 'function') methods.set(name, value.bind(endpoints) as Endpoint)
    }
    proto = Object.getPrototypeOf(proto) as object | null
  }
  return methods
}
