import { Invalid, NoValidHost } from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import { runFilters } from './filter.ts'
import { ExcludedHostFilter } from './filters/excluded-host-filter.ts'
import { ForcedHostFilter } from './filters/forced-host-filter.ts'
import { RetryFilter } from './filters/retry-filter.ts'
import { consumeFromRequest, joinGroup, withInitialRatios } from './host-state.ts'
import { DEFAULT_SCHEDULER_OPTIONS, type SchedulerOptions } from './options.ts'
import { DecisionRecorder } from './record.ts'
import { createFilters, createWeighers } from './registry.ts'
import type { DecisionRecord, HostFilter, HostState, HostWeigher, RequestSpec } from './types.ts'
import { weighHosts, type WeighedHost } from './weigh.ts'

/** Everything `selectDestinations` takes besides the request and the hosts; all optional. */
export interface SelectOptions extends Partial<SchedulerOptions> {
  /** Request id written into the decision record (the caller's context). */
  readonly requestId?: string | undefined
  /** Filter instances to use instead of building `enabledFilters` from the registry. */
  readonly filters?: readonly HostFilter[] | undefined
  /** Weigher instances to use instead of building `enabledWeighers` from the registry. */
  readonly weighers?: readonly HostWeigher[] | undefined
  /** Random source in [0, 1) for `host_subset_size` and tie shuffling (default Math.random). */
  readonly random?: (() => number) | undefined
}

/** Where each instance goes, and why. */
export interface Selection {
  /** The host for each of `spec.instanceUuids`, in that order: the caller's own HostState objects. */
  readonly hosts: readonly HostState[]
  readonly record: DecisionRecord
}

/** Key of the DecisionRecord in `NoValidHost.detail`. */
export const DECISION_RECORD_DETAIL_KEY = 'decisionRecord'

/**
 * Picks a host for every instance of `spec` (Nova's FilterScheduler
 * `select_destinations` without placement). For each instance in turn: run
 * the filters, weigh the survivors, take the best (or one of the best
 * `hostSubsetSize` at random), then consume the instance's resources on that
 * host and add it to the server group, so the next pick sees less room and
 * follows (anti-)affinity. Pure: no I/O, inputs untouched.
 *
 * @throws NoValidHost when some instance finds no host. The message is
 *   "No valid host was found. " and one summary per rejecting filter, e.g.
 *   "RamFilter rejected 3 of 3 hosts: needs 4096 MB, most free 2048 MB";
 *   `detail.decisionRecord` holds the full DecisionRecord.
 * @throws Invalid for a request with no instances or more than
 *   `limits.schedulerMaxInstancesPerRequest`, an unknown filter or weigher
 *   name, or a `hostSubsetSize` below 1.
 */
export function selectDestinations(
  spec: RequestSpec,
  hosts: readonly HostState[],
  options: SelectOptions = {},
): Selection {
  const opts = withDefaults(options)
  checkRequest(spec, opts)
  const random = options.random ?? Math.random
  const filters = [...preFilters(spec), ...(spec.forceHost ? [] : (options.filters ?? createFilters(opts)))]
  const weighers = options.weighers ?? createWeighers(opts)

  // Working copies map back to the caller's objects for the answer.
  const callerHost = new Map<HostState, HostState>()
  let candidates = hosts.map((host) => {
    const working = withInitialRatios(host, opts)
    callerHost.set(working, host)
    return working
  })
  const recorder = new DecisionRecorder(options.requestId ?? '', spec, candidates)
  const chosen: HostState[] = []
  let working = spec

  for (const [index, instanceUuid] of spec.instanceUuids.entries()) {
    const { passed, runs } = runFilters(filters, candidates, working, index)
    recorder.addFilterRuns(runs, index)
    if (passed.length === 0) break
    const order = arrange(weighHosts(weighers, passed, working), opts, random)
    recorder.addWeighed(order.weighed, index)
    const best = order.picked.host
    chosen.push(callerHost.get(best) ?? best)
    const consumed = consumeFromRequest(best, working, instanceUuid)
    callerHost.set(consumed, callerHost.get(best) ?? best)
    // As in Nova, the next pick starts from this pick's survivors, chosen host first.
    candidates = [consumed, ...order.rest]
    working = joinGroup(working, best.host, instanceUuid)
  }

  if (chosen.length < spec.instanceUuids.length) {
    const reason = recorder.failureReason(working, chosen.length)
    const record = recorder.build(chosen, reason)
    throw new NoValidHost(`No valid host was found. ${reason}`, { [DECISION_RECORD_DETAIL_KEY]: record })
  }
  return { hosts: chosen, record: recorder.build(chosen) }
}

/** The DecisionRecord a NoValidHost carries (also after an RPC hop), if any. */
export function decisionRecordOf(err: unknown): DecisionRecord | undefined {
  if (!(err instanceof NoValidHost)) return undefined
  return err.detail[DECISION_RECORD_DETAIL_KEY] as DecisionRecord | undefined
}

function withDefaults(options: SelectOptions): SchedulerOptions {
  // An option present but undefined (an unset config key) keeps its default.
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined))
  return { ...DEFAULT_SCHEDULER_OPTIONS, ...given }
}

function checkRequest(spec: RequestSpec, opts: SchedulerOptions): void {
  const count = spec.instanceUuids.length
  if (count === 0) throw new Invalid('scheduling request names no instances')
  if (count > limits.schedulerMaxInstancesPerRequest) {
    throw new Invalid(
      `scheduling request for ${count} instances exceeds scheduler_max_instances_per_request ` +
        `(${limits.schedulerMaxInstancesPerRequest})`,
    )
  }
  if (!Number.isInteger(opts.hostSubsetSize) || opts.hostSubsetSize < 1) {
    throw new Invalid(`host_subset_size must be an integer >= 1, got ${opts.hostSubsetSize}`)
  }
}

/** The pseudo-filters that run before the configured ones, when the request uses them. */
function preFilters(spec: RequestSpec): HostFilter[] {
  const pre: HostFilter[] = []
  if ((spec.excludedHosts ?? []).length > 0) pre.push(new ExcludedHostFilter())
  if (spec.ignoreHosts.length > 0) pre.push(new RetryFilter())
  if (spec.forceHost) pre.push(new ForcedHostFilter())
  return pre
}

interface Arrangement {
  /** Best first (after tie shuffling), for the record. */
  readonly weighed: readonly WeighedHost[]
  readonly picked: WeighedHost
  /** The other hosts, best first. */
  readonly rest: readonly HostState[]
}

/**
 * Nova's `_get_sorted_hosts` after weighing: optionally shuffle the hosts
 * tied for best (less contention when many are equal), then pick at random
 * among the best `hostSubsetSize` (1 = always the best).
 */
function arrange(weighed: readonly WeighedHost[], opts: SchedulerOptions, random: () => number): Arrangement {
  const order = opts.shuffleBestSameWeighedHosts ? shuffleBest(weighed, random) : weighed
  const subset = Math.min(opts.hostSubsetSize, order.length)
  const at = Math.min(Math.floor(random() * subset), subset - 1)
  const picked = order[at]!
  return { weighed: order, picked, rest: order.filter((_, i) => i !== at).map((w) => w.host) }
}

function shuffleBest(weighed: readonly WeighedHost[], random: () => number): WeighedHost[] {
  const top = weighed[0]?.total
  const best = weighed.filter((w) => w.total === top)
  for (let i = best.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[best[i], best[j]] = [best[j]!, best[i]!]
  }
  return [...best, ...weighed.slice(best.length)]
}
