/**
 * What the scheduler decides with: the request (what is being placed) and
 * each candidate host's state. Shared by the scheduler manager, every filter
 * and weigher, the conductor (which builds the RequestSpec) and the compute
 * resource tracker (whose numbers become HostState). Plain data: both cross
 * RPC as JSON.
 */
export interface FlavorSpec {
  readonly id: string
  readonly name: string
  readonly memoryMb: number
  readonly vcpus: number
  readonly rootGb: number
  readonly ephemeralGb: number
  readonly swapMb: number
  readonly extraSpecs: Readonly<Record<string, string>>
}

export interface ImageSpec {
  readonly id: string
  /** Glance image properties, e.g. `hw_architecture`, `img_hv_type`, `hw_vm_mode`. */
  readonly properties: Readonly<Record<string, string>>
  readonly minRamMb: number
  readonly minDiskGb: number
  readonly sizeBytes: number
}

export type ServerGroupPolicy = 'affinity' | 'anti-affinity' | 'soft-affinity' | 'soft-anti-affinity'

export interface ServerGroupSpec {
  readonly id: string
  readonly policy: ServerGroupPolicy
  /** `max_server_per_host` (microversion 2.64) for anti-affinity; default 1. */
  readonly maxServerPerHost?: number
  /** Hosts that already run a member of the group. */
  readonly hosts: readonly string[]
  readonly members: readonly string[]
}

/** A host a request leaves out, and why (the text the decision record and the fault show). */
export interface ExcludedHost {
  readonly host: string
  readonly reason: string
}

export interface RequestSpec {
  readonly instanceUuids: readonly string[]
  readonly projectId: string
  readonly flavor: FlavorSpec
  readonly image: ImageSpec
  /** Requested zone (`availability_zone`), or undefined for any. */
  readonly availabilityZone?: string | undefined
  /** `os:scheduler_hints`: `same_host`, `different_host` (instance uuids), `group`. */
  readonly schedulerHints: Readonly<Record<string, string | readonly string[]>>
  readonly instanceGroup?: ServerGroupSpec | undefined
  /** Hosts to leave out: earlier failed attempts of this build (reschedule). */
  readonly ignoreHosts: readonly string[]
  /** Hosts to leave out for another stated reason (a move's own host), recorded under `ExcludedHost`. */
  readonly excludedHosts?: readonly ExcludedHost[] | undefined
  /** A host an admin forced (`availability_zone=zone:host`), if any. */
  readonly forceHost?: string | undefined
}

export interface HostState {
  readonly host: string
  readonly nodename: string
  readonly availabilityZone: string
  /** The compute service heartbeats within `service_down_time` and is not forced down. */
  readonly serviceUp: boolean
  readonly serviceDisabled: boolean
  readonly serviceDisabledReason?: string | null | undefined
  readonly totalMemoryMb: number
  /** Memory the host's instances use; `reservedMemoryMb` is separate, do not include it here. */
  readonly usedMemoryMb: number
  readonly totalVcpus: number
  readonly usedVcpus: number
  readonly totalDiskGb: number
  /** Disk the host's instances use (root + ephemeral + swap); `reservedDiskGb` is separate. */
  readonly usedDiskGb: number
  /** Overcommit ratios the compute reports; 0 means unset and takes `initial_*_allocation_ratio`. */
  readonly cpuAllocationRatio: number
  readonly ramAllocationRatio: number
  readonly diskAllocationRatio: number
  /** Memory the operator keeps for the host itself (`reserved_host_memory_mb`). */
  readonly reservedMemoryMb: number
  readonly reservedDiskGb: number
  /** Uuids of the instances on the host (for affinity and same/different host). */
  readonly instanceUuids: readonly string[]
  /** Consecutive build failures on the host (BuildFailureWeigher). */
  readonly failedBuilds: number
  /** libvirt domain type, e.g. `kvm` (also runs `qemu` images) or `qemu` (TCG only); compared case-insensitively. */
  readonly hypervisorType: string
  /** Nova's integer form: three decimal digits per component, 8002000 = 8.2.0; 0 = unknown. */
  readonly hypervisorVersion: number
  /** Canonical architecture, e.g. `x86_64`, `aarch64`. */
  readonly cpuArch: string
  /** `hw_vm_mode` values the hypervisor supports, e.g. `hvm`. */
  readonly supportedVmModes: readonly string[]
}

/** One host's verdict from one filter; `reason` says why with numbers. */
export type FilterVerdict = { readonly pass: true } | { readonly pass: false; readonly reason: string }

export interface HostFilter {
  readonly name: string
  /** True when the filter decides once per request rather than per instance (most do). */
  readonly runOncePerRequest?: boolean
  /** Whether `host` can take one instance of `spec`. Pure: no I/O. */
  hostPasses(host: HostState, spec: RequestSpec): FilterVerdict
  /**
   * One line for a NoValidHost fault when this filter removed hosts, with
   * the numbers, e.g. "RamFilter rejected 3 of 3 hosts: needs 4096 MB, most free 2048 MB".
   */
  summarize(rejected: readonly HostState[], considered: number, spec: RequestSpec): string
}

export interface HostWeigher {
  readonly name: string
  /** Multiplier from config; positive spreads, negative stacks. */
  readonly multiplier: number
  /**
   * Bounds for normalisation (Nova's `minval`/`maxval`): raw weights are
   * clamped to them and they replace the list's own minimum/maximum. The
   * RAM, CPU and disk weighers set `minval: 0`, so a host's share is
   * free / most free rather than a min-max spread.
   */
  readonly minval?: number | undefined
  readonly maxval?: number | undefined
  /** Raw weight of a host (higher = preferred before the multiplier). Pure. */
  weigh(host: HostState, spec: RequestSpec): number
}

/**
 * One filter's run over the candidate hosts for one pick. With several
 * instances there is one run per filter per pick, except filters that run
 * once per request (they appear for instance 0 only). Name lists hold at most
 * `limits.schedulerRecordMaxHosts` entries; the counts are always exact.
 */
export interface FilterRunRecord {
  readonly name: string
  /** Index into `instanceUuids` of the pick this run was for. */
  readonly instanceIndex?: number | undefined
  readonly hostsIn: readonly string[]
  readonly hostsOut: readonly string[]
  readonly hostsInCount?: number | undefined
  readonly hostsOutCount?: number | undefined
  /** host -> reason with numbers */
  readonly reasons: Readonly<Record<string, string>>
}

/** One host's place in the weighed order of one pick. */
export interface WeighedHostRecord {
  readonly host: string
  /** Index into `instanceUuids` of the pick this order was for. */
  readonly instanceIndex?: number | undefined
  readonly total: number
  /** weigher name -> multiplier x normalised weight */
  readonly weights: Readonly<Record<string, number>>
}

/** What the scheduler did for one request, stored in the instance action events. */
export interface DecisionRecord {
  readonly requestId: string
  readonly instanceUuids: readonly string[]
  readonly hostsConsidered: readonly string[]
  readonly hostsConsideredCount?: number | undefined
  /**
   * Every filter run in order, including the pseudo-filters `RetryFilter`
   * (hosts in `ignoreHosts`), `ExcludedHost` (hosts in `excludedHosts`) and
   * `ForcedHost` (an admin's forced host).
   */
  readonly filters: readonly FilterRunRecord[]
  /** Weighed order of each pick, best first, with each weigher's normalised contribution. */
  readonly weighed: readonly WeighedHostRecord[]
  readonly chosen: readonly string[]
  /** Set when an admin forced the host: the filters were skipped, as in Nova. */
  readonly forcedHost?: string | undefined
  /** Set when no valid host: the one-line summary per rejecting filter. */
  readonly failure?: string | undefined
}
