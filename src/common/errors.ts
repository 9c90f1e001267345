/**
 * The typed error hierarchy. Operating errors are thrown as one of these and
 * turned into each API's own error body in exactly one place
 * (`src/service/faults.ts`). Anything else that escapes a handler is a bug and
 * becomes a logged 500.
 *
 * Every class has a stable `name` so errors survive an RPC hop: the server
 * side sends `{ name, message, status, detail }` and the caller rebuilds the
 * same class from `ERROR_CLASSES` (see `fromWire`).
 */
export interface WireError {
  readonly name: string
  readonly message: string
  readonly status: number
  readonly detail?: Record<string, unknown>
}

export class NimbusError extends Error {
  /** HTTP status the API layer answers with. */
  readonly status: number = 500
  /** Extra fields an API may add to its error body (e.g. Neutron's `type`). */
  readonly detail: Record<string, unknown>

  constructor(message: string, detail: Record<string, unknown> = {}) {
    super(message)
    this.name = new.target.name
    this.detail = detail
  }

  toWire(): WireError {
    return { name: this.name, message: this.message, status: this.status, detail: this.detail }
  }
}

/** 400: the request is malformed or a value is out of range. */
export class Invalid extends NimbusError {
  override readonly status: number = 400
}
/** 401: no credentials, or credentials that are not valid. */
export class Unauthorized extends NimbusError {
  override readonly status: number = 401
}
/** 403: authenticated but the policy refuses. */
export class Forbidden extends NimbusError {
  override readonly status: number = 403
}
/** 403: a quota would be exceeded (Nova answers 403 for quota). */
export class OverQuota extends NimbusError {
  override readonly status: number = 403
}
/** 404: the resource (or route) does not exist, or is not visible to the caller. */
export class NotFound extends NimbusError {
  override readonly status: number = 404
}
/** 405: the route exists but not for this method. */
export class MethodNotAllowed extends NimbusError {
  override readonly status: number = 405
}
/** 406: e.g. a microversion outside the supported range. */
export class NotAcceptable extends NimbusError {
  override readonly status: number = 406
}
/** 409: the resource's state or a uniqueness rule refuses the request. */
export class Conflict extends NimbusError {
  override readonly status: number = 409
}
/** 412: a precondition of the request (an `If-Match` revision) does not hold. */
export class PreconditionFailed extends NimbusError {
  override readonly status: number = 412
}
/** 413: the request body is larger than the limit. */
export class PayloadTooLarge extends NimbusError {
  override readonly status: number = 413
}
/** 415: the body's content type is not accepted by this route. */
export class UnsupportedMediaType extends NimbusError {
  override readonly status: number = 415
}
/** 501: the API exists upstream but Nimbus does not implement it. */
export class NotImplemented extends NimbusError {
  override readonly status: number = 501
}
/** 503: a dependency (database, broker, another service) is unavailable. */
export class ServiceUnavailable extends NimbusError {
  override readonly status: number = 503
}
/**
 * 503: the database could not be reached, lost the connection during the
 * statement, or stayed locked/busy (SQLite) longer than its timeout. An
 * operating error, never a bug: the database layer has already retried what
 * was safe to retry (see `src/db/retry.ts`), so the caller may try again
 * later. `detail.retryAfterS` is the Retry-After the APIs answer with;
 * `detail.outcome` is `'not_applied'` when the statement or transaction
 * certainly did not take effect, `'unknown'` when the connection was lost
 * while a write or commit was in flight.
 */
export class DatabaseUnavailable extends ServiceUnavailable {}
/** An RPC `call` got no reply within its timeout. */
export class MessagingTimeout extends NimbusError {
  override readonly status: number = 504
}
/** A cast or call could not be handed to the transport (e.g. broker lost). */
export class MessageDeliveryFailure extends NimbusError {
  override readonly status: number = 503
}
/**
 * An error raised on the far side of an RPC hop whose class this side does
 * not know. `detail.remoteName` keeps the original class name.
 */
export class RemoteError extends NimbusError {
  override readonly status: number = 500
}
/** The scheduler found no host that passes every filter. */
export class NoValidHost extends NimbusError {
  override readonly status: number = 400
}

type ErrorClass = new (message: string, detail?: Record<string, unknown>) => NimbusError

const ERROR_CLASSES = new Map<string, ErrorClass>()

/** Makes a NimbusError subclass rebuildable after an RPC hop. */
export function registerErrorClass(cls: ErrorClass): void {
  ERROR_CLASSES.set(cls.name, cls)
}

for (const cls of [
  NimbusError,
  Invalid,
  Unauthorized,
  Forbidden,
  OverQuota,
  NotFound,
  MethodNotAllowed,
  NotAcceptable,
  Conflict,
  PreconditionFailed,
  PayloadTooLarge,
  UnsupportedMediaType,
  NotImplemented,
  ServiceUnavailable,
  DatabaseUnavailable,
  MessagingTimeout,
  MessageDeliveryFailure,
  RemoteError,
  NoValidHost,
]) {
  registerErrorClass(cls)
}

/** Serialises any thrown value for an RPC reply. */
export function toWire(err: unknown): WireError {
  if (err instanceof NimbusError) return err.toWire()
  const message = err instanceof Error ? err.message : String(err)
  const name = err instanceof Error ? err.name : 'Error'
  return { name: 'RemoteError', message, status: 500, detail: { remoteName: name } }
}

/** Rebuilds a typed error from its wire form; unknown names become RemoteError. */
export function fromWire(wire: WireError): NimbusError {
  const cls = ERROR_CLASSES.get(wire.name)
  if (cls) return new cls(wire.message, wire.detail ?? {})
  return new RemoteError(wire.message, { ...(wire.detail ?? {}), remoteName: wire.name })
}
