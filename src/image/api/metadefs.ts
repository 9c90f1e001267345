import { Invalid } from '../../common/errors.ts'
import { respond, type ApiRequest, type Route } from '../../service/http.ts'
import type { ItemKind, MetadefCatalog } from '../metadefs.ts'

/**
 * Glance's `/v2/metadefs` routes and their `/v2/schemas/metadefs/*`
 * documents. Each handler unwraps the request and makes one call into the
 * catalog.
 */
type Req = ApiRequest<unknown, Record<string, unknown>, Record<string, string>>
type Json = Record<string, unknown>

const NS = '/v2/metadefs/namespaces/:namespace'
const ITEM_PATHS: readonly [kind: ItemKind, plural: string][] = [
  ['object', 'objects'],
  ['property', 'properties'],
  ['tag', 'tags'],
]

function body(req: Req): Json {
  const b = req.body
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw new Invalid('Body expected in request.')
  return b as Json
}

function queryString(req: Req, key: string): string | undefined {
  const v = req.query[key]
  if (v === undefined) return undefined
  return Array.isArray(v) ? String(v.at(-1)) : String(v)
}

export function metadefRoutes(catalog: MetadefCatalog): Route[] {
  return [
    {
      method: 'GET',
      path: '/v2/metadefs/resource_types',
      handler: async () => ({ resource_types: await catalog.listResourceTypes() }),
    },
    {
      method: 'GET',
      path: '/v2/metadefs/namespaces',
      handler: async (req: Req) => {
        const limitText = queryString(req, 'limit')
        const limit = limitText === undefined ? undefined : Number(limitText)
        if (limit !== undefined && (!Number.isInteger(limit) || limit < 0))
          throw new Invalid('limit param must be an integer')
        const resourceTypes = queryString(req, 'resource_types')
        const page = await catalog.listNamespaces(req.ctx, {
          visibility: queryString(req, 'visibility'),
          resourceTypes: resourceTypes?.split(',').filter(Boolean),
          limit,
          marker: queryString(req, 'marker'),
          sortKey: queryString(req, 'sort_key'),
          sortDir: queryString(req, 'sort_dir'),
        })
        const out: Json = {
          namespaces: page.namespaces,
          first: '/v2/metadefs/namespaces',
          schema: '/v2/schemas/metadefs/namespaces',
        }
        if (page.next !== undefined) {
          const params = new URLSearchParams({
            marker: page.next,
            ...(limit !== undefined ? { limit: String(limit) } : {}),
          })
          out.next = `/v2/metadefs/namespaces?${params.toString()}`
        }
        return out
      },
    },
    {
      method: 'POST',
      path: '/v2/metadefs/namespaces',
      handler: async (req: Req) => respond(201, await catalog.createNamespace(req.ctx, body(req))),
    },
    {
      method: 'GET',
      path: NS,
      handler: (req: Req) => catalog.getNamespace(req.ctx, req.params.namespace!),
    },
    {
      method: 'PUT',
      path: NS,
      handler: (req: Req) => catalog.updateNamespace(req.ctx, req.params.namespace!, body(req)),
    },
    {
      method: 'DELETE',
      path: NS,
      status: 204,
      handler: (req: Req) => catalog.deleteNamespace(req.ctx, req.params.namespace!),
    },
    {
      method: 'GET',
      path: `${NS}/resource_types`,
      handler: async (req: Req) => ({
        resource_type_associations: await catalog.listAssociations(req.ctx, req.params.namespace!),
      }),
    },
    {
      method: 'POST',
      path: `${NS}/resource_types`,
      handler: async (req: Req) =>
        respond(201, await catalog.addAssociation(req.ctx, req.params.namespace!, body(req))),
    },
    {
      method: 'DELETE',
      path: `${NS}/resource_types/:name`,
      status: 204,
      handler: (req: Req) => catalog.removeAssociation(req.ctx, req.params.namespace!, req.params.name!),
    },
    ...ITEM_PATHS.flatMap(([kind, plural]) => itemRoutes(catalog, kind, plural)),
    {
      method: 'POST',
      path: `${NS}/tags/:name`,
      handler: async (req: Req) =>
        respond(
          201,
          await catalog.createItem(req.ctx, req.params.namespace!, 'tag', { name: req.params.name }),
        ),
    },
    ...schemaRoutes(),
  ]
}

function itemRoutes(catalog: MetadefCatalog, kind: ItemKind, plural: string): Route[] {
  const base = `${NS}/${plural}`
  return [
    {
      method: 'GET',
      path: base,
      handler: async (req: Req) => {
        const items = await catalog.listItems(req.ctx, req.params.namespace!, kind)
        if (kind === 'property')
          return { properties: Object.fromEntries(items.map(({ name, ...p }) => [name, p])) }
        if (kind === 'tag') return { tags: items }
        return { objects: items, schema: 'v2/schemas/metadefs/objects' }
      },
    },
    {
      method: 'POST',
      path: base,
      handler: async (req: Req) => {
        if (kind === 'tag') {
          const tags = body(req).tags
          if (!Array.isArray(tags)) throw new Invalid("'tags' is a required property")
          return respond(201, {
            tags: await catalog.replaceTags(req.ctx, req.params.namespace!, tags as Json[]),
          })
        }
        return respond(201, await catalog.createItem(req.ctx, req.params.namespace!, kind, body(req)))
      },
    },
    {
      method: 'DELETE',
      path: base,
      status: 204,
      handler: (req: Req) => catalog.deleteItems(req.ctx, req.params.namespace!, kind),
    },
    {
      method: 'GET',
      path: `${base}/:name`,
      handler: (req: Req) => catalog.getItem(req.ctx, req.params.namespace!, kind, req.params.name!),
    },
    {
      method: 'PUT',
      path: `${base}/:name`,
      handler: (req: Req) =>
        catalog.updateItem(req.ctx, req.params.namespace!, kind, req.params.name!, body(req)),
    },
    {
      method: 'DELETE',
      path: `${base}/:name`,
      status: 204,
      handler: (req: Req) => catalog.deleteItem(req.ctx, req.params.namespace!, kind, req.params.name!),
    },
  ]
}

// ---- /v2/schemas/metadefs/* ----

const timestamps = {
  created_at: {
    type: 'string',
    readOnly: true,
    description: 'Date and time of the last resource modification',
    format: 'date-time',
  },
  updated_at: {
    type: 'string',
    readOnly: true,
    description: 'Date and time of the last resource modification',
    format: 'date-time',
  },
}

const propertyDefinition = {
  type: 'object',
  required: ['title', 'type'],
  properties: {
    name: { type: 'string', maxLength: 255 },
    title: { type: 'string' },
    description: { type: 'string' },
    operators: { type: 'array', items: { type: 'string' } },
    type: { type: 'string', enum: ['array', 'boolean', 'integer', 'number', 'object', 'string', null] },
    required: { type: 'array', items: { type: 'string' }, uniqueItems: true, minItems: 1 },
    minimum: { type: 'number' },
    maximum: { type: 'number' },
    maxLength: { type: 'integer', minimum: 0 },
    minLength: { type: 'integer', minimum: 0 },
    pattern: { type: 'string', format: 'regex' },
    enum: { type: 'array' },
    readonly: { type: 'boolean' },
    default: {},
    items: { type: 'object' },
    maxItems: { type: 'integer', minimum: 0 },
    minItems: { type: 'integer', minimum: 0 },
    uniqueItems: { type: 'boolean', default: false },
    additionalItems: { type: 'boolean' },
  },
}

const resourceTypeAssociation = {
  name: 'resource_type_association',
  properties: {
    name: {
      type: 'string',
      maxLength: 80,
      description: 'Resource type names should be aligned with Heat resource types whenever possible',
    },
    prefix: {
      type: 'string',
      maxLength: 80,
      description: 'Specifies the prefix to use for the given resource type.',
    },
    properties_target: {
      type: 'string',
      maxLength: 80,
      description: 'Some resource types allow more than one key / value pair per instance.',
    },
    ...timestamps,
  },
  required: ['name'],
  additionalProperties: false,
}

const tag = {
  name: 'tag',
  properties: { name: { type: 'string', maxLength: 255 }, ...timestamps },
  required: ['name'],
  additionalProperties: false,
}

const object = {
  name: 'object',
  properties: {
    name: { type: 'string', maxLength: 80 },
    description: { type: 'string' },
    required: { type: 'array', items: { type: 'string' } },
    properties: { type: 'object', additionalProperties: { $ref: '#/definitions/property' } },
    schema: { type: 'string', readOnly: true },
    self: { type: 'string', readOnly: true },
    ...timestamps,
  },
  required: ['name'],
  additionalProperties: false,
  definitions: { property: propertyDefinition },
}

const property = { name: 'property', ...propertyDefinition, additionalProperties: false }

const namespace = {
  name: 'namespace',
  properties: {
    namespace: { type: 'string', maxLength: 80, description: 'The unique namespace text.' },
    display_name: { type: 'string', maxLength: 80, description: 'The user friendly name for the namespace.' },
    description: {
      type: 'string',
      maxLength: 500,
      description: 'Provides a user friendly description of the namespace.',
    },
    visibility: {
      type: 'string',
      enum: ['public', 'private'],
      description: 'Scope of namespace accessibility.',
    },
    protected: { type: 'boolean', description: 'If true, namespace will not be deletable.' },
    owner: { type: 'string', maxLength: 255, description: 'Owner of the namespace.' },
    ...timestamps,
    schema: { type: 'string', readOnly: true },
    self: { type: 'string', readOnly: true },
    resource_type_associations: {
      type: 'array',
      items: { type: 'object', properties: resourceTypeAssociation.properties },
    },
    properties: { $ref: '#/definitions/property' },
    objects: { type: 'array', items: { type: 'object', properties: object.properties } },
    tags: {
      type: 'array',
      items: { type: 'object', properties: { name: { type: 'string', maxLength: 255 } } },
    },
  },
  required: ['namespace'],
  additionalProperties: false,
  definitions: { property: { type: 'object', additionalProperties: propertyDefinition } },
}

function collection(name: string, key: string, item: Json): Json {
  return {
    name,
    properties: {
      [key]: { type: 'array', items: item },
      ...(key === 'namespaces' || key === 'objects'
        ? { first: { type: 'string' }, next: { type: 'string' } }
        : {}),
      schema: { type: 'string' },
    },
    links: [
      { rel: 'first', href: '{first}' },
      { rel: 'next', href: '{next}' },
      { rel: 'describedby', href: '{schema}' },
    ],
  }
}

const SCHEMAS: Readonly<Record<string, Json>> = {
  namespace,
  namespaces: collection('namespaces', 'namespaces', namespace),
  resource_type: resourceTypeAssociation,
  resource_types: collection(
    'resource_type_associations',
    'resource_type_associations',
    resourceTypeAssociation,
  ),
  object,
  objects: collection('objects', 'objects', object),
  property,
  properties: {
    name: 'properties',
    properties: {
      properties: { type: 'object', additionalProperties: propertyDefinition },
      schema: { type: 'string' },
    },
    links: [{ rel: 'describedby', href: '{schema}' }],
  },
  tag,
  tags: collection('tags', 'tags', tag),
}

function schemaRoutes(): Route[] {
  return Object.entries(SCHEMAS).map(([path, doc]) => ({
    method: 'GET' as const,
    path: `/v2/schemas/metadefs/${path}`,
    handler: () => doc,
  }))
}
