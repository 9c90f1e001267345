import type { FlavorSpec, HostState, RequestSpec, ServerGroupSpec } from './types.ts'

/**
 * Arithmetic on HostState shared by filters, weighers and the picker. Host
 * states are immutable: "consuming" a pick returns a new state, so a filter's
 * view of a host is a snapshot the decision record can keep.
 */

export const MB_PER_GB = 1024

/** RAM still free after overcommit: total x ratio - used - reserved (RamFilter). */
export function freeRamMb(host: HostState): number {
  return host.totalMemoryMb * host.ramAllocationRatio - host.usedMemoryMb - host.reservedMemoryMb
}

/** vCPUs still free after overcommit: total x ratio - used (CoreFilter, CPUWeigher). */
export function freeVcpus(host: HostState): number {
  return host.totalVcpus * host.cpuAllocationRatio - host.usedVcpus
}

/** Disk still free after overcommit: total x ratio - used - reserved (DiskFilter). */
export function freeDiskGb(host: HostState): number {
  return host.totalDiskGb * host.diskAllocationRatio - host.usedDiskGb - host.reservedDiskGb
}

/** Physical free RAM, no overcommit: Nova's `HostState.free_ram_mb` (RAMWeigher). */
export function physicalFreeRamMb(host: HostState): number {
  return host.totalMemoryMb - host.usedMemoryMb - host.reservedMemoryMb
}

/** Physical free disk in MB, no overcommit: Nova's `HostState.free_disk_mb` (DiskWeigher). */
export function physicalFreeDiskMb(host: HostState): number {
  return (host.totalDiskGb - host.usedDiskGb - host.reservedDiskGb) * MB_PER_GB
}

/** Local disk one instance of `flavor` takes: root + ephemeral + swap, in GB. */
export function requestedDiskGb(flavor: FlavorSpec): number {
  return flavor.rootGb + flavor.ephemeralGb + flavor.swapMb / MB_PER_GB
}

/** Host names compare case-insensitively, as in Nova's ignore/force host handling. */
export function sameHostName(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase()
}

/** How many of `group`'s members run on `host` (affinity filters and weighers). */
export function groupMembersOnHost(host: HostState, group: ServerGroupSpec): number {
  const members = new Set(group.members)
  return host.instanceUuids.filter((uuid) => members.has(uuid)).length
}

/** Allocation ratios to use when a host reports none. */
export interface InitialRatios {
  readonly initialCpuAllocationRatio: number
  readonly initialRamAllocationRatio: number
  readonly initialDiskAllocationRatio: number
}

/**
 * A host's state with each unset ratio (0, negative or not a number)
 * replaced by the initial ratio, as Nova's ComputeNode does for records
 * written before the compute reported its ratios.
 */
export function withInitialRatios(host: HostState, initial: InitialRatios): HostState {
  const pick = (reported: number, fallback: number): number =>
    Number.isFinite(reported) && reported > 0 ? reported : fallback
  return {
    ...host,
    cpuAllocationRatio: pick(host.cpuAllocationRatio, initial.initialCpuAllocationRatio),
    ramAllocationRatio: pick(host.ramAllocationRatio, initial.initialRamAllocationRatio),
    diskAllocationRatio: pick(host.diskAllocationRatio, initial.initialDiskAllocationRatio),
  }
}

/**
 * The host after it takes one instance of `spec`, so the next pick of a
 * multi-instance request sees less room (Nova's `consume_from_request`).
 * Unlike Nova, swap is consumed too: the DiskFilter counts swap, and a
 * multi-create must not overcommit by it.
 */
export function consumeFromRequest(host: HostState, spec: RequestSpec, instanceUuid: string): HostState {
  const { flavor } = spec
  return {
    ...host,
    usedMemoryMb: host.usedMemoryMb + flavor.memoryMb,
    usedVcpus: host.usedVcpus + flavor.vcpus,
    usedDiskGb: host.usedDiskGb + requestedDiskGb(flavor),
    // The group filters and weighers count members by the host's instances.
    instanceUuids: host.instanceUuids.includes(instanceUuid)
      ? host.instanceUuids
      : [...host.instanceUuids, instanceUuid],
  }
}

/**
 * The request after one instance landed on `host`: the server group (if any)
 * now has that host and that member, so affinity keeps later picks on it and
 * anti-affinity keeps them off it.
 */
export function joinGroup(spec: RequestSpec, host: string, instanceUuid: string): RequestSpec {
  const group = spec.instanceGroup
  if (!group) return spec
  return {
    ...spec,
    instanceGroup: {
      ...group,
      hosts: group.hosts.includes(host) ? group.hosts : [...group.hosts, host],
      // The API normally lists new servers as members already; add them if not.
      members: group.members.includes(instanceUuid) ? group.members : [...group.members, instanceUuid],
    },
  }
}
