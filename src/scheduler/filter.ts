import type { HostFilter, HostState, RequestSpec } from './types.ts'

/** One host a filter turned away, as the host stood then, and why. */
export interface Rejection {
  readonly host: HostState
  readonly reason: string
}

/** One filter's pass over the candidates. */
export interface FilterRun {
  readonly filter: HostFilter
  readonly hostsIn: readonly HostState[]
  readonly rejected: readonly Rejection[]
}

export interface FilterResult {
  readonly passed: readonly HostState[]
  readonly runs: readonly FilterRun[]
}

/**
 * Runs `filters` in order over `hosts` for the `index`-th instance of the
 * request (Nova's `get_filtered_objects`). Filters that decide once per
 * request run for instance 0 only: later picks start from the hosts that
 * passed before, so their verdict still holds. Filtering stops at the first
 * filter that leaves no host, as in Nova; the later ones have nothing to say.
 */
export function runFilters(
  filters: readonly HostFilter[],
  hosts: readonly HostState[],
  spec: RequestSpec,
  index: number,
): FilterResult {
  let passed = hosts
  const runs: FilterRun[] = []
  for (const filter of filters) {
    if (passed.length === 0) break
    if (filter.runOncePerRequest && index > 0) continue
    const run = runFilter(filter, passed, spec)
    runs.push(run)
    const out = new Set(run.rejected.map((r) => r.host))
    passed = passed.filter((host) => !out.has(host))
  }
  return { passed, runs }
}

function runFilter(filter: HostFilter, hosts: readonly HostState[], spec: RequestSpec): FilterRun {
  const rejected: Rejection[] = []
  for (const host of hosts) {
    const verdict = filter.hostPasses(host, spec)
    if (!verdict.pass) rejected.push({ host, reason: verdict.reason })
  }
  return { filter, hostsIn: hosts, rejected }
}
