import { isIPv4, isIPv6 } from 'node:net'
import { Invalid } from '../../common/errors.ts'
import { toRe2Syntax } from '../../common/user-regex.ts'

/**
 * JSON-schema validation the way Nova's API does it (python-jsonschema's
 * Draft 4 plus Nova's formats and its string-number minimum/maximum), so
 * error bodies read as Nova's: "Invalid input for field/attribute name.
 * Value: . '' is too short". Nova validates per microversion, so handlers
 * pick the schema for the request's version and call `validateBody` or
 * `validateQuery` themselves.
 *
 * Only the Draft 4 keywords Nova's schemas use are implemented; an unknown
 * keyword in a schema is a programming error and throws at first use.
 */
export type Schema = Readonly<Record<string, unknown>>

interface SchemaError {
  readonly message: string
  /** Path from the root to the failing value (property names and indexes). */
  readonly path: readonly (string | number)[]
  readonly instance: unknown
  /** Set when a format check has its own message (Nova's InvalidName). */
  readonly cause?: string | undefined
}

const KNOWN_KEYWORDS = new Set([
  'type',
  'enum',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'properties',
  'required',
  'additionalProperties',
  'patternProperties',
  'items',
  'minItems',
  'maxItems',
  'uniqueItems',
  'oneOf',
  'anyOf',
  'allOf',
  'format',
  'minProperties',
  'maxProperties',
])

/** Validates a request body; throws Invalid (400) with Nova's message. */
export function validateBody(schema: Schema, body: unknown): void {
  const error = firstError(schema, body, [])
  if (!error) return
  if (error.cause) throw new Invalid(error.cause)
  if (error.path.length === 0) throw new Invalid(error.message)
  throw new Invalid(
    `Invalid input for field/attribute ${String(error.path.at(-1))}. Value: ${pyStr(error.instance)}. ${error.message}`,
  )
}

/**
 * Validates query parameters, given as name -> list of values (Nova's
 * `dict_of_lists`); throws Invalid (400) with Nova's message.
 */
export function validateQuery(schema: Schema, query: Readonly<Record<string, readonly string[]>>): void {
  const error = firstError(schema, query, [])
  if (!error) return
  if (error.cause) throw new Invalid(error.cause)
  if (error.path.length === 0) throw new Invalid(error.message)
  throw new Invalid(
    `Invalid input for query parameters ${String(error.path[0])}. Value: ${pyStr(error.instance)}. ${error.message}`,
  )
}

function firstError(schema: Schema, value: unknown, path: (string | number)[]): SchemaError | undefined {
  for (const [keyword, arg] of Object.entries(schema)) {
    if (!KNOWN_KEYWORDS.has(keyword)) throw new Error(`schema keyword ${keyword} is not supported`)
    const error = KEYWORDS[keyword]?.(arg, value, path, schema)
    if (error) return error
  }
  return undefined
}

type KeywordCheck = (
  arg: any,
  value: unknown,
  path: (string | number)[],
  schema: Schema,
) => SchemaError | undefined

function fail(
  message: string,
  value: unknown,
  path: readonly (string | number)[],
  cause?: string,
): SchemaError {
  return { message, path, instance: value, cause }
}

const KEYWORDS: Readonly<Record<string, KeywordCheck>> = {
  type(types: string | string[], value, path) {
    const list = Array.isArray(types) ? types : [types]
    if (list.some((t) => isType(value, t))) return undefined
    return fail(`${pyRepr(value)} is not of type ${list.map((t) => `'${t}'`).join(', ')}`, value, path)
  },
  enum(values: unknown[], value, path) {
    if (values.some((v) => pyEqual(v, value))) return undefined
    return fail(`${pyRepr(value)} is not one of ${pyRepr(values)}`, value, path)
  },
  pattern(pattern: string, value, path) {
    if (typeof value !== 'string' || pyRegex(pattern).test(value)) return undefined
    return fail(`${pyRepr(value)} does not match ${pyRepr(pattern)}`, value, path)
  },
  minLength(min: number, value, path) {
    if (typeof value !== 'string' || [...value].length >= min) return undefined
    return fail(`${pyRepr(value)} is too short`, value, path)
  },
  maxLength(max: number, value, path) {
    if (typeof value !== 'string' || [...value].length <= max) return undefined
    return fail(`${pyRepr(value)} is too long`, value, path)
  },
  minimum(min: number, value, path, schema) {
    const n = numberOf(value)
    if (n === undefined) return undefined
    if (schema.exclusiveMinimum === true) {
      if (n > min) return undefined
      return fail(`${pyRepr(n)} is less than or equal to the minimum of ${pyRepr(min)}`, value, path)
    }
    if (n >= min) return undefined
    return fail(`${pyRepr(n)} is less than the minimum of ${pyRepr(min)}`, value, path)
  },
  maximum(max: number, value, path) {
    const n = numberOf(value)
    if (n === undefined || n <= max) return undefined
    return fail(`${pyRepr(n)} is greater than the maximum of ${pyRepr(max)}`, value, path)
  },
  exclusiveMinimum: () => undefined,
  properties(props: Record<string, Schema>, value, path) {
    if (!isObject(value)) return undefined
    for (const [name, sub] of Object.entries(props)) {
      if (!(name in value)) continue
      const error = firstError(sub, value[name], [...path, name])
      if (error) return error
    }
    return undefined
  },
  required(names: string[], value, path) {
    if (!isObject(value)) return undefined
    const missing = names.find((n) => !(n in value))
    return missing === undefined ? undefined : fail(`'${missing}' is a required property`, value, path)
  },
  patternProperties(patterns: Record<string, Schema>, value, path) {
    if (!isObject(value)) return undefined
    for (const [pattern, sub] of Object.entries(patterns)) {
      const re = pyRegex(pattern)
      for (const [name, v] of Object.entries(value)) {
        if (!re.test(name)) continue
        const error = firstError(sub, v, [...path, name])
        if (error) return error
      }
    }
    return undefined
  },
  additionalProperties(allowed: boolean | Schema, value, path, schema) {
    if (!isObject(value) || allowed === true) return undefined
    const props = (schema.properties ?? {}) as Record<string, unknown>
    const patterns = Object.keys((schema.patternProperties ?? {}) as Record<string, unknown>).map(pyRegex)
    const extra = Object.keys(value).filter((k) => !(k in props) && !patterns.some((re) => re.test(k)))
    if (extra.length === 0) return undefined
    if (allowed === false) {
      const verb = extra.length === 1 ? 'was' : 'were'
      return fail(
        `Additional properties are not allowed (${extra.map((e) => pyRepr(e)).join(', ')} ${verb} unexpected)`,
        value,
        path,
      )
    }
    for (const name of extra) {
      const error = firstError(allowed, value[name], [...path, name])
      if (error) return error
    }
    return undefined
  },
  items(items: Schema, value, path) {
    if (!Array.isArray(value)) return undefined
    for (let i = 0; i < value.length; i++) {
      const error = firstError(items, value[i], [...path, i])
      if (error) return error
    }
    return undefined
  },
  minItems(min: number, value, path) {
    if (!Array.isArray(value) || value.length >= min) return undefined
    return fail(`${pyRepr(value)} is too short`, value, path)
  },
  maxItems(max: number, value, path) {
    if (!Array.isArray(value) || value.length <= max) return undefined
    return fail(`${pyRepr(value)} is too long`, value, path)
  },
  uniqueItems(unique: boolean, value, path) {
    if (!unique || !Array.isArray(value)) return undefined
    const seen = new Set(value.map((v) => JSON.stringify(v)))
    if (seen.size === value.length) return undefined
    return fail(`${pyRepr(value)} has non-unique elements`, value, path)
  },
  oneOf(schemas: Schema[], value, path) {
    const passing = schemas.filter((s) => firstError(s, value, path) === undefined)
    if (passing.length === 1) return undefined
    if (passing.length === 0)
      return fail(`${pyRepr(value)} is not valid under any of the given schemas`, value, path)
    return fail(`${pyRepr(value)} is valid under each of ${passing.map(pyRepr).join(', ')}`, value, path)
  },
  anyOf(schemas: Schema[], value, path) {
    if (schemas.some((s) => firstError(s, value, path) === undefined)) return undefined
    return fail(`${pyRepr(value)} is not valid under any of the given schemas`, value, path)
  },
  allOf(schemas: Schema[], value, path) {
    for (const s of schemas) {
      const error = firstError(s, value, path)
      if (error) return error
    }
    return undefined
  },
  format(format: string, value, path) {
    const check = FORMATS[format]
    if (!check) return undefined
    const outcome = check(value)
    if (outcome === true) return undefined
    return fail(
      `${pyRepr(value)} is not a '${format}'`,
      value,
      path,
      typeof outcome === 'string' ? outcome : undefined,
    )
  },
  minProperties(min: number, value, path) {
    if (!isObject(value) || Object.keys(value).length >= min) return undefined
    return fail(`${pyRepr(value)} does not have enough properties`, value, path)
  },
  maxProperties(max: number, value, path) {
    if (!isObject(value) || Object.keys(value).length <= max) return undefined
    return fail(`${pyRepr(value)} has too many properties`, value, path)
  },
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isType(value: unknown, type: string): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string'
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value)
    case 'number':
      return typeof value === 'number'
    case 'boolean':
      return typeof value === 'boolean'
    case 'null':
      return value === null
    case 'array':
      return Array.isArray(value)
    case 'object':
      return isObject(value)
    default:
      throw new Error(`schema type ${type} is not supported`)
  }
}

/** Nova compares minimum/maximum on numbers and on strings that parse as numbers. */
function numberOf(value: unknown): number | undefined {
  if (typeof value === 'number') return value
  if (typeof value !== 'string' || value.trim() === '') return undefined
  const n = Number(value)
  return Number.isFinite(n) ? n : undefined
}

/** Python `==` for JSON values, where True == 1 is deliberately not equal (jsonschema's enum). */
function pyEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

const REGEX_CACHE = new Map<string, RegExp>()

/** A Python `re.search` pattern as a JS RegExp (Nova's patterns use the common subset). */
function pyRegex(pattern: string): RegExp {
  let re = REGEX_CACHE.get(pattern)
  if (!re) {
    re = new RegExp(pattern, 'u')
    REGEX_CACHE.set(pattern, re)
  }
  return re
}

// ---- formats ----

type FormatCheck = (value: unknown) => boolean | string

/** Nova's InvalidName message. */
function invalidName(reason: string): string {
  return `An invalid 'name' value was provided. The name must be: ${reason}`
}

/** Not printable: control/format/unassigned (C*) and line/paragraph separators. */
const NON_PRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/u
/** What a name may not start or end with: a non-printable character or a space separator. */
const EDGE = /^[\p{C}\p{Z}]|[\p{C}\p{Z}]$/u

function validName(value: string, extraForbidden?: string): boolean {
  if (NON_PRINTABLE.test(value) || EDGE.test(value)) return false
  return extraForbidden === undefined || !value.includes(extraForbidden)
}

const KEYPAIR_SAFE_CHARS_20 = '_- 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'
const KEYPAIR_SAFE_CHARS_292 = `@.${KEYPAIR_SAFE_CHARS_20}`

function keypairName(safe: string): FormatCheck {
  return (value) => {
    if (typeof value !== 'string') return true
    if ([...value].every((c) => safe.includes(c))) return true
    return invalidName(`Only expected characters: [${safe}]`)
  }
}

export const FORMATS: Readonly<Record<string, FormatCheck>> = {
  uuid: (v) => typeof v !== 'string' || isUuidLike(v),
  'date-time': (v) => typeof v !== 'string' || parseIsoTime(v) !== undefined,
  base64: (v) => typeof v !== 'string' || isBase64(v),
  ipv4: (v) => typeof v !== 'string' || isIPv4(v),
  ipv6: (v) => typeof v !== 'string' || isIPv6(v),
  cidr: (v) => typeof v !== 'string' || isCidr(v),
  regex: (v) => typeof v === 'string' && v !== '' && isRegex(v),
  name: (v) =>
    typeof v !== 'string' ||
    validName(v) ||
    invalidName('printable characters. Can not start or end with whitespace.'),
  az_name: (v) =>
    typeof v !== 'string' ||
    validName(v, ':') ||
    invalidName('printable characters except :.Can not start or end with whitespace.'),
  keypair_name_20: keypairName(KEYPAIR_SAFE_CHARS_20),
  keypair_name_292: keypairName(KEYPAIR_SAFE_CHARS_292),
}

/** oslo's `is_uuid_like`: 32 hex digits, dashes anywhere. */
export function isUuidLike(value: string): boolean {
  return /^[0-9a-f]{32}$/i.test(value.replace(/-/g, '')) && /^[0-9a-f-]+$/i.test(value)
}

const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i

/** oslo's `parse_isotime` (iso8601): the instant as an ISO string in the stored form, or undefined. */
export function parseIsoTime(value: string): string | undefined {
  const m = ISO_TIME.exec(value.trim())
  if (!m) return undefined
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone = 'Z'] = m
  const ms = frac.padEnd(3, '0').slice(0, 3)
  const tz =
    zone.toUpperCase() === 'Z'
      ? 'Z'
      : zone.length === 3
        ? `${zone}:00`
        : zone.replace(/^([+-]\d{2})(\d{2})$/, '$1:$2')
  const date = new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}.${ms}${tz}`)
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString()
}

/** Python's lenient `b64decode`: other characters are skipped, but the padding must add up. */
export function isBase64(value: string): boolean {
  const cleaned = value.replace(/[^A-Za-z0-9+/=]/g, '')
  const data = cleaned.replace(/=/g, '').length
  const pads = cleaned.length - cleaned.replace(/=+$/, '').length
  const rest = data % 4
  if (rest === 0) return true
  if (rest === 1) return false
  return pads >= 4 - rest
}

function isCidr(value: string): boolean {
  if (/\s/.test(value) || !value.includes('/')) return false
  const [addr, bits] = value.split('/', 2) as [string, string]
  if (!/^\d+$/.test(bits)) return false
  const n = Number(bits)
  if (isIPv4(addr)) return n <= 32
  return isIPv6(addr) && n <= 128
}

/**
 * The `regex` format, checked cheaply here (length, repetitions, flags):
 * whether RE2 compiles it is asked of the pattern worker by the list that
 * uses it (`regexFormatError` gives the same 400).
 */
function isRegex(value: string): boolean {
  try {
    toRe2Syntax(value)
    return true
  } catch {
    return false
  }
}

/** The 400 `validateQuery` gives when query parameter `key`'s `value` is not a 'regex'. */
export function regexFormatError(key: string, value: string): Invalid {
  return new Invalid(
    `Invalid input for query parameters ${key}. Value: ${value}. ${pyRepr(value)} is not a 'regex'`,
  )
}

// ---- Python-style rendering, for messages that read like Nova's ----

/** `repr()` of a JSON value as Python prints it. */
export function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None'
  if (value === true) return 'True'
  if (value === false) return 'False'
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : String(value)
  if (typeof value === 'string') return pyStringRepr(value)
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
    return `{${entries.map(([k, v]) => `${pyStringRepr(k)}: ${pyRepr(v)}`).join(', ')}}`
  }
  return String(value)
}

/** `str()` of a JSON value: strings bare, everything else as repr. */
export function pyStr(value: unknown): string {
  return typeof value === 'string' ? value : pyRepr(value)
}

function pyStringRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'"
  const body = s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')
  return `${quote}${quote === "'" ? body.replace(/'/g, "\\'") : body}${quote}`
}

/** The schema of `schemas` ([min, max, schema] ranges) for version `mv`, if any applies. */
export function schemaFor(
  schemas: readonly (readonly [string, string | undefined, Schema])[],
  mv: { between(min: string | undefined, max: string | undefined): boolean },
): Schema | undefined {
  return schemas.find(([min, max]) => mv.between(min, max))?.[2]
}
