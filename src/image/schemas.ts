import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import { Invalid } from '../common/errors.ts'
import { CONTAINER_FORMATS, DISK_FORMATS, IMAGE_STATUSES, MEMBER_STATUSES, VISIBILITIES } from './model.ts'

/**
 * The JSON schemas Glance serves under /v2/schemas and validates image
 * bodies with. glanceclient builds its `image-create` options and its patch
 * documents from `/v2/schemas/image`, so its shape (a permissive schema:
 * extra properties are strings) and its `links` matter.
 */

const UUID_PATTERN = '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$'

type JsonSchema = Record<string, unknown>

const nullable = (type: string): string[] => ['null', type]

/** The base properties of an image (Glance's get_base_properties). */
function baseImageProperties(): Record<string, JsonSchema> {
  return {
    id: { type: 'string', description: 'An identifier for the image', pattern: UUID_PATTERN },
    name: { type: nullable('string'), description: 'Descriptive name for the image', maxLength: 255 },
    status: { type: 'string', readOnly: true, description: 'Status of the image', enum: [...IMAGE_STATUSES] },
    visibility: { type: 'string', description: 'Scope of image accessibility', enum: [...VISIBILITIES] },
    protected: { type: 'boolean', description: 'If true, image will not be deletable.' },
    os_hidden: {
      type: 'boolean',
      description: 'If true, image will not appear in default image list response.',
    },
    checksum: {
      type: nullable('string'),
      readOnly: true,
      description: 'md5 hash of image contents.',
      maxLength: 32,
    },
    os_hash_algo: {
      type: nullable('string'),
      readOnly: true,
      description: 'Algorithm to calculate the os_hash_value',
      maxLength: 64,
    },
    os_hash_value: {
      type: nullable('string'),
      readOnly: true,
      description: 'Hexdigest of the image contents using the algorithm specified by the os_hash_algo',
      maxLength: 128,
    },
    owner: { type: nullable('string'), description: 'Owner of the image', maxLength: 255 },
    size: { type: nullable('integer'), readOnly: true, description: 'Size of image file in bytes' },
    virtual_size: {
      type: nullable('integer'),
      readOnly: true,
      description: 'Virtual size of image in bytes',
    },
    container_format: {
      type: nullable('string'),
      description: 'Format of the container',
      enum: [null, ...CONTAINER_FORMATS],
    },
    disk_format: {
      type: nullable('string'),
      description: 'Format of the disk',
      enum: [null, ...DISK_FORMATS],
    },
    created_at: { type: 'string', readOnly: true, description: 'Date and time of image registration' },
    updated_at: {
      type: 'string',
      readOnly: true,
      description: 'Date and time of the last image modification',
    },
    tags: {
      type: 'array',
      description: 'List of strings related to the image',
      items: { type: 'string', maxLength: 255 },
    },
    direct_url: {
      type: 'string',
      readOnly: true,
      description: 'URL to access the image file kept in external store',
    },
    min_ram: { type: 'integer', description: 'Amount of ram (in MB) required to boot image.' },
    min_disk: { type: 'integer', description: 'Amount of disk space (in GB) required to boot image.' },
    self: { type: 'string', readOnly: true, description: 'An image self url' },
    file: { type: 'string', readOnly: true, description: 'An image file url' },
    stores: {
      type: 'string',
      readOnly: true,
      description:
        'Store in which image data resides. Only present when the operator has enabled multiple stores.',
    },
    schema: { type: 'string', readOnly: true, description: 'An image schema url' },
    locations: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          url: { type: 'string', maxLength: 255 },
          metadata: { type: 'object' },
          validation_data: {
            type: 'object',
            writeOnly: true,
            additionalProperties: false,
            properties: {
              checksum: { type: 'string', minLength: 32, maxLength: 32 },
              os_hash_algo: { type: 'string', maxLength: 64 },
              os_hash_value: { type: 'string', maxLength: 128 },
            },
            required: ['os_hash_algo', 'os_hash_value'],
          },
        },
        required: ['url', 'metadata'],
      },
      description: 'A set of URLs to access the image file kept in external store',
    },
  }
}

/**
 * The properties Debian's /etc/glance/schema-image.json adds (Glance loads
 * it by default), so clients see the same schema as on a packaged Glance.
 */
function customImageProperties(): Record<string, JsonSchema> {
  const custom: Record<string, JsonSchema> = {
    kernel_id: {
      type: nullable('string'),
      pattern: UUID_PATTERN,
      description:
        'ID of image stored in Glance that should be used as the kernel when booting an AMI-style image.',
    },
    ramdisk_id: {
      type: nullable('string'),
      pattern: UUID_PATTERN,
      description:
        'ID of image stored in Glance that should be used as the ramdisk when booting an AMI-style image.',
    },
    instance_uuid: {
      type: 'string',
      description: 'Metadata which can be used to record which instance this image is associated with.',
    },
    architecture: { type: 'string', description: 'Operating system architecture' },
    os_distro: { type: 'string', description: 'Common name of operating system distribution' },
    os_version: { type: 'string', description: 'Operating system version as specified by the distributor.' },
    description: { type: 'string', description: 'A human-readable string describing this image.' },
    cinder_encryption_key_id: {
      type: 'string',
      description:
        'Identifier in the Key Management Service of the key used to mount a volume created from this image',
    },
    cinder_encryption_key_deletion_policy: {
      type: 'string',
      enum: ['on_image_deletion', 'do_not_delete'],
      description: "When the Image Service deletes the key named by 'cinder_encryption_key_id'",
    },
  }
  for (const prop of Object.values(custom)) prop.is_base = false
  return custom
}

/** GET /v2/schemas/image. */
export function imageSchema(): JsonSchema {
  return {
    name: 'image',
    properties: { ...baseImageProperties(), ...customImageProperties() },
    additionalProperties: { type: 'string' },
    links: [
      { rel: 'self', href: '{self}' },
      { rel: 'enclosure', href: '{file}' },
      { rel: 'describedby', href: '{schema}' },
    ],
  }
}

/** GET /v2/schemas/images. */
export function imagesSchema(): JsonSchema {
  return {
    name: 'images',
    properties: {
      images: { type: 'array', items: imageSchema() },
      first: { type: 'string' },
      next: { type: 'string' },
      schema: { type: 'string' },
    },
    links: [
      { rel: 'first', href: '{first}' },
      { rel: 'next', href: '{next}' },
      { rel: 'describedby', href: '{schema}' },
    ],
  }
}

function memberProperties(): Record<string, JsonSchema> {
  return {
    member_id: { type: 'string', description: 'An identifier for the image member (tenantId)' },
    image_id: { type: 'string', description: 'An identifier for the image', pattern: UUID_PATTERN },
    created_at: { type: 'string', description: 'Date and time of image member creation' },
    updated_at: { type: 'string', description: 'Date and time of last modification of image member' },
    status: { type: 'string', description: 'The status of this image member', enum: [...MEMBER_STATUSES] },
    schema: { readOnly: true, type: 'string' },
  }
}

/** GET /v2/schemas/member (Glance serves the minimal form). */
export function memberSchema(): JsonSchema {
  return { name: 'member', properties: memberProperties() }
}

/** GET /v2/schemas/members. */
export function membersSchema(): JsonSchema {
  return {
    name: 'members',
    properties: { members: { type: 'array', items: memberSchema() }, schema: { type: 'string' } },
    links: [{ rel: 'describedby', href: '{schema}' }],
  }
}

const ajv = new Ajv({ allErrors: false, strict: false, coerceTypes: false, useDefaults: false })
let imageValidator: ValidateFunction | undefined

/**
 * Validates a create body, or the one-property object a patch operation
 * sets, against the image schema; throws Glance's 400 ("Provided object
 * does not match schema 'image': ...").
 */
export function validateImageObject(obj: Record<string, unknown>): void {
  imageValidator ??= ajv.compile(imageSchema())
  if (imageValidator(obj)) return
  throw new Invalid(
    `Provided object does not match schema 'image': ${describeError(imageValidator.errors?.[0], obj)}`,
  )
}

/** The first line of the message Python's jsonschema gives for the error. */
function describeError(error: ErrorObject | undefined, obj: unknown): string {
  if (!error) return 'invalid object'
  const value = valueAt(obj, error.instancePath)
  const p = error.params as Record<string, unknown>
  switch (error.keyword) {
    case 'type': {
      const types = Array.isArray(p.type) ? p.type : String(p.type).split(',')
      return `${pyRepr(value)} is not of type ${types.map((t) => pyRepr(t)).join(', ')}`
    }
    case 'enum':
      return `${pyRepr(value)} is not one of ${pyRepr(p.allowedValues)}`
    case 'maxLength':
      return `${pyRepr(value)} is too long`
    case 'minLength':
      return `${pyRepr(value)} is too short`
    case 'pattern':
      return `${pyRepr(value)} does not match ${pyRepr(p.pattern)}`
    case 'required':
      return `${pyRepr(p.missingProperty)} is a required property`
    case 'additionalProperties':
      return `Additional properties are not allowed (${pyRepr(p.additionalProperty)} was unexpected)`
    default:
      return `${pyRepr(value)} is invalid: ${error.message ?? error.keyword}`
  }
}

function valueAt(obj: unknown, pointer: string): unknown {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>(
      (v, key) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined),
      obj,
    )
}

/** A value written as Python's repr() writes it, as Glance's messages show values. */
export function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None'
  if (value === true) return 'True'
  if (value === false) return 'False'
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).map(
      ([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`,
    )
    return `{${entries.join(', ')}}`
  }
  return String(value)
}
