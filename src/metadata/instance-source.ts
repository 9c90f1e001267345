/**
 * An instance record and its NICs as a MetadataSource. No database here:
 * the metadata service uses it after its lookups (source.ts), and a compute
 * host uses it for a config drive from what it has at spawn time.
 */
import type { Instance } from '../compute/objects.ts'
import type { MetadataVif } from './network-data.ts'
import type { MetadataSource } from './tree.ts'

/** The fields of an instance record the trees show. */
export type InstanceFields = Pick<
  Instance,
  | 'uuid'
  | 'displayName'
  | 'hostname'
  | 'projectId'
  | 'availabilityZone'
  | 'launchIndex'
  | 'reservationId'
  | 'keyName'
  | 'keyData'
  | 'userData'
  | 'metadata'
  | 'imageRef'
  | 'kernelId'
  | 'ramdiskId'
  | 'securityGroups'
  | 'rootDeviceName'
> & {
  readonly id?: number | undefined
  readonly flavor: Pick<Instance['flavor'], 'name' | 'ephemeralGb' | 'swapMb'>
}

/** A NIC as compute knows it (the network info cache's VIF, or a bare address record). */
export interface NicLike {
  readonly portId?: string | undefined
  readonly networkId: string
  readonly macAddress: string
  readonly devname?: string | undefined
  readonly mtu?: number | undefined
  readonly fixedIps?: readonly {
    readonly address: string
    readonly version: 4 | 6
    readonly floatingIps?: readonly string[]
  }[]
  /** A bare record's single address (when `fixedIps` is absent). */
  readonly address?: string | undefined
  readonly version?: 4 | 6 | undefined
}

/** NICs as metadata shows them; subnets unknown, so DHCP is assumed (what Nova shows for Neutron DHCP subnets). */
export function metadataVifs(nics: readonly NicLike[]): MetadataVif[] {
  const byMac = new Map<string, MetadataVif>()
  nics.forEach((nic, i) => {
    const ips = nic.fixedIps ?? (nic.address ? [{ address: nic.address, version: nic.version ?? 4 }] : [])
    const prior = byMac.get(nic.macAddress)
    const fixedIps = [
      ...(prior?.fixedIps ?? []),
      ...ips.map((ip) => ({ address: ip.address, version: ip.version })),
    ]
    const floatingIps = [...(prior?.floatingIps ?? []), ...ips.flatMap((ip) => ip.floatingIps ?? [])]
    byMac.set(nic.macAddress, {
      portId: nic.portId ?? prior?.portId ?? `nic${i}`,
      devname: nic.devname ?? prior?.devname,
      macAddress: nic.macAddress,
      mtu: nic.mtu ?? null,
      networkId: nic.networkId,
      fixedIps,
      floatingIps,
    })
  })
  return [...byMac.values()]
}

/** Builds the source from an instance and what is known of its NICs (also used by compute for config drives). */
export function sourceOf(
  instance: InstanceFields,
  extra: {
    readonly vifs: readonly MetadataVif[]
    readonly securityGroups?: readonly string[] | undefined
    readonly keyType?: string | undefined
    readonly address?: string | undefined
    /** The password the guest posted (the metadata service only; a config drive has none). */
    readonly password?: string | undefined
  },
): MetadataSource {
  return {
    uuid: instance.uuid,
    ec2Id: instance.id ?? 0,
    displayName: instance.displayName,
    hostname: instance.hostname,
    projectId: instance.projectId,
    availabilityZone: instance.availabilityZone,
    launchIndex: instance.launchIndex,
    reservationId: instance.reservationId,
    keyName: instance.keyName,
    keyData: instance.keyData,
    keyType: extra.keyType ?? 'ssh',
    userData: instance.userData,
    meta: instance.metadata,
    flavorName: instance.flavor.name,
    imageRef: instance.imageRef,
    kernelId: instance.kernelId,
    ramdiskId: instance.ramdiskId,
    securityGroups: extra.securityGroups ?? instance.securityGroups,
    rootDeviceName: instance.rootDeviceName,
    ephemeralGb: instance.flavor.ephemeralGb,
    swapMb: instance.flavor.swapMb,
    vifs: extra.vifs,
    address: extra.address,
    password: extra.password,
  }
}
