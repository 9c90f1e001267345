/**
 * Where the metadata service finds an instance and what it shows of it
 * (Nova's get_metadata_by_instance_id / get_metadata_by_address): the
 * instance row, its key pair, and its NICs from the network service's
 * ports, subnets and floating IPs. Reads the shared database, as Nova's
 * metadata API reads its cell database.
 */
import { getKeyPair } from '../compute/db/keypairs.ts'
import { getInstance } from '../compute/db/instances.ts'
import { instancePassword } from '../compute/password.ts'
import type { Instance } from '../compute/objects.ts'
import type { Database } from '../db/index.ts'
import { Store, type Doc } from '../network/store.ts'
import type { MetadataSubnet, MetadataVif } from './network-data.ts'
import { sourceOf } from './instance-source.ts'
import type { MetadataSource } from './tree.ts'

/** The instance, or undefined if there is none (deleted, or never existed). */
export async function sourceByInstanceId(
  db: Database,
  uuid: string,
  address?: string,
): Promise<MetadataSource | undefined> {
  let instance: Instance
  try {
    instance = await getInstance(db.kysely, uuid)
  } catch {
    return undefined
  }
  const store = Store.of(db)
  // The instance's own ports: its device id on ports of its project (any project may write any device id).
  const ports = await store.list('ports', { device_id: uuid, project_id: instance.projectId })
  const vifs = await Promise.all(ports.map((p) => vifOfPort(store, p)))
  const groupIds = [...new Set(ports.flatMap((p) => (p.security_groups as string[] | undefined) ?? []))]
  const groups = groupIds.length
    ? (await Promise.all(groupIds.map((id) => store.get('security_groups', id))))
        .map((g) => g?.name as string | undefined)
        .filter((n): n is string => !!n)
    : [...instance.securityGroups]
  let keyType = 'ssh'
  if (instance.keyName) {
    keyType = await getKeyPair(db.kysely, instance.userId, instance.keyName)
      .then((k) => k.type)
      .catch(() => 'ssh')
  }
  return sourceOf(instance, {
    vifs,
    securityGroups: groups,
    keyType,
    address,
    password: instancePassword(instance.systemMetadata),
  })
}

/**
 * The instance whose port holds `address` (Nova's get_fixed_ip_by_address):
 * only on the router's networks when `routerId` is given (the guest's
 * network, as the metadata agent scopes it), else on any network.
 * Undefined when none or more than one instance matches.
 */
export async function instanceIdByAddress(
  db: Database,
  address: string,
  scope: { readonly routerId?: string | undefined; readonly networkId?: string | undefined } = {},
): Promise<{ instanceId: string; projectId: string } | undefined> {
  const store = Store.of(db)
  let networks: string[] | undefined
  if (scope.routerId) {
    networks = [
      ...new Set(
        (await store.list('ports', { device_id: scope.routerId })).map((p) => p.network_id as string),
      ),
    ]
  } else if (scope.networkId) {
    networks = [scope.networkId]
  }
  const ports = await store.list('ports', networks ? { network_id: networks } : {})
  const matches = ports.filter(
    (p) =>
      p.device_id &&
      String(p.device_owner ?? '').startsWith('compute:') &&
      ((p.fixed_ips as { ip_address: string }[] | undefined) ?? []).some((f) => f.ip_address === address),
  )
  if (matches.length === 1)
    return { instanceId: matches[0]!.device_id as string, projectId: matches[0]!.project_id }
  return undefined
}

async function vifOfPort(store: Store, port: Doc): Promise<MetadataVif> {
  const net = await store.get('networks', port.network_id as string)
  const fixed = (port.fixed_ips as { subnet_id: string; ip_address: string }[] | undefined) ?? []
  const subnets = new Map<string, MetadataSubnet | undefined>()
  for (const f of fixed) {
    if (subnets.has(f.subnet_id)) continue
    const s = await store.get('subnets', f.subnet_id)
    subnets.set(
      f.subnet_id,
      s && {
        cidr: s.cidr as string,
        gatewayIp: (s.gateway_ip as string | null) ?? null,
        enableDhcp: s.enable_dhcp !== false,
        dnsNameservers: (s.dns_nameservers as string[] | undefined) ?? [],
        hostRoutes: (s.host_routes as { destination: string; nexthop: string }[] | undefined) ?? [],
      },
    )
  }
  const floating = await store.list('floating_ips', { port_id: port.id })
  return {
    portId: port.id,
    devname: `tap${port.id.slice(0, 11)}`,
    macAddress: port.mac_address as string,
    mtu: (net?.mtu as number | undefined) ?? null,
    networkId: port.network_id as string,
    fixedIps: fixed.map((f) => ({
      address: f.ip_address,
      version: f.ip_address.includes(':') ? 6 : 4,
      subnet: subnets.get(f.subnet_id),
    })),
    floatingIps: floating.map((f) => f.floating_ip_address as string).filter(Boolean),
  }
}
