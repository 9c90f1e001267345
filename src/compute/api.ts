import { randomBytes, randomInt, randomUUID } from 'node:crypto'
import type { ComputeConfig } from '../common/config.ts'
import type { RequestContext } from '../common/context.ts'
import { Conflict, Invalid, NotFound, OverQuota, registerErrorClass } from '../common/errors.ts'
import { logger } from '../common/log.ts'
import type { ConductorRpcApi, PlacementHints } from '../conductor/rpcapi.ts'
import type { Database } from '../db/index.ts'
import { nowIso } from '../db/values.ts'
import type { NetworkApi } from '../network/api.ts'
import type { NetworkRpcApi } from '../network/rpcapi.ts'
import { finishAction, latestFaults, recordEvents, startAction } from './db/actions.ts'
import { getFlavor, hasFlavorAccess } from './db/flavors.ts'
import {
  getInstance,
  getInstanceWithExtras,
  insertInstance,
  listInstances,
  markInstanceDeleted,
  setInstanceTags,
  tagsOf,
  updateInstance,
  type InstanceFilter,
  type InstancePage,
  type NewInstance,
} from './db/instances.ts'
import { getKeyPair, KeypairNotFound } from './db/keypairs.ts'
import { fixedIpsOf } from './db/info-caches.ts'
import { lockProjectQuota } from './db/quotas.ts'
import type { HostApi } from './host-api.ts'
import { clearGuestPassword } from './password.ts'
import { ImageNotActive, ImageNotFound, type ImageMeta } from '../objects/image.ts'
import type { ComputeImageApi } from './image.ts'
import { canonicalIpv6 } from './objects.ts'
import type {
  ExternalEvent,
  FixedIp,
  Flavor,
  FlavorSnapshot,
  Instance,
  InstanceFault,
  InstanceUpdates,
  NetworkRequest,
  RequestedNetworks,
} from './objects.ts'
import { checkFlavorFitsImage } from './flavor-image.ts'
import type { QuotaEngine } from './quota.ts'
import type { ComputeRpcApi } from './rpcapi.ts'
import { joinServerGroup, requestedServerGroup } from './server-groups.ts'
import { PowerState, TaskState, VmState } from './states.ts'

const log = logger('compute.api')

/**
 * The compute API (Nova's `nova.compute.api.API`): what the HTTP handlers
 * call. It checks what can be checked without a host (flavor, image, key
 * pair, networks, quota), records the instances in one transaction and
 * hands the build to the conductor; deletes go to the instance's host, or
 * happen here when there is no (live) host.
 */

/** Nova's OverQuota subclass for metadata ("Maximum number of metadata items exceeds 128"). */
export class MetadataLimitExceeded extends OverQuota {}
registerErrorClass(MetadataLimitExceeded)
/** The instance is locked (409). */
export class InstanceIsLocked extends Conflict {}
registerErrorClass(InstanceIsLocked)

/** The create request after the HTTP layer has validated and normalised it. */
export interface CreateServerRequest {
  readonly name: string
  readonly description: string | null
  /** 2.90 `hostname`; generated from the name when absent. */
  readonly hostname?: string | undefined
  /** Empty for a boot from a volume. */
  readonly imageRef: string
  readonly flavorId: string
  readonly adminPassword?: string | undefined
  readonly metadata: Readonly<Record<string, string>>
  /** undefined before 2.37 when not given: Nova then allocates on the default network. */
  readonly networks: RequestedNetworks | undefined
  readonly keyName?: string | undefined
  readonly securityGroups: readonly string[]
  readonly userData?: string | undefined
  readonly availabilityZone?: string | undefined
  readonly minCount: number
  readonly maxCount: number
  readonly configDrive?: boolean | undefined
  readonly accessIpV4?: string | undefined
  readonly accessIpV6?: string | undefined
  readonly autoDiskConfig?: boolean | undefined
  readonly tags: readonly string[]
  readonly schedulerHints: Readonly<Record<string, string | readonly string[]>>
  readonly requestedHost?: string | undefined
  readonly requestedNode?: string | undefined
  /** 2.63 `trusted_image_certificates`: kept and shown; no driver verifies signatures yet. */
  readonly trustedCerts?: readonly string[] | undefined
}

/** What PUT /servers/{id} may change. */
export interface ServerUpdates {
  readonly displayName?: string
  readonly displayDescription?: string | null
  readonly hostname?: string
  readonly accessIpV4?: string
  readonly accessIpV6?: string
  readonly autoDiskConfig?: boolean
}

export interface CreateResult {
  readonly instances: readonly Instance[]
  readonly reservationId: string
  readonly adminPassword: string
}

/** Everything a server view needs besides the instance. */
export interface InstanceExtras {
  readonly faults: Map<string, InstanceFault>
  readonly fixedIps: Map<string, FixedIp[]>
  readonly tags: Map<string, string[]>
  readonly hostStatuses?: Map<string, string> | undefined
}

export interface ComputeApiDeps {
  readonly db: Database
  readonly config: ComputeConfig
  readonly quotas: QuotaEngine
  readonly hosts: HostApi
  readonly images: ComputeImageApi
  readonly conductor: ConductorRpcApi
  readonly compute: ComputeRpcApi
  /** Neutron as the API checks it before a build (networks, ports, fixed IPs, security groups). */
  readonly network: NetworkApi
  /** The network service (releases the ports of a server deleted here). */
  readonly networkRpc: NetworkRpcApi
}

/** Characters of a generated admin password (Nova's `generate_password` default symbol groups). */
const PASSWORD_CHARS = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789'
const PASSWORD_LENGTH = 12
/** Characters of a reservation id suffix (Nova's `generate_uid`). */
const UID_CHARS = '01234567890abcdefghijklmnopqrstuvwxyz'
const UID_LENGTH = 8
/** Neutron's default `base_mac`: the first three bytes of every generated MAC. */
const BASE_MAC_PREFIX = 'fa:16:3e'
/** Longest hostname Nova generates (dnsmasq's limit). */
const HOSTNAME_MAX_CHARS = 63

export class ComputeApi {
  readonly #d: ComputeApiDeps

  constructor(deps: ComputeApiDeps) {
    this.#d = deps
  }

  // ---- create ----

  async create(ctx: RequestContext, req: CreateServerRequest): Promise<CreateResult> {
    if (req.hostname && req.maxCount > 1) {
      throw new Invalid('Unable to allocate a single hostname to multiple instances')
    }
    const flavor = await this.#flavorForCreate(ctx, req.flavorId)
    const image = req.imageRef ? await this.#imageForCreate(ctx, req.imageRef, flavor) : undefined
    if (!image) throw new Invalid('Block Device Mapping is Invalid: booting from a volume is not supported.')
    const keyData = await this.#keyData(ctx, req.keyName)
    await this.#checkMetadataQuota(ctx, req.metadata)
    const placement = await this.#placement(ctx, req)
    const group = await requestedServerGroup(this.#d.db.kysely, req.schedulerHints)
    const networks = this.#resolveNetworks(req.networks, req.maxCount)
    // No `networks` (before 2.37) is Nova's implicit auto: no NIC, rather than a 400, when there is no network.
    await this.#d.network.validateNetworks(
      ctx,
      req.networks === undefined ? undefined : networks,
      req.securityGroups,
    )
    const reservationId = `r-${randomChars(UID_CHARS, UID_LENGTH)}`
    const adminPassword = req.adminPassword ?? randomChars(PASSWORD_CHARS, PASSWORD_LENGTH)
    const instances = await this.#d.db.transaction(async (trx) => {
      await lockProjectQuota(trx, this.#d.db.dialect, ctx.projectId ?? '')
      const count = await this.#d.quotas.checkInstances(
        trx,
        ctx.projectId ?? '',
        ctx.userId ?? '',
        flavor,
        req.minCount,
        req.maxCount,
      )
      const created: Instance[] = []
      for (let index = 0; index < count; index++) {
        const values = this.#newInstance(ctx, req, {
          flavor,
          image,
          keyData,
          networks,
          reservationId,
          index,
          count,
          placement,
        })
        const instance = await insertInstance(trx, values)
        if (req.tags.length) await setInstanceTags(trx, values.uuid, req.tags)
        await startAction(trx, {
          instanceUuid: values.uuid,
          action: 'create',
          requestId: ctx.requestId,
          userId: ctx.userId ?? null,
          projectId: ctx.projectId ?? null,
        })
        created.push(instance)
      }
      const uuids = created.map((i) => i.uuid)
      if (group) await joinServerGroup(trx, this.#d.quotas, ctx, group, uuids)
      return created
    })
    await this.#d.conductor.buildInstances(ctx, {
      instanceUuids: instances.map((i) => i.uuid),
      image,
      placement,
      adminPassword,
      attempt: 1,
      ignoreHosts: [],
    })
    log.info({ instances: instances.map((i) => i.uuid), reservationId }, 'servers created')
    return { instances, reservationId, adminPassword }
  }

  async #flavorForCreate(ctx: RequestContext, flavorId: string): Promise<FlavorSnapshot> {
    let flavor: Flavor
    try {
      flavor = await getFlavor(this.#d.db.kysely, flavorId)
    } catch (err) {
      if (err instanceof NotFound) throw new Invalid(err.message)
      throw err
    }
    const visible = ctx.isAdmin || (await hasFlavorAccess(this.#d.db.kysely, flavor, ctx.projectId))
    if (flavor.disabled || !visible) throw new Invalid(`Flavor ${flavorId} could not be found.`)
    return snapshotOf(flavor)
  }

  async #imageForCreate(ctx: RequestContext, imageRef: string, flavor: FlavorSnapshot): Promise<ImageMeta> {
    let image: ImageMeta
    try {
      image = await this.#d.images.get(ctx, imageRef)
    } catch (err) {
      if (err instanceof ImageNotFound) throw new Invalid('Can not find requested image')
      throw err
    }
    if (image.status !== 'active') throw new ImageNotActive(`Image ${image.id} is not active.`)
    checkFlavorFitsImage(flavor, image, ctx.isAdmin)
    return image
  }

  async #keyData(ctx: RequestContext, keyName: string | undefined): Promise<string | null> {
    if (keyName === undefined) return null
    try {
      return (await getKeyPair(this.#d.db.kysely, ctx.userId ?? '', keyName)).publicKey
    } catch (err) {
      if (err instanceof KeypairNotFound) throw new Invalid('Invalid key_name provided.')
      throw err
    }
  }

  /** Nova's limit_check on metadata_items against the project's limit (no items can never exceed it). */
  async #checkMetadataQuota(ctx: RequestContext, metadata: Readonly<Record<string, string>>): Promise<void> {
    if (Object.keys(metadata).length === 0) return
    const allowed = (await this.#d.quotas.limits(this.#d.db.kysely, ctx.projectId ?? '')).metadata_items
    if (allowed >= 0 && Object.keys(metadata).length > allowed) {
      throw new MetadataLimitExceeded(`Maximum number of metadata items exceeds ${allowed}`)
    }
  }

  /** Availability zone and forced or requested hosts, checked as Nova checks them. */
  async #placement(ctx: RequestContext, req: CreateServerRequest): Promise<PlacementHints> {
    const { zone, forceHost, forceNode } = parseAvailabilityZone(req.availabilityZone)
    if (zone && forceHost === undefined) {
      const { available } = await this.#d.hosts.availabilityZones()
      if (!available.includes(zone) || zone === this.#d.config.internalServiceAvailabilityZone) {
        throw new Invalid('The requested availability zone is not available')
      }
    }
    if (req.requestedHost !== undefined || req.requestedNode !== undefined) {
      await this.#checkRequestedDestination(req.requestedHost, req.requestedNode)
    }
    return {
      availabilityZone: zone,
      schedulerHints: req.schedulerHints,
      forceHost,
      forceNode,
      requestedHost: req.requestedHost,
      requestedNode: req.requestedNode,
    }
  }

  async #checkRequestedDestination(host: string | undefined, node: string | undefined): Promise<void> {
    const nodes = await this.#d.hosts.computeNodes()
    const match = nodes.some(
      (n) => (host === undefined || n.host === host) && (node === undefined || n.hypervisorHostname === node),
    )
    if (!match) throw new Invalid(`Compute host ${host ?? node} could not be found.`)
  }

  /**
   * `none`, `auto` (also for no networks before 2.37), or the list; what
   * Nova refuses before looking at Neutron (one port or fixed IP for
   * several servers). Neutron's checks follow in `validateNetworks`.
   */
  #resolveNetworks(networks: RequestedNetworks | undefined, maxCount: number): RequestedNetworks {
    if (networks === 'none') return 'none'
    if (networks === undefined || networks === 'auto' || networks.length === 0) return 'auto'
    for (const n of networks) {
      if (n.portId !== undefined && maxCount > 1) {
        throw new Invalid(
          'Failed to launch instances: Unable to launch multiple instances with a single configured port ID. Please launch your instance one by one with different ports.',
        )
      }
      if (n.address !== undefined && maxCount > 1) {
        throw new Invalid(
          'Failed to launch instances: max_count cannot be greater than 1 if an fixed_ip is specified.',
        )
      }
    }
    return networks.map((n): NetworkRequest => ({ ...n }))
  }

  #newInstance(
    ctx: RequestContext,
    req: CreateServerRequest,
    o: {
      flavor: FlavorSnapshot
      image: ImageMeta
      keyData: string | null
      networks: RequestedNetworks
      reservationId: string
      index: number
      count: number
      placement: PlacementHints
    },
  ): NewInstance {
    const uuid = randomUUID()
    const names = instanceNames(req.name, req.hostname, uuid, o.index, o.count)
    return {
      uuid,
      displayName: names.displayName,
      displayDescription: req.description,
      hostname: names.hostname,
      projectId: ctx.projectId ?? '',
      userId: ctx.userId ?? '',
      imageRef: o.image.id,
      flavor: o.flavor,
      vmState: VmState.BUILDING,
      taskState: TaskState.SCHEDULING,
      powerState: PowerState.NOSTATE,
      availabilityZone: o.placement.availabilityZone ?? null,
      keyName: req.keyName ?? null,
      keyData: o.keyData,
      userData: req.userData ?? null,
      metadata: req.metadata,
      systemMetadata: {
        ...imageSystemMetadata(o.image, ctx),
        ...(req.trustedCerts ? { trusted_certs: JSON.stringify(req.trustedCerts) } : {}),
      },
      configDrive: req.configDrive ? 'True' : '',
      reservationId: o.reservationId,
      launchIndex: o.index,
      accessIpV4: req.accessIpV4 ?? null,
      accessIpV6: req.accessIpV6 === undefined ? null : canonicalIpv6(req.accessIpV6),
      autoDiskConfig: req.autoDiskConfig ?? false,
      rootDeviceName: null,
      kernelId: o.image.properties.kernel_id ?? '',
      ramdiskId: o.image.properties.ramdisk_id ?? '',
      securityGroups: req.securityGroups.length ? [...new Set(req.securityGroups)] : ['default'],
      requestedNetworks: withMacs(o.networks),
      createdAt: nowIso(),
    }
  }

  // ---- read ----

  /** One instance the caller may see; InstanceNotFound (404) otherwise. */
  async get(ctx: RequestContext, uuid: string, readDeleted = false): Promise<Instance> {
    const instance = await getInstance(this.#d.db.kysely, uuid, { readDeleted })
    return instance
  }

  async list(filter: InstanceFilter, page: InstancePage): Promise<{ items: Instance[]; hasMore: boolean }> {
    return listInstances(this.#d.db.kysely, filter, page)
  }

  /**
   * What the views of `instances` need besides the rows: faults (only of
   * ERROR and DELETED ones, the only statuses that show them), fixed IPs
   * (not while building: the view shows none), tags (from 2.26) and host
   * statuses (2.16, admins).
   */
  async extras(
    instances: readonly Instance[],
    opts: { hostStatus: boolean; tags: boolean },
  ): Promise<InstanceExtras> {
    const db = this.#d.db.kysely
    const failed = instances.filter((i) => i.deleted || i.vmState === VmState.ERROR).map((i) => i.uuid)
    const built = instances.filter((i) => i.vmState !== VmState.BUILDING).map((i) => i.uuid)
    const [faults, fixedIps, tags, hostStatuses] = await Promise.all([
      latestFaults(db, failed),
      fixedIpsOf(db, built),
      opts.tags
        ? tagsOf(
            db,
            instances.map((i) => i.uuid),
          )
        : Promise.resolve(new Map<string, string[]>()),
      opts.hostStatus ? this.#d.hosts.hostStatuses(instances) : Promise.resolve(undefined),
    ])
    return { faults, fixedIps, tags, hostStatuses }
  }

  /**
   * One instance with what its detailed view needs, in as few statements as
   * the view allows (one for a healthy server): the show route's path.
   */
  async getWithExtras(
    uuid: string,
    opts: { hostStatus: boolean; readDeleted?: boolean },
  ): Promise<{ instance: Instance; extras: InstanceExtras }> {
    const db = this.#d.db.kysely
    const { instance, tags, fixedIps } = await getInstanceWithExtras(db, this.#d.db.dialect, uuid, {
      readDeleted: opts.readDeleted,
    })
    const failed = instance.deleted || instance.vmState === VmState.ERROR
    const [faults, hostStatuses] = await Promise.all([
      failed ? latestFaults(db, [uuid]) : Promise.resolve(new Map<string, InstanceFault>()),
      opts.hostStatus ? this.#d.hosts.hostStatuses([instance]) : Promise.resolve(undefined),
    ])
    return {
      instance,
      extras: { faults, fixedIps: new Map([[uuid, fixedIps]]), tags: new Map([[uuid, tags]]), hostStatuses },
    }
  }

  // ---- update ----

  async update(instance: Instance, updates: ServerUpdates): Promise<Instance> {
    const { accessIpV6, ...rest } = updates
    return updateInstance(this.#d.db.kysely, instance.uuid, {
      ...rest,
      ...(accessIpV6 === undefined ? {} : { accessIpV6: canonicalIpv6(accessIpV6) }),
    })
  }

  /** Replaces an instance's tags (2.26 tag routes and create 2.52). */
  async setTags(instance: Instance, tags: readonly string[]): Promise<void> {
    await setInstanceTags(this.#d.db.kysely, instance.uuid, tags)
  }

  // ---- actions the API does alone (the host is not involved) ----

  /**
   * Nova's lock: an owner's lock of a locked server changes nothing; an
   * admin's takes it over. The reason (2.73) is kept in system metadata.
   */
  async lock(ctx: RequestContext, instance: Instance, reason?: string): Promise<void> {
    const isOwner = instance.projectId === ctx.projectId
    if (instance.lockedBy !== null && isOwner) return
    const systemMetadata = reason ? { ...instance.systemMetadata, locked_reason: reason } : undefined
    await this.#apiAction(ctx, instance, 'lock', { lockedBy: isOwner ? 'owner' : 'admin', systemMetadata })
  }

  /** Nova's `is_expected_locked_by`: the lock is the caller's kind (owner or admin), or there is none. */
  isExpectedLockedBy(ctx: RequestContext, instance: Instance): boolean {
    const expected = instance.projectId === ctx.projectId ? 'owner' : 'admin'
    return instance.lockedBy === null || instance.lockedBy === expected
  }

  async unlock(ctx: RequestContext, instance: Instance): Promise<void> {
    const { locked_reason: _dropped, ...systemMetadata } = instance.systemMetadata
    await this.#apiAction(ctx, instance, 'unlock', { lockedBy: null, systemMetadata })
  }

  /** Nova's os-resetState: the vm state an admin says, no task, recorded as an action. */
  async resetState(ctx: RequestContext, instance: Instance, vmState: VmState): Promise<void> {
    await this.#d.db.transaction(async (trx) => {
      await startAction(trx, this.#actionStart(ctx, instance, 'resetState'))
      await updateInstance(trx, instance.uuid, { vmState, taskState: null })
      await finishAction(trx, instance.uuid, ctx.requestId)
    })
  }

  /** Clears the password a guest posted to the metadata service (Nova's four 255-character chunks). */
  async clearPassword(instance: Instance): Promise<void> {
    await clearGuestPassword(this.#d.db, instance.uuid)
  }

  /** An action done here: recorded with its `api_<action>` event (Nova's wrap_instance_event prefix). */
  async #apiAction(
    ctx: RequestContext,
    instance: Instance,
    action: string,
    updates: InstanceUpdates,
  ): Promise<void> {
    await this.#d.db.transaction(async (trx) => {
      await startAction(trx, this.#actionStart(ctx, instance, action))
      await updateInstance(trx, instance.uuid, updates)
      await recordEvents(trx, {
        instanceUuid: instance.uuid,
        requestId: ctx.requestId,
        host: null,
        ops: [
          { op: 'start', event: `api_${action}` },
          { op: 'finish', event: `api_${action}`, result: 'Success' },
        ],
      })
    })
  }

  #actionStart(ctx: RequestContext, instance: Instance, action: string) {
    return {
      instanceUuid: instance.uuid,
      action,
      requestId: ctx.requestId,
      userId: ctx.userId ?? null,
      projectId: ctx.projectId ?? null,
    }
  }

  // ---- external events ----

  /** Nova's `external_instance_event`: the events of each host's instances, one cast per host. */
  async externalInstanceEvent(
    ctx: RequestContext,
    instances: readonly Instance[],
    events: readonly ExternalEvent[],
  ): Promise<void> {
    const byHost = new Map<string, Instance[]>()
    for (const i of instances) {
      if (i.host) byHost.set(i.host, [...(byHost.get(i.host) ?? []), i])
    }
    for (const [host, onHost] of byHost) {
      const uuids = new Set(onHost.map((i) => i.uuid))
      const hostEvents = events.filter((e) => uuids.has(e.instanceUuid))
      await this.#d.compute.externalInstanceEvent(ctx, host, onHost, hostEvents)
    }
  }

  // ---- delete ----

  /**
   * Deletes a server: on its host when it has one that is up (task state
   * `deleting`, then the host destroys the guest and marks it deleted), here
   * otherwise (Nova's local delete).
   */
  async delete(ctx: RequestContext, instance: Instance, action = 'delete'): Promise<void> {
    if (instance.lockedBy !== null && !ctx.isAdmin) {
      throw new InstanceIsLocked(`Instance ${instance.uuid} is locked`)
    }
    await startAction(this.#d.db.kysely, {
      instanceUuid: instance.uuid,
      action,
      requestId: ctx.requestId,
      userId: ctx.userId ?? null,
      projectId: ctx.projectId ?? null,
    })
    const service = instance.host
      ? (await this.#d.hosts.recentComputeServices()).get(instance.host)
      : undefined
    if (!instance.host || !service?.up) {
      await this.#localDelete(ctx, instance)
      return
    }
    const deleting = await updateInstance(this.#d.db.kysely, instance.uuid, { taskState: TaskState.DELETING })
    await this.#d.compute.terminateInstance(ctx, deleting)
  }

  async #localDelete(ctx: RequestContext, instance: Instance): Promise<void> {
    await this.#d.db.transaction(async (trx) => {
      await markInstanceDeleted(trx, instance.uuid)
      await finishAction(trx, instance.uuid, ctx.requestId)
    })
    // Nova's local delete releases the ports too (preserving the ones the server was given).
    const requested = instance.requestedNetworks
    const preserve = Array.isArray(requested) ? requested.flatMap((n) => (n.portId ? [n.portId] : [])) : []
    await this.#d.networkRpc
      .deallocateForInstance(ctx, { instanceUuid: instance.uuid, projectId: instance.projectId, preserve })
      .catch((err: unknown) =>
        log.warn({ err, instance: instance.uuid }, 'ports of a locally deleted server not released'),
      )
    log.info({ instance: instance.uuid, host: instance.host }, 'server deleted locally (no live host)')
  }
}

// ---- helpers ----

export function snapshotOf(flavor: Flavor): FlavorSnapshot {
  return {
    id: flavor.id,
    flavorid: flavor.flavorid,
    name: flavor.name,
    memoryMb: flavor.memoryMb,
    vcpus: flavor.vcpus,
    rootGb: flavor.rootGb,
    ephemeralGb: flavor.ephemeralGb,
    swapMb: flavor.swapMb,
    rxtxFactor: flavor.rxtxFactor,
    isPublic: flavor.isPublic,
    disabled: flavor.disabled,
    description: flavor.description,
    extraSpecs: flavor.extraSpecs,
  }
}

/** Nova's `parse_availability_zone`: `zone`, `zone:host`, `zone:host:node` or `zone::node`. */
export function parseAvailabilityZone(value: string | undefined): {
  zone: string | undefined
  forceHost: string | undefined
  forceNode: string | undefined
} {
  if (!value || !value.includes(':'))
    return { zone: value || undefined, forceHost: undefined, forceNode: undefined }
  const parts = value.split(':')
  if (parts.length === 2)
    return { zone: parts[0] || undefined, forceHost: parts[1] || undefined, forceNode: undefined }
  if (parts.length === 3) {
    return { zone: parts[0] || undefined, forceHost: parts[1] || undefined, forceNode: parts[2] || undefined }
  }
  throw new Invalid('Unable to parse availability_zone')
}

/** Nova's `sanitize_hostname`. */
export function sanitizeHostname(name: string): string {
  let h = [...name].filter((c) => c.codePointAt(0)! <= 0xff).join('')
  h = h.slice(0, HOSTNAME_MAX_CHARS)
  h = h.replace(/[ _.]/g, '-')
  h = h.replace(/[^\w.-]+/gu, '')
  h = h.toLowerCase()
  h = h.replace(/^[.-]+|[.-]+$/g, '')
  return h
}

/** Nova's `_populate_instance_names`: `name-N` and `hostname-N` when several are created. */
export function instanceNames(
  name: string,
  hostname: string | undefined,
  uuid: string,
  index: number,
  count: number,
): { displayName: string; hostname: string } {
  let host = hostname
  if (!host) {
    host = sanitizeHostname(name)
    if (!host) host = `Server-${uuid}`
    else if (count > 1) host = `${host}-${index + 1}`
  }
  return { displayName: count > 1 ? `${name}-${index + 1}` : name, hostname: host }
}

function imageSystemMetadata(image: ImageMeta, ctx: RequestContext): Record<string, string> {
  const meta: Record<string, string> = {
    image_base_image_ref: image.id,
    image_min_ram: String(image.minRamMb),
    image_min_disk: String(image.minDiskGb),
  }
  if (image.diskFormat) meta.image_disk_format = image.diskFormat
  if (image.containerFormat) meta.image_container_format = image.containerFormat
  for (const [k, v] of Object.entries(image.properties)) meta[`image_${k}`] = v
  if (ctx.userName) meta.owner_user_name = ctx.userName
  if (ctx.projectName) meta.owner_project_name = ctx.projectName
  return meta
}

/** A MAC for each requested network NIC (Neutron's fa:16:3e prefix); given ports keep theirs. */
function withMacs(networks: RequestedNetworks): RequestedNetworks {
  if (networks === 'none' || networks === 'auto') return networks
  return networks.map((n) => (n.portId ? n : { ...n, macAddress: randomMac() }))
}

export function randomMac(): string {
  const tail = [...randomBytes(3)].map((b) => b.toString(16).padStart(2, '0'))
  return `${BASE_MAC_PREFIX}:${tail.join(':')}`
}

function randomChars(alphabet: string, length: number): string {
  let out = ''
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)]
  return out
}
