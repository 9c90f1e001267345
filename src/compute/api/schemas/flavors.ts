import type { Schema } from '../validation.ts'
import {
  boolean,
  derive,
  flavorDescription,
  flavorParamNonNegative,
  flavorParamPositive,
  METADATA_KEY_PATTERN,
  metadata,
  multiParams,
  name,
  nonNegativeInteger,
} from './types.ts'

/** Request schemas of flavors, flavor extra specs and flavor access (Nova's schemas/flavor*.py). */

export const FLAVOR_SORT_KEYS = [
  'created_at',
  'description',
  'disabled',
  'ephemeral_gb',
  'flavorid',
  'id',
  'is_public',
  'memory_mb',
  'name',
  'root_gb',
  'rxtx_factor',
  'swap',
  'updated_at',
  'vcpu_weight',
  'vcpus',
]

const indexQuery: Schema = {
  type: 'object',
  properties: {
    limit: multiParams(nonNegativeInteger),
    marker: multiParams({ type: 'string' }),
    is_public: multiParams({ type: 'string' }),
    minRam: multiParams({ type: 'string' }),
    minDisk: multiParams({ type: 'string' }),
    sort_key: multiParams({ type: 'string', enum: FLAVOR_SORT_KEYS }),
    sort_dir: multiParams({ type: 'string', enum: ['asc', 'desc'] }),
  },
  additionalProperties: true,
}
export const INDEX_QUERY_SCHEMAS: readonly [string, string | undefined, Schema][] = [
  ['2.1', '2.74', indexQuery],
  ['2.75', undefined, derive(indexQuery, (s) => (s.additionalProperties = false))],
]

const create: Schema = {
  type: 'object',
  properties: {
    flavor: {
      type: 'object',
      properties: {
        name,
        id: {
          type: ['string', 'number', 'null'],
          minLength: 1,
          maxLength: 255,
          pattern: '^(?! )[a-zA-Z0-9. _-]+(?<! )$',
        },
        ram: flavorParamPositive,
        vcpus: flavorParamPositive,
        disk: flavorParamNonNegative,
        'OS-FLV-EXT-DATA:ephemeral': flavorParamNonNegative,
        swap: flavorParamNonNegative,
        rxtx_factor: {
          type: ['number', 'string'],
          pattern: '^[0-9]+(\\.[0-9]+)?$',
          minimum: 0,
          exclusiveMinimum: true,
          maximum: 3.40282e38,
        },
        'os-flavor-access:is_public': boolean,
      },
      required: ['name', 'ram', 'vcpus', 'disk'],
      additionalProperties: false,
    },
  },
  required: ['flavor'],
  additionalProperties: false,
}
export const CREATE_SCHEMAS: readonly [string, string | undefined, Schema][] = [
  ['2.1', '2.54', create],
  [
    '2.55',
    undefined,
    derive(create, (s) => (s.properties.flavor.properties.description = flavorDescription)),
  ],
]

export const update: Schema = {
  type: 'object',
  properties: {
    flavor: {
      type: 'object',
      properties: { description: flavorDescription },
      required: ['description'],
      additionalProperties: false,
    },
  },
  required: ['flavor'],
  additionalProperties: false,
}

const extraSpecs = derive(
  metadata,
  (s) => (s.patternProperties[METADATA_KEY_PATTERN].type = ['string', 'number']),
)
export const extraSpecsCreate: Schema = {
  type: 'object',
  properties: { extra_specs: extraSpecs },
  required: ['extra_specs'],
  additionalProperties: false,
}
export const extraSpecUpdate: Schema = derive(extraSpecs, (s) => {
  s.minProperties = 1
  s.maxProperties = 1
})

const tenantAccess = (action: string): Schema => ({
  type: 'object',
  properties: {
    [action]: {
      type: 'object',
      properties: { tenant: { type: 'string', minLength: 1, maxLength: 255 } },
      required: ['tenant'],
      additionalProperties: false,
    },
  },
  required: [action],
  additionalProperties: false,
})
export const addTenantAccess = tenantAccess('addTenantAccess')
export const removeTenantAccess = tenantAccess('removeTenantAccess')
