import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Conflict, Forbidden, Invalid } from '../../../src/common/errors.ts'
import type { Image } from '../../../src/image/model.ts'
import { applyChange, decodePointer, draftOf, parsePatch, type ImageDraft } from '../../../src/image/patch.ts'

const IMAGE: Image = {
  id: '2f2d3a3e-8f0c-4c38-9d2b-5c3a2f1e0d9c',
  name: 'cirros',
  status: 'queued',
  visibility: 'shared',
  owner: 'p1',
  disk_format: 'qcow2',
  container_format: 'bare',
  size: null,
  virtual_size: null,
  checksum: null,
  os_hash_algo: null,
  os_hash_value: null,
  min_disk: 0,
  min_ram: 0,
  protected: false,
  os_hidden: false,
  tags: ['a'],
  properties: { os_distro: 'cirros' },
  created_at: '2024-01-01T00:00:00.000Z',
  updated_at: '2024-01-01T00:00:00.000Z',
}

function patched(ops: unknown[], draft: 4 | 10 = 10, image: Image = IMAGE): ImageDraft {
  const d = draftOf(image)
  for (const change of parsePatch(draft, ops)) applyChange(d, change)
  return d
}

describe('image JSON patch: parsing', () => {
  it('reads the v2.1 (RFC 6902) and v2.0 (op as key) formats', () => {
    assert.deepEqual(parsePatch(10, [{ op: 'replace', path: '/name', value: 'x' }]), [
      { op: 'replace', path: ['name'], value: 'x', draft: 10 },
    ])
    assert.deepEqual(parsePatch(4, [{ remove: '/os_distro' }]), [
      { op: 'remove', path: ['os_distro'], draft: 4 },
    ])
  })

  it('refuses bodies that are not arrays of operation objects', () => {
    assert.throws(() => parsePatch(10, undefined), { message: 'Body expected in request.' })
    assert.throws(() => parsePatch(10, { op: 'add' }), /must be a JSON array/)
    assert.throws(() => parsePatch(10, ['x']), /Operations must be JSON objects/)
  })

  it('refuses unknown or missing operations', () => {
    assert.throws(() => parsePatch(10, [{ path: '/name', value: 'x' }]), /Unable to find `op`/)
    assert.throws(() => parsePatch(10, [{ op: 'move', path: '/name' }]), /Invalid operation: `move`/)
    assert.throws(() => parsePatch(10, [{ op: 'add', value: 'x' }]), /Unable to find 'path'/)
    assert.throws(() => parsePatch(4, [{ add: '/a', remove: '/b' }]), /only one member/)
    assert.throws(() => parsePatch(4, [{ path: '/a' }]), /exactly one member/)
    assert.throws(() => parsePatch(10, [{ op: 'add', path: '/a' }]), /requires a member named "value"/)
  })

  it('decodes JSON pointers and refuses malformed ones', () => {
    assert.deepEqual(decodePointer('/a~1b~0c'), ['a/b~c'])
    for (const bad of ['name', '/a//b', '/a/', '/~2']) assert.throws(() => decodePointer(bad), Invalid)
    assert.throws(() => parsePatch(10, [{ op: 'add', path: '/a/b', value: 'x' }]), /Invalid JSON pointer/)
  })

  it('answers 403 for read-only and reserved attributes', () => {
    for (const path of ['/status', '/id', '/checksum', '/size', '/os_hash_value', '/created_at', '/self']) {
      assert.throws(() => parsePatch(10, [{ op: 'replace', path, value: 'x' }]), Forbidden, path)
    }
    for (const path of ['/deleted', '/location', '/os_glance_import_task']) {
      assert.throws(() => parsePatch(10, [{ op: 'add', path, value: 'x' }]), { message: /is reserved/ })
    }
  })

  it('validates values against the image schema (400)', () => {
    const bad = [
      { op: 'replace', path: '/visibility', value: 'everyone' },
      { op: 'replace', path: '/min_ram', value: '512' },
      { op: 'replace', path: '/disk_format', value: 'floppy' },
      { op: 'add', path: '/os_distro', value: 7 },
      { op: 'replace', path: '/tags', value: 'not-a-list' },
      { op: 'replace', path: '/name', value: 'n'.repeat(256) },
    ]
    for (const op of bad)
      assert.throws(() => parsePatch(10, [op]), { message: /does not match schema 'image'/ })
  })
})

describe('image JSON patch: applying', () => {
  it('replaces and adds base attributes and extra properties, and removes extra properties', () => {
    const d = patched([
      { op: 'replace', path: '/name', value: 'new' },
      { op: 'add', path: '/min_ram', value: 512 },
      { op: 'add', path: '/hw_disk_bus', value: 'virtio' },
      { op: 'replace', path: '/os_distro', value: 'debian' },
      { op: 'replace', path: '/tags', value: ['b', 'b', 'c'] },
    ])
    assert.equal(d.fields.name, 'new')
    assert.equal(d.fields.min_ram, 512)
    assert.deepEqual(d.fields.tags, ['b', 'c'])
    assert.deepEqual(d.properties, { os_distro: 'debian', hw_disk_bus: 'virtio' })
    assert.deepEqual(patched([{ op: 'remove', path: '/os_distro' }]).properties, {})
  })

  it('answers 409 for a missing extra property, and v2.0 add of an existing one', () => {
    assert.throws(() => patched([{ op: 'replace', path: '/nope', value: 'x' }]), Conflict)
    assert.throws(() => patched([{ op: 'remove', path: '/nope' }]), {
      message: 'Property nope does not exist.',
    })
    assert.throws(() => patched([{ add: '/os_distro', value: 'x' }], 4), {
      message: 'Property os_distro already present.',
    })
    assert.equal(patched([{ op: 'add', path: '/os_distro', value: 'x' }], 10).properties.os_distro, 'x')
  })

  it('refuses to remove base attributes', () => {
    assert.throws(() => patched([{ op: 'remove', path: '/name' }]), {
      message: 'Property name may not be removed.',
    })
  })

  it('changes formats only while the image is queued', () => {
    assert.equal(patched([{ op: 'replace', path: '/disk_format', value: 'raw' }]).fields.disk_format, 'raw')
    const active: Image = { ...IMAGE, status: 'active' }
    assert.throws(() => patched([{ op: 'replace', path: '/disk_format', value: 'raw' }], 10, active), {
      message: 'Attribute disk_format can be only replaced for a queued image.',
    })
  })

  it('refuses negative and out-of-range minimums', () => {
    assert.throws(
      () => patched([{ op: 'replace', path: '/min_disk', value: -1 }]),
      /Cannot be a negative value/,
    )
    assert.throws(() => patched([{ op: 'replace', path: '/min_ram', value: 2 ** 31 }]), /out of range/)
  })

  it('refuses location changes (locations are not shown)', () => {
    assert.throws(
      () => patched([{ op: 'add', path: '/locations/-', value: { url: 'http://x', metadata: {} } }]),
      {
        message: "It's not allowed to add locations if locations are invisible.",
      },
    )
    assert.throws(() => patched([{ op: 'replace', path: '/locations', value: [] }]), {
      message: 'Cannot set locations to empty list.',
    })
  })
})
