import { Conflict, Forbidden, Invalid } from '../common/errors.ts'
import { BASE_FIELDS, MIN_RESOURCE_MAX, READONLY_FIELDS, isReservedName, type Image } from './model.ts'
import { validateImageObject } from './schemas.ts'

/**
 * Image updates as Glance takes them: a JSON-patch-like list of operations
 * in one of two media types. `application/openstack-images-v2.1-json-patch`
 * is RFC 6902 style (`{"op": "replace", "path": "/name", "value": ...}`);
 * the older `...-v2.0-json-patch` (what Tempest sends) names the operation
 * as the key (`{"replace": "/name", "value": ...}`) and refuses to `add` a
 * property that exists. Parsing checks the shape; applying follows Glance's
 * controller: base attributes are set, extra properties added or removed.
 */

export type PatchOp = 'add' | 'remove' | 'replace'

/** Media type -> JSON schema draft of the operation format. */
export const JSON_PATCH_MEDIA_TYPES: Readonly<Record<string, 4 | 10>> = {
  'application/openstack-images-v2.0-json-patch': 4,
  'application/openstack-images-v2.1-json-patch': 10,
}

/** What a 415 on PATCH advertises in `Accept-Patch`. */
export const ACCEPT_PATCH = Object.keys(JSON_PATCH_MEDIA_TYPES).sort().join(', ')

export interface PatchChange {
  readonly op: PatchOp
  /** The decoded JSON pointer; one element except for `locations`. */
  readonly path: readonly string[]
  readonly value?: unknown
  readonly draft: 4 | 10
}

const OPS: readonly PatchOp[] = ['add', 'remove', 'replace']
/** Path lengths Glance accepts per root (everything else: exactly one element). */
const PATH_DEPTHS: Readonly<Record<string, Partial<Record<PatchOp, number>>>> = {
  locations: { add: 2, remove: 2, replace: 1 },
}
const ARRAY_FIELDS: ReadonlySet<string> = new Set(['tags', 'locations'])

/** Parses and checks a patch body; `draft` comes from its media type. */
export function parsePatch(draft: 4 | 10, body: unknown): PatchChange[] {
  if (body === undefined) throw new Invalid('Body expected in request.')
  if (!Array.isArray(body)) throw new Invalid('Request body must be a JSON array of operation objects.')
  return body.map((raw: unknown) => parseChange(draft, raw))
}

function parseChange(draft: 4 | 10, raw: unknown): PatchChange {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new Invalid('Operations must be JSON objects.')
  }
  const obj = raw as Record<string, unknown>
  const [op, pointer] = draft === 10 ? opAndPathD10(obj) : opAndPathD4(obj)
  const path = decodePointer(pointer)
  const root = path[0]!
  if (path.length !== (PATH_DEPTHS[root]?.[op] ?? 1)) {
    throw new Invalid(`Invalid JSON pointer for this resource: '/${path.join('/')}'`)
  }
  if (op !== 'remove' && !('value' in obj))
    throw new Invalid(`Operation "${op}" requires a member named "value".`)
  const change: PatchChange = op === 'remove' ? { op, path, draft } : { op, path, value: obj.value, draft }
  checkWritable(change)
  return change
}

function opAndPathD10(obj: Record<string, unknown>): [PatchOp, string] {
  const op = obj.op
  const available = OPS.join(', ')
  if (op === undefined) {
    throw new Invalid(
      `Unable to find \`op\` in JSON Schema change. It must be one of the following: ${available}.`,
    )
  }
  if (!OPS.includes(op as PatchOp)) {
    throw new Invalid(`Invalid operation: \`${String(op)}\`. It must be one of the following: ${available}.`)
  }
  if (!('path' in obj)) throw new Invalid("Unable to find 'path' in JSON Schema change")
  return [op as PatchOp, pointerString(obj.path)]
}

function opAndPathD4(obj: Record<string, unknown>): [PatchOp, string] {
  const present = OPS.filter((op) => op in obj)
  if (present.length > 1) {
    throw new Invalid('Operation objects must contain only one member named "add", "remove", or "replace".')
  }
  const op = present[0]
  if (!op)
    throw new Invalid(
      'Operation objects must contain exactly one member named "add", "remove", or "replace".',
    )
  return [op, pointerString(obj[op])]
}

function pointerString(value: unknown): string {
  if (typeof value !== 'string') throw new Invalid(`Pointer \`${String(value)}\` does not start with "/".`)
  return value
}

/** Glance's restricted JSON pointer: "/a/b", "~1" for "/", "~0" for "~". */
export function decodePointer(pointer: string): string[] {
  if (!pointer.startsWith('/')) throw new Invalid(`Pointer \`${pointer}\` does not start with "/".`)
  if (/\/\s*?\//.test(pointer.slice(1))) throw new Invalid(`Pointer \`${pointer}\` contains adjacent "/".`)
  if (pointer.length > 1 && pointer.endsWith('/')) throw new Invalid(`Pointer \`${pointer}\` end with "/".`)
  if (pointer.slice(1).trim() === '/')
    throw new Invalid(`Pointer \`${pointer}\` does not contains valid token.`)
  if (/~[^01]/.test(pointer) || pointer.endsWith('~')) {
    throw new Invalid(`Pointer \`${pointer}\` contains "~" not part of a recognized escape sequence.`)
  }
  return pointer
    .replace(/^\/+/, '')
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~').trim())
}

/** Read-only and reserved names (403), then the value against the image schema (400). */
function checkWritable(change: PatchChange): void {
  const root = change.path[0]!
  if (READONLY_FIELDS.has(root)) throw new Forbidden(`Attribute '${root}' is read-only.`)
  if (isReservedName(root)) throw new Forbidden(`Attribute '${root}' is reserved.`)
  if (change.op === 'remove') return
  if (change.path.length === 1) validateImageObject({ [root]: change.value })
  else if (ARRAY_FIELDS.has(root)) validateImageObject({ [root]: [change.value] })
}

/** The writable state of an image a patch works on. */
export interface ImageDraft {
  readonly fields: Record<string, unknown>
  readonly properties: Record<string, string>
}

export function draftOf(image: Image): ImageDraft {
  const { properties, ...fields } = image
  return { fields: { ...fields, tags: [...image.tags] }, properties: { ...properties } }
}

/**
 * Applies one parsed change to `draft` in place, as Glance's controller
 * does: `replace` of a missing extra property and `remove` of a missing one
 * are 409, base attributes cannot be removed (403), and the v2.0 format's
 * `add` of an existing property is 409. Locations are not shown by this
 * cloud (Glance's show_multiple_locations = False), so they cannot be changed.
 */
export function applyChange(draft: ImageDraft, change: PatchChange): void {
  const root = change.path[0]!
  if (root === 'locations') return refuseLocations(change)
  const isBase = BASE_FIELDS.has(root)
  switch (change.op) {
    case 'replace':
      if (isBase) setField(draft, root, change.value)
      else if (root in draft.properties) draft.properties[root] = change.value as string
      else throw new Conflict(`Property ${root} does not exist.`)
      return
    case 'add':
      if (change.draft === 4 && (isBase || root in draft.properties)) {
        throw new Conflict(`Property ${root} already present.`)
      }
      if (isBase) setField(draft, root, change.value)
      else draft.properties[root] = change.value as string
      return
    case 'remove':
      if (isBase) throw new Forbidden(`Property ${root} may not be removed.`)
      if (!(root in draft.properties)) throw new Conflict(`Property ${root} does not exist.`)
      delete draft.properties[root]
  }
}

/** Sets a base attribute with the checks Glance's domain setters make. */
function setField(draft: ImageDraft, field: string, value: unknown): void {
  if (FORMAT_FIELDS.has(field) && !FORMAT_MUTABLE_STATUSES.has(draft.fields.status as string)) {
    throw new Forbidden(`Attribute ${field} can be only replaced for a queued image.`)
  }
  if (field === 'min_disk' || field === 'min_ram') checkMinResource(field, value as number)
  // Tags are a set in Glance: duplicates in a replacement collapse.
  draft.fields[field] = field === 'tags' ? [...new Set(value as string[])] : value
}

const FORMAT_FIELDS: ReadonlySet<string> = new Set(['disk_format', 'container_format'])
const FORMAT_MUTABLE_STATUSES: ReadonlySet<string> = new Set(['queued', 'importing'])

/** min_disk and min_ram: not negative (Glance's domain) and within the database column. */
export function checkMinResource(field: string, value: number): void {
  if (value < 0)
    throw new Invalid(`Invalid value '${value}' for parameter '${field}': Cannot be a negative value`)
  if (value > MIN_RESOURCE_MAX)
    throw new Invalid(`'${field}' value out of range, must not exceed ${MIN_RESOURCE_MAX}`)
}

function refuseLocations(change: PatchChange): never {
  if (change.op === 'replace' && Array.isArray(change.value) && change.value.length === 0) {
    throw new Forbidden('Cannot set locations to empty list.')
  }
  const verb = change.op === 'replace' ? 'update' : change.op
  throw new Forbidden(`It's not allowed to ${verb} locations if locations are invisible.`)
}
