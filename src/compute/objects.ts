/**
 * The compute area's data as every layer sees it (Nova's objects): plain,
 * JSON-safe records that cross RPC unchanged. Only `src/compute/db/` turns
 * rows into these and back, so a compute host never needs the database
 * types.
 */

/** A flavor as stored on an instance at boot time (Nova's embedded flavor). */
export interface FlavorSnapshot {
  /** Internal integer id. */
  readonly id: number
  /** Public id (`flavorRef`). */
  readonly flavorid: string
  readonly name: string
  readonly memoryMb: number
  readonly vcpus: number
  readonly rootGb: number
  readonly ephemeralGb: number
  readonly swapMb: number
  readonly rxtxFactor: number
  readonly isPublic: boolean
  readonly disabled: boolean
  readonly description: string | null
  readonly extraSpecs: Readonly<Record<string, string>>
}

/** A flavor as the flavors API manages it. */
export interface Flavor extends FlavorSnapshot {
  readonly vcpuWeight: number | null
  readonly createdAt: string
  readonly updatedAt: string | null
}

/** One requested network of a server create (`networks` list item). */
export interface NetworkRequest {
  /** Absent: the default network. */
  readonly networkId?: string | undefined
  readonly portId?: string | undefined
  readonly address?: string | undefined
  readonly tag?: string | undefined
  /** The MAC the API generated for this NIC. */
  readonly macAddress?: string | undefined
}

/** `networks` of a create: `auto` (default network), `none`, or a list. */
export type RequestedNetworks = 'auto' | 'none' | readonly NetworkRequest[]

export interface Instance {
  /** The database row id (Nova's `instance.id`): the EC2 id `i-%08x` in metadata. */
  readonly id?: number | undefined
  readonly uuid: string
  readonly displayName: string
  readonly displayDescription: string | null
  readonly hostname: string
  readonly projectId: string
  readonly userId: string
  readonly imageRef: string
  readonly flavor: FlavorSnapshot
  readonly vmState: string
  readonly taskState: string | null
  readonly powerState: number
  readonly host: string | null
  readonly node: string | null
  readonly launchedOn: string | null
  readonly availabilityZone: string | null
  readonly scheduledAt: string | null
  readonly launchedAt: string | null
  readonly terminatedAt: string | null
  readonly keyName: string | null
  readonly keyData: string | null
  readonly userData: string | null
  readonly metadata: Readonly<Record<string, string>>
  readonly systemMetadata: Readonly<Record<string, string>>
  readonly configDrive: string
  readonly reservationId: string
  readonly launchIndex: number
  readonly accessIpV4: string | null
  readonly accessIpV6: string | null
  readonly autoDiskConfig: boolean
  readonly progress: number
  readonly rootDeviceName: string | null
  readonly kernelId: string
  readonly ramdiskId: string
  readonly lockedBy: string | null
  readonly securityGroups: readonly string[]
  readonly requestedNetworks: RequestedNetworks
  readonly createdAt: string
  readonly updatedAt: string | null
  readonly deletedAt: string | null
  readonly deleted: boolean
}

/** The fields of an instance a caller may change through `instance_update`. */
export type InstanceUpdates = Partial<
  Pick<
    Instance,
    | 'displayName'
    | 'displayDescription'
    | 'hostname'
    | 'vmState'
    | 'taskState'
    | 'powerState'
    | 'host'
    | 'node'
    | 'launchedOn'
    | 'availabilityZone'
    | 'scheduledAt'
    | 'launchedAt'
    | 'terminatedAt'
    | 'accessIpV4'
    | 'accessIpV6'
    | 'autoDiskConfig'
    | 'progress'
    | 'lockedBy'
    | 'rootDeviceName'
    | 'systemMetadata'
    | 'metadata'
    | 'imageRef'
    | 'keyName'
    | 'keyData'
    | 'userData'
    | 'kernelId'
    | 'ramdiskId'
  >
>

export interface InstanceFault {
  readonly code: number
  readonly message: string
  readonly details: string | null
  readonly host: string | null
  readonly createdAt: string
}

export interface InstanceAction {
  readonly id: string
  readonly action: string
  readonly instanceUuid: string
  readonly requestId: string
  readonly userId: string | null
  readonly projectId: string | null
  readonly startTime: string
  readonly finishTime: string | null
  readonly message: string | null
  readonly updatedAt: string | null
}

export interface InstanceActionEvent {
  readonly event: string
  readonly startTime: string
  readonly finishTime: string | null
  readonly result: string | null
  readonly traceback: string | null
  readonly host: string | null
  readonly details: string | null
}

/** One event operation; `at` is when it happened (default: when it is recorded). */
export type EventOp =
  | { readonly op: 'start'; readonly event: string; readonly at?: string | undefined }
  | {
      readonly op: 'finish'
      readonly event: string
      readonly result: 'Success' | 'Error'
      readonly traceback?: string | null | undefined
      readonly details?: string | null | undefined
      readonly at?: string | undefined
    }

export interface KeyPair {
  readonly id: number
  readonly name: string
  readonly userId: string
  readonly fingerprint: string
  readonly publicKey: string
  readonly type: 'ssh' | 'x509'
  readonly createdAt: string
  readonly updatedAt: string | null
}

/** One address of a server as `addresses` shows it: a port's fixed IP or a floating IP associated with it. */
export interface FixedIp {
  readonly networkId: string
  readonly networkLabel: string
  readonly address: string
  readonly macAddress: string
  readonly version: 4 | 6
  /** `OS-EXT-IPS:type`; fixed when absent. */
  readonly type?: 'fixed' | 'floating' | undefined
}

/** One fixed IP of a VIF, with the floating IPs associated with it. */
export interface VifIp {
  readonly address: string
  readonly version: 4 | 6
  readonly subnetId: string
  readonly floatingIps: readonly string[]
}

/**
 * One port of an instance as its network info cache keeps it (Nova's
 * network model VIF): what the host plugs and what the API shows.
 */
export interface VifInfo {
  readonly portId: string
  readonly networkId: string
  readonly networkLabel: string
  readonly macAddress: string
  readonly fixedIps: readonly VifIp[]
  /** The guest interface name the host creates (`tap` + port id head). */
  readonly devname: string
  /** The Linux bridge the tap goes on. */
  readonly bridge: string
  readonly mtu: number
  /** The port existed before the instance used it: deallocation unbinds it instead of deleting it. */
  readonly preserveOnDelete: boolean
  /** The device tag given at create or attach (2.32 / 2.49). */
  readonly tag?: string | null | undefined
}

/** The addresses of a network info cache in Nova's order: each fixed IP, then its floating IPs. */
export function addressesOf(vifs: readonly VifInfo[]): FixedIp[] {
  const out: FixedIp[] = []
  for (const v of vifs) {
    for (const ip of v.fixedIps) {
      const base = { networkId: v.networkId, networkLabel: v.networkLabel, macAddress: v.macAddress }
      out.push({ ...base, address: ip.address, version: ip.version, type: 'fixed' })
      for (const f of ip.floatingIps) out.push({ ...base, address: f, version: 4, type: 'floating' })
    }
  }
  return out
}

/** What a compute host reports about one of its hypervisor nodes. */
export interface ComputeNodeReport {
  readonly host: string
  readonly hypervisorHostname: string
  readonly vcpus: number
  readonly memoryMb: number
  readonly localGb: number
  readonly vcpusUsed: number
  readonly memoryMbUsed: number
  readonly localGbUsed: number
  readonly runningVms: number
  readonly currentWorkload: number
  readonly diskAvailableLeast: number
  readonly hypervisorType: string
  readonly hypervisorVersion: number
  readonly cpuInfo: Readonly<Record<string, unknown>>
  readonly hostIp: string
  readonly cpuAllocationRatio: number
  readonly ramAllocationRatio: number
  readonly diskAllocationRatio: number
  readonly reservedHostMemoryMb: number
  readonly reservedHostDiskGb: number
}

export interface ComputeNode extends ComputeNodeReport {
  readonly id: number
  readonly uuid: string
  readonly freeRamMb: number
  readonly freeDiskGb: number
  readonly failedBuilds: number
  readonly createdAt: string
  readonly updatedAt: string | null
}

/** Resource usage a quota counts, per project (or per user in it). */
export interface QuotaUsage {
  readonly instances: number
  readonly cores: number
  readonly ram: number
}

const IPV4_MAPPED_PREFIX = '::ffff:'

/**
 * An IPv6 address in its compact form, as Nova's IPV6AddressField stores it
 * (netaddr): zeros compressed, hex groups, IPv4-mapped addresses keep their
 * dotted tail. The WHATWG URL host serializer does the RFC 5952 part.
 */
export function canonicalIpv6(address: string): string {
  const compact = new URL(`http://[${address}]/`).hostname.slice(1, -1)
  if (!compact.startsWith(IPV4_MAPPED_PREFIX) || compact.includes('.')) return compact
  const groups = compact.slice(IPV4_MAPPED_PREFIX.length).split(':')
  if (groups.length !== 2) return compact
  const [hi, lo] = groups.map((g) => parseInt(g, 16)) as [number, number]
  return `${IPV4_MAPPED_PREFIX}${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`
}

/** An event another service reports about an instance (Nova's InstanceExternalEvent). */
export interface ExternalEvent {
  readonly instanceUuid: string
  /** `network-vif-plugged`, `network-changed`, `power-update`, ... */
  readonly name: string
  /** `completed`, `failed` or `in-progress`. */
  readonly status: string
  /** The port, volume or power state the event is about. */
  readonly tag: string | null
}

/** The instance-action events of the compute host's steps (Nova's wrap_instance_event names). */
export const HostEvent = {
  BUILD: 'compute__do_build_and_run_instance',
  CLAIM: 'compute_claim_resources',
  NETWORK: 'compute_allocate_network',
  IMAGE: 'compute_prepare_image',
  BLOCK_DEVICES: 'compute_block_device_mapping',
  SPAWN: 'compute_spawn',
  TERMINATE: 'compute_terminate_instance',
  ATTACH_INTERFACE: 'compute_attach_interface',
  DETACH_INTERFACE: 'compute_detach_interface',
} as const
