import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import { Invalid } from '../common/errors.ts'

/**
 * JSON-schema validation at the edge. Bodies are validated strictly (no type
 * coercion, unknown fields rejected where the schema says
 * `additionalProperties: false`); query strings and path parameters are
 * strings on the wire, so their validator coerces.
 */
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

const bodyAjv = addFormats(
  new Ajv({ allErrors: false, strict: false, coerceTypes: false, useDefaults: false }),
)
const queryAjv = addFormats(
  new Ajv({ allErrors: false, strict: false, coerceTypes: 'array', useDefaults: true }),
)

export type Part = 'body' | 'querystring' | 'params' | 'headers'

export function compileValidator(part: Part, schema: object): ValidateFunction {
  return (part === 'body' ? bodyAjv : queryAjv).compile(schema)
}

/**
 * The message Nova's validator writes ("Invalid input for field/attribute
 * server. Value: {...}. 'name' is a required property"), so clients and
 * Tempest that match on it keep working.
 */
export function validationError(errors: readonly ErrorObject[] | null | undefined, data: unknown): Invalid {
  const first = errors?.[0]
  if (!first) return new Invalid('Invalid input')
  const path = first.instancePath.split('/').filter(Boolean)
  const field = path.at(-1) ?? (first.params as { missingProperty?: string }).missingProperty ?? 'body'
  const value = path.reduce<unknown>(
    (v, key) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined),
    data,
  )
  return new Invalid(
    `Invalid input for field/attribute ${field}. Value: ${describe(value)}. ${explain(first)}`,
  )
}

function describe(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  return text === undefined ? 'None' : text
}

function explain(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>
  switch (e.keyword) {
    case 'required':
      return `'${String(p.missingProperty)}' is a required property`
    case 'additionalProperties':
      return `Additional properties are not allowed ('${String(p.additionalProperty)}' was unexpected)`
    case 'type':
      return `is not of type '${String(p.type)}'`
    case 'enum':
      return `is not one of ${JSON.stringify(p.allowedValues)}`
    case 'maxLength':
      return `is too long`
    case 'minLength':
      return `is too short`
    default:
      return e.message ?? 'is invalid'
  }
}
