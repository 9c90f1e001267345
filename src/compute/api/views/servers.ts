import { createHash } from 'node:crypto'
import { limits } from '../../../common/limits.ts'
import { statusFromState, VmState } from '../../states.ts'
import type { FixedIp, Instance, InstanceFault } from '../../objects.ts'
import {
  bookmarkLink,
  collectionLinks,
  isoTime,
  naiveTime,
  resourceLinks,
  type ComputeRequest,
} from '../common.ts'

/**
 * Nova's server view builder (nova/api/openstack/compute/views/servers.py):
 * which fields a server has at each microversion and for whom.
 */

/** What the view needs besides the instance, loaded once per request. */
export interface ServerExtras {
  readonly faults: ReadonlyMap<string, InstanceFault>
  readonly fixedIps: ReadonlyMap<string, readonly FixedIp[]>
  readonly tags: ReadonlyMap<string, readonly string[]>
  /** 2.16 host_status per instance, when the caller may see it. */
  readonly hostStatuses?: ReadonlyMap<string, string> | undefined
}

export interface ShowOptions {
  /** Admin-only OS-EXT-SRV-ATTR fields. */
  readonly showExtendedAttrs: boolean
  /** 2.47 embedded flavor extra_specs. */
  readonly showExtraSpecs: boolean
  readonly isAdmin: boolean
  /** The 2.75 rule: PUT answers with a full view only from 2.75 on. */
  readonly full?: boolean | undefined
  /** 2.71 server_groups (show, update, rebuild): true, or the uuids of the server's groups. */
  readonly showServerGroups?: boolean | readonly string[] | undefined
}

const PROGRESS_STATUSES = new Set(['ACTIVE', 'BUILD', 'REBUILD', 'RESIZE', 'VERIFY_RESIZE', 'MIGRATING'])
const FAULT_STATUSES = new Set(['ERROR', 'DELETED'])

export function serverStatus(instance: Instance): string {
  if (instance.deleted) return 'DELETED'
  return statusFromState(instance.vmState, instance.taskState)
}

/** Nova's `generate_hostid`: sha224 of project + host, empty without a host. */
export function hostId(host: string | null, projectId: string): string {
  if (!host) return ''
  const key = `${projectId}${host}`
  let id = HOST_IDS.get(key)
  if (id === undefined) {
    id = createHash('sha224').update(key).digest('hex')
    if (HOST_IDS.size >= limits.computeHostIdCacheEntries) HOST_IDS.clear()
    HOST_IDS.set(key, id)
  }
  return id
}

/** hostIds by project + host: every server view shows one, and hashing each time is wasted work. */
const HOST_IDS = new Map<string, string>()

/** `POST /servers` answer. */
export function createView(
  req: ComputeRequest,
  instance: Instance,
  securityGroups: readonly { name: string }[],
) {
  return {
    server: {
      id: instance.uuid,
      links: resourceLinks(req, 'servers', instance.uuid),
      'OS-DCF:diskConfig': instance.autoDiskConfig ? 'AUTO' : 'MANUAL',
      security_groups: securityGroups,
    },
  }
}

/** One server in `GET /servers` (id, name, links). */
export function basicView(req: ComputeRequest, instance: Instance) {
  return {
    id: instance.uuid,
    name: instance.displayName,
    links: resourceLinks(req, 'servers', instance.uuid),
  }
}

export function listView(req: ComputeRequest, instances: readonly Instance[]) {
  const servers = instances.map((i) => basicView(req, i))
  return withLinks({ servers }, collectionLinks(req, 'servers', instances.length, instances.at(-1)?.uuid))
}

export function detailListView(
  req: ComputeRequest,
  instances: readonly Instance[],
  extras: ServerExtras,
  opts: ShowOptions,
) {
  const servers = instances.map((i) => showView(req, i, extras, opts))
  return withLinks(
    { servers },
    collectionLinks(req, 'servers/detail', instances.length, instances.at(-1)?.uuid),
  )
}

function withLinks<T extends object>(body: T, links: readonly unknown[]): T & { servers_links?: unknown[] } {
  return links.length ? { ...body, servers_links: [...links] } : body
}

/** The detailed view of one server (show, detail list, and update from 2.75). */
export function showView(req: ComputeRequest, instance: Instance, extras: ServerExtras, opts: ShowOptions) {
  const mv = req.mv
  const full = opts.full ?? true
  const status = serverStatus(instance)
  const server: Record<string, unknown> = {
    id: instance.uuid,
    name: instance.displayName,
    status,
    tenant_id: instance.projectId || '',
    user_id: instance.userId || '',
    metadata: instance.metadata,
    hostId: hostId(instance.host, instance.projectId),
    image: imageView(req, instance),
    flavor: flavorView(req, instance, opts.showExtraSpecs),
    created: isoTime(instance.createdAt),
    updated: isoTime(instance.updatedAt ?? instance.createdAt),
    addresses: addressesView(instance, extras.fixedIps.get(instance.uuid) ?? [], full),
    accessIPv4: instance.accessIpV4 ?? '',
    accessIPv6: instance.accessIpV6 ?? '',
    links: resourceLinks(req, 'servers', instance.uuid),
    'OS-DCF:diskConfig': instance.autoDiskConfig ? 'AUTO' : 'MANUAL',
  }
  if (FAULT_STATUSES.has(status)) {
    const fault = extras.faults.get(instance.uuid)
    if (fault) server.fault = faultView(fault, opts.isAdmin)
  }
  if (PROGRESS_STATUSES.has(status)) server.progress = instance.progress
  if (full) {
    server['OS-EXT-AZ:availability_zone'] = instance.availabilityZone ?? ''
    server.config_drive = instance.configDrive
    server.key_name = instance.keyName
    server['OS-SRV-USG:launched_at'] = naiveTime(instance.launchedAt)
    server['OS-SRV-USG:terminated_at'] = naiveTime(instance.terminatedAt)
    // As Nova's _add_security_grps: a server without groups has no security_groups key.
    if (instance.securityGroups.length > 0) {
      server.security_groups = instance.securityGroups.map((name) => ({ name }))
    }
  }
  if (opts.showExtendedAttrs && full) addExtendedAttrs(req, server, instance)
  if (full) {
    server['OS-EXT-STS:task_state'] = instance.taskState
    server['OS-EXT-STS:vm_state'] = instance.deleted ? VmState.DELETED : instance.vmState
    server['OS-EXT-STS:power_state'] = instance.powerState
    server['os-extended-volumes:volumes_attached'] = []
  }
  const hostStatus = extras.hostStatuses?.get(instance.uuid)
  if (mv.atLeast('2.16') && hostStatus !== undefined) server.host_status = hostStatus
  if (mv.atLeast('2.9')) server.locked = instance.lockedBy !== null
  if (mv.atLeast('2.73')) server.locked_reason = instance.systemMetadata.locked_reason ?? null
  if (mv.atLeast('2.19')) server.description = instance.displayDescription
  if (mv.atLeast('2.26')) server.tags = [...(extras.tags.get(instance.uuid) ?? [])]
  if (mv.atLeast('2.63')) {
    const certs = instance.systemMetadata.trusted_certs
    server.trusted_image_certificates = certs ? (JSON.parse(certs) as string[]) : null
  }
  if (mv.atLeast('2.90') && !opts.showExtendedAttrs) server['OS-EXT-SRV-ATTR:hostname'] = instance.hostname
  if (opts.showServerGroups) {
    server.server_groups = Array.isArray(opts.showServerGroups) ? [...opts.showServerGroups] : []
  }
  return server
}

function addExtendedAttrs(req: ComputeRequest, server: Record<string, unknown>, instance: Instance): void {
  server['OS-EXT-SRV-ATTR:host'] = instance.host
  server['OS-EXT-SRV-ATTR:instance_name'] = instanceName(instance)
  server['OS-EXT-SRV-ATTR:hypervisor_hostname'] = instance.node
  if (!req.mv.atLeast('2.3')) return
  server['OS-EXT-SRV-ATTR:reservation_id'] = instance.reservationId
  server['OS-EXT-SRV-ATTR:launch_index'] = instance.launchIndex
  server['OS-EXT-SRV-ATTR:hostname'] = instance.hostname
  server['OS-EXT-SRV-ATTR:kernel_id'] = instance.kernelId
  server['OS-EXT-SRV-ATTR:ramdisk_id'] = instance.ramdiskId
  server['OS-EXT-SRV-ATTR:root_device_name'] = instance.rootDeviceName
  server['OS-EXT-SRV-ATTR:user_data'] = instance.userData
}

/** Nova's `instance.name` (instance_name_template `instance-%08x` over the uuid's first bits). */
export function instanceName(instance: Instance): string {
  return `instance-${instance.uuid.replace(/-/g, '').slice(0, 8)}`
}

function imageView(req: ComputeRequest, instance: Instance) {
  if (!instance.imageRef) return ''
  return {
    id: instance.imageRef,
    links: [{ rel: 'bookmark', href: bookmarkLink(req, 'images', instance.imageRef) }],
  }
}

function flavorView(req: ComputeRequest, instance: Instance, showExtraSpecs: boolean) {
  const f = instance.flavor
  if (req.mv.atLeast('2.47')) {
    return {
      vcpus: f.vcpus,
      ram: f.memoryMb,
      disk: f.rootGb,
      ephemeral: f.ephemeralGb,
      swap: f.swapMb,
      original_name: f.name,
      ...(showExtraSpecs ? { extra_specs: f.extraSpecs } : {}),
    }
  }
  return { id: f.flavorid, links: [{ rel: 'bookmark', href: bookmarkLink(req, 'flavors', f.flavorid) }] }
}

/**
 * `addresses`: network label -> the ports' fixed IPs, each followed by its
 * floating IPs (from the network info cache). Empty while the server
 * builds, as Nova's view does; the MAC and type extensions with `extended`.
 */
export function addressesView(instance: Instance, ips: readonly FixedIp[], extended: boolean) {
  if (instance.vmState === VmState.BUILDING) return {}
  const out: Record<string, unknown[]> = {}
  for (const ip of ips) {
    const entry: Record<string, unknown> = { version: ip.version, addr: ip.address }
    if (extended) {
      entry['OS-EXT-IPS:type'] = ip.type ?? 'fixed'
      entry['OS-EXT-IPS-MAC:mac_addr'] = ip.macAddress
    }
    ;(out[ip.networkLabel] ??= []).push(entry)
  }
  return out
}

function faultView(fault: InstanceFault, isAdmin: boolean) {
  const view: Record<string, unknown> = {
    code: fault.code,
    created: isoTime(fault.createdAt),
    message: fault.message,
  }
  // Details of a 500 fault (a traceback) are for admins only, as in Nova.
  if (fault.details && (isAdmin || fault.code !== 500)) view.details = fault.details
  return view
}
