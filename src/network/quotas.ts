import { Invalid } from '../common/errors.ts'
import { overQuota } from './errors.ts'
import type { Kind, Store } from './store.ts'

/**
 * Neutron's quotas (`[quotas]` defaults of neutron.conf): a per-project
 * limit for each resource, -1 meaning unlimited, checked against the
 * project's current count when a resource is created.
 */
export const QUOTA_DEFAULTS: Readonly<Record<string, number>> = {
  network: 100,
  subnet: 100,
  subnetpool: -1,
  port: 500,
  router: 10,
  floatingip: 50,
  security_group: 10,
  security_group_rule: 100,
  rbac_policy: 10,
}

const RESOURCE_KIND: Readonly<Record<string, Kind | undefined>> = {
  network: 'networks',
  subnet: 'subnets',
  port: 'ports',
  router: 'routers',
  floatingip: 'floating_ips',
  security_group: 'security_groups',
  security_group_rule: 'security_group_rules',
}

export class Quotas {
  readonly #store: Store

  constructor(store: Store) {
    this.#store = store
  }

  /** The limits in force for a project: defaults overlaid with its overrides. */
  async limits(projectId: string, store: Store = this.#store): Promise<Record<string, number>> {
    const out: Record<string, number> = { ...QUOTA_DEFAULTS }
    for (const row of await store.quotaOverrides(projectId)) out[row.resource] = row.hard_limit
    return out
  }

  /** Limits, usage and reservations (the `quota_details` extension). */
  async details(
    projectId: string,
  ): Promise<Record<string, { limit: number; used: number; reserved: number }>> {
    const limitsNow = await this.limits(projectId)
    const out: Record<string, { limit: number; used: number; reserved: number }> = {}
    for (const [resource, limit] of Object.entries(limitsNow)) {
      const kind = RESOURCE_KIND[resource]
      const used = kind ? await this.#store.count(kind, projectId) : 0
      out[resource] = { limit, used, reserved: 0 }
    }
    return out
  }

  /** Projects with at least one override, and their limits (`GET /v2.0/quotas`). */
  async listOverridden(): Promise<Record<string, number | string>[]> {
    const projects = [...new Set((await this.#store.quotaOverrides()).map((r) => r.project_id))]
    const out: Record<string, number | string>[] = []
    for (const p of projects) out.push({ ...(await this.limits(p)), project_id: p, tenant_id: p })
    return out
  }

  async update(projectId: string, changes: Record<string, unknown>): Promise<Record<string, number>> {
    const limits: [string, number][] = []
    for (const [resource, value] of Object.entries(changes)) {
      if (!(resource in QUOTA_DEFAULTS))
        throw new Invalid(`Unrecognized attribute(s) '${resource}'`, { type: 'HTTPBadRequest' })
      limits.push([resource, quotaLimit(resource, value)])
    }
    await this.#store.transaction(async (store) => {
      for (const [resource, limit] of limits) await store.setQuota(projectId, resource, limit)
    })
    return this.limits(projectId)
  }

  async reset(projectId: string): Promise<void> {
    await this.#store.deleteQuotas(projectId)
  }

  /** Throws OverQuota when creating `count` more of `resource` would pass the project's limit. */
  async check(projectId: string, resource: string, count: number, store: Store = this.#store): Promise<void> {
    const limit = (await this.limits(projectId, store))[resource] ?? -1
    if (limit < 0) return
    const kind = RESOURCE_KIND[resource]
    if (!kind) return
    const used = await store.count(kind, projectId)
    if (used + count > limit) throw overQuota(resource)
  }

  /**
   * `check` inside the transaction that inserts the resource, under the
   * project's quota lock (held until that transaction ends): concurrent
   * creates, in this process or another, each count the others' rows, so
   * the limit is never over-admitted.
   */
  async checkLocked(store: Store, projectId: string, resource: string, count: number): Promise<void> {
    await store.lockProjectQuota(projectId)
    await this.check(projectId, resource, count, store)
  }
}

/** Neutron's DB_INTEGER_MAX_VALUE: the largest quota limit. */
const QUOTA_LIMIT_MAX = 2 ** 31 - 1

/**
 * A quota limit as Neutron's quota API takes it: an integer (or integral
 * string) from -1 to DB_INTEGER_MAX_VALUE; `null` means unlimited (-1),
 * never 0.
 */
function quotaLimit(resource: string, value: unknown): number {
  if (value === null) return -1
  const integral =
    (typeof value === 'number' && Number.isInteger(value)) ||
    (typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value))
  const n = integral ? Number(value) : NaN
  if (!integral || !Number.isSafeInteger(n) || n < -1 || n > QUOTA_LIMIT_MAX) {
    throw new Invalid(
      `Invalid input for ${resource}. Reason: '${String(value)}' is not a valid integer greater or equal to -1 and not more than ${QUOTA_LIMIT_MAX}.`,
      { type: 'HTTPBadRequest' },
    )
  }
  return n
}
