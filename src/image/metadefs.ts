import type { RequestContext } from '../common/context.ts'
import { Conflict, Forbidden, Invalid, NotFound } from '../common/errors.ts'
import { limits } from '../common/limits.ts'
import type { Database } from '../db/index.ts'
import type { MetadefNamespacesTable } from '../db/tables/image.ts'
import { fromJsonText, nowIso, toJsonText } from '../db/values.ts'

/**
 * Glance's metadata definitions catalog (`/v2/metadefs`): namespaces of
 * definitions (objects, properties, tags) and the resource types they apply
 * to. Everyone reads public namespaces, owners and admins their private
 * ones; only admins change anything (Glance's `metadef_admin` default), and
 * nothing in a protected namespace is deleted.
 */
export type ItemKind = 'object' | 'property' | 'tag'
type Json = Record<string, unknown>
type NamespaceRow = MetadefNamespacesTable

const VISIBILITIES = ['public', 'private']
const PROPERTY_TYPES = ['array', 'boolean', 'integer', 'number', 'object', 'string', 'null']
const NAME_MAX_CHARS = 80
const DESCRIPTION_MAX_CHARS = 500
const TAG_NAME_MAX_CHARS = 255
const READ_ONLY = ['created_at', 'updated_at', 'schema', 'self']

const NAMESPACE_FIELDS = [
  'namespace',
  'display_name',
  'description',
  'visibility',
  'protected',
  'owner',
  'resource_type_associations',
  'properties',
  'objects',
  'tags',
]

/** Glance's timestamps for metadefs: `2014-09-19T13:31:37Z`. */
function stamp(iso: string | null): string | undefined {
  return iso ? `${iso.slice(0, 19)}Z` : undefined
}

const namespaceNotFound = (ns: string) => new NotFound(`Metadata definition namespace=${ns} was not found.`)

function itemNotFound(kind: ItemKind, name: string, ns: string): NotFound {
  if (kind === 'tag')
    return new NotFound(`The metadata definition tag with name=${name} was not found in namespace=${ns}.`)
  return new NotFound(`The metadata definition ${kind} with name=${name} was not found in namespace=${ns}.`)
}

function duplicateItem(kind: ItemKind, name: string, ns: string): Conflict {
  if (kind === 'tag')
    return new Conflict(
      `A metadata tag with name=${name} already exists in namespace=${ns}. (Please note that metadata tag names are case insensitive).`,
    )
  return new Conflict(`A metadata definition ${kind} with name=${name} already exists in namespace=${ns}.`)
}

const forbidden = () => new Forbidden('You are not authorized to complete this action.')

function str(body: Json, key: string, max: number, required = false): string | undefined {
  const v = body[key]
  if (v === undefined || v === null) {
    if (required) throw new Invalid(`'${key}' is a required property`)
    return undefined
  }
  if (typeof v !== 'string') throw new Invalid(`${JSON.stringify(v)} is not of type 'string'`)
  if (required && v.length === 0) throw new Invalid(`'${key}' should be non-empty`)
  if (v.length > max) throw new Invalid(`'${v}' is too long`)
  return v
}

/** Glance refuses read-only attributes with 403 and unknown ones with 400. */
function checkFields(body: Json, allowed: readonly string[] | undefined): void {
  for (const key of Object.keys(body)) {
    if (READ_ONLY.includes(key)) throw new Forbidden(`Attribute '${key}' is read-only.`)
    if (allowed && !allowed.includes(key))
      throw new Invalid(`Additional properties are not allowed ('${key}' was unexpected)`)
  }
}

function asObject(v: unknown, what: string): Json {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Invalid(`${what} must be an object`)
  return v as Json
}

/** An object definition as stored: everything but its name. */
function objectDoc(body: Json): Json {
  checkFields(body, ['name', 'description', 'required', 'properties'])
  str(body, 'description', DESCRIPTION_MAX_CHARS)
  if (body.required !== undefined && !Array.isArray(body.required))
    throw new Invalid(`${JSON.stringify(body.required)} is not of type 'array'`)
  if (body.properties !== undefined) asObject(body.properties, 'properties')
  const { name: _n, ...doc } = body
  return doc
}

/** A property definition (a JSON-schema fragment with a title and a type), without its name. */
function propertyDoc(body: Json): Json {
  checkFields(body, undefined)
  str(body, 'title', NAME_MAX_CHARS * 3, true)
  const type = body.type
  if (typeof type !== 'string' || !PROPERTY_TYPES.includes(type))
    throw new Invalid(`${JSON.stringify(type)} is not one of ${JSON.stringify(PROPERTY_TYPES)}`)
  const { name: _n, ...doc } = body
  return doc
}

export class MetadefCatalog {
  readonly #db: Database

  constructor(db: Database) {
    this.#db = db
  }

  // ---- namespaces ----

  async listNamespaces(
    ctx: RequestContext,
    q: {
      readonly visibility?: string | undefined
      readonly resourceTypes?: readonly string[] | undefined
      readonly limit?: number | undefined
      readonly marker?: string | undefined
      readonly sortKey?: string | undefined
      readonly sortDir?: string | undefined
    },
  ): Promise<{ namespaces: Json[]; next: string | undefined }> {
    const sortKey = q.sortKey ?? 'created_at'
    if (!['created_at', 'updated_at', 'namespace', 'display_name'].includes(sortKey))
      throw new Invalid(`Invalid sort key: ${sortKey}.`)
    const sortDir = q.sortDir ?? 'desc'
    if (sortDir !== 'asc' && sortDir !== 'desc') throw new Invalid(`Invalid sort direction: ${sortDir}`)
    let rows = (await this.#db.kysely.selectFrom('metadef_namespaces').selectAll().execute()).filter((r) =>
      canSee(ctx, r),
    )
    if (q.visibility) rows = rows.filter((r) => r.visibility === q.visibility)
    const assoc = await this.#db.kysely.selectFrom('metadef_resource_type_associations').selectAll().execute()
    if (q.resourceTypes?.length) {
      const wanted = new Set(q.resourceTypes)
      const hit = new Set(assoc.filter((a) => wanted.has(a.resource_type)).map((a) => a.namespace))
      rows = rows.filter((r) => hit.has(r.namespace))
    }
    const key = sortKey as keyof NamespaceRow
    rows.sort((a, b) => {
      const x = String(a[key] ?? '')
      const y = String(b[key] ?? '')
      const c = x < y ? -1 : x > y ? 1 : a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0
      return sortDir === 'asc' ? c : -c
    })
    if (q.marker !== undefined) {
      const at = rows.findIndex((r) => r.namespace === q.marker)
      if (at < 0) throw namespaceNotFound(q.marker)
      rows = rows.slice(at + 1)
    }
    const limit = Math.min(q.limit ?? limits.maxPageSize, limits.maxPageSize)
    const page = rows.slice(0, limit)
    const namespaces = page.map((r) => {
      const rtas = assoc.filter((a) => a.namespace === r.namespace).map(associationView)
      return { ...namespaceView(r), ...(rtas.length ? { resource_type_associations: rtas } : {}) }
    })
    const next = page.length > 0 && page.length === limit ? page.at(-1)!.namespace : undefined
    return { namespaces, next }
  }

  /** A namespace with its resource type associations, objects, properties and tags. */
  async getNamespace(ctx: RequestContext, ns: string): Promise<Json> {
    const row = await this.#visible(ctx, ns)
    const out: Json = namespaceView(row)
    const rtas = await this.listAssociations(ctx, ns)
    if (rtas.length) out.resource_type_associations = rtas
    const objects = await this.listItems(ctx, ns, 'object')
    if (objects.length) out.objects = objects
    const properties = await this.listItems(ctx, ns, 'property')
    if (properties.length) out.properties = Object.fromEntries(properties.map(({ name, ...p }) => [name, p]))
    const tags = await this.listItems(ctx, ns, 'tag')
    if (tags.length) out.tags = tags.map((t) => ({ name: t.name }))
    return out
  }

  async createNamespace(ctx: RequestContext, body: Json): Promise<Json> {
    requireAdmin(ctx)
    checkFields(body, NAMESPACE_FIELDS)
    const ns = str(body, 'namespace', NAME_MAX_CHARS, true)!
    const row = this.#namespaceRow(ctx, body, ns, undefined)
    await this.#db.transaction(async (trx) => {
      const exists = await trx
        .selectFrom('metadef_namespaces')
        .select('namespace')
        .where('namespace', '=', ns)
        .executeTakeFirst()
      if (exists) throw new Conflict(`The metadata definition namespace=${ns} already exists.`)
      await trx.insertInto('metadef_namespaces').values(row).execute()
    })
    const out: Json = namespaceView(row)
    try {
      const rtas = (body.resource_type_associations ?? []) as Json[]
      if (!Array.isArray(rtas)) throw new Invalid('resource_type_associations must be an array')
      for (const a of rtas) await this.addAssociation(ctx, ns, asObject(a, 'resource_type_association'))
      for (const o of (body.objects ?? []) as Json[])
        await this.createItem(ctx, ns, 'object', asObject(o, 'object'))
      for (const [name, p] of Object.entries(asObject(body.properties ?? {}, 'properties')))
        await this.createItem(ctx, ns, 'property', { ...asObject(p, 'property'), name })
      for (const t of (body.tags ?? []) as Json[]) await this.createItem(ctx, ns, 'tag', asObject(t, 'tag'))
    } catch (err) {
      // Glance removes a namespace whose contents could not be created.
      await this.#db.kysely.deleteFrom('metadef_items').where('namespace', '=', ns).execute()
      await this.#db.kysely
        .deleteFrom('metadef_resource_type_associations')
        .where('namespace', '=', ns)
        .execute()
      await this.#db.kysely.deleteFrom('metadef_namespaces').where('namespace', '=', ns).execute()
      throw err
    }
    for (const key of ['resource_type_associations', 'properties', 'objects', 'tags'])
      if (body[key] !== undefined) out[key] = body[key]
    return out
  }

  /** PUT: the namespace's own fields are replaced by the body's (a new `namespace` renames it). */
  async updateNamespace(ctx: RequestContext, ns: string, body: Json): Promise<Json> {
    const before = await this.#visible(ctx, ns)
    requireAdmin(ctx)
    checkFields(body, NAMESPACE_FIELDS)
    const name = str(body, 'namespace', NAME_MAX_CHARS, true)!
    const row = {
      ...this.#namespaceRow(ctx, body, name, before),
      created_at: before.created_at,
      updated_at: nowIso(),
    }
    await this.#db.transaction(async (trx) => {
      if (name === ns) {
        const { namespace: _k, created_at: _c, ...set } = row
        await trx.updateTable('metadef_namespaces').set(set).where('namespace', '=', ns).execute()
        return
      }
      const taken = await trx
        .selectFrom('metadef_namespaces')
        .select('namespace')
        .where('namespace', '=', name)
        .executeTakeFirst()
      if (taken) throw new Conflict(`The metadata definition namespace=${name} already exists.`)
      await trx.insertInto('metadef_namespaces').values(row).execute()
      await trx.updateTable('metadef_items').set({ namespace: name }).where('namespace', '=', ns).execute()
      await trx
        .updateTable('metadef_resource_type_associations')
        .set({ namespace: name })
        .where('namespace', '=', ns)
        .execute()
      await trx.deleteFrom('metadef_namespaces').where('namespace', '=', ns).execute()
    })
    return namespaceView(row)
  }

  async deleteNamespace(ctx: RequestContext, ns: string): Promise<void> {
    const row = await this.#visible(ctx, ns)
    requireAdmin(ctx)
    if (row.protected)
      throw new Forbidden(`Metadata definition namespace ${ns} is protected and cannot be deleted.`)
    await this.#db.transaction(async (trx) => {
      await trx.deleteFrom('metadef_items').where('namespace', '=', ns).execute()
      await trx.deleteFrom('metadef_resource_type_associations').where('namespace', '=', ns).execute()
      await trx.deleteFrom('metadef_namespaces').where('namespace', '=', ns).execute()
    })
  }

  #namespaceRow(ctx: RequestContext, body: Json, ns: string, before: NamespaceRow | undefined): NamespaceRow {
    const visibility = body.visibility ?? 'private'
    if (typeof visibility !== 'string' || !VISIBILITIES.includes(visibility))
      throw new Invalid(`${JSON.stringify(visibility)} is not one of ${JSON.stringify(VISIBILITIES)}`)
    if (body.protected !== undefined && typeof body.protected !== 'boolean')
      throw new Invalid(`${JSON.stringify(body.protected)} is not of type 'boolean'`)
    return {
      namespace: ns,
      display_name: str(body, 'display_name', NAME_MAX_CHARS) ?? null,
      description: str(body, 'description', DESCRIPTION_MAX_CHARS) ?? null,
      visibility,
      protected: (body.protected as boolean | undefined) ?? false,
      owner: str(body, 'owner', TAG_NAME_MAX_CHARS) ?? before?.owner ?? ctx.projectId ?? null,
      created_at: nowIso(),
      updated_at: null,
    }
  }

  async #visible(ctx: RequestContext, ns: string): Promise<NamespaceRow> {
    const row = await this.#db.kysely
      .selectFrom('metadef_namespaces')
      .selectAll()
      .where('namespace', '=', ns)
      .executeTakeFirst()
    if (!row || !canSee(ctx, row)) throw namespaceNotFound(ns)
    return row
  }

  /** The namespace, for a change: visible, admin caller, and (for deletes) not protected. */
  async #writable(ctx: RequestContext, ns: string, deleting: string | undefined): Promise<NamespaceRow> {
    const row = await this.#visible(ctx, ns)
    requireAdmin(ctx)
    if (deleting && row.protected) throw new Forbidden(`${deleting} is protected and cannot be deleted.`)
    return row
  }

  // ---- resource types ----

  async listResourceTypes(): Promise<Json[]> {
    const rows = await this.#db.kysely
      .selectFrom('metadef_resource_types')
      .selectAll()
      .orderBy('name')
      .execute()
    return rows.map((r) => ({
      name: r.name,
      created_at: stamp(r.created_at),
      updated_at: stamp(r.updated_at ?? r.created_at),
    }))
  }

  async listAssociations(ctx: RequestContext, ns: string): Promise<Json[]> {
    await this.#visible(ctx, ns)
    const rows = await this.#db.kysely
      .selectFrom('metadef_resource_type_associations')
      .selectAll()
      .where('namespace', '=', ns)
      .orderBy('created_at')
      .execute()
    return rows.map(associationView)
  }

  async addAssociation(ctx: RequestContext, ns: string, body: Json): Promise<Json> {
    await this.#writable(ctx, ns, undefined)
    checkFields(body, ['name', 'prefix', 'properties_target'])
    const name = str(body, 'name', NAME_MAX_CHARS, true)!
    const type = await this.#db.kysely
      .selectFrom('metadef_resource_types')
      .select('name')
      .where('name', '=', name)
      .executeTakeFirst()
    if (!type) throw new NotFound(`The metadata definition resource-type with name=${name}, was not found.`)
    const row = {
      namespace: ns,
      resource_type: name,
      prefix: str(body, 'prefix', NAME_MAX_CHARS) ?? null,
      properties_target: str(body, 'properties_target', NAME_MAX_CHARS) ?? null,
      created_at: nowIso(),
      updated_at: null,
    }
    const exists = await this.#db.kysely
      .selectFrom('metadef_resource_type_associations')
      .select('namespace')
      .where('namespace', '=', ns)
      .where('resource_type', '=', name)
      .executeTakeFirst()
    if (exists)
      throw new Conflict(
        `The metadata definition resource-type association of resource-type=${name} to namespace=${ns} already exists.`,
      )
    await this.#db.kysely.insertInto('metadef_resource_type_associations').values(row).execute()
    return associationView(row)
  }

  async removeAssociation(ctx: RequestContext, ns: string, name: string): Promise<void> {
    await this.#writable(ctx, ns, `Metadata definition resource-type-association ${name}`)
    const res = await this.#db.kysely
      .deleteFrom('metadef_resource_type_associations')
      .where('namespace', '=', ns)
      .where('resource_type', '=', name)
      .executeTakeFirst()
    if (Number(res.numDeletedRows) === 0)
      throw new NotFound(
        `The metadata definition resource-type association of resource-type=${name} to namespace=${ns}, was not found.`,
      )
  }

  // ---- objects, properties, tags ----

  /** Each item as `{ name, ...definition, created_at, updated_at }`, oldest first. */
  async listItems(ctx: RequestContext, ns: string, kind: ItemKind): Promise<Json[]> {
    await this.#visible(ctx, ns)
    const rows = await this.#db.kysely
      .selectFrom('metadef_items')
      .selectAll()
      .where('namespace', '=', ns)
      .where('kind', '=', kind)
      .orderBy('created_at')
      .orderBy('name')
      .execute()
    return rows.map((r) => itemView(r))
  }

  async getItem(ctx: RequestContext, ns: string, kind: ItemKind, name: string): Promise<Json> {
    await this.#visible(ctx, ns)
    const row = await this.#item(ns, kind, name)
    if (!row) throw itemNotFound(kind, name, ns)
    return itemView(row)
  }

  async createItem(ctx: RequestContext, ns: string, kind: ItemKind, body: Json): Promise<Json> {
    await this.#writable(ctx, ns, undefined)
    const { name, doc } = this.#parse(kind, body)
    if (await this.#item(ns, kind, name)) throw duplicateItem(kind, name, ns)
    const row = { namespace: ns, kind, name, doc: toJsonText(doc), created_at: nowIso(), updated_at: null }
    await this.#db.kysely.insertInto('metadef_items').values(row).execute()
    return itemView(row)
  }

  /** PUT: the definition is replaced by the body's; a new `name` renames it. */
  async updateItem(ctx: RequestContext, ns: string, kind: ItemKind, name: string, body: Json): Promise<Json> {
    await this.#writable(ctx, ns, undefined)
    const before = await this.#item(ns, kind, name)
    if (!before) throw itemNotFound(kind, name, ns)
    const parsed = this.#parse(kind, { name, ...body })
    if (parsed.name !== name) {
      const clash = await this.#item(ns, kind, parsed.name)
      if (clash && clash.name !== name) throw duplicateItem(kind, parsed.name, ns)
    }
    const row = { ...before, name: parsed.name, doc: toJsonText(parsed.doc), updated_at: nowIso() }
    await this.#db.kysely
      .updateTable('metadef_items')
      .set({ name: row.name, doc: row.doc, updated_at: row.updated_at })
      .where('namespace', '=', ns)
      .where('kind', '=', kind)
      .where('name', '=', before.name)
      .execute()
    return itemView(row)
  }

  async deleteItem(ctx: RequestContext, ns: string, kind: ItemKind, name: string): Promise<void> {
    await this.#writable(ctx, ns, `Metadata definition ${kind} ${name}`)
    const row = await this.#item(ns, kind, name)
    if (!row) throw itemNotFound(kind, name, ns)
    await this.#db.kysely
      .deleteFrom('metadef_items')
      .where('namespace', '=', ns)
      .where('kind', '=', kind)
      .where('name', '=', row.name)
      .execute()
  }

  /** DELETE of a whole collection (`/objects`, `/properties`, `/tags`). */
  async deleteItems(ctx: RequestContext, ns: string, kind: ItemKind): Promise<void> {
    await this.#writable(ctx, ns, `Metadata definition namespace ${ns}`)
    await this.#db.kysely
      .deleteFrom('metadef_items')
      .where('namespace', '=', ns)
      .where('kind', '=', kind)
      .execute()
  }

  /** POST /tags: the namespace's tags become exactly these. */
  async replaceTags(ctx: RequestContext, ns: string, tags: readonly Json[]): Promise<Json[]> {
    await this.#writable(ctx, ns, undefined)
    const seen = new Set<string>()
    const rows = tags.map((t) => {
      const { name } = this.#parse('tag', asObject(t, 'tag'))
      if (seen.has(name.toLowerCase())) throw duplicateItem('tag', name, ns)
      seen.add(name.toLowerCase())
      return { namespace: ns, kind: 'tag', name, doc: '{}', created_at: nowIso(), updated_at: null }
    })
    await this.#db.transaction(async (trx) => {
      await trx.deleteFrom('metadef_items').where('namespace', '=', ns).where('kind', '=', 'tag').execute()
      if (rows.length) await trx.insertInto('metadef_items').values(rows).execute()
    })
    return rows.map((r) => itemView(r))
  }

  #parse(kind: ItemKind, body: Json): { name: string; doc: Json } {
    const name = str(body, 'name', kind === 'tag' ? TAG_NAME_MAX_CHARS : NAME_MAX_CHARS, true)!
    if (kind === 'tag') {
      checkFields(body, ['name'])
      return { name, doc: {} }
    }
    return { name, doc: kind === 'object' ? objectDoc(body) : propertyDoc(body) }
  }

  /** A namespace's item by name (tags compare without case, as Glance's). */
  async #item(ns: string, kind: ItemKind, name: string) {
    const rows = await this.#db.kysely
      .selectFrom('metadef_items')
      .selectAll()
      .where('namespace', '=', ns)
      .where('kind', '=', kind)
      .execute()
    return kind === 'tag'
      ? rows.find((r) => r.name.toLowerCase() === name.toLowerCase())
      : rows.find((r) => r.name === name)
  }
}

function canSee(ctx: RequestContext, ns: NamespaceRow): boolean {
  return ns.visibility === 'public' || ctx.isAdmin || (ns.owner !== null && ns.owner === ctx.projectId)
}

function requireAdmin(ctx: RequestContext): void {
  if (!ctx.isAdmin) throw forbidden()
}

function namespaceView(r: NamespaceRow): Json {
  const out: Json = {
    namespace: r.namespace,
    ...(r.display_name !== null ? { display_name: r.display_name } : {}),
    ...(r.description !== null ? { description: r.description } : {}),
    visibility: r.visibility,
    protected: r.protected,
    ...(r.owner !== null ? { owner: r.owner } : {}),
    created_at: stamp(r.created_at),
    updated_at: stamp(r.updated_at ?? r.created_at),
    schema: '/v2/schemas/metadefs/namespace',
    self: `/v2/metadefs/namespaces/${r.namespace}`,
  }
  return out
}

function associationView(r: {
  resource_type: string
  prefix: string | null
  properties_target: string | null
  created_at: string
  updated_at: string | null
}): Json {
  return {
    name: r.resource_type,
    ...(r.prefix !== null ? { prefix: r.prefix } : {}),
    ...(r.properties_target !== null ? { properties_target: r.properties_target } : {}),
    created_at: stamp(r.created_at),
    updated_at: stamp(r.updated_at ?? r.created_at),
  }
}

function itemView(r: {
  namespace: string
  kind: string
  name: string
  doc: string
  created_at: string
  updated_at: string | null
}): Json {
  const doc = fromJsonText<Json>(r.doc)
  if (r.kind === 'property') return { name: r.name, ...doc }
  const times = { created_at: stamp(r.created_at), updated_at: stamp(r.updated_at ?? r.created_at) }
  if (r.kind === 'tag') return { name: r.name, ...times }
  return {
    name: r.name,
    ...doc,
    required: doc.required ?? [],
    properties: doc.properties ?? {},
    schema: '/v2/schemas/metadefs/object',
    self: `/v2/metadefs/namespaces/${r.namespace}/objects/${r.name}`,
    ...times,
  }
}
