import type { HostState, HostWeigher, RequestSpec } from './types.ts'

/** A host with its total weight and each weigher's contribution (multiplier x normalised weight). */
export interface WeighedHost {
  readonly host: HostState
  readonly total: number
  readonly weights: Readonly<Record<string, number>>
}

/**
 * Nova's `nova.weights.normalize`: maps weights onto 0..1 between `minval`
 * and `maxval` (by default the list's own minimum and maximum). When they
 * are equal every weight becomes 0, so a weigher that cannot tell the hosts
 * apart does not move the order.
 */
export function normalize(weights: readonly number[], minval?: number, maxval?: number): number[] {
  if (weights.length === 0) return []
  const lo = minval ?? Math.min(...weights)
  const hi = maxval ?? Math.max(...weights)
  if (lo === hi) return weights.map(() => 0)
  return weights.map((w) => (w - lo) / (hi - lo))
}

/**
 * Orders `hosts` best first (Nova's `get_weighed_objects`): for each weigher,
 * raw weights are clamped to its bounds, normalised across the hosts,
 * multiplied by its multiplier and added up. Ties keep the input order. One
 * host (or none) is not weighed at all: there is nothing to compare.
 */
export function weighHosts(
  weighers: readonly HostWeigher[],
  hosts: readonly HostState[],
  spec: RequestSpec,
): WeighedHost[] {
  if (hosts.length <= 1) return hosts.map((host) => ({ host, total: 0, weights: {} }))
  const totals = hosts.map(() => 0)
  const contributions = hosts.map((): Record<string, number> => ({}))
  for (const weigher of weighers) {
    const normalised = normalize(rawWeights(weigher, hosts, spec), weigher.minval, weigher.maxval)
    normalised.forEach((weight, i) => {
      // `+ 0` turns -0 (a negative multiplier times 0) into 0 for the record.
      const score = weigher.multiplier * weight + 0
      totals[i]! += score
      contributions[i]![weigher.name] = score
    })
  }
  const weighed = hosts.map((host, i) => ({ host, total: totals[i]!, weights: contributions[i]! }))
  // Array.prototype.sort is stable, like Python's sorted: equal weights keep their order.
  return weighed.sort((a, b) => b.total - a.total)
}

function rawWeights(weigher: HostWeigher, hosts: readonly HostState[], spec: RequestSpec): number[] {
  return hosts.map((host) => {
    let weight = weigher.weigh(host, spec)
    // Nova keeps raw weights within the weigher's bounds before normalising.
    if (weigher.minval !== undefined) weight = Math.max(weight, weigher.minval)
    if (weigher.maxval !== undefined) weight = Math.min(weight, weigher.maxval)
    return weight
  })
}
