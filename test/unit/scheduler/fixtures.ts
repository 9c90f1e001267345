import type { FlavorSpec, HostState, RequestSpec, ServerGroupSpec } from '../../../src/scheduler/types.ts'

/** An 8 GB, 8-core, 100 GB KVM host that is up, enabled, empty and uses 1.0 ratios. */
export function host(name: string, overrides: Partial<HostState> = {}): HostState {
  return {
    host: name,
    nodename: name,
    availabilityZone: 'nova',
    serviceUp: true,
    serviceDisabled: false,
    serviceDisabledReason: null,
    totalMemoryMb: 8192,
    usedMemoryMb: 0,
    totalVcpus: 8,
    usedVcpus: 0,
    totalDiskGb: 100,
    usedDiskGb: 0,
    cpuAllocationRatio: 1.0,
    ramAllocationRatio: 1.0,
    diskAllocationRatio: 1.0,
    reservedMemoryMb: 0,
    reservedDiskGb: 0,
    instanceUuids: [],
    failedBuilds: 0,
    hypervisorType: 'kvm',
    hypervisorVersion: 8_002_000,
    cpuArch: 'x86_64',
    supportedVmModes: ['hvm'],
    ...overrides,
  }
}

/** m1.small-like: 2048 MB, 1 vCPU, 20 GB root. */
export function flavor(overrides: Partial<FlavorSpec> = {}): FlavorSpec {
  return {
    id: '2',
    name: 'm1.small',
    memoryMb: 2048,
    vcpus: 1,
    rootGb: 20,
    ephemeralGb: 0,
    swapMb: 0,
    extraSpecs: {},
    ...overrides,
  }
}

/** A request for one instance (`inst-1`) of `flavor()` from an image that asks nothing. */
export function spec(overrides: Partial<RequestSpec> = {}): RequestSpec {
  return {
    instanceUuids: ['inst-1'],
    projectId: 'project-1',
    flavor: flavor(),
    image: { id: 'image-1', properties: {}, minRamMb: 0, minDiskGb: 0, sizeBytes: 1024 },
    availabilityZone: undefined,
    schedulerHints: {},
    instanceGroup: undefined,
    ignoreHosts: [],
    forceHost: undefined,
    ...overrides,
  }
}

export function group(overrides: Partial<ServerGroupSpec> = {}): ServerGroupSpec {
  return { id: 'group-1', policy: 'affinity', hosts: [], members: [], ...overrides }
}

/** Instance uuids `inst-1` .. `inst-n`. */
export function uuids(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `inst-${i + 1}`)
}
