import { randomInt } from 'node:crypto'
import type { Config } from '../common/config.ts'
import type { RequestContext } from '../common/context.ts'
import { Conflict, Forbidden, Invalid, NotFound, registerErrorClass } from '../common/errors.ts'
import { logger } from '../common/log.ts'
import type { ConductorRpcApi } from '../conductor/rpcapi.ts'
import type { Database } from '../db/index.ts'
import { InstanceIsLocked, MetadataLimitExceeded } from './api.ts'
import { startAction } from './db/actions.ts'
import { updateInstance } from './db/instances.ts'
import { getKeyPair, KeypairNotFound } from './db/keypairs.ts'
import { checkFlavorFitsImage } from './flavor-image.ts'
import { GlanceClient, imageEndpointFromCatalog } from './glance.ts'
import type { HostApi } from './host-api.ts'
import { ImageNotActive, ImageNotFound, type ImageMeta } from '../objects/image.ts'
import type { ComputeImageApi } from './image.ts'
import type { Instance, InstanceUpdates } from './objects.ts'
import type { QuotaEngine } from './quota.ts'
import type { ComputeRpcApi, PowerAction } from './rpcapi.ts'
import { TaskState, VmState } from './states.ts'
import { VirtInvalidState, VirtNotSupported, type RebootType } from './virt/driver.ts'

const log = logger('compute.actions.api')

/**
 * The API side of the server actions (Nova's `compute.api.API` methods of
 * the same names): the lock check, the vm/task state check of
 * `@check_instance_state` with Nova's 409 message, the task state set with a
 * guarded update and the instance action recorded in one transaction, then
 * the RPC to the host (or the conductor, for unshelve).
 */

/** Nova's InstanceInvalidState, rendered as the API's 409 ("Cannot 'pause' instance ... while it is in vm_state paused"). */
export class InstanceInvalidState extends Conflict {}
registerErrorClass(InstanceInvalidState)

/** Which states an action accepts (Nova's `@check_instance_state`). */
export interface StateRule {
  /** undefined: any vm state. */
  readonly vmStates?: readonly string[] | undefined
  /** Default: no task running ([null]); undefined entries mean any. */
  readonly taskStates?: readonly (string | null)[] | null | undefined
  /** The server must have been launched once (default true, as Nova). */
  readonly mustHaveLaunched?: boolean | undefined
}

const V = VmState
const T = TaskState

/** Nova's task_states.ALLOW_REBOOT: a hard reboot may interrupt these. */
export const ALLOW_REBOOT_TASK_STATES: readonly (string | null)[] = [
  null,
  T.REBOOTING,
  T.REBOOT_PENDING,
  T.REBOOT_STARTED,
  T.RESUMING,
  T.REBOOTING_HARD,
  T.UNPAUSING,
  T.PAUSING,
  T.SUSPENDING,
]

/** Every action's state rule, by the name the 409 message uses (nova/compute/api.py). */
export const ACTION_STATE_RULES: Readonly<Record<string, StateRule>> = {
  'reboot:SOFT': { vmStates: [V.ACTIVE] },
  'reboot:HARD': {
    vmStates: [V.ACTIVE, V.STOPPED, V.PAUSED, V.SUSPENDED, V.ERROR],
    taskStates: ALLOW_REBOOT_TASK_STATES,
  },
  stop: { vmStates: [V.ACTIVE, V.ERROR] },
  start: { vmStates: [V.STOPPED] },
  pause: { vmStates: [V.ACTIVE] },
  unpause: { vmStates: [V.PAUSED] },
  suspend: { vmStates: [V.ACTIVE] },
  resume: { vmStates: [V.SUSPENDED] },
  rescue: { vmStates: [V.ACTIVE, V.STOPPED, V.ERROR] },
  unrescue: { vmStates: [V.RESCUED] },
  rebuild: { vmStates: [V.ACTIVE, V.STOPPED, V.ERROR] },
  createImage: { vmStates: [V.ACTIVE, V.STOPPED, V.PAUSED, V.SUSPENDED] },
  createBackup: { vmStates: [V.ACTIVE, V.STOPPED, V.PAUSED, V.SUSPENDED] },
  shelve: { vmStates: [V.ACTIVE, V.STOPPED, V.PAUSED, V.SUSPENDED] },
  shelveOffload: { vmStates: [V.SHELVED] },
  unshelve: { vmStates: [V.SHELVED, V.SHELVED_OFFLOADED] },
  changePassword: { vmStates: [V.ACTIVE] },
  restore: { vmStates: [V.SOFT_DELETED] },
}

/** The task state each power action sets. */
const POWER_TASKS: Readonly<Record<PowerAction, TaskState>> = {
  pause: T.PAUSING,
  unpause: T.UNPAUSING,
  suspend: T.SUSPENDING,
  resume: T.RESUMING,
}

/**
 * Nova's `check_instance_state`: the 409 names the first thing wrong (vm
 * state, then task state, then never launched), with Python's `None`.
 */
export function checkInstanceState(instance: Instance, action: string, rule: StateRule): void {
  const fail = (attr: string, state: string | null) => {
    throw new InstanceInvalidState(
      `Cannot '${action}' instance ${instance.uuid} while it is in ${attr} ${state ?? 'None'}`,
    )
  }
  if (rule.vmStates && !rule.vmStates.includes(instance.vmState)) fail('vm_state', instance.vmState)
  const tasks = rule.taskStates === undefined ? [null] : rule.taskStates
  if (tasks !== null && !tasks.includes(instance.taskState)) fail('task_state', instance.taskState)
  if ((rule.mustHaveLaunched ?? true) && !instance.launchedAt) fail('launched_at', null)
}

/** Nova's `check_instance_lock`: a locked server refuses everyone but admins. */
export function checkInstanceLock(ctx: RequestContext, instance: Instance): void {
  if (instance.lockedBy !== null && !ctx.isAdmin)
    throw new InstanceIsLocked(`Instance ${instance.uuid} is locked`)
}

export interface RebuildRequest {
  readonly imageRef: string
  readonly adminPassword: string
  readonly preserveEphemeral: boolean
  readonly updates: InstanceUpdates
  /** 2.54: a key pair name, or null to remove the key; undefined leaves it. */
  readonly keyName?: string | null | undefined
}

export interface UnshelveOptions {
  /** 2.77: undefined = not given; null (2.91) unpins the zone. */
  readonly availabilityZone?: string | null | undefined
  /** 2.91 (admin). */
  readonly host?: string | undefined
}

/** How an action starts: its name (the 409 message and the instance action), task state and checks. */
interface BeginOptions {
  readonly action: string
  readonly taskState: TaskState
  readonly rule?: StateRule | undefined
  /** The task states the guarded update accepts (default: none running). */
  readonly expected?: readonly (string | null)[] | undefined
  /** The lock and state were checked already. */
  readonly checked?: boolean | undefined
  readonly extra?: InstanceUpdates | undefined
}

export interface ServerActionsDeps {
  readonly db: Database
  readonly config: Config
  readonly hosts: HostApi
  readonly images: ComputeImageApi
  readonly quotas: QuotaEngine
  readonly compute: ComputeRpcApi
  readonly conductor: ConductorRpcApi
}

/** Characters and length of a generated password (Nova's `generate_password`). */
const PASSWORD_CHARS = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789'
const PASSWORD_LENGTH = 12
/** Image properties a snapshot does not inherit (Nova's NON_INHERITABLE_IMAGE_PROPERTIES and namespaces). */
const NON_INHERITABLE_PROPERTIES = new Set(['cache_in_nova', 'bittorrent'])
const NON_INHERITABLE_PREFIXES = ['img_signature', 'os_glance']
/** System metadata keys that describe the image, not properties of it. */
const IMAGE_FIELDS = new Set(['min_ram', 'min_disk', 'disk_format', 'container_format', 'size'])

export class ServerActionsApi {
  readonly #d: ServerActionsDeps

  constructor(deps: ServerActionsDeps) {
    this.#d = deps
  }

  /** A password Nova would generate. */
  static generatePassword(): string {
    let out = ''
    for (let i = 0; i < PASSWORD_LENGTH; i++) out += PASSWORD_CHARS[randomInt(PASSWORD_CHARS.length)]
    return out
  }

  // ---- power ----

  async reboot(ctx: RequestContext, instance: Instance, type: RebootType): Promise<void> {
    const hard = type === 'HARD'
    const rule = ACTION_STATE_RULES[`reboot:${type}`]!
    const updated = await this.#begin(ctx, instance, {
      action: 'reboot',
      rule,
      taskState: hard ? T.REBOOTING_HARD : T.REBOOTING,
      expected: rule.taskStates ?? [null],
    })
    await this.#d.compute.rebootInstance(ctx, updated, type)
  }

  async stop(ctx: RequestContext, instance: Instance): Promise<void> {
    this.#checkHost(instance)
    const updated = await this.#begin(ctx, instance, { action: 'stop', taskState: T.POWERING_OFF })
    await this.#d.compute.stopInstance(ctx, updated)
  }

  async start(ctx: RequestContext, instance: Instance): Promise<void> {
    this.#checkHost(instance)
    const updated = await this.#begin(ctx, instance, { action: 'start', taskState: T.POWERING_ON })
    await this.#d.compute.startInstance(ctx, updated)
  }

  async power(ctx: RequestContext, instance: Instance, action: PowerAction): Promise<void> {
    const updated = await this.#begin(ctx, instance, { action, taskState: POWER_TASKS[action] })
    await this.#d.compute.powerAction(ctx, updated, action)
  }

  // ---- rescue ----

  /** Nova's rescue: the named rescue image (400 if it cannot be used) or the server's own image. */
  async rescue(
    ctx: RequestContext,
    instance: Instance,
    password: string,
    rescueImageRef: string | undefined,
  ): Promise<void> {
    checkInstanceLock(ctx, instance)
    checkInstanceState(instance, 'rescue', ACTION_STATE_RULES.rescue!)
    let image: ImageMeta
    try {
      image = await this.#d.images.get(ctx, rescueImageRef ?? instance.imageRef)
    } catch (err) {
      if (err instanceof ImageNotFound && rescueImageRef !== undefined)
        throw new Invalid(`Requested rescue image '${rescueImageRef}' is not supported`)
      throw err
    }
    const updated = await this.#begin(ctx, instance, { action: 'rescue', taskState: T.RESCUING })
    await this.#d.compute.rescueInstance(ctx, updated, { image, adminPassword: password })
  }

  async unrescue(ctx: RequestContext, instance: Instance): Promise<void> {
    const updated = await this.#begin(ctx, instance, { action: 'unrescue', taskState: T.UNRESCUING })
    await this.#d.compute.unrescueInstance(ctx, updated)
  }

  // ---- rebuild ----

  /**
   * Nova's rebuild: the image must exist (400 "Cannot find image for
   * rebuild"), be active and fit the flavor; the key pair is the caller's;
   * metadata within quota. The instance takes the new image (its image_*
   * system metadata replaced) and the given fields, goes REBUILDING, and its
   * host respawns it.
   */
  async rebuild(ctx: RequestContext, instance: Instance, req: RebuildRequest): Promise<Instance> {
    checkInstanceLock(ctx, instance)
    checkInstanceState(instance, 'rebuild', ACTION_STATE_RULES.rebuild!)
    let image: ImageMeta
    try {
      image = await this.#d.images.get(ctx, req.imageRef)
    } catch (err) {
      if (err instanceof ImageNotFound) throw new Invalid('Cannot find image for rebuild')
      throw err
    }
    if (image.status !== 'active') throw new ImageNotActive(`Image ${image.id} is not active.`)
    checkFlavorFitsImage(instance.flavor, image, ctx.isAdmin)
    const updates: Record<string, unknown> = { ...req.updates }
    if (req.updates.metadata) await this.#checkMetadataQuota(ctx, req.updates.metadata)
    if (req.keyName === null) Object.assign(updates, { keyName: null, keyData: null })
    else if (req.keyName !== undefined) {
      try {
        const key = await getKeyPair(this.#d.db.kysely, ctx.userId ?? '', req.keyName)
        Object.assign(updates, { keyName: key.name, keyData: key.publicKey })
      } catch (err) {
        if (err instanceof KeypairNotFound) throw new Invalid('Invalid key_name provided.')
        throw err
      }
    }
    const systemMetadata: Record<string, string> = {}
    for (const [k, v] of Object.entries(instance.systemMetadata))
      if (!k.startsWith('image_')) systemMetadata[k] = v
    Object.assign(systemMetadata, imageSystemMetadata(image))
    const updated = await this.#begin(ctx, instance, {
      action: 'rebuild',
      taskState: T.REBUILDING,
      checked: true,
      extra: {
        ...(updates as InstanceUpdates),
        imageRef: image.id,
        kernelId: image.properties.kernel_id ?? '',
        ramdiskId: image.properties.ramdisk_id ?? '',
        progress: 0,
        systemMetadata,
      },
    })
    await this.#d.compute.rebuildInstance(ctx, updated, {
      image,
      adminPassword: req.adminPassword,
      preserveEphemeral: req.preserveEphemeral,
    })
    return updated
  }

  // ---- images ----

  /**
   * Nova's snapshot: a queued image (properties from the server's image,
   * plus instance_uuid, user_id, image_type=snapshot), IMAGE_SNAPSHOT_PENDING,
   * then the host uploads. Before 2.39 the metadata counts against the
   * metadata quota (403 "Image metadata limit exceeded"). No lock check, as Nova.
   */
  async snapshot(
    ctx: RequestContext,
    instance: Instance,
    name: string,
    metadata: Readonly<Record<string, string>>,
    checkQuota: boolean,
  ): Promise<{ imageId: string; imageApiUrl: string }> {
    checkInstanceState(instance, 'createImage', ACTION_STATE_RULES.createImage!)
    if (checkQuota) await this.#checkImageMetadataQuota(ctx, metadata)
    const { glance, image } = await this.#createImage(ctx, instance, name, 'snapshot', metadata)
    const updated = await this.#beginWithImage(ctx, instance, glance, image.id, {
      action: 'createImage',
      taskState: T.IMAGE_SNAPSHOT_PENDING,
      checked: true,
    })
    await this.#d.compute.snapshotInstance(ctx, updated, { imageId: image.id, imageApiUrl: glance.baseUrl })
    return { imageId: image.id, imageApiUrl: glance.baseUrl }
  }

  /** Nova's backup: a snapshot of image_type backup with backup_type, then rotation on the host. */
  async backup(
    ctx: RequestContext,
    instance: Instance,
    o: { name: string; backupType: string; rotation: number; metadata: Readonly<Record<string, string>> },
  ): Promise<{ imageId: string; imageApiUrl: string }> {
    checkInstanceState(instance, 'createBackup', ACTION_STATE_RULES.createBackup!)
    await this.#checkImageMetadataQuota(ctx, o.metadata)
    const { glance, image } = await this.#createImage(ctx, instance, o.name, 'backup', {
      ...o.metadata,
      backup_type: o.backupType,
    })
    const updated = await this.#beginWithImage(ctx, instance, glance, image.id, {
      action: 'createBackup',
      taskState: T.IMAGE_BACKUP,
      checked: true,
    })
    await this.#d.compute.backupInstance(ctx, updated, {
      imageId: image.id,
      imageApiUrl: glance.baseUrl,
      backupType: o.backupType,
      rotation: o.rotation,
    })
    return { imageId: image.id, imageApiUrl: glance.baseUrl }
  }

  /** Nova's shelve: the `<name>-shelved` snapshot is created here, the host fills it. */
  async shelve(ctx: RequestContext, instance: Instance): Promise<void> {
    checkInstanceLock(ctx, instance)
    checkInstanceState(instance, 'shelve', ACTION_STATE_RULES.shelve!)
    const { glance, image } = await this.#createImage(
      ctx,
      instance,
      `${instance.displayName}-shelved`,
      'snapshot',
      {},
    )
    const updated = await this.#beginWithImage(ctx, instance, glance, image.id, {
      action: 'shelve',
      taskState: T.SHELVING,
      checked: true,
      extra: { systemMetadata: { ...instance.systemMetadata, image_base_image_ref: instance.imageRef } },
    })
    await this.#d.compute.shelveInstance(ctx, updated, {
      imageId: image.id,
      imageApiUrl: glance.baseUrl,
      offload: this.#d.config.compute.shelvedOffloadTime === 0,
    })
  }

  async shelveOffload(ctx: RequestContext, instance: Instance): Promise<void> {
    const updated = await this.#begin(ctx, instance, {
      action: 'shelveOffload',
      taskState: T.SHELVING_OFFLOADING,
    })
    await this.#d.compute.shelveOffloadInstance(ctx, updated)
  }

  /**
   * Nova's unshelve: a zone (2.77) or host (2.91) only for an offloaded
   * server (409 otherwise); the zone must be available (400), the host must
   * exist (400) and be in the zone (409). The conductor schedules it.
   */
  async unshelve(ctx: RequestContext, instance: Instance, o: UnshelveOptions): Promise<void> {
    checkInstanceLock(ctx, instance)
    checkInstanceState(instance, 'unshelve', ACTION_STATE_RULES.unshelve!)
    const azPassed = o.availabilityZone !== undefined
    if ((azPassed || o.host) && instance.vmState !== V.SHELVED_OFFLOADED) {
      throw new Conflict(
        `Specifying an availability zone or a host when unshelving server "${instance.uuid}" with status "${instance.vmState}" is not supported. The server status must be SHELVED_OFFLOADED.`,
      )
    }
    if (azPassed && o.availabilityZone) {
      const { available } = await this.#d.hosts.availabilityZones()
      if (!available.includes(o.availabilityZone))
        throw new Invalid('The requested availability zone is not available')
    }
    if (o.host) {
      const nodes = await this.#d.hosts.computeNodes()
      if (!nodes.some((n) => n.host === o.host))
        throw new Invalid(`Compute host ${o.host} could not be found.`)
      const wantedZone = azPassed ? o.availabilityZone : null
      const service = await this.#d.hosts.computeService(o.host)
      if (wantedZone && service && service.zone !== wantedZone) {
        throw new Conflict(`Host "${o.host}" is not in the availability zone "${wantedZone}".`)
      }
    }
    const imageApiUrl = await this.#imageApiUrl()
    await this.#begin(ctx, instance, {
      action: 'unshelve',
      taskState: T.UNSHELVING,
      checked: true,
      extra: azPassed ? { availabilityZone: o.availabilityZone ?? null } : {},
    })
    await this.#d.conductor.unshelveInstance(ctx, {
      instanceUuid: instance.uuid,
      imageApiUrl,
      availabilityZone: o.availabilityZone ?? undefined,
      host: o.host,
    })
  }

  /**
   * Nova's `_delete` of a SHELVED or SHELVED_OFFLOADED server also deletes
   * its shelved snapshot; an image already gone, or an image service that
   * refuses, does not stop the delete (logged).
   */
  async deleteShelvedImage(ctx: RequestContext, instance: Instance): Promise<void> {
    const imageId = instance.systemMetadata.shelved_image_id
    if (!imageId || (instance.vmState !== V.SHELVED && instance.vmState !== V.SHELVED_OFFLOADED)) return
    try {
      await new GlanceClient(await this.#imageApiUrl()).delete(ctx, imageId)
    } catch (err) {
      log.warn(
        { instance: instance.uuid, image: imageId, err: (err as Error).message },
        'shelved image not deleted',
      )
    }
  }

  /**
   * Nova's restore of a soft-deleted server. Nimbus deletes at once (no
   * `reclaim_instance_interval`), so in practice this is the 409 for any
   * other state; a SOFT_DELETED server would come back ACTIVE.
   */
  async restore(ctx: RequestContext, instance: Instance): Promise<void> {
    checkInstanceLock(ctx, instance)
    checkInstanceState(instance, 'restore', ACTION_STATE_RULES.restore!)
    await this.#d.db.transaction(async (trx) => {
      await updateInstance(
        trx,
        instance.uuid,
        { vmState: V.ACTIVE, taskState: null },
        { expectedTaskState: [null] },
      )
      await startAction(trx, {
        instanceUuid: instance.uuid,
        action: 'restore',
        requestId: ctx.requestId,
        userId: ctx.userId ?? null,
        projectId: ctx.projectId ?? null,
      })
    })
  }

  // ---- password and console ----

  /**
   * Nova's set_admin_password (a call): the driver's refusal comes back as
   * 501 "Unable to set password on instance" or 409 "Failed to set admin
   * password on <uuid> because <reason>".
   */
  async setAdminPassword(ctx: RequestContext, instance: Instance, password: string): Promise<void> {
    const updated = await this.#begin(ctx, instance, {
      action: 'changePassword',
      taskState: T.UPDATING_PASSWORD,
    })
    try {
      await this.#d.compute.setAdminPassword(ctx, updated, password)
    } catch (err) {
      if (err instanceof VirtNotSupported) throw new VirtNotSupported('Unable to set password on instance')
      if (err instanceof VirtInvalidState)
        throw new Conflict(`Failed to set admin password on ${instance.uuid} because ${err.message}`)
      throw err
    }
  }

  /** Nova's get_console_output: 409 when the server has no host yet; control characters removed. */
  async consoleOutput(ctx: RequestContext, instance: Instance, length: number | null): Promise<string> {
    this.#checkHost(instance)
    const output = await this.#d.compute.getConsoleLog(
      ctx,
      instance,
      length === null || length < 0 ? null : length,
    )
    // eslint-disable-next-line no-control-regex
    return output.replace(/[\x00-\x08\x0B-\x1F]/g, '')
  }

  // ---- helpers ----

  /** Nova's `check_instance_host`: InstanceNotReady (409) without a host. */
  #checkHost(instance: Instance): void {
    if (!instance.host) throw new Conflict(`Instance ${instance.uuid} is not ready`)
  }

  /**
   * The lock and state checks (unless `checked`), then in one transaction
   * the guarded task state update and the instance action.
   */
  async #begin(ctx: RequestContext, instance: Instance, o: BeginOptions): Promise<Instance> {
    if (!o.checked) {
      checkInstanceLock(ctx, instance)
      checkInstanceState(instance, o.action, o.rule ?? ACTION_STATE_RULES[o.action]!)
    }
    return this.#d.db.transaction(async (trx) => {
      const updated = await updateInstance(
        trx,
        instance.uuid,
        { ...o.extra, taskState: o.taskState },
        { expectedTaskState: o.expected ?? [null] },
      )
      await startAction(trx, {
        instanceUuid: instance.uuid,
        action: o.action,
        requestId: ctx.requestId,
        userId: ctx.userId ?? null,
        projectId: ctx.projectId ?? null,
      })
      return updated
    })
  }

  /** #begin for an action that created an image first: the image is deleted if the server moved on meanwhile. */
  async #beginWithImage(
    ctx: RequestContext,
    instance: Instance,
    glance: GlanceClient,
    imageId: string,
    o: BeginOptions,
  ): Promise<Instance> {
    try {
      return await this.#begin(ctx, instance, o)
    } catch (err) {
      await glance
        .delete(ctx, imageId)
        .catch((e: unknown) =>
          log.warn({ image: imageId, err: (e as Error).message }, 'image of a refused action not deleted'),
        )
      if (err instanceof NotFound) {
        throw new InstanceInvalidState(
          `Cannot '${o.action}' instance ${instance.uuid} while it is in vm_state deleted`,
        )
      }
      throw err
    }
  }

  /** Nova's `compute_utils.create_image`: the queued image record, created with the caller's token. */
  async #createImage(
    ctx: RequestContext,
    instance: Instance,
    name: string,
    imageType: 'snapshot' | 'backup',
    extra: Readonly<Record<string, string>>,
  ) {
    const glance = new GlanceClient(await this.#imageApiUrl())
    const body = snapshotImageBody(ctx, instance, name, imageType, extra)
    const image = await glance.create(ctx, body)
    return { glance, image }
  }

  async #imageApiUrl(): Promise<string> {
    return imageEndpointFromCatalog(this.#d.db)
  }

  async #checkMetadataQuota(ctx: RequestContext, metadata: Readonly<Record<string, string>>): Promise<void> {
    const allowed = (await this.#d.quotas.limits(this.#d.db.kysely, ctx.projectId ?? '')).metadata_items
    if (allowed >= 0 && Object.keys(metadata).length > allowed)
      throw new MetadataLimitExceeded(`Maximum number of metadata items exceeds ${allowed}`)
  }

  async #checkImageMetadataQuota(
    ctx: RequestContext,
    metadata: Readonly<Record<string, string>>,
  ): Promise<void> {
    try {
      await this.#checkMetadataQuota(ctx, metadata)
    } catch (err) {
      if (err instanceof MetadataLimitExceeded) throw new Forbidden('Image metadata limit exceeded')
      throw err
    }
  }
}

/**
 * The image record of a snapshot or backup (Nova's
 * `initialize_instance_snapshot_metadata`): the server's image properties
 * from its `image_*` system metadata (less the non-inheritable ones),
 * min_ram/min_disk, private to the owner (shared with the owner's project
 * when someone else snapshots it), and instance_uuid, user_id, image_type.
 * A snapshot leaves the formats to the uploading host.
 */
export function snapshotImageBody(
  ctx: RequestContext,
  instance: Instance,
  name: string,
  imageType: 'snapshot' | 'backup',
  extra: Readonly<Record<string, string>>,
): Record<string, unknown> {
  const sm = instance.systemMetadata
  const body: Record<string, unknown> = { name }
  for (const [key, value] of Object.entries(sm)) {
    if (!key.startsWith('image_')) continue
    const prop = key.slice('image_'.length)
    if (IMAGE_FIELDS.has(prop)) continue
    if (NON_INHERITABLE_PROPERTIES.has(prop) || NON_INHERITABLE_PREFIXES.some((p) => prop.startsWith(p)))
      continue
    body[prop] = value
  }
  if (sm.image_min_ram !== undefined) body.min_ram = Number(sm.image_min_ram)
  if (sm.image_min_disk !== undefined) body.min_disk = Number(sm.image_min_disk)
  if (imageType === 'backup') {
    if (sm.image_disk_format) body.disk_format = sm.image_disk_format
    if (sm.image_container_format) body.container_format = sm.image_container_format
  }
  if (sm.owner_project_name) body.owner_project_name = sm.owner_project_name
  if (sm.owner_user_name) body.owner_user_name = sm.owner_user_name
  const props: Record<string, string> = {
    instance_uuid: instance.uuid,
    user_id: String(ctx.userId ?? ''),
    image_type: imageType,
  }
  if (ctx.projectId !== instance.projectId) {
    body.visibility = 'shared'
    props.instance_owner = instance.projectId
  } else {
    body.visibility = 'private'
  }
  return { ...body, ...props, ...extra }
}

/** The `image_*` system metadata of a (new) image, as the create path records it. */
function imageSystemMetadata(image: ImageMeta): Record<string, string> {
  const meta: Record<string, string> = {
    image_base_image_ref: image.id,
    image_min_ram: String(image.minRamMb),
    image_min_disk: String(image.minDiskGb),
  }
  if (image.diskFormat) meta.image_disk_format = image.diskFormat
  if (image.containerFormat) meta.image_container_format = image.containerFormat
  for (const [k, v] of Object.entries(image.properties)) meta[`image_${k}`] = v
  return meta
}
