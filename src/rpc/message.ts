import type { RequestContext } from '../common/context.ts'
import { Invalid } from '../common/errors.ts'

/**
 * What an RpcClient puts on the wire and an RpcServer takes off it (oslo's
 * `{method, args, context}`). The transport treats it as opaque JSON.
 */
export interface RpcMessage {
  readonly method: string
  readonly ctx: RequestContext
  readonly args: object
}

/** Checks an incoming payload has the shape an RpcClient sends. */
export function parseRpcMessage(payload: unknown): RpcMessage {
  if (payload === null || typeof payload !== 'object') throw new Invalid('RPC message is not an object')
  const { method, ctx, args } = payload as Record<string, unknown>
  if (typeof method !== 'string' || method === '') throw new Invalid('RPC message has no method')
  if (!isContext(ctx)) throw new Invalid(`RPC message for '${method}' has no valid request context`)
  if (args === null || typeof args !== 'object')
    throw new Invalid(`RPC message for '${method}' has no args object`)
  return { method, ctx, args }
}

function isContext(value: unknown): value is RequestContext {
  if (value === null || typeof value !== 'object') return false
  const ctx = value as Record<string, unknown>
  return typeof ctx.requestId === 'string' && Array.isArray(ctx.roles) && typeof ctx.isAdmin === 'boolean'
}
