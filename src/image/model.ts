/**
 * The image domain as Glance v2 (Zed) has it: the fields of an image, the
 * values they may take, and the rules on status changes. Field names are
 * Glance's attribute names, because JSON-patch paths and list filters name
 * them directly.
 */

/** Every status the image schema lists; Nimbus sets queued, saving, active and deactivated. */
export const IMAGE_STATUSES = [
  'queued',
  'saving',
  'active',
  'killed',
  'deleted',
  'uploading',
  'importing',
  'pending_delete',
  'deactivated',
] as const
export type ImageStatus = (typeof IMAGE_STATUSES)[number]

export const VISIBILITIES = ['community', 'public', 'private', 'shared'] as const
export type Visibility = (typeof VISIBILITIES)[number]

/** Glance's default `[image_format] disk_formats`. */
export const DISK_FORMATS = [
  'ami',
  'ari',
  'aki',
  'vhd',
  'vhdx',
  'vmdk',
  'raw',
  'qcow2',
  'vdi',
  'iso',
  'ploop',
] as const
/** Glance's default `[image_format] container_formats`. */
export const CONTAINER_FORMATS = ['ami', 'ari', 'aki', 'bare', 'ovf', 'ova', 'docker', 'compressed'] as const

export const MEMBER_STATUSES = ['pending', 'accepted', 'rejected'] as const
export type MemberStatus = (typeof MEMBER_STATUSES)[number]

/** Glance's default `hashing_algorithm`: what `os_hash_algo` says and `os_hash_value` holds. */
export const OS_HASH_ALGO = 'sha512'

/** Extra property names starting with this are Glance's own (`os_glance_*`): users may not set them. */
export const RESERVED_NAMESPACE = 'os_glance'

/** Longest extra property name (Glance's image_properties.name column). */
export const PROPERTY_NAME_MAX_LENGTH = 255

/** Largest min_disk / min_ram Glance stores (a signed 32-bit column). */
export const MIN_RESOURCE_MAX = 2 ** 31 - 1

/** An image as stored and shown. `properties` are the extra (free-form) string properties. */
export interface Image {
  readonly id: string
  readonly name: string | null
  readonly status: ImageStatus
  readonly visibility: Visibility
  readonly owner: string | null
  readonly disk_format: string | null
  readonly container_format: string | null
  readonly size: number | null
  readonly virtual_size: number | null
  readonly checksum: string | null
  readonly os_hash_algo: string | null
  readonly os_hash_value: string | null
  readonly min_disk: number
  readonly min_ram: number
  readonly protected: boolean
  readonly os_hidden: boolean
  readonly tags: readonly string[]
  readonly properties: Readonly<Record<string, string>>
  readonly created_at: string
  readonly updated_at: string
}

/** The fields of an image a JSON patch or a create body may set (besides extra properties). */
export const MUTABLE_FIELDS = [
  'name',
  'visibility',
  'protected',
  'os_hidden',
  'min_disk',
  'min_ram',
  'owner',
  'disk_format',
  'container_format',
  'tags',
] as const
export type MutableField = (typeof MUTABLE_FIELDS)[number]

/** Every attribute of an image that is not an extra property (Glance's domain attributes). */
export const BASE_FIELDS: ReadonlySet<string> = new Set([
  ...MUTABLE_FIELDS,
  'id',
  'status',
  'size',
  'virtual_size',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'created_at',
  'updated_at',
])

/** What a client may never write (Glance's RequestDeserializer._readonly_properties). */
export const READONLY_FIELDS: ReadonlySet<string> = new Set([
  'created_at',
  'updated_at',
  'status',
  'checksum',
  'size',
  'virtual_size',
  'direct_url',
  'self',
  'file',
  'schema',
  'id',
  'os_hash_algo',
  'os_hash_value',
])

/** Names Glance keeps for itself (RequestDeserializer._reserved_properties). */
export const RESERVED_FIELDS: ReadonlySet<string> = new Set(['location', 'deleted', 'deleted_at'])

/** Status changes Glance allows (glance.domain.Image.valid_state_targets). */
const STATUS_TARGETS: Readonly<Record<ImageStatus, readonly ImageStatus[]>> = {
  queued: ['saving', 'uploading', 'importing', 'active', 'deleted'],
  saving: ['active', 'killed', 'deleted', 'queued'],
  uploading: ['importing', 'queued', 'deleted'],
  importing: ['active', 'deleted', 'queued'],
  active: ['pending_delete', 'deleted', 'deactivated'],
  killed: ['deleted'],
  pending_delete: ['deleted', 'active'],
  deleted: [],
  deactivated: ['active', 'deleted'],
}

export function canTransition(from: ImageStatus, to: ImageStatus): boolean {
  return STATUS_TARGETS[from].includes(to)
}

/** True when `name` is Glance-reserved for extra properties (403 on create or patch). */
export function isReservedName(name: string): boolean {
  return RESERVED_FIELDS.has(name) || name.startsWith(RESERVED_NAMESPACE)
}

/** Glance's data-bearing statuses: the only ones whose file can be read. */
export function hasData(image: Pick<Image, 'status'>): boolean {
  return image.status === 'active' || image.status === 'deactivated'
}
