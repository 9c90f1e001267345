import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import { Invalid } from '../../common/errors.ts'
import type { ApiRequest } from '../../service/http.ts'

/**
 * Body validation with Keystone's messages ("Invalid input for field
 * 'identity/password/user': 'password' is a required property"), which
 * follow Python jsonschema's wording. Keystone validates the entity inside
 * the envelope (`{"project": {...}}`), so paths are relative to it.
 */
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv
const ajv = addFormats(new Ajv({ allErrors: false, strict: false, coerceTypes: false, useDefaults: false }))

export type Schema = Readonly<Record<string, unknown>>

/** Compiles a schema into a check that throws Invalid with Keystone's wording. */
export function validator(schema: Schema): (data: unknown) => void {
  const validate: ValidateFunction = ajv.compile(schema)
  return (data) => {
    if (!validate(data)) throw keystoneError(validate.errors?.[0], data)
  }
}

/** The entity inside a request envelope (`body.project`), `{}` when absent, as Keystone reads it. */
export function member(req: ApiRequest, key: string): unknown {
  const body = req.body as Record<string, unknown> | undefined | null
  if (body === undefined || body === null) return {}
  if (typeof body !== 'object' || Array.isArray(body))
    throw keystoneError(undefined, body, "is not of type 'object'")
  return key in body ? body[key] : {}
}

/** Validates `body[key]` and returns it typed. */
export function entity<T>(req: ApiRequest, key: string, check: (data: unknown) => void): T {
  const data = member(req, key)
  check(data)
  return data as T
}

function keystoneError(e: ErrorObject | undefined, data: unknown, fallback = 'is invalid'): Invalid {
  if (!e) return new Invalid(`${pyRepr(data)} ${fallback}`)
  const path = e.instancePath.split('/').filter(Boolean).join('/')
  const value = e.instancePath
    .split('/')
    .filter(Boolean)
    .reduce<unknown>(
      (v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined),
      data,
    )
  const message = explain(e, value)
  return new Invalid(path ? `Invalid input for field '${path}': ${message}` : message)
}

function explain(e: ErrorObject, value: unknown): string {
  const p = e.params as Record<string, unknown>
  switch (e.keyword) {
    case 'required':
      return `'${String(p.missingProperty)}' is a required property`
    case 'additionalProperties':
      return `Additional properties are not allowed ('${String(p.additionalProperty)}' was unexpected)`
    case 'type':
      return `${pyRepr(value)} is not of type ${[p.type]
        .flat()
        .map((t) => `'${String(t)}'`)
        .join(', ')}`
    case 'enum':
      return `${pyRepr(value)} is not one of ${pyRepr(p.allowedValues)}`
    case 'minLength':
    case 'minItems':
      return `${pyRepr(value)} is too short`
    case 'maxLength':
    case 'maxItems':
      return `${pyRepr(value)} is too long`
    case 'pattern':
      return `${pyRepr(value)} does not match '${String(p.pattern)}'`
    case 'format':
      return `${pyRepr(value)} is not a '${String(p.format)}'`
    case 'minProperties':
      return `${pyRepr(value)} does not have enough properties`
    default:
      return `${pyRepr(value)} ${e.message ?? 'is invalid'}`
  }
}

/** A value as Python's repr() writes it, since Keystone's messages quote values that way. */
export function pyRepr(v: unknown): string {
  if (v === null || v === undefined) return 'None'
  if (v === true) return 'True'
  if (v === false) return 'False'
  if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
  if (typeof v === 'number') return String(v)
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`
  if (typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`)
      .join(', ')}}`
  }
  return String(v)
}

// ---- schemas (after keystone/*/schema.py) ----

const nullableString = { type: ['string', 'null'] }
const name64 = { type: 'string', minLength: 1, maxLength: 64 }
const name255 = { type: 'string', minLength: 1, maxLength: 255 }
const id64 = { type: 'string', minLength: 1, maxLength: 64 }
const boolean = { type: 'boolean' }
const tags = { type: 'array', items: { type: 'string', minLength: 1, maxLength: 255 }, maxItems: 80 }
const description = nullableString

/** keystone/catalog/schema.py `_endpoint_group_properties`. */
function endpointGroupProperties(): Schema {
  return {
    name: { type: 'string', minLength: 1, maxLength: 255, pattern: '[\\S]+' },
    description,
    filters: {
      type: 'object',
      properties: {
        interface: { type: 'string', enum: ['admin', 'internal', 'public'] },
        service_id: { type: 'string' },
        region_id: nullableString,
        enabled: boolean,
      },
    },
  }
}

export const SCHEMAS = {
  domainCreate: {
    type: 'object',
    properties: {
      name: name64,
      description,
      enabled: boolean,
      tags,
      options: { type: 'object' },
      explicit_domain_id: id64,
    },
    required: ['name'],
  },
  domainUpdate: {
    type: 'object',
    properties: { name: name64, description, enabled: boolean, tags, options: { type: 'object' } },
    minProperties: 1,
  },
  projectCreate: {
    type: 'object',
    properties: {
      name: name64,
      description,
      domain_id: { type: ['string', 'null'] },
      enabled: boolean,
      parent_id: { type: ['string', 'null'] },
      is_domain: boolean,
      tags,
      options: { type: 'object' },
    },
    required: ['name'],
  },
  projectUpdate: {
    type: 'object',
    properties: {
      name: name64,
      description,
      enabled: boolean,
      tags,
      domain_id: {},
      parent_id: {},
      is_domain: {},
    },
    minProperties: 1,
  },
  tags: {
    type: 'object',
    properties: { tags },
    required: ['tags'],
  },
  userCreate: {
    type: 'object',
    properties: {
      name: name255,
      domain_id: { type: ['string', 'null'] },
      default_project_id: { type: ['string', 'null'] },
      enabled: boolean,
      password: { type: ['string', 'null'] },
      description,
      options: { type: 'object' },
    },
    required: ['name'],
  },
  userUpdate: {
    type: 'object',
    properties: {
      name: name255,
      default_project_id: { type: ['string', 'null'] },
      enabled: boolean,
      password: { type: ['string', 'null'] },
      description,
      options: { type: 'object' },
    },
    minProperties: 1,
  },
  passwordChange: {
    type: 'object',
    properties: { original_password: { type: 'string' }, password: { type: 'string' } },
    required: ['original_password', 'password'],
    additionalProperties: false,
  },
  groupCreate: {
    type: 'object',
    properties: { name: name64, description, domain_id: { type: ['string', 'null'] } },
    required: ['name'],
  },
  groupUpdate: {
    type: 'object',
    properties: { name: name64, description },
    minProperties: 1,
  },
  roleCreate: {
    type: 'object',
    properties: { name: name255, description, domain_id: nullableString, options: { type: 'object' } },
    required: ['name'],
  },
  roleUpdate: {
    type: 'object',
    properties: { name: name255, description, options: { type: 'object' } },
    minProperties: 1,
  },
  regionCreate: {
    type: 'object',
    properties: {
      id: { type: 'string', minLength: 1, maxLength: 255 },
      description,
      parent_region_id: nullableString,
    },
  },
  regionUpdate: {
    type: 'object',
    properties: { description, parent_region_id: nullableString },
    minProperties: 1,
  },
  serviceCreate: {
    type: 'object',
    properties: { type: name255, name: nullableString, description, enabled: boolean },
    required: ['type'],
  },
  serviceUpdate: {
    type: 'object',
    properties: { type: name255, name: nullableString, description, enabled: boolean },
    minProperties: 1,
  },
  endpointCreate: {
    type: 'object',
    properties: {
      interface: { type: 'string', enum: ['public', 'internal', 'admin'] },
      service_id: { type: 'string' },
      url: { type: 'string', minLength: 0, maxLength: 225, pattern: '^[a-zA-Z0-9+.-]+:.+' },
      region_id: nullableString,
      region: nullableString,
      enabled: boolean,
    },
    required: ['interface', 'service_id', 'url'],
  },
  endpointUpdate: {
    type: 'object',
    properties: {
      interface: { type: 'string', enum: ['public', 'internal', 'admin'] },
      service_id: { type: 'string' },
      url: { type: 'string', minLength: 0, maxLength: 225, pattern: '^[a-zA-Z0-9+.-]+:.+' },
      region_id: nullableString,
      region: nullableString,
      enabled: boolean,
    },
    minProperties: 1,
  },
  credentialCreate: {
    type: 'object',
    properties: {
      blob: { type: 'string' },
      project_id: nullableString,
      type: { type: 'string', minLength: 1, maxLength: 255 },
      user_id: { type: 'string' },
    },
    required: ['blob', 'type', 'user_id'],
  },
  credentialUpdate: {
    type: 'object',
    properties: {
      blob: { type: 'string' },
      project_id: nullableString,
      type: { type: 'string', minLength: 1, maxLength: 255 },
      user_id: { type: 'string' },
    },
    minProperties: 1,
  },
  policyCreate: {
    type: 'object',
    properties: { blob: { type: 'string' }, type: { type: 'string', maxLength: 255 } },
    required: ['blob', 'type'],
  },
  policyUpdate: {
    type: 'object',
    properties: { blob: { type: 'string' }, type: { type: 'string', maxLength: 255 } },
    minProperties: 1,
  },
  endpointGroupCreate: {
    type: 'object',
    properties: endpointGroupProperties(),
    required: ['name', 'filters'],
    additionalProperties: false,
  },
  endpointGroupUpdate: {
    type: 'object',
    properties: endpointGroupProperties(),
    minProperties: 1,
    additionalProperties: false,
  },
  consumerCreate: {
    type: 'object',
    properties: { description: nullableString },
  },
  consumerUpdate: {
    type: 'object',
    properties: { description: nullableString },
    not: { required: ['secret'] },
    minProperties: 1,
  },
  trustCreate: {
    type: 'object',
    properties: {
      trustor_user_id: { type: 'string' },
      trustee_user_id: { type: 'string' },
      impersonation: boolean,
      project_id: nullableString,
      remaining_uses: { type: ['integer', 'null'], minimum: 1 },
      expires_at: nullableString,
      allow_redelegation: { type: ['boolean', 'null'] },
      redelegation_count: { type: ['integer', 'null'], minimum: 0 },
      redelegated_trust_id: nullableString,
      roles: {
        type: 'array',
        items: {
          type: 'object',
          properties: { id: id64, name: name255 },
          minProperties: 1,
          maxProperties: 1,
          additionalProperties: false,
        },
      },
    },
    required: ['trustor_user_id', 'trustee_user_id', 'impersonation'],
  },
  ec2Create: {
    type: 'object',
    properties: { tenant_id: { type: 'string' }, project_id: { type: 'string' } },
  },
  appCredCreate: {
    type: 'object',
    properties: {
      name: name255,
      description,
      secret: nullableString,
      expires_at: nullableString,
      roles: {
        type: 'array',
        items: {
          type: 'object',
          properties: { id: { type: 'string' }, name: { type: 'string' }, domain_id: nullableString },
          minProperties: 1,
        },
      },
      unrestricted: boolean,
      access_rules: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            id: id64,
            path: { type: 'string', minLength: 0, maxLength: 225, pattern: '^/' },
            service: id64,
            method: { type: 'string', enum: ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT'] },
          },
          additionalProperties: false,
        },
      },
    },
    required: ['name'],
    additionalProperties: false,
  },
  auth: {
    type: 'object',
    properties: {
      identity: {
        type: 'object',
        properties: {
          methods: { type: 'array', items: { type: 'string' } },
          password: {
            type: 'object',
            properties: {
              user: {
                type: 'object',
                properties: {
                  id: { type: 'string' },
                  name: { type: 'string' },
                  password: { type: 'string' },
                  domain: {
                    type: 'object',
                    properties: { id: { type: 'string' }, name: { type: 'string' } },
                  },
                },
              },
            },
          },
          token: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
          application_credential: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              name: { type: 'string' },
              secret: { type: 'string' },
              user: { type: 'object' },
            },
          },
        },
        required: ['methods'],
      },
      scope: {
        anyOf: [
          { type: 'string', enum: ['unscoped'] },
          {
            type: 'object',
            properties: {
              project: {
                type: 'object',
                properties: { id: { type: 'string' }, name: { type: 'string' }, domain: { type: 'object' } },
              },
              domain: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' } } },
              system: { type: 'object', properties: { all: { type: 'boolean' } } },
              'OS-TRUST:trust': { type: 'object' },
              unscoped: {},
            },
          },
        ],
      },
    },
    required: ['identity'],
  },
} as const satisfies Record<string, Schema>
