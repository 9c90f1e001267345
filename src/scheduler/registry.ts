import { Invalid } from '../common/errors.ts'
import { AvailabilityZoneFilter } from './filters/availability-zone-filter.ts'
import { ComputeFilter } from './filters/compute-filter.ts'
import { CoreFilter } from './filters/core-filter.ts'
import { DifferentHostFilter } from './filters/different-host-filter.ts'
import { DiskFilter } from './filters/disk-filter.ts'
import { ImagePropertiesFilter } from './filters/image-properties-filter.ts'
import { RamFilter } from './filters/ram-filter.ts'
import { SameHostFilter } from './filters/same-host-filter.ts'
import { ServerGroupAffinityFilter } from './filters/server-group-affinity-filter.ts'
import { ServerGroupAntiAffinityFilter } from './filters/server-group-anti-affinity-filter.ts'
import type { SchedulerOptions } from './options.ts'
import type { HostFilter, HostWeigher } from './types.ts'
import { BuildFailureWeigher } from './weighers/build-failure-weigher.ts'
import { CPUWeigher } from './weighers/cpu-weigher.ts'
import { DiskWeigher } from './weighers/disk-weigher.ts'
import { RAMWeigher } from './weighers/ram-weigher.ts'
import { ServerGroupSoftAffinityWeigher } from './weighers/server-group-soft-affinity-weigher.ts'
import { ServerGroupSoftAntiAffinityWeigher } from './weighers/server-group-soft-anti-affinity-weigher.ts'

/**
 * Filters and weighers by the class names Nova's `enabled_filters` and
 * `weight_classes` use, so a config can list them the same way.
 */
type Factory<T> = (opts: SchedulerOptions) => T

export const FILTERS: Readonly<Record<string, Factory<HostFilter>>> = {
  ComputeFilter: () => new ComputeFilter(),
  AvailabilityZoneFilter: () => new AvailabilityZoneFilter(),
  RamFilter: () => new RamFilter(),
  CoreFilter: () => new CoreFilter(),
  DiskFilter: () => new DiskFilter(),
  ImagePropertiesFilter: (o) => new ImagePropertiesFilter(o.imagePropertiesDefaultArchitecture),
  ServerGroupAffinityFilter: () => new ServerGroupAffinityFilter(),
  ServerGroupAntiAffinityFilter: () => new ServerGroupAntiAffinityFilter(),
  SameHostFilter: () => new SameHostFilter(),
  DifferentHostFilter: () => new DifferentHostFilter(),
}

export const WEIGHERS: Readonly<Record<string, Factory<HostWeigher>>> = {
  RAMWeigher: (o) => new RAMWeigher(o.ramWeightMultiplier),
  CPUWeigher: (o) => new CPUWeigher(o.cpuWeightMultiplier),
  DiskWeigher: (o) => new DiskWeigher(o.diskWeightMultiplier),
  BuildFailureWeigher: (o) => new BuildFailureWeigher(o.buildFailureWeightMultiplier),
  ServerGroupSoftAffinityWeigher: (o) => new ServerGroupSoftAffinityWeigher(o.softAffinityWeightMultiplier),
  ServerGroupSoftAntiAffinityWeigher: (o) =>
    new ServerGroupSoftAntiAffinityWeigher(o.softAntiAffinityWeightMultiplier),
}

/** The filters `opts.enabledFilters` names, in that order. Throws Invalid naming an unknown one. */
export function createFilters(opts: SchedulerOptions): HostFilter[] {
  return build('filter', FILTERS, opts.enabledFilters, opts)
}

/** The weighers `opts.enabledWeighers` names, in that order. Throws Invalid naming an unknown one. */
export function createWeighers(opts: SchedulerOptions): HostWeigher[] {
  return build('weigher', WEIGHERS, opts.enabledWeighers, opts)
}

/** Nova's `weight_classes` default, meaning every weigher. */
const ALL_WEIGHERS = 'all_weighers'

/**
 * Names as Nova's config spells them: a bare class name, or a dotted path
 * such as `nova.scheduler.weights.ram.RAMWeigher` (the last part counts);
 * for weighers `nova.scheduler.weights.all_weighers` means all of them.
 */
function expandNames(names: readonly string[], table: Readonly<Record<string, unknown>>): string[] {
  return names.flatMap((name) => {
    const last = name.split('.').pop() ?? name
    return last === ALL_WEIGHERS && table === WEIGHERS ? Object.keys(WEIGHERS) : [last]
  })
}

function build<T>(
  kind: string,
  table: Readonly<Record<string, Factory<T>>>,
  names: readonly string[],
  opts: SchedulerOptions,
): T[] {
  return expandNames(names, table).map((name) => {
    const factory = Object.hasOwn(table, name) ? table[name] : undefined
    if (!factory) {
      throw new Invalid(`unknown scheduler ${kind} '${name}'; known: ${Object.keys(table).join(', ')}`)
    }
    return factory(opts)
  })
}
