import { AsyncLocalStorage } from 'node:async_hooks'
import { randomUUID } from 'node:crypto'

/**
 * Who is asking and on behalf of which request. Built by the auth middleware
 * from a token, carried in every RPC message, and read by every log line.
 * Plain data only, so it survives a JSON round trip unchanged.
 */
export interface RequestContext {
  readonly requestId: string
  /** The caller's `X-OpenStack-Request-ID`, kept so requests join across clouds. */
  readonly globalRequestId?: string | undefined
  readonly userId?: string | undefined
  readonly userName?: string | undefined
  readonly userDomainId?: string | undefined
  readonly projectId?: string | undefined
  readonly projectName?: string | undefined
  readonly projectDomainId?: string | undefined
  readonly domainId?: string | undefined
  readonly system?: boolean | undefined
  readonly roles: readonly string[]
  readonly isAdmin: boolean
  readonly authToken?: string | undefined
}

export function newRequestId(): string {
  return `req-${randomUUID()}`
}

/** A context for work no user asked for (periodic tasks, start-up). */
export function adminContext(requestId: string = newRequestId()): RequestContext {
  return { requestId, roles: ['admin'], isAdmin: true, system: true }
}

/** A context with a request id and no identity: before authentication. */
export function anonymousContext(requestId: string = newRequestId()): RequestContext {
  return { requestId, roles: [], isAdmin: false }
}

const storage = new AsyncLocalStorage<RequestContext>()

/** Runs `fn` with `ctx` as the current context (read by the logger). */
export function runWithContext<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run(ctx, fn)
}

/** The context of the current async call chain, if any. */
export function currentContext(): RequestContext | undefined {
  return storage.getStore()
}

/** Replaces the context for the rest of the current async chain (after auth). */
export function enterContext(ctx: RequestContext): void {
  storage.enterWith(ctx)
}

const background = new AsyncLocalStorage<true>()

/**
 * Runs `fn` as background work: an RPC handler or a periodic task, which no
 * HTTP client is waiting on. Such work may wait longer for a dependency that
 * went away (see `limits.dbRetryBackgroundWaitMs`) rather than fail halfway.
 */
export function runInBackground<T>(fn: () => T): T {
  return background.run(true, fn)
}

/** Whether the current async call chain is background work (see `runInBackground`). */
export function inBackground(): boolean {
  return background.getStore() === true
}
