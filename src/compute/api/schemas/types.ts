import type { Schema } from '../validation.ts'

/**
 * The building blocks of Nova's request schemas
 * (nova/api/validation/parameter_types.py), for validation.ts.
 */

/** A query parameter that may repeat (`?status=A&status=B`). */
export function multiParams(schema: Schema): Schema {
  return { type: 'array', items: schema }
}

/** A query parameter that may appear once. */
export function singleParam(schema: Schema): Schema {
  return { type: 'array', items: schema, maxItems: 1 }
}

export const commonQueryParam = multiParams({ type: 'string' })
export const commonQueryRegexParam = multiParams({ type: 'string', format: 'regex' })

export const boolean: Schema = {
  type: ['boolean', 'string'],
  enum: [
    true,
    'True',
    'TRUE',
    'true',
    '1',
    'ON',
    'On',
    'on',
    'YES',
    'Yes',
    'yes',
    false,
    'False',
    'FALSE',
    'false',
    '0',
    'OFF',
    'Off',
    'off',
    'NO',
    'No',
    'no',
  ],
}

export const positiveInteger: Schema = {
  type: ['integer', 'string'],
  pattern: '^[0-9]*$',
  minimum: 1,
  minLength: 1,
}
export const nonNegativeInteger: Schema = {
  type: ['integer', 'string'],
  pattern: '^[0-9]*$',
  minimum: 0,
  minLength: 1,
}

export const hostname: Schema = {
  type: 'string',
  minLength: 2,
  maxLength: 63,
  pattern: '^[a-zA-Z0-9]+[a-zA-Z0-9-]*[a-zA-Z0-9]+$',
}
export const fqdn: Schema = { type: 'string', minLength: 1, maxLength: 255, pattern: '^[a-zA-Z0-9-._]*$' }
export const name: Schema = { type: 'string', minLength: 1, maxLength: 255, format: 'name' }
export const azName: Schema = { type: 'string', minLength: 1, maxLength: 255, format: 'az_name' }
export const nameOrNone: Schema = {
  oneOf: [{ type: 'string', minLength: 1, maxLength: 255 }, { type: 'null' }],
}

/** Printable characters (Nova's valid_description_regex): no control characters. */
const PRINTABLE_PATTERN = '^[^\\p{C}\\p{Zl}\\p{Zp}]*$'
export const description: Schema = {
  type: ['string', 'null'],
  minLength: 0,
  maxLength: 255,
  pattern: PRINTABLE_PATTERN,
}
export const flavorDescription: Schema = {
  type: ['string', 'null'],
  minLength: 0,
  maxLength: 65535,
  pattern: PRINTABLE_PATTERN,
}

export const uuid: Schema = { type: 'string', format: 'uuid' }
export const imageIdOrEmpty: Schema = {
  oneOf: [
    { type: 'string', format: 'uuid' },
    { type: 'string', maxLength: 0 },
  ],
}
export const volumeType: Schema = { type: ['string', 'null'], minLength: 0, maxLength: 255 }
export const adminPassword: Schema = { type: 'string' }
export const flavorRef: Schema = { type: ['string', 'integer'], minLength: 1 }

/** Metadata keys Nova accepts, and at most 255 characters of value. */
export const METADATA_KEY_PATTERN = '^[a-zA-Z0-9-_:. ]{1,255}$'
export const metadata: Schema = {
  type: 'object',
  patternProperties: { [METADATA_KEY_PATTERN]: { type: 'string', maxLength: 255 } },
  additionalProperties: false,
}

export const ipAddress: Schema = { type: 'string', oneOf: [{ format: 'ipv4' }, { format: 'ipv6' }] }
export const accessIPv4: Schema = { type: 'string', format: 'ipv4' }
export const accessIPv6: Schema = { type: 'string', format: 'ipv6' }
export const diskConfig: Schema = { type: 'string', enum: ['AUTO', 'MANUAL'] }

export const volumeSize: Schema = {
  type: ['integer', 'string'],
  pattern: '^[0-9]+$',
  minimum: 1,
  maximum: 0x7fffffff,
}
export const flavorParamPositive: Schema = volumeSize
export const flavorParamNonNegative: Schema = { ...volumeSize, minimum: 0 }

/** Longest server tag (Nova's MAX_TAG_LENGTH). */
export const TAG_MAX_CHARS = 60
/** Most tags on one server (Nova's MAX_TAG_COUNT). */
export const TAGS_PER_SERVER_MAX = 50
export const tag: Schema = { type: 'string', minLength: 1, maxLength: TAG_MAX_CHARS, pattern: '^[^,/]*$' }

export const personality: Schema = {
  type: 'array',
  items: {
    type: 'object',
    properties: { path: { type: 'string' }, contents: { type: 'string', format: 'base64' } },
    additionalProperties: false,
  },
}

export const trustedCerts: Schema = {
  type: ['array', 'null'],
  minItems: 1,
  maxItems: 50,
  uniqueItems: true,
  items: { type: 'string', minLength: 1 },
}

export const paginationParameters: Record<string, Schema> = {
  limit: multiParams(nonNegativeInteger),
  marker: multiParams({ type: 'string' }),
}

/** Returns a deep copy of `schema` with `edit` applied (Nova builds each version from the last with deepcopy). */
export function derive(schema: Schema, edit: (copy: any) => void): Schema {
  const copy = structuredClone(schema) as any
  edit(copy)
  return copy as Schema
}
