import { limits } from '../common/limits.ts'
import { logger } from '../common/log.ts'
import type { Database } from '../db/index.ts'
import type { RevocationEventRow } from '../db/tables/identity.ts'
import { toIso } from '../db/values.ts'
import { newKeystoneId, type ChangeClock } from './common.ts'

const log = logger('identity.revocation')

/** What a revocation event names; every given field must match a token for it to be revoked. */
export interface RevocationCriteria {
  readonly userId?: string | undefined
  readonly projectId?: string | undefined
  /** Matches the user's domain, the project's domain or the scoped domain. */
  readonly domainId?: string | undefined
  readonly auditId?: string | undefined
}

/** A token's values as revocation events see them (Keystone's build_token_values). */
export interface TokenValues {
  readonly userId: string
  readonly userDomainId: string
  readonly projectId: string | undefined
  /** The project's domain, or the scoped domain. */
  readonly assignmentDomainId: string | undefined
  readonly auditId: string
  /** Creation time in whole seconds (the Fernet timestamp), as milliseconds. */
  readonly issuedAtMs: number
}

interface Event extends RevocationCriteria {
  readonly id: string
  readonly issuedBeforeMs: number
  readonly expiresAtMs: number
  readonly revokedAtMs: number
}

/**
 * Keystone's revocation events, kept in memory for a fast check on every
 * validation and stored in the database so that they survive restarts and
 * reach other identity processes (which read new ones every
 * `limits.identityRevocationRefreshMs`). An event lives as long as the
 * longest token it could match, then is pruned.
 */
export class Revocations {
  readonly #db: Database
  readonly #clock: ChangeClock
  readonly #tokenLifetimeMs: number
  readonly #byAudit = new Map<string, Event[]>()
  readonly #byUser = new Map<string, Event[]>()
  readonly #byProject = new Map<string, Event[]>()
  readonly #byDomain = new Map<string, Event[]>()
  readonly #known = new Set<string>()
  #lastRefreshMs = 0
  /** Newest `revoked_at` read from the database: the next refresh reads from a little before it. */
  #watermarkMs = 0
  #refreshing: Promise<void> | undefined

  constructor(db: Database, clock: ChangeClock, tokenLifetimeS: number) {
    this.#db = db
    this.#clock = clock
    this.#tokenLifetimeMs = tokenLifetimeS * 1000
  }

  /** Loads the events that can still match a token. Call once before validating. */
  async load(): Promise<void> {
    await this.#prune()
    await this.#readSince(0)
    this.#lastRefreshMs = Date.now()
  }

  /** Records an event: tokens matching it issued up to now are refused from now on. */
  async revoke(criteria: RevocationCriteria): Promise<void> {
    const now = Date.now()
    const event: Event = {
      id: newKeystoneId(),
      ...criteria,
      issuedBeforeMs: now,
      expiresAtMs: now + this.#tokenLifetimeMs,
      revokedAtMs: now,
    }
    await this.#db.kysely
      .insertInto('revocation_events')
      .values({
        id: event.id,
        user_id: criteria.userId ?? null,
        project_id: criteria.projectId ?? null,
        domain_id: criteria.domainId ?? null,
        audit_id: criteria.auditId ?? null,
        audit_chain_id: null,
        issued_before: toIso(new Date(now)),
        expires_at: toIso(new Date(event.expiresAtMs)),
        revoked_at: toIso(new Date(now)),
      })
      .execute()
    this.#add(event)
    this.#clock.bump()
    log.info({ ...criteria }, 'tokens revoked')
  }

  /** True when an event revokes the token. Synchronous: events are in memory. */
  isRevoked(t: TokenValues): boolean {
    const candidates = [
      this.#byAudit.get(t.auditId),
      this.#byUser.get(t.userId),
      t.projectId ? this.#byProject.get(t.projectId) : undefined,
      this.#byDomain.get(t.userDomainId),
      t.assignmentDomainId ? this.#byDomain.get(t.assignmentDomainId) : undefined,
    ]
    for (const events of candidates) {
      if (events?.some((e) => matches(e, t))) return true
    }
    return false
  }

  /**
   * Reads events other identity processes wrote, at most once every
   * `limits.identityRevocationRefreshMs`; concurrent callers share one read.
   */
  refreshIfDue(): Promise<void> | undefined {
    // Synchronous when not due: this runs on every validation.
    if (Date.now() - this.#lastRefreshMs < limits.identityRevocationRefreshMs) return undefined
    this.#refreshing ??= this.#refresh().finally(() => {
      this.#refreshing = undefined
    })
    return this.#refreshing
  }

  async #refresh(): Promise<void> {
    this.#lastRefreshMs = Date.now()
    // Clocks of two writers may disagree a little: re-read a margin before the newest event seen.
    const before = this.#known.size
    await this.#readSince(this.#watermarkMs - limits.identityRevocationRefreshMs * 10)
    if (this.#known.size !== before) this.#clock.bump()
  }

  async #readSince(ms: number): Promise<void> {
    const rows = await this.#db.kysely
      .selectFrom('revocation_events')
      .selectAll()
      .where('revoked_at', '>=', toIso(new Date(Math.max(0, ms))))
      .where('expires_at', '>', toIso(new Date()))
      .execute()
    for (const row of rows) {
      if (!this.#known.has(row.id)) this.#add(fromRow(row))
    }
  }

  async #prune(): Promise<void> {
    await this.#db.kysely
      .deleteFrom('revocation_events')
      .where('expires_at', '<=', toIso(new Date()))
      .execute()
  }

  #add(e: Event): void {
    this.#known.add(e.id)
    this.#watermarkMs = Math.max(this.#watermarkMs, e.revokedAtMs)
    // Each event goes in the bucket of its most selective field; `matches` checks the rest.
    const [map, key] = e.auditId
      ? [this.#byAudit, e.auditId]
      : e.userId
        ? [this.#byUser, e.userId]
        : e.projectId
          ? [this.#byProject, e.projectId]
          : [this.#byDomain, e.domainId ?? '']
    const list = map.get(key) ?? []
    // Expired events are dropped as new ones arrive in the same bucket.
    const now = Date.now()
    const live = list.filter((x) => x.expiresAtMs > now)
    for (const x of list) if (x.expiresAtMs <= now) this.#known.delete(x.id)
    map.set(key, [...live, e])
  }
}

function matches(e: Event, t: TokenValues): boolean {
  if (t.issuedAtMs > e.issuedBeforeMs) return false
  if (e.auditId !== undefined && e.auditId !== t.auditId) return false
  if (e.userId !== undefined && e.userId !== t.userId) return false
  if (e.projectId !== undefined && e.projectId !== t.projectId) return false
  if (e.domainId !== undefined && e.domainId !== t.userDomainId && e.domainId !== t.assignmentDomainId)
    return false
  return true
}

function fromRow(r: RevocationEventRow): Event {
  return {
    id: r.id,
    userId: r.user_id ?? undefined,
    projectId: r.project_id ?? undefined,
    domainId: r.domain_id ?? undefined,
    auditId: r.audit_id ?? undefined,
    issuedBeforeMs: Date.parse(r.issued_before),
    expiresAtMs: Date.parse(r.expires_at),
    revokedAtMs: Date.parse(r.revoked_at),
  }
}
