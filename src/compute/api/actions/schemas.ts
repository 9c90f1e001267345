import type { Schema } from '../validation.ts'
import {
  accessIPv4,
  accessIPv6,
  adminPassword,
  azName,
  boolean,
  derive,
  description,
  diskConfig,
  fqdn,
  hostname,
  metadata,
  name,
  personality,
  trustedCerts,
  uuid,
} from '../schemas/types.ts'

/**
 * Request bodies of the server actions (nova/api/openstack/compute/schemas:
 * servers.py, pause_server.py, rescue.py, shelve.py, create_backup.py,
 * admin_password.py, console_output.py), per microversion where they change.
 */

/** An action whose body is only its key (`{"pause": null}`): Nova does not look at the value. */
export const anyValue: Schema = { type: 'object', required: [], additionalProperties: true }

export const reboot: Schema = {
  type: 'object',
  properties: {
    reboot: {
      type: 'object',
      properties: { type: { type: 'string', enum: ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft'] } },
      required: ['type'],
      additionalProperties: false,
    },
  },
  required: ['reboot'],
  additionalProperties: false,
}

const rebuildV21: Schema = {
  type: 'object',
  properties: {
    rebuild: {
      type: 'object',
      properties: {
        name,
        imageRef: uuid,
        adminPass: adminPassword,
        metadata,
        preserve_ephemeral: boolean,
        'OS-DCF:diskConfig': diskConfig,
        accessIPv4,
        accessIPv6,
        personality,
      },
      required: ['imageRef'],
      additionalProperties: false,
    },
  },
  required: ['rebuild'],
  additionalProperties: false,
}
const rebuildV219 = derive(rebuildV21, (s) => (s.properties.rebuild.properties.description = description))
const rebuildV254 = derive(rebuildV219, (s) => {
  s.properties.rebuild.properties.key_name = {
    type: ['string', 'null'],
    minLength: 1,
    maxLength: 255,
    format: 'name',
  }
})
const rebuildV257 = derive(rebuildV254, (s) => {
  s.properties.rebuild.properties.user_data = {
    oneOf: [{ type: 'string', format: 'base64', maxLength: 65535 }, { type: 'null' }],
  }
  delete s.properties.rebuild.properties.personality
})
const rebuildV263 = derive(rebuildV257, (s) => {
  s.properties.rebuild.properties.trusted_image_certificates = trustedCerts
})
const rebuildV290 = derive(rebuildV263, (s) => (s.properties.rebuild.properties.hostname = hostname))

export const REBUILD_SCHEMAS: readonly [string, string | undefined, Schema][] = [
  ['2.1', '2.18', rebuildV21],
  ['2.19', '2.53', rebuildV219],
  ['2.54', '2.56', rebuildV254],
  ['2.57', '2.62', rebuildV257],
  ['2.63', '2.89', rebuildV263],
  ['2.90', undefined, rebuildV290],
]

export const createImage: Schema = {
  type: 'object',
  properties: {
    createImage: {
      type: 'object',
      properties: { name, metadata },
      required: ['name'],
      additionalProperties: false,
    },
  },
  required: ['createImage'],
  additionalProperties: false,
}

/** Nova's `non_negative_integer`: an integer or a string of digits, >= 0. */
const nonNegativeInteger: Schema = {
  type: ['integer', 'string'],
  pattern: '^[0-9]+$',
  minimum: 0,
}

export const createBackup: Schema = {
  type: 'object',
  properties: {
    createBackup: {
      type: 'object',
      properties: {
        name,
        backup_type: { type: 'string' },
        rotation: nonNegativeInteger,
        metadata,
      },
      required: ['name', 'backup_type', 'rotation'],
      additionalProperties: false,
    },
  },
  required: ['createBackup'],
  additionalProperties: false,
}

export const rescue: Schema = {
  type: 'object',
  properties: {
    rescue: {
      type: ['object', 'null'],
      properties: { adminPass: adminPassword, rescue_image_ref: uuid },
      additionalProperties: false,
    },
  },
  required: ['rescue'],
  additionalProperties: false,
}

const unshelveV277: Schema = {
  type: 'object',
  properties: {
    unshelve: {
      oneOf: [
        {
          type: 'object',
          properties: { availability_zone: azName },
          required: ['availability_zone'],
          additionalProperties: false,
        },
        { type: 'null' },
      ],
    },
  },
  required: ['unshelve'],
  additionalProperties: false,
}
const unshelveV291: Schema = {
  type: 'object',
  properties: {
    unshelve: {
      oneOf: [
        {
          type: 'object',
          properties: {
            availability_zone: { oneOf: [{ type: 'null' }, azName] },
            host: fqdn,
          },
          additionalProperties: false,
        },
        { type: 'null' },
      ],
    },
  },
  required: ['unshelve'],
  additionalProperties: false,
}

/** Before 2.77 Nova does not validate the unshelve body (it is null). */
export const UNSHELVE_SCHEMAS: readonly [string, string | undefined, Schema][] = [
  ['2.1', '2.76', anyValue],
  ['2.77', '2.90', unshelveV277],
  ['2.91', undefined, unshelveV291],
]

export const changePassword: Schema = {
  type: 'object',
  properties: {
    changePassword: {
      type: 'object',
      properties: { adminPass: adminPassword },
      required: ['adminPass'],
      additionalProperties: false,
    },
  },
  required: ['changePassword'],
  additionalProperties: false,
}

export const getConsoleOutput: Schema = {
  type: 'object',
  properties: {
    'os-getConsoleOutput': {
      type: 'object',
      properties: {
        // -1 (and null) mean the whole log.
        length: { type: ['integer', 'string', 'null'], pattern: '^-?[0-9]+$', minimum: -1 },
      },
      additionalProperties: false,
    },
  },
  required: ['os-getConsoleOutput'],
  additionalProperties: false,
}
