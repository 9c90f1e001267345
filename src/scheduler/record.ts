import { limits } from '../common/limits.ts'
import type { FilterRun } from './filter.ts'
import type {
  DecisionRecord,
  FilterRunRecord,
  HostFilter,
  HostState,
  RequestSpec,
  WeighedHostRecord,
} from './types.ts'
import type { WeighedHost } from './weigh.ts'
import { counted } from './text.ts'

/** What one filter did over the whole request, for its NoValidHost summary line. */
interface FilterTally {
  readonly filter: HostFilter
  /** Hosts that reached the filter on its first run: later runs only see fewer. */
  readonly considered: number
  /** host key -> the host as it stood when rejected (later picks may have consumed it). */
  readonly rejected: Map<string, HostState>
}

/**
 * Collects the decision record of one request as the picks happen, and
 * writes the NoValidHost summary from it. Name lists are cut to
 * `limits.schedulerRecordMaxHosts`; counts stay exact.
 */
export class DecisionRecorder {
  readonly #requestId: string
  readonly #spec: RequestSpec
  readonly #hosts: readonly HostState[]
  readonly #filters: FilterRunRecord[] = []
  readonly #weighed: WeighedHostRecord[] = []
  readonly #tallies = new Map<string, FilterTally>()

  constructor(requestId: string, spec: RequestSpec, hosts: readonly HostState[]) {
    this.#requestId = requestId
    this.#spec = spec
    this.#hosts = hosts
  }

  /** Records the filter runs of the pick for instance `index`. */
  addFilterRuns(runs: readonly FilterRun[], index: number): void {
    for (const run of runs) {
      this.#filters.push(filterRunRecord(run, index))
      this.#tally(run)
    }
  }

  /** Records the weighed order of the pick for instance `index`, best first. */
  addWeighed(order: readonly WeighedHost[], index: number): void {
    for (const { host, total, weights } of cap(order)) {
      this.#weighed.push({ host: host.host, instanceIndex: index, total, weights })
    }
  }

  /**
   * The NoValidHost reason: one summary per filter that rejected hosts, in
   * the order the filters ran, then how many instances fit when several
   * were asked for.
   */
  failureReason(spec: RequestSpec, placed: number): string {
    const parts = [...this.#tallies.values()]
      .filter((t) => t.rejected.size > 0)
      .map((t) => t.filter.summarize([...t.rejected.values()], t.considered, spec))
    if (this.#hosts.length === 0) parts.push('There are no compute hosts')
    const wanted = this.#spec.instanceUuids.length
    if (wanted > 1) parts.push(`${placed} of ${counted(wanted, 'instance')} fit`)
    return parts.join('; ')
  }

  build(chosen: readonly HostState[], failure?: string): DecisionRecord {
    return {
      requestId: this.#requestId,
      instanceUuids: this.#spec.instanceUuids,
      hostsConsidered: cap(this.#hosts).map((h) => h.host),
      hostsConsideredCount: this.#hosts.length,
      filters: this.#filters,
      weighed: this.#weighed,
      chosen: chosen.map((h) => h.host),
      // Absent rather than undefined, so the record is the same after a JSON round trip.
      ...(this.#spec.forceHost ? { forcedHost: this.#spec.forceHost } : {}),
      ...(failure === undefined ? {} : { failure }),
    }
  }

  #tally(run: FilterRun): void {
    const { name } = run.filter
    let tally = this.#tallies.get(name)
    if (!tally) {
      tally = { filter: run.filter, considered: run.hostsIn.length, rejected: new Map() }
      this.#tallies.set(name, tally)
    }
    for (const { host } of run.rejected) tally.rejected.set(hostKey(host), host)
  }
}

/** A host's identity: one host may in principle have several nodes (Nova keys by both). */
export function hostKey(host: HostState): string {
  return `${host.host}\u0000${host.nodename}`
}

function filterRunRecord(run: FilterRun, index: number): FilterRunRecord {
  const reasons: Record<string, string> = {}
  for (const { host, reason } of cap(run.rejected)) reasons[host.host] = reason
  return {
    name: run.filter.name,
    instanceIndex: index,
    hostsIn: cap(run.hostsIn).map((h) => h.host),
    hostsOut: cap(run.rejected).map((r) => r.host.host),
    hostsInCount: run.hostsIn.length,
    hostsOutCount: run.rejected.length,
    reasons,
  }
}

function cap<T>(items: readonly T[]): readonly T[] {
  const max = limits.schedulerRecordMaxHosts
  return items.length > max ? items.slice(0, max) : items
}
