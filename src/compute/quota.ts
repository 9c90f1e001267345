import { OverQuota, registerErrorClass } from '../common/errors.ts'
import type { Queryable } from '../db/schema.ts'
import { countUsage } from './db/instances.ts'
import { countServerGroups } from './db/server-groups.ts'
import { DEFAULT_QUOTA_CLASS, quotaClass, quotaLayers, setQuotaClassLimit } from './db/quotas.ts'
import type { FlavorSnapshot } from './objects.ts'

/**
 * Nova's quota engine with the DB driver, counting usage from the resources
 * themselves (Nova since Pike): instances, cores and ram from the project's
 * non-deleted instances, key pairs from the user's key pairs. Nothing is
 * reserved, so `reserved` is always 0.
 */

/** Nova's resources, in Nova's order (the API lists them in this order). */
export const QUOTA_RESOURCES = [
  'instances',
  'cores',
  'ram',
  'metadata_items',
  'injected_files',
  'injected_file_content_bytes',
  'injected_file_path_bytes',
  'key_pairs',
  'server_groups',
  'server_group_members',
  'fixed_ips',
  'floating_ips',
  'security_groups',
  'security_group_rules',
] as const
export type QuotaResource = (typeof QUOTA_RESOURCES)[number]

/** Config key of each resource's default, where it differs from the resource name. */
const CONFIG_KEYS: Partial<Record<QuotaResource, string>> = {
  injected_file_path_bytes: 'injected_file_path_length',
}
/** Nova-network leftovers: no flag, so unlimited (-1) unless an admin sets them. */
const UNLIMITED_BY_DEFAULT: ReadonlySet<QuotaResource> = new Set([
  'fixed_ips',
  'floating_ips',
  'security_groups',
  'security_group_rules',
])

export interface QuotaDetail {
  readonly limit: number
  readonly in_use: number
  readonly reserved: number
}

/** Nova's TooManyInstances: "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances". */
export class TooManyInstances extends OverQuota {}
registerErrorClass(TooManyInstances)

export class QuotaEngine {
  readonly #defaults: Readonly<Record<string, number>>

  constructor(defaults: Readonly<Record<string, number>>) {
    this.#defaults = defaults
  }

  /** The configured default limit of every resource. */
  #configured(): Record<QuotaResource, number> {
    const out = {} as Record<QuotaResource, number>
    for (const r of QUOTA_RESOURCES) {
      out[r] = UNLIMITED_BY_DEFAULT.has(r) ? -1 : (this.#defaults[CONFIG_KEYS[r] ?? r] ?? -1)
    }
    return out
  }

  /** The configured defaults with each layer's limits of known resources laid over them in order. */
  #merged(...layers: readonly Readonly<Record<string, number>>[]): Record<QuotaResource, number> {
    const out = this.#configured()
    for (const layer of layers) {
      for (const r of QUOTA_RESOURCES) if (layer[r] !== undefined) out[r] = layer[r]
    }
    return out
  }

  /** Defaults in force: the configuration, overridden by the quota class `default` (Nova's get_defaults). */
  async defaults(db: Queryable): Promise<Record<QuotaResource, number>> {
    return this.#merged(await quotaClass(db, DEFAULT_QUOTA_CLASS))
  }

  /** One quota class (Nova's get_class_quotas: the class's limit, else the configured default). */
  async classLimits(db: Queryable, className: string): Promise<Record<QuotaResource, number>> {
    return this.#merged(await quotaClass(db, className))
  }

  /** Sets limits of a quota class; only `default` changes what projects get. */
  async setClassLimits(
    db: Queryable,
    className: string,
    updates: Readonly<Record<string, number>>,
  ): Promise<void> {
    for (const [resource, limit] of Object.entries(updates)) {
      await setQuotaClassLimit(db, className, resource, limit)
    }
  }

  /** Limits in force for a project (defaults, class `default`, project overrides, then user overrides). */
  async limits(db: Queryable, projectId: string, userId?: string): Promise<Record<QuotaResource, number>> {
    const layers = await quotaLayers(db, projectId, userId)
    return this.#merged(layers.classDefault, layers.project, layers.user)
  }

  /** Limits with usage (`in_use`) counted now, as os-quota-sets/detail and limits show them. */
  async usage(
    db: Queryable,
    projectId: string,
    userId?: string,
  ): Promise<Record<QuotaResource, QuotaDetail>> {
    const limits = await this.limits(db, projectId, userId)
    const used = await countUsage(db, projectId, userId)
    // As in Nova, per-user resources (key pairs, group members) report no usage here.
    const inUse: Partial<Record<QuotaResource, number>> = {
      instances: used.instances,
      cores: used.cores,
      ram: used.ram,
      server_groups: await countServerGroups(db, projectId, userId),
    }
    const out = {} as Record<QuotaResource, QuotaDetail>
    for (const r of QUOTA_RESOURCES) out[r] = { limit: limits[r], in_use: inUse[r] ?? 0, reserved: 0 }
    return out
  }

  /**
   * Nova's `check_num_instances_quota`: how many of `minCount..maxCount`
   * instances of `flavor` the project may still create (the most that fit),
   * or TooManyInstances with Nova's message. Run inside the transaction that
   * inserts them, after `lockProjectQuota`, so concurrent creates see each
   * other.
   */
  async checkInstances(
    db: Queryable,
    projectId: string,
    userId: string,
    flavor: FlavorSnapshot,
    minCount: number,
    maxCount: number,
  ): Promise<number> {
    const layers = await quotaLayers(db, projectId, userId)
    const quotas = this.#merged(layers.classDefault, layers.project)
    const userQuotas = layers.user
    const perUser = ['instances', 'cores', 'ram'].some((r) => r in userQuotas)
    const used = await countUsage(db, projectId)
    let limits = { instances: quotas.instances, cores: quotas.cores, ram: quotas.ram }
    let usage = { instances: used.instances, cores: used.cores, ram: used.ram }
    if (perUser) {
      // A user limit applies on top of the project's: check the tighter headroom.
      const userUsed = await countUsage(db, projectId, userId)
      const userLimits = { ...limits, ...userQuotas }
      const projHead = headroomOf(limits, usage)
      const userHead = headroomOf(userLimits, userUsed)
      for (const r of ['instances', 'cores', 'ram'] as const) {
        if (userHead[r] < projHead[r]) {
          limits = { ...limits, [r]: userLimits[r] }
          usage = { ...usage, [r]: userUsed[r] }
        }
      }
    }
    return checkCounts(limits, usage, flavor, minCount, maxCount)
  }
}

type Triple = { instances: number; cores: number; ram: number }
const TRIPLE_KEYS = ['instances', 'cores', 'ram'] as const

function headroomOf(limits: Triple, usage: Triple): Triple {
  const head = (r: keyof Triple) => (limits[r] < 0 ? Number.POSITIVE_INFINITY : limits[r] - usage[r])
  return { instances: head('instances'), cores: head('cores'), ram: head('ram') }
}

function checkCounts(
  limits: Triple,
  usage: Triple,
  flavor: FlavorSnapshot,
  minCount: number,
  maxCount: number,
): number {
  const deltas: Triple = {
    instances: maxCount,
    cores: maxCount * flavor.vcpus,
    ram: maxCount * flavor.memoryMb,
  }
  const overs = TRIPLE_KEYS.filter((r) => limits[r] >= 0 && usage[r] + deltas[r] > limits[r])
  if (overs.length === 0) return maxCount
  // Nova's get_headroom: an unlimited cores/ram quota follows the instances headroom.
  const headroom: Triple = {
    instances: limits.instances - usage.instances,
    cores: limits.cores - usage.cores,
    ram: limits.ram - usage.ram,
  }
  if (limits.cores === -1)
    headroom.cores = deltas.cores
      ? (headroom.instances * deltas.cores) / deltas.instances
      : headroom.instances
  if (limits.ram === -1)
    headroom.ram = deltas.ram ? (headroom.instances * deltas.ram) / deltas.instances : headroom.instances
  if (limits.instances === -1) headroom.instances = Number.POSITIVE_INFINITY
  let allowed = headroom.instances
  if (flavor.vcpus) allowed = Math.min(allowed, Math.floor(headroom.cores / flavor.vcpus))
  if (flavor.memoryMb) allowed = Math.min(allowed, Math.floor(headroom.ram / flavor.memoryMb))
  if (allowed > 0 && minCount <= allowed && allowed <= maxCount) {
    return checkCounts(limits, usage, flavor, minCount, allowed)
  }
  const requested = {
    instances: minCount === maxCount ? String(minCount) : `${minCount}-${maxCount}`,
    cores: String(deltas.cores),
    ram: String(deltas.ram),
  }
  const used = overs.map((r) => String(limits[r] - headroom[r]))
  throw new TooManyInstances(
    `Quota exceeded for ${overs.join(', ')}: Requested ${overs.map((r) => requested[r]).join(', ')}, ` +
      `but already used ${used.join(', ')} of ${overs.map((r) => String(limits[r])).join(', ')} ${overs.join(', ')}`,
    { overs },
  )
}
