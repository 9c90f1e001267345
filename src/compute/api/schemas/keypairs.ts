import type { Schema } from '../validation.ts'
import { derive, multiParams, name, paginationParameters } from './types.ts'

/** Request schemas of os-keypairs (Nova's schemas/keypairs.py). */

const keypairName = (format: string): Schema => ({
  allOf: [name, { type: 'string', minLength: 1, maxLength: 255, format }],
})

const create: Schema = {
  type: 'object',
  properties: {
    keypair: {
      type: 'object',
      properties: { name: keypairName('keypair_name_20'), public_key: { type: 'string' } },
      required: ['name'],
      additionalProperties: false,
    },
  },
  required: ['keypair'],
  additionalProperties: false,
}
const createV22 = derive(
  create,
  (s) => (s.properties.keypair.properties.type = { type: 'string', enum: ['ssh', 'x509'] }),
)
const createV210 = derive(createV22, (s) => (s.properties.keypair.properties.user_id = { type: 'string' }))
const createV292 = derive(createV210, (s) => {
  s.properties.keypair.properties.name = keypairName('keypair_name_292')
  s.properties.keypair.required = ['name', 'public_key']
})

export const CREATE_SCHEMAS: readonly [string, string | undefined, Schema][] = [
  ['2.1', '2.1', create],
  ['2.2', '2.9', createV22],
  ['2.10', '2.91', createV210],
  ['2.92', undefined, createV292],
]

const anyQuery: Schema = { type: 'object', properties: {}, additionalProperties: true }
const userQuery: Schema = {
  type: 'object',
  properties: { user_id: multiParams({ type: 'string' }) },
  additionalProperties: true,
}
const pagedQuery = derive(userQuery, (s) => Object.assign(s.properties, paginationParameters))
const strict = (s: Schema) => derive(s, (c) => (c.additionalProperties = false))

export const INDEX_QUERY_SCHEMAS: readonly [string, string | undefined, Schema][] = [
  ['2.1', '2.9', anyQuery],
  ['2.10', '2.34', userQuery],
  ['2.35', '2.74', pagedQuery],
  ['2.75', undefined, strict(pagedQuery)],
]

/** Show and delete take the same query. */
export const ITEM_QUERY_SCHEMAS: readonly [string, string | undefined, Schema][] = [
  ['2.1', '2.9', anyQuery],
  ['2.10', '2.74', userQuery],
  ['2.75', undefined, strict(userQuery)],
]
