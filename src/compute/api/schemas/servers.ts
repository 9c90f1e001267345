import type { Schema } from '../validation.ts'
import {
  accessIPv4,
  accessIPv6,
  adminPassword,
  boolean,
  commonQueryParam,
  commonQueryRegexParam,
  derive,
  description,
  diskConfig,
  flavorRef,
  fqdn,
  hostname,
  imageIdOrEmpty,
  ipAddress,
  metadata,
  multiParams,
  name,
  paginationParameters,
  personality,
  positiveInteger,
  tag,
  TAGS_PER_SERVER_MAX,
  trustedCerts,
  uuid,
  volumeSize,
  volumeType,
} from './types.ts'

/** Request schemas of the servers API, per microversion (nova/api/openstack/compute/schemas/servers.py). */

const legacyBdm: Schema = {
  type: 'object',
  properties: {
    virtual_name: { type: 'string', maxLength: 255 },
    volume_id: uuid,
    snapshot_id: uuid,
    volume_size: volumeSize,
    device_name: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[a-zA-Z0-9._-r/]*$' },
    delete_on_termination: boolean,
    no_device: {},
    connection_info: { type: 'string', maxLength: 16777215 },
  },
  additionalProperties: false,
}

const bdmV2 = derive(legacyBdm, (s) => {
  Object.assign(s.properties, {
    source_type: { type: 'string', enum: ['volume', 'image', 'snapshot', 'blank'] },
    uuid: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[a-zA-Z0-9._-]*$' },
    image_id: uuid,
    destination_type: { type: 'string', enum: ['local', 'volume'] },
    guest_format: { type: 'string', maxLength: 255 },
    device_type: { type: 'string', maxLength: 255 },
    disk_bus: { type: 'string', maxLength: 255 },
    boot_index: { type: ['integer', 'string', 'null'], pattern: '^-?[0-9]+$' },
  })
})

const hints: Schema = {
  type: 'object',
  properties: {
    group: { type: 'string', format: 'uuid' },
    different_host: {
      oneOf: [
        { type: 'string', format: 'uuid' },
        { type: 'array', items: uuid },
      ],
    },
    same_host: { type: ['string', 'array'], items: uuid },
    query: { type: ['string', 'object'] },
    target_cell: name,
    different_cell: { type: ['string', 'array'], items: { type: 'string' } },
    build_near_host_ip: ipAddress,
    cidr: { type: 'string', pattern: '^/[0-9a-f.:]+$' },
  },
  additionalProperties: true,
}

const networkItem = (uuidFormat: boolean, withTag: boolean): Schema => ({
  type: 'object',
  properties: {
    fixed_ip: ipAddress,
    port: { oneOf: [{ type: 'string', format: 'uuid' }, { type: 'null' }] },
    uuid: uuidFormat ? { type: 'string', format: 'uuid' } : { type: 'string' },
    ...(withTag ? { tag } : {}),
  },
  additionalProperties: false,
})

export const create: Schema = {
  type: 'object',
  properties: {
    server: {
      type: 'object',
      properties: {
        name,
        imageRef: imageIdOrEmpty,
        flavorRef,
        adminPass: adminPassword,
        metadata,
        networks: { type: 'array', items: networkItem(false, false) },
        'OS-DCF:diskConfig': diskConfig,
        accessIPv4,
        accessIPv6,
        personality,
        availability_zone: name,
        block_device_mapping: { type: 'array', items: legacyBdm },
        block_device_mapping_v2: { type: 'array', items: bdmV2 },
        config_drive: boolean,
        key_name: name,
        min_count: positiveInteger,
        max_count: positiveInteger,
        return_reservation_id: boolean,
        security_groups: {
          type: 'array',
          items: { type: 'object', properties: { name }, additionalProperties: false },
        },
        user_data: { type: 'string', format: 'base64', maxLength: 65535 },
      },
      required: ['name', 'flavorRef'],
      additionalProperties: false,
    },
    'os:scheduler_hints': hints,
    'OS-SCH-HNT:scheduler_hints': hints,
  },
  required: ['server'],
  additionalProperties: false,
}

const createV219 = derive(create, (s) => (s.properties.server.properties.description = description))
const createV232 = derive(createV219, (s) => {
  s.properties.server.properties.networks.items.properties.tag = tag
  s.properties.server.properties.block_device_mapping_v2.items.properties.tag = tag
})
// As in Nova, 2.33-2.36 take a tag on networks only (a bug fixed in 2.42).
const createV233 = derive(
  createV219,
  (s) => (s.properties.server.properties.networks.items.properties.tag = tag),
)
const createV237 = derive(createV233, (s) => {
  s.properties.server.required.push('networks')
  s.properties.server.properties.networks = {
    oneOf: [
      { type: 'array', items: networkItem(true, false) },
      { type: 'string', enum: ['none', 'auto'] },
    ],
  }
})
const createV242 = derive(createV237, (s) => {
  s.properties.server.properties.networks = {
    oneOf: [
      { type: 'array', items: networkItem(true, true) },
      { type: 'string', enum: ['none', 'auto'] },
    ],
  }
  s.properties.server.properties.block_device_mapping_v2.items.properties.tag = tag
})
const createV252 = derive(createV242, (s) => {
  s.properties.server.properties.tags = { type: 'array', items: tag, maxItems: TAGS_PER_SERVER_MAX }
})
const createV257 = derive(createV252, (s) => delete s.properties.server.properties.personality)
const createV263 = derive(
  createV257,
  (s) => (s.properties.server.properties.trusted_image_certificates = trustedCerts),
)
const createV267 = derive(createV263, (s) => {
  s.properties.server.properties.block_device_mapping_v2.items.properties.volume_type = volumeType
})
const createV274 = derive(createV267, (s) => {
  s.properties.server.properties.host = fqdn
  s.properties.server.properties.hypervisor_hostname = fqdn
})
const createV290 = derive(createV274, (s) => (s.properties.server.properties.hostname = hostname))

/** [min, max, schema] of the create body, newest last. */
export const CREATE_SCHEMAS: readonly [string, string | undefined, Schema][] = [
  ['2.1', '2.18', create],
  ['2.19', '2.31', createV219],
  ['2.32', '2.32', createV232],
  ['2.33', '2.36', createV233],
  ['2.37', '2.41', createV237],
  ['2.42', '2.51', createV242],
  ['2.52', '2.56', createV252],
  ['2.57', '2.62', createV257],
  ['2.63', '2.66', createV263],
  ['2.67', '2.73', createV267],
  ['2.74', '2.89', createV274],
  ['2.90', undefined, createV290],
]

const update: Schema = {
  type: 'object',
  properties: {
    server: {
      type: 'object',
      properties: { name, 'OS-DCF:diskConfig': diskConfig, accessIPv4, accessIPv6 },
      additionalProperties: false,
    },
  },
  required: ['server'],
  additionalProperties: false,
}
const updateV219 = derive(update, (s) => (s.properties.server.properties.description = description))
const updateV290 = derive(updateV219, (s) => (s.properties.server.properties.hostname = hostname))

export const UPDATE_SCHEMAS: readonly [string, string | undefined, Schema][] = [
  ['2.1', '2.18', update],
  ['2.19', '2.89', updateV219],
  ['2.90', undefined, updateV290],
]

// ---- list query ----

/** Filters backed by joined tables: a 400 "Invalid filter field" in Nova. */
export const JOINED_TABLE_QUERY_PARAMS = [
  'block_device_mapping',
  'services',
  'metadata',
  'system_metadata',
  'info_cache',
  'security_groups',
  'pci_devices',
]

/** Sort keys Nova ignores rather than refusing (before 2.75). */
export const IGNORED_SORT_KEYS = [
  'architecture',
  'cell_name',
  'cleaned',
  'default_ephemeral_device',
  'default_swap_device',
  'deleted',
  'deleted_at',
  'disable_terminate',
  'ephemeral_gb',
  'ephemeral_key_uuid',
  'id',
  'key_data',
  'launched_on',
  'locked',
  'memory_mb',
  'os_type',
  'reservation_id',
  'root_gb',
  'shutdown_terminate',
  'user_data',
  'vcpus',
  'vm_mode',
]
export const IGNORED_SORT_KEYS_V273 = IGNORED_SORT_KEYS.filter((k) => k !== 'locked')

export const VALID_SORT_KEYS = [
  'access_ip_v4',
  'access_ip_v6',
  'auto_disk_config',
  'availability_zone',
  'config_drive',
  'created_at',
  'display_description',
  'display_name',
  'host',
  'hostname',
  'image_ref',
  'instance_type_id',
  'kernel_id',
  'key_name',
  'launch_index',
  'launched_at',
  'locked_by',
  'node',
  'power_state',
  'progress',
  'project_id',
  'ramdisk_id',
  'root_device_name',
  'task_state',
  'terminated_at',
  'updated_at',
  'user_id',
  'uuid',
  'vm_state',
]

const queryV21: Schema = {
  type: 'object',
  properties: {
    user_id: commonQueryParam,
    project_id: commonQueryParam,
    tenant_id: commonQueryParam,
    launch_index: commonQueryParam,
    image_ref: commonQueryParam,
    image: commonQueryParam,
    kernel_id: commonQueryRegexParam,
    ramdisk_id: commonQueryRegexParam,
    hostname: commonQueryRegexParam,
    key_name: commonQueryRegexParam,
    power_state: commonQueryRegexParam,
    vm_state: commonQueryParam,
    task_state: commonQueryParam,
    host: commonQueryParam,
    node: commonQueryRegexParam,
    flavor: commonQueryRegexParam,
    reservation_id: commonQueryRegexParam,
    launched_at: commonQueryRegexParam,
    terminated_at: commonQueryRegexParam,
    availability_zone: commonQueryRegexParam,
    name: commonQueryRegexParam,
    display_name: commonQueryRegexParam,
    description: commonQueryRegexParam,
    display_description: commonQueryRegexParam,
    locked_by: commonQueryRegexParam,
    uuid: commonQueryParam,
    root_device_name: commonQueryRegexParam,
    config_drive: commonQueryRegexParam,
    access_ip_v4: commonQueryRegexParam,
    access_ip_v6: commonQueryRegexParam,
    auto_disk_config: commonQueryRegexParam,
    progress: commonQueryRegexParam,
    sort_key: multiParams({ type: 'string', enum: [...VALID_SORT_KEYS, ...IGNORED_SORT_KEYS] }),
    sort_dir: commonQueryParam,
    all_tenants: commonQueryParam,
    soft_deleted: commonQueryParam,
    deleted: commonQueryParam,
    status: commonQueryParam,
    'changes-since': multiParams({ type: 'string', format: 'date-time' }),
    ip: commonQueryRegexParam,
    ip6: commonQueryRegexParam,
    created_at: commonQueryRegexParam,
    ...Object.fromEntries(JOINED_TABLE_QUERY_PARAMS.map((p) => [p, commonQueryParam])),
    ...paginationParameters,
  },
  additionalProperties: true,
  patternProperties: { '^_': commonQueryParam },
}
const queryV226 = derive(queryV21, (s) => {
  for (const p of ['tags', 'tags-any', 'not-tags', 'not-tags-any']) s.properties[p] = commonQueryRegexParam
})
const queryV266 = derive(queryV226, (s) => {
  s.properties['changes-before'] = multiParams({ type: 'string', format: 'date-time' })
})
const queryV273 = derive(queryV266, (s) => {
  s.properties.sort_key = multiParams({
    type: 'string',
    enum: ['locked', ...VALID_SORT_KEYS, ...IGNORED_SORT_KEYS_V273],
  })
  s.properties.locked = commonQueryParam
})
const queryV275 = derive(queryV273, (s) => {
  s.properties.sort_key = multiParams({ type: 'string', enum: ['locked', ...VALID_SORT_KEYS] })
  s.additionalProperties = false
})

export const QUERY_SCHEMAS: readonly [string, string | undefined, Schema][] = [
  ['2.1', '2.25', queryV21],
  ['2.26', '2.65', queryV226],
  ['2.66', '2.72', queryV266],
  ['2.73', '2.74', queryV273],
  ['2.75', undefined, queryV275],
]

export const forceDelete: Schema = {
  type: 'object',
  properties: { forceDelete: {} },
  required: ['forceDelete'],
}

/** The lock action from 2.73 (before, any body is taken). */
export const lockV273: Schema = {
  type: 'object',
  properties: {
    lock: {
      type: ['object', 'null'],
      properties: { locked_reason: { type: 'string', minLength: 1, maxLength: 255 } },
      additionalProperties: false,
    },
  },
  required: ['lock'],
  additionalProperties: false,
}

export const resetState: Schema = {
  type: 'object',
  properties: {
    'os-resetState': {
      type: 'object',
      properties: { state: { type: 'string', enum: ['active', 'error'] } },
      required: ['state'],
      additionalProperties: false,
    },
  },
  required: ['os-resetState'],
  additionalProperties: false,
}
