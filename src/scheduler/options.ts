/**
 * The scheduler's knobs, named after Nova's `[filter_scheduler]` and
 * `[DEFAULT]` options. The service wiring maps the config file onto
 * `SchedulerOptions`; anything it leaves out takes the default below.
 */
export interface SchedulerOptions {
  /** Filters in the order they run (Nova's `enabled_filters`). */
  readonly enabledFilters: readonly string[]
  /** Weighers to apply (Nova's `weight_classes`). */
  readonly enabledWeighers: readonly string[]
  /** `ram_weight_multiplier`: positive spreads by free RAM, negative stacks. */
  readonly ramWeightMultiplier: number
  /** `cpu_weight_multiplier`: positive spreads by free vCPUs, negative stacks. */
  readonly cpuWeightMultiplier: number
  /** `disk_weight_multiplier`: positive spreads by free disk, negative stacks. */
  readonly diskWeightMultiplier: number
  /**
   * `build_failure_weight_multiplier`, with Nova's sign: a positive value
   * pushes hosts with recent build failures down (the weigher negates it).
   */
  readonly buildFailureWeightMultiplier: number
  /** `soft_affinity_weight_multiplier` (>= 0). */
  readonly softAffinityWeightMultiplier: number
  /** `soft_anti_affinity_weight_multiplier` (>= 0). */
  readonly softAntiAffinityWeightMultiplier: number
  /** `host_subset_size`: pick at random among this many best hosts (1 = always the best). */
  readonly hostSubsetSize: number
  /** `shuffle_best_same_weighed_hosts`: break ties among the best hosts at random. */
  readonly shuffleBestSameWeighedHosts: boolean
  /** `image_properties_default_architecture`: assumed when an image names none. */
  readonly imagePropertiesDefaultArchitecture?: string | undefined
  /**
   * `initial_*_allocation_ratio`: used for a host that reports no ratio
   * (0 or missing), as Nova's ComputeNode object does.
   */
  readonly initialCpuAllocationRatio: number
  readonly initialRamAllocationRatio: number
  readonly initialDiskAllocationRatio: number
}

/** Nova's default `build_failure_weight_multiplier`: one failure outweighs any resource weigher. */
export const BUILD_FAILURE_WEIGHT_MULTIPLIER_DEFAULT = 1_000_000

/**
 * Nova's initial allocation ratios since 2023.1 (Zed itself shipped 16.0 CPU
 * and 1.5 RAM; upstream lowered them because that overcommit hurt ordinary
 * workloads).
 */
export const INITIAL_CPU_ALLOCATION_RATIO = 4.0
export const INITIAL_RAM_ALLOCATION_RATIO = 1.0
export const INITIAL_DISK_ALLOCATION_RATIO = 1.0

/**
 * Default filter order. Nova (with placement) enables only ComputeFilter,
 * ComputeCapabilitiesFilter, ImagePropertiesFilter and the group filters;
 * Nimbus has no placement service, so the zone and resource filters that
 * placement replaced are on. ComputeFilter runs first so a down host is
 * reported as down, not as full.
 */
export const DEFAULT_ENABLED_FILTERS: readonly string[] = [
  'ComputeFilter',
  'AvailabilityZoneFilter',
  'RamFilter',
  'CoreFilter',
  'DiskFilter',
  'ImagePropertiesFilter',
  'ServerGroupAntiAffinityFilter',
  'ServerGroupAffinityFilter',
  'SameHostFilter',
  'DifferentHostFilter',
]

/** Every weigher, like Nova's `weight_classes = nova.scheduler.weights.all_weighers`. */
export const DEFAULT_ENABLED_WEIGHERS: readonly string[] = [
  'RAMWeigher',
  'CPUWeigher',
  'DiskWeigher',
  'ServerGroupSoftAffinityWeigher',
  'ServerGroupSoftAntiAffinityWeigher',
  'BuildFailureWeigher',
]

export const DEFAULT_SCHEDULER_OPTIONS: SchedulerOptions = {
  enabledFilters: DEFAULT_ENABLED_FILTERS,
  enabledWeighers: DEFAULT_ENABLED_WEIGHERS,
  ramWeightMultiplier: 1.0,
  cpuWeightMultiplier: 1.0,
  diskWeightMultiplier: 1.0,
  buildFailureWeightMultiplier: BUILD_FAILURE_WEIGHT_MULTIPLIER_DEFAULT,
  softAffinityWeightMultiplier: 1.0,
  softAntiAffinityWeightMultiplier: 1.0,
  hostSubsetSize: 1,
  shuffleBestSameWeighedHosts: false,
  imagePropertiesDefaultArchitecture: undefined,
  initialCpuAllocationRatio: INITIAL_CPU_ALLOCATION_RATIO,
  initialRamAllocationRatio: INITIAL_RAM_ALLOCATION_RATIO,
  initialDiskAllocationRatio: INITIAL_DISK_ALLOCATION_RATIO,
}
