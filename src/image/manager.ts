import { randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { RequestContext } from '../common/context.ts'
import {
  Conflict,
  Forbidden,
  Invalid,
  NimbusError,
  NotFound,
  PayloadTooLarge,
  ServiceUnavailable,
} from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import { logger } from '../common/log.ts'
import type { Database } from '../db/index.ts'
import type { Page } from '../db/paginate.ts'
import { nowIso } from '../db/values.ts'
import { ImageGone } from './errors.ts'
import type { ListQuery } from './list-query.ts'
import {
  MEMBER_STATUSES,
  OS_HASH_ALGO,
  PROPERTY_NAME_MAX_LENGTH,
  canTransition,
  hasData,
  isReservedName,
  type Image,
  type ImageStatus,
  type MemberStatus,
  type Visibility,
} from './model.ts'
import { applyChange, checkMinResource, draftOf, type PatchChange } from './patch.ts'
import type { ImagePolicy } from './policy.ts'
import { parseRange } from './range.ts'
import * as repo from './repository.ts'
import { validateImageObject } from './schemas.ts'
import { imageVisible } from './visibility.ts'
import { isInspectable, virtualSizeOf } from './store/format-inspector.ts'
import type { ByteRange, FileStore, StoredImageData } from './store/file-store.ts'

/**
 * The image service's work, one method per API operation, each taking the
 * caller's context. It applies Glance's rules in Glance's order (visibility,
 * policy, ownership, status), so status codes and messages match; the HTTP
 * layer only parses requests and renders what comes back.
 */

export interface ImageManagerOptions {
  readonly db: Database
  readonly store: FileStore
  readonly policy: ImagePolicy
  /** Largest upload accepted (config image.max_image_size_bytes). */
  readonly maxImageSizeBytes: number
}

/** A download about to be sent. */
export interface ImageDownload {
  readonly stream: Readable
  /** Size of the whole image. */
  readonly size: number
  /** The bytes sent, both ends included; undefined for the whole image. */
  readonly range: ByteRange | undefined
  readonly checksum: string | null
}

/** Keys a create body may not carry at all (Glance's _disallowed_properties). */
const DISALLOWED_ON_CREATE = ['direct_url', 'self', 'file', 'schema', 'stores']
/** Keys of a create body that become image attributes; everything else is an extra property. */
const CREATE_BASE_KEYS = [
  'name',
  'visibility',
  'protected',
  'os_hidden',
  'min_disk',
  'min_ram',
  'owner',
  'disk_format',
  'container_format',
  'id',
]
/** Attributes a create may not set (Glance's ImageFactory._readonly_properties). */
const READONLY_ON_CREATE = [
  'created_at',
  'updated_at',
  'status',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'size',
  'virtual_size',
]
/** Extra property names a create may not use (Glance's ImageFactory._reserved_properties). */
const RESERVED_ON_CREATE: ReadonlySet<string> = new Set(['locations', 'deleted', 'deleted_at', 'location'])

const log = logger('image.manager')

export class ImageManager {
  readonly #db: Database
  readonly #store: FileStore
  readonly #policy: ImagePolicy
  readonly #maxImageSizeBytes: number

  constructor(opts: ImageManagerOptions) {
    this.#db = opts.db
    this.#store = opts.store
    this.#policy = opts.policy
    this.#maxImageSizeBytes = opts.maxImageSizeBytes
  }

  /**
   * Prepares the store and undoes what a process that died mid-upload left:
   * temporary files go, and images stuck in `saving` go back to `queued`
   * (what Glance does for a failed upload), so they can be uploaded again.
   */
  async recover(): Promise<void> {
    await this.#store.init()
    const reset = await repo.resetStatus(this.#db, 'saving', 'queued')
    if (reset > 0)
      log.warn({ images: reset }, 'images left in saving by an interrupted upload are queued again')
  }

  // ---- images ----

  async create(ctx: RequestContext, body: unknown): Promise<Image> {
    const fields = parseCreateBody(body)
    const owner = fields.owner === undefined ? (ctx.projectId ?? null) : (fields.owner as string | null)
    const visibility = (fields.visibility ?? 'shared') as Visibility
    this.#policy.enforceCreate(ctx, { owner, visibility })
    const now = nowIso()
    const image: Image = {
      id: (fields.id as string | undefined) ?? randomUUID(),
      name: (fields.name as string | null | undefined) ?? null,
      status: 'queued',
      visibility,
      owner,
      disk_format: (fields.disk_format as string | null | undefined) ?? null,
      container_format: (fields.container_format as string | null | undefined) ?? null,
      size: null,
      virtual_size: null,
      checksum: null,
      os_hash_algo: null,
      os_hash_value: null,
      min_disk: (fields.min_disk as number | undefined) ?? 0,
      min_ram: (fields.min_ram as number | undefined) ?? 0,
      protected: (fields.protected as boolean | undefined) ?? false,
      os_hidden: (fields.os_hidden as boolean | undefined) ?? false,
      tags: [...new Set(fields.tags)],
      properties: fields.properties,
      created_at: now,
      updated_at: now,
    }
    checkQuotas(image)
    try {
      await repo.insertImage(this.#db, image)
    } catch (err) {
      if (repo.isDuplicate(err)) throw new Conflict(`Image with identifier ${image.id} already exists!`)
      throw err
    }
    return image
  }

  async list(ctx: RequestContext, query: ListQuery): Promise<Page<Image>> {
    this.#policy.enforceList(ctx)
    if (query.marker !== undefined) await this.#checkMarker(ctx, query.marker)
    const page = await repo.listImages(this.#db, query, {
      projectId: ctx.projectId,
      isAdmin: this.#isAdmin(ctx),
    })
    // Glance lists by visibility in SQL, then drops what get_image refuses (stricter operator rules).
    return { items: page.items.filter((i) => this.#policy.check(ctx, 'get_image', i)), hasMore: page.hasMore }
  }

  /** A marker must be an image the caller can see: unknown is a 400, invisible a 403 (as in Glance). */
  async #checkMarker(ctx: RequestContext, marker: string): Promise<void> {
    const image = await repo.findImage(this.#db, marker)
    if (!image) throw new Invalid(`No image found with ID ${marker}`)
    if (!(await this.#canSee(ctx, image)))
      throw new Forbidden(`Forbidding request, image ${marker} not visible`)
  }

  /** The image, if the caller may see it; NotFound otherwise (whether it exists or not). */
  async get(ctx: RequestContext, id: string): Promise<Image> {
    const image = await this.#lookup(ctx, id)
    this.#policy.enforce(ctx, 'get_image', image)
    return image
  }

  async update(ctx: RequestContext, id: string, changes: readonly PatchChange[]): Promise<Image> {
    const image = await this.#lookup(ctx, id)
    if (changes.length === 0) return image
    const draft = draftOf(image)
    for (const change of changes) {
      this.#authorizeChange(ctx, image, change)
      applyChange(draft, change)
    }
    const updated: Image = { ...(draft.fields as unknown as Image), properties: draft.properties }
    checkQuotas(updated)
    const saved = await repo.updateImage(this.#db, id, {
      fields: changedFields(image, updated),
      properties: updated.properties,
      tags: updated.tags,
    })
    if (!saved) throw new NotFound(`No image found with ID ${id}`)
    return this.#reload(id)
  }

  /** The checks Glance makes before each patch operation. */
  #authorizeChange(ctx: RequestContext, image: Image, change: PatchChange): void {
    const root = change.path[0]!
    if (root === 'locations') return
    if (root === 'owner' && change.op !== 'remove' && !this.#isAdmin(ctx)) {
      throw new Forbidden("Owner can't be updated by non admin.")
    }
    if (root === 'visibility')
      this.#policy.enforceVisibility(ctx, change.value, this.#policy.target(ctx, image))
    this.#policy.enforce(ctx, 'modify_image', image)
    this.#policy.checkMutable(ctx, image)
  }

  async delete(ctx: RequestContext, id: string): Promise<void> {
    const image = await this.#lookup(ctx, id, `Failed to find image ${id} to delete`)
    this.#policy.enforce(ctx, 'delete_image', image)
    this.#policy.checkMutable(ctx, image)
    if (image.protected) throw new Forbidden(`Image ${id} is protected and cannot be deleted.`)
    if (!(await repo.deleteImage(this.#db, id))) throw new NotFound(`Failed to find image ${id} to delete`)
    await this.#store.delete(id)
  }

  async deactivate(ctx: RequestContext, id: string): Promise<void> {
    await this.#setActivation(ctx, id, 'deactivate', 'active', 'deactivated')
  }

  async reactivate(ctx: RequestContext, id: string): Promise<void> {
    await this.#setActivation(ctx, id, 'reactivate', 'deactivated', 'active')
  }

  /** Deactivate/reactivate: a no-op when already there, 403 from any other status. */
  async #setActivation(
    ctx: RequestContext,
    id: string,
    action: 'deactivate' | 'reactivate',
    from: ImageStatus,
    to: ImageStatus,
  ): Promise<void> {
    const image = await this.#lookup(ctx, id)
    this.#policy.enforce(ctx, action, image)
    this.#policy.checkMutable(ctx, image)
    if (image.status === to) return
    if (image.status !== from || !(await repo.updateImage(this.#db, id, { fields: { status: to } }, from))) {
      throw new Forbidden(`Not allowed to ${action} image in status '${image.status}'`)
    }
  }

  // ---- data ----

  /**
   * Stores the image's data from `source` (queued -> saving -> active). Any
   * failure puts the image back in `queued` with nothing stored, as Glance
   * does, so the upload can be retried.
   */
  async upload(ctx: RequestContext, id: string, source: Readable, contentLength?: number): Promise<void> {
    const image = await this.#lookup(ctx, id)
    this.#policy.enforce(ctx, 'upload_image', image)
    if (!this.#isMutable(ctx, image)) throw new Forbidden(`Not allowed to upload image data for image ${id}`)
    if (contentLength !== undefined && contentLength > this.#maxImageSizeBytes) {
      throw new PayloadTooLarge('The incoming image is too large: The provided image is too large.')
    }
    await this.#startSaving(image)
    let data: StoredImageData
    try {
      data = await this.#store.add(id, source, { maxSizeBytes: this.#maxImageSizeBytes })
    } catch (err) {
      await this.#restoreQueued(id)
      throw uploadError(err)
    }
    await this.#finishSaving(image, data)
  }

  /** queued -> saving, as a compare-and-set so two uploads cannot both start. */
  async #startSaving(image: Image): Promise<void> {
    if (!canTransition(image.status, 'saving')) throw statusConflict(image.status, 'saving')
    const missing = (['disk_format', 'container_format'] as const).filter((f) => !image[f])
    if (missing.length === 1) throw new Invalid(`Property ${missing[0]} must be set prior to saving data.`)
    if (missing.length > 1)
      throw new Invalid(`Properties ${missing.join(', ')} must be set prior to saving data.`)
    if (!(await repo.updateImage(this.#db, image.id, { fields: { status: 'saving' } }, 'queued'))) {
      const now = await repo.findImage(this.#db, image.id)
      if (!now) throw new NotFound(`No image found with ID ${image.id}`)
      throw statusConflict(now.status, 'saving')
    }
  }

  /** saving -> active with the size and hashes; if the image was deleted meanwhile, drop the data (410). */
  async #finishSaving(image: Image, data: StoredImageData): Promise<void> {
    const virtualSize = isInspectable(image.disk_format, image.container_format)
      ? virtualSizeOf(image.disk_format, data.header, data.size)
      : null
    const fields = {
      status: 'active',
      size: data.size,
      virtual_size: virtualSize ?? image.virtual_size,
      checksum: data.checksum,
      os_hash_algo: OS_HASH_ALGO,
      os_hash_value: data.osHashValue,
    }
    if (!(await repo.updateImage(this.#db, image.id, { fields }, 'saving'))) {
      await this.#store.delete(image.id)
      throw new ImageGone(
        `Image ${image.id} could not be found after upload. The image may have been deleted during the upload, cleaning up the chunks uploaded.`,
      )
    }
  }

  async #restoreQueued(id: string): Promise<void> {
    try {
      await repo.updateImage(
        this.#db,
        id,
        { fields: { status: 'queued', size: null, virtual_size: null } },
        'saving',
      )
    } catch (err) {
      log.error({ err, image_id: id }, 'could not put the image back in queued after a failed upload')
    }
  }

  /**
   * Opens the image's data (or `rangeHeader` of it) for download; undefined
   * when the image has no data yet (Glance answers 204).
   */
  async download(ctx: RequestContext, id: string, rangeHeader?: string): Promise<ImageDownload | undefined> {
    const image = await this.#lookup(ctx, id)
    if (image.status === 'deactivated' && !this.#isAdmin(ctx)) {
      throw new Forbidden('The requested image has been deactivated. Image data download is forbidden.')
    }
    this.#policy.enforce(ctx, 'download_image', image)
    if (!hasData(image)) return undefined
    const size = (await this.#store.size(id)) ?? undefined
    if (size === undefined) return undefined
    const range = parseRange(rangeHeader, size)
    const opened = await this.#store.open(id, range)
    return { stream: opened.stream, size: opened.size, range, checksum: image.checksum }
  }

  // ---- tags ----

  async addTag(ctx: RequestContext, id: string, tag: string): Promise<void> {
    validateImageObject({ tags: [tag] })
    const image = await this.#lookup(ctx, id, `Image ${id} not found.`)
    this.#authorizeModify(ctx, image, `Not allowed to update tags for image ${id}.`)
    if (!image.tags.includes(tag) && image.tags.length + 1 > limits.imageTagsMax) {
      throw new PayloadTooLarge(
        `Image tag limit exceeded for image ${id}: The limit has been exceeded on the number of allowed image tags. Attempted: ${image.tags.length + 1}, Maximum: ${limits.imageTagsMax}:`,
      )
    }
    await repo.addTag(this.#db, id, tag)
  }

  async removeTag(ctx: RequestContext, id: string, tag: string): Promise<void> {
    const image = await this.#lookup(ctx, id, `Image ${id} not found.`)
    this.#authorizeModify(ctx, image, `Not allowed to delete tags for image ${id}.`)
    if (!(await repo.removeTag(this.#db, id, tag))) throw new NotFound('The resource could not be found.')
  }

  /** modify_image and ownership, with the operation's own 403 message. */
  #authorizeModify(ctx: RequestContext, image: Image, message: string): void {
    this.#policy.enforce(ctx, 'modify_image', image)
    if (!this.#isMutable(ctx, image)) throw new Forbidden(message)
  }

  // ---- members ----

  async addMember(ctx: RequestContext, imageId: string, body: unknown): Promise<repo.ImageMember> {
    const memberId = parseMemberBody(body)
    const image = await this.#lookup(ctx, imageId, `Image ${imageId} not found.`)
    const denied = `Not allowed to create members for image ${imageId}.`
    this.#checkShared(image, denied)
    if (!this.#isAdmin(ctx) && (image.owner === null || image.owner !== ctx.projectId))
      throw new Forbidden(denied)
    this.#enforceMember(ctx, image, 'add_member', denied)
    try {
      const member = await repo.insertMember(this.#db, imageId, memberId, limits.imageMembersMax)
      if (member) return member
    } catch (err) {
      if (repo.isDuplicate(err)) throw new Conflict(`Member ${memberId} is duplicated for image ${imageId}`)
      throw err
    }
    throw new PayloadTooLarge(
      `Image member limit exceeded for image ${imageId}: The limit has been exceeded on the number of allowed image members for this image. Attempted: ${limits.imageMembersMax + 1}, Maximum: ${limits.imageMembersMax}:`,
    )
  }

  async listMembers(ctx: RequestContext, imageId: string): Promise<repo.ImageMember[]> {
    const image = await this.#lookup(ctx, imageId, `Image ${imageId} not found.`)
    const denied = `Not allowed to list members for image ${imageId}: Only shared images have members.`
    this.#checkShared(image, denied)
    this.#enforceMember(ctx, image, 'get_members', `Not allowed to list members for image ${imageId}`)
    const members = await repo.listMembers(this.#db, imageId)
    return members.filter((m) => this.#seesMember(ctx, image, m.member_id))
  }

  async getMember(ctx: RequestContext, imageId: string, memberId: string): Promise<repo.ImageMember> {
    const image = await this.#lookup(ctx, imageId, `Image ${imageId} not found.`)
    // Glance answers 404 here rather than 403, not to tell what exists.
    if (image.visibility !== 'shared') throw new NotFound('Only shared images have members.')
    return this.#lookupMember(ctx, image, memberId, NotFound)
  }

  async updateMember(
    ctx: RequestContext,
    imageId: string,
    memberId: string,
    body: unknown,
  ): Promise<repo.ImageMember> {
    const status = parseMemberStatusBody(body)
    const image = await this.#lookup(ctx, imageId, `Image ${imageId} not found.`)
    const denied = `Not allowed to update members for image ${imageId}.`
    this.#checkShared(image, denied)
    // The owner shares; only the member (or an admin) answers.
    if (!this.#isAdmin(ctx) && ctx.projectId === image.owner) throw new Forbidden(denied)
    await this.#lookupMember(ctx, image, memberId, Forbidden)
    this.#enforceMember(ctx, image, 'modify_member', denied)
    if (!(MEMBER_STATUSES as readonly string[]).includes(status as string)) {
      throw new Invalid('Incorrect request: Status must be "pending", "accepted" or "rejected".')
    }
    return repo.updateMemberStatus(this.#db, imageId, memberId, status as MemberStatus)
  }

  async deleteMember(ctx: RequestContext, imageId: string, memberId: string): Promise<void> {
    const image = await this.#lookup(ctx, imageId, `Image ${imageId} not found.`)
    const denied = `Not allowed to delete members for image ${imageId}.`
    this.#checkShared(image, denied)
    if (!this.#isAdmin(ctx) && ctx.projectId !== image.owner) throw new Forbidden(denied)
    await this.#lookupMember(ctx, image, memberId, Forbidden)
    this.#enforceMember(ctx, image, 'delete_member', denied)
    if (!(await repo.deleteMember(this.#db, imageId, memberId))) {
      throw new NotFound(`${memberId} not found in the member list of the image ${imageId}.`)
    }
  }

  #checkShared(image: Image, message: string): void {
    if (image.visibility !== 'shared') throw new Forbidden(message)
  }

  /** Member rules first check get_image (hiding the image), then their own rule. */
  #enforceMember(ctx: RequestContext, image: Image, rule: string, message: string): void {
    this.#policy.enforce(ctx, 'get_image', image)
    if (!this.#policy.check(ctx, rule, image)) throw new Forbidden(message)
  }

  /**
   * A membership the caller may see: the owner and admins see every member,
   * a member only its own (Glance's member query).
   */
  async #lookupMember(
    ctx: RequestContext,
    image: Image,
    memberId: string,
    onDenied: typeof NotFound | typeof Forbidden,
  ): Promise<repo.ImageMember> {
    if (!this.#policy.check(ctx, 'get_member', image)) {
      throw new onDenied(`You are not authorized to lookup the members of the image ${image.id}.`)
    }
    const member = this.#seesMember(ctx, image, memberId)
      ? await repo.findMember(this.#db, image.id, memberId)
      : undefined
    if (!member) throw new NotFound(`${memberId} not found in the member list of the image ${image.id}.`)
    return member
  }

  #seesMember(ctx: RequestContext, image: Image, memberId: string): boolean {
    return this.#isAdmin(ctx) || image.owner === (ctx.projectId ?? null) || memberId === ctx.projectId
  }

  // ---- shared ----

  /** The image if it exists and the caller can see it; NotFound (with `message`) otherwise. */
  async #lookup(ctx: RequestContext, id: string, message = `No image found with ID ${id}`): Promise<Image> {
    const image = await repo.findImage(this.#db, id)
    if (!image || !(await this.#canSee(ctx, image))) throw new NotFound(message)
    return image
  }

  async #reload(id: string): Promise<Image> {
    const image = await repo.findImage(this.#db, id)
    if (!image) throw new NotFound(`No image found with ID ${id}`)
    return image
  }

  /** Glance's is_image_visible (visibility.ts), with the policy's idea of admin. */
  #canSee(ctx: RequestContext, image: Image): Promise<boolean> {
    return imageVisible(
      { isAdmin: this.#isAdmin(ctx), projectId: ctx.projectId },
      image,
      async (projectId) => (await repo.findMember(this.#db, image.id, projectId)) !== undefined,
    )
  }

  #isAdmin(ctx: RequestContext): boolean {
    return this.#policy.isAdmin(ctx)
  }

  #isMutable(ctx: RequestContext, image: Image): boolean {
    return this.#isAdmin(ctx) || (image.owner !== null && image.owner === ctx.projectId)
  }
}

interface CreateFields {
  readonly [key: string]: unknown
  readonly tags: readonly string[]
  readonly properties: Record<string, string>
}

/** A create body checked and split as Glance's deserializer and image factory do. */
function parseCreateBody(body: unknown): CreateFields {
  if (body === undefined) throw new Invalid('Body expected in request.')
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new Invalid("Provided object does not match schema 'image': the body is not a JSON object")
  }
  const given = { ...(body as Record<string, unknown>) }
  for (const key of DISALLOWED_ON_CREATE) {
    if (key in given) throw new Forbidden(`Attribute '${key}' is read-only.`)
  }
  validateImageObject(given)
  for (const key of READONLY_ON_CREATE) {
    if (key in given) throw new Forbidden(`Attribute '${key}' is read-only.`)
  }
  const fields: Record<string, unknown> = {}
  for (const key of CREATE_BASE_KEYS) {
    if (key in given) fields[key] = given[key]
    delete given[key]
  }
  const tags = (given.tags as string[] | undefined) ?? []
  delete given.tags
  for (const key of Object.keys(given)) {
    if (key.length > PROPERTY_NAME_MAX_LENGTH) {
      throw new Invalid('Custom property should not be greater than 255 characters.')
    }
    if (RESERVED_ON_CREATE.has(key) || isReservedName(key))
      throw new Forbidden(`Attribute '${key}' is reserved.`)
  }
  if (typeof fields.min_disk === 'number') checkMinResource('min_disk', fields.min_disk)
  if (typeof fields.min_ram === 'number') checkMinResource('min_ram', fields.min_ram)
  return { ...fields, tags, properties: given as Record<string, string> }
}

/** Glance's image_property_quota and image_tag_quota (413). */
function checkQuotas(image: Image): void {
  const properties = Object.keys(image.properties).length
  if (properties > limits.imagePropertiesMax) {
    throw new PayloadTooLarge(
      `The limit has been exceeded on the number of allowed image properties. Attempted: ${properties}, Maximum: ${limits.imagePropertiesMax}`,
    )
  }
  if (image.tags.length > limits.imageTagsMax) {
    throw new PayloadTooLarge(
      `The limit has been exceeded on the number of allowed image tags. Attempted: ${image.tags.length}, Maximum: ${limits.imageTagsMax}`,
    )
  }
}

/** The base attributes that differ between two versions of an image (to write only those). */
function changedFields(before: Image, after: Image): repo.ImageFieldChanges {
  const out: Record<string, unknown> = {}
  for (const key of repo.WRITABLE_COLUMNS) {
    if (before[key] !== after[key]) out[key] = after[key]
  }
  return out as repo.ImageFieldChanges
}

function parseMemberBody(body: unknown): string {
  if (body === undefined) throw new Invalid('Body expected in request.')
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new Invalid('Expected a member in the form: {"member": "image_id"}')
  }
  const obj = body as Record<string, unknown>
  if (!('member' in obj)) throw new Invalid('Member to be added not specified')
  if (!obj.member) throw new Invalid("Member can't be empty")
  if (typeof obj.member !== 'string')
    throw new Invalid('Expected a member in the form: {"member": "image_id"}')
  return obj.member
}

function parseMemberStatusBody(body: unknown): unknown {
  if (body === undefined) throw new Invalid('Body expected in request.')
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new Invalid('Expected a status in the form: {"status": "status"}')
  }
  const obj = body as Record<string, unknown>
  if (!('status' in obj)) throw new Invalid('Status not specified')
  return obj.status
}

function statusConflict(from: ImageStatus, to: ImageStatus): Conflict {
  return new Conflict(`Image status transition from ${from} to ${to} is not allowed`)
}

/**
 * What a failed upload answers: typed errors as they are; a full disk 413
 * and a store it cannot write to 503 (as Glance); a client that went away
 * a 400 (nobody reads it, but it is not a server fault to log as one).
 */
function uploadError(err: unknown): unknown {
  if (err instanceof NimbusError) return err
  const code = (err as NodeJS.ErrnoException | null)?.code
  const message = err instanceof Error ? err.message : String(err)
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return new PayloadTooLarge(`Image storage media is full: ${message}`)
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new ServiceUnavailable(`Insufficient permissions on image storage media: ${message}`)
  }
  if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || message === 'aborted') {
    return new Invalid(`The image upload was interrupted: ${message}`)
  }
  return err
}
