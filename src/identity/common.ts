import { randomUUID } from 'node:crypto'
import { Conflict, Forbidden, Invalid, NotFound } from '../common/errors.ts'
import { limits } from '../common/limits.ts'

/**
 * Small pieces every identity module shares: Keystone-style ids, Keystone's
 * error messages, the `extra` attribute bag, and the change clock that tells
 * caches something changed.
 */

/** A new Keystone id: uuid4 hex without dashes (Fernet payloads pack it into 16 bytes). */
export function newKeystoneId(): string {
  return randomUUID().replace(/-/g, '')
}

/** Keystone's 404 wording: "Could not find project: <id>." */
export function notFound(kind: string, id: string): NotFound {
  return new NotFound(`Could not find ${kind}: ${id}.`)
}

/** Keystone's 409 wording: "Conflict occurred attempting to store <kind> - <details>." */
export function conflict(kind: string, details: string): Conflict {
  return new Conflict(`Conflict occurred attempting to store ${kind} - ${details}.`)
}

/** Keystone's ValidationError wording for a missing attribute. */
export function expecting(attribute: string, target: string): Invalid {
  return new Invalid(
    `Expecting to find ${attribute} in ${target}. The server could not comply with the request since it is ` +
      'either malformed or otherwise incorrect. The client is assumed to be in error.',
  )
}

/** Keystone's 403 for refusals that are not security decisions (ForbiddenNotSecurity). */
export function forbidden(message: string): Forbidden {
  return new Forbidden(message)
}

/** True when a database error is a uniqueness violation (translated by the db layer). */
export function isDuplicate(err: unknown): boolean {
  return err instanceof Conflict && err.detail.dbError === 'unique_violation'
}

/** Runs `fn`, turning a uniqueness violation into Keystone's conflict message. */
export async function orConflict<T>(fn: () => Promise<T>, onDuplicate: () => Conflict): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (isDuplicate(err)) throw onDuplicate()
    throw err
  }
}

/** Attributes an entity carries beyond its columns (Keystone keeps whatever the caller sent). */
export type Extra = Readonly<Record<string, unknown>>

export function parseExtra(text: string | null | undefined): Extra {
  if (!text) return {}
  try {
    const v = JSON.parse(text) as unknown
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Extra) : {}
  } catch {
    return {}
  }
}

/** The attributes of `body` that are not in `known`: they go to `extra`. */
export function extraOf(
  body: Readonly<Record<string, unknown>>,
  known: readonly string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(body)) if (!known.includes(k)) out[k] = v
  return out
}

/**
 * A counter bumped on every identity change that can alter a validated
 * token (user, project, domain, role, assignment, revocation). Caches keep
 * the generation they were filled at and drop entries from older ones.
 */
export class ChangeClock {
  #generation = 0

  get generation(): number {
    return this.#generation
  }

  bump(): void {
    this.#generation++
  }
}

/** A list answer bounded by `limits.identityMaxListEntries`: Keystone adds `truncated: true` when it cuts. */
export interface Bounded<T> {
  readonly items: readonly T[]
  readonly truncated: boolean
}

export function bounded<T>(items: readonly T[]): Bounded<T> {
  const max = limits.identityMaxListEntries
  return items.length > max ? { items: items.slice(0, max), truncated: true } : { items, truncated: false }
}

/** Keystone's boolean query values: "0", "false", "no", "off" (any case) are false, anything else true. */
export function queryBool(value: unknown): boolean | undefined {
  if (value === undefined) return undefined
  const s = String(value).toLowerCase()
  return !['0', 'false', 'f', 'no', 'n', 'off'].includes(s)
}

/** Timestamps as Keystone writes them in tokens: `2015-08-27T09:49:58.000000Z`. */
export function keystoneTime(ms: number): string {
  const iso = new Date(ms).toISOString() // 2015-08-27T09:49:58.123Z
  return `${iso.slice(0, 23)}000Z`
}
