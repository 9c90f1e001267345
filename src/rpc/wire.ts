import {
  fromWire,
  Invalid,
  MessageDeliveryFailure,
  MessagingTimeout,
  PayloadTooLarge,
  toWire,
  type NimbusError,
  type WireError,
} from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import type { RequestOptions, Target } from './transport.ts'
import './errors.ts' // registers NoSuchMethod so replies rebuild it

/**
 * What both transports share: name rules, encoding with the size bound, and
 * the reply envelope that carries a result or a typed error.
 */

// Topics are one word so `topic.<server>` can never collide with another
// topic's shared routing key; servers are host names. Neither may hold AMQP
// wildcards (`*`, `#`), which would turn a binding into a pattern.
const TOPIC_PATTERN = /^[A-Za-z0-9_-]{1,64}$/
const SERVER_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/

export function checkTopic(topic: string): void {
  if (!TOPIC_PATTERN.test(topic)) {
    throw new Invalid(`invalid RPC topic '${topic}': use 1-64 letters, digits, '_' or '-'`)
  }
}

export function checkTarget(target: Target): void {
  checkTopic(target.topic)
  if (target.server !== undefined && !SERVER_PATTERN.test(target.server)) {
    throw new Invalid(`invalid RPC server '${target.server}': use 1-128 letters, digits, '_', '-' or '.'`)
  }
}

/** `topic` or `topic.server`: the routing key and, in-process, the queue name. */
export function targetKey(target: Target): string {
  return target.server === undefined ? target.topic : `${target.topic}.${target.server}`
}

/** Serialises a payload to JSON, refusing anything above `limits.rpcMaxMessageBytes`. */
export function encode(payload: unknown): string {
  const json = JSON.stringify(payload ?? null)
  // UTF-8 takes at most 3 bytes per UTF-16 unit: count bytes only when that
  // bound could pass the limit, so small messages skip the extra scan.
  if (json.length * 3 > limits.rpcMaxMessageBytes) {
    const bytes = Buffer.byteLength(json)
    if (bytes > limits.rpcMaxMessageBytes) throw tooLarge(bytes)
  }
  return json
}

function tooLarge(bytes: number): PayloadTooLarge {
  return new PayloadTooLarge(
    `RPC message of ${bytes} bytes is larger than rpc_max_message_bytes (${limits.rpcMaxMessageBytes})`,
    { bytes, limitBytes: limits.rpcMaxMessageBytes },
  )
}

/** The body of a reply: a result (`r`) or a typed error (`e`). */
export type ReplyBody = { readonly r?: unknown } | { readonly e: WireError }

export function okReply(result: unknown): ReplyBody {
  return { r: result }
}

export function errorReply(err: unknown): ReplyBody {
  return { e: toWire(err) }
}

/**
 * Encodes a reply; a result too large to send becomes a PayloadTooLarge error
 * for the caller rather than a silent timeout.
 */
export function encodeReply(body: ReplyBody): string {
  try {
    return encode(body)
  } catch (err) {
    return encode(errorReply(err))
  }
}

/** The reply's result, or throws its typed error. */
export function unwrapReply(body: unknown): unknown {
  if (body !== null && typeof body === 'object' && 'e' in body) throw fromWire((body as { e: WireError }).e)
  return (body as { r?: unknown } | null)?.r
}

export function deliveryFailure(message: string, detail: Record<string, unknown> = {}): NimbusError {
  return new MessageDeliveryFailure(message, detail)
}

/** The same timeout error on every transport. */
export function timeoutError(target: Target, options: RequestOptions): MessagingTimeout {
  return new MessagingTimeout(
    `timed out after ${options.timeoutMs} ms waiting for a reply to ${options.label}`,
    {
      topic: target.topic,
      server: target.server,
      timeoutMs: options.timeoutMs,
    },
  )
}
