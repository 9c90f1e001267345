import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { instanceNames, parseAvailabilityZone, sanitizeHostname } from '../../../src/compute/api.ts'
import { validateExtraSpec } from '../../../src/compute/api/extra-specs.ts'
import { CREATE_SCHEMAS } from '../../../src/compute/api/schemas/servers.ts'
import { isBase64, parseIsoTime, schemaFor, validateBody } from '../../../src/compute/api/validation.ts'
import { ApiVersion } from '../../../src/compute/api/microversions.ts'
import { Invalid } from '../../../src/common/errors.ts'
import { checkFlavorFitsImage } from '../../../src/compute/flavor-image.ts'
import type { FlavorSnapshot } from '../../../src/compute/objects.ts'

function invalid(fn: () => void): string {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof Invalid)
    return err.message
  }
  assert.fail('expected Invalid')
}

describe('compute API helpers', () => {
  it('validates bodies with Nova (jsonschema) messages', () => {
    const create = schemaFor(CREATE_SCHEMAS, ApiVersion.parse('2.37'))!
    assert.equal(
      invalid(() => validateBody(create, {})),
      "'server' is a required property",
    )
    assert.equal(
      invalid(() => validateBody(create, { server: { flavorRef: '1', networks: 'none' } })),
      "Invalid input for field/attribute server. Value: {'flavorRef': '1', 'networks': 'none'}. 'name' is a required property",
    )
    assert.equal(
      invalid(() => validateBody(create, { server: { name: '', flavorRef: '1', networks: 'none' } })),
      "Invalid input for field/attribute name. Value: . '' is too short",
    )
    assert.equal(
      invalid(() => validateBody(create, { server: { name: ' x', flavorRef: '1', networks: 'none' } })),
      "An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.",
    )
    assert.match(
      invalid(() =>
        validateBody(create, { server: { name: 'x', flavorRef: '1', networks: 'none', bogus: 1 } }),
      ),
      /Additional properties are not allowed \('bogus' was unexpected\)/,
    )
    assert.match(
      invalid(() => validateBody(create, { server: { name: 'x', flavorRef: '1', networks: 'some' } })),
      /'some' is not valid under any of the given schemas/,
    )
    assert.match(
      invalid(() =>
        validateBody(create, { server: { name: 'x', flavorRef: '1', networks: 'none', min_count: 0 } }),
      ),
      /0 is less than the minimum of 1/,
    )
  })

  it('checks base64 and ISO times as Python does', () => {
    assert.ok(isBase64('YWJj'))
    assert.ok(isBase64('YWJjZA=='))
    assert.ok(!isBase64('YWJjZA'))
    assert.ok(!isBase64('Y'))
    assert.equal(parseIsoTime('2024-05-01T12:00:00Z'), '2024-05-01T12:00:00.000Z')
    assert.equal(parseIsoTime('2024-05-01T12:00:00+02:00'), '2024-05-01T10:00:00.000Z')
    assert.equal(parseIsoTime('2024-05-01'), '2024-05-01T00:00:00.000Z')
    assert.equal(parseIsoTime('yesterday'), undefined)
  })

  it('makes hostnames and names as Nova does', () => {
    assert.equal(sanitizeHostname('My Server_1.example'), 'my-server-1-example')
    assert.equal(sanitizeHostname('--x--'), 'x')
    assert.equal(sanitizeHostname('日本'), '')
    assert.deepEqual(instanceNames('web', undefined, 'u', 1, 3), { displayName: 'web-2', hostname: 'web-2' })
    assert.deepEqual(instanceNames('日本', undefined, 'u', 0, 1), {
      displayName: '日本',
      hostname: 'Server-u',
    })
    assert.deepEqual(instanceNames('web', 'custom', 'u', 0, 1), { displayName: 'web', hostname: 'custom' })
  })

  it('parses zone:host:node', () => {
    assert.deepEqual(parseAvailabilityZone('nova'), {
      zone: 'nova',
      forceHost: undefined,
      forceNode: undefined,
    })
    assert.deepEqual(parseAvailabilityZone('nova:h1'), {
      zone: 'nova',
      forceHost: 'h1',
      forceNode: undefined,
    })
    assert.deepEqual(parseAvailabilityZone('nova::n1'), {
      zone: 'nova',
      forceHost: undefined,
      forceNode: 'n1',
    })
    assert.throws(() => parseAvailabilityZone('a:b:c:d'), /Unable to parse availability_zone/)
  })

  it('checks images against flavors with Nova messages', () => {
    const flavor = { memoryMb: 512, rootGb: 1 } as FlavorSnapshot
    assert.throws(
      () => checkFlavorFitsImage(flavor, { minRamMb: 1024, minDiskGb: 0, sizeBytes: 0 }, false),
      /Flavor's memory is too small for requested image\./,
    )
    assert.throws(
      () => checkFlavorFitsImage(flavor, { minRamMb: 0, minDiskGb: 2, sizeBytes: 0 }, false),
      /Flavor disk is 1073741824 bytes, minimum size is 2147483648 bytes\./,
    )
    assert.throws(
      () =>
        checkFlavorFitsImage(
          { memoryMb: 512, rootGb: 0 } as FlavorSnapshot,
          { minRamMb: 0, minDiskGb: 0, sizeBytes: 0 },
          false,
        ),
      /Only volume-backed servers are allowed for flavors with zero disk\./,
    )
  })

  it('validates known extra specs (2.86)', () => {
    validateExtraSpec('hw:cpu_policy', 'dedicated')
    validateExtraSpec('hw:numa_nodes', '2')
    validateExtraSpec('custom:anything', 'x')
    validateExtraSpec('no-namespace', 'x')
    assert.throws(() => validateExtraSpec('hw:cpu_policy', 'nope'), /is not one of: dedicated, shared, mixed/)
    assert.throws(() => validateExtraSpec('hw:numa_nodes', 'two'), /is not a valid integer value/)
    assert.throws(() => validateExtraSpec('hw:bogus', '1'), /does not appear to be a valid extra spec/)
  })
})
