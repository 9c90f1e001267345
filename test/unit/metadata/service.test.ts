import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { signInstanceId } from '../../../src/metadata/signature.ts'
import { KEY } from './fixtures.ts'
import { SECRET, startMetadataWorld, type MetadataWorld } from './support.ts'

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers })
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() }
}

const signed = (id: string, project: string, secret = SECRET) => ({
  'x-instance-id': id,
  'x-tenant-id': project,
  'x-instance-id-signature': signInstanceId(secret, id),
  'x-forwarded-for': '192.0.2.10',
})

describe('metadata service behind the signing proxy (service_metadata_proxy = true)', () => {
  let w: MetadataWorld
  before(async () => {
    w = await startMetadataWorld()
  })
  after(() => w.stop())

  it('/ lists the EC2 versions without any identification', async () => {
    const r = await get(`${w.url}/`)
    assert.equal(r.status, 200)
    assert.equal(r.body.split('\n').at(-1), 'latest')
    assert.ok(r.body.includes('2009-04-04'))
  })

  it('a signed request reads its own trees', async () => {
    const h = signed(w.a, 'p1')
    assert.equal((await get(`${w.url}/latest/meta-data/public-keys/0/openssh-key`, h)).body, KEY)
    assert.equal((await get(`${w.url}/latest/meta-data/hostname`, h)).body, 'vm-a')
    assert.equal((await get(`${w.url}/latest/meta-data/local-ipv4`, h)).body, '192.0.2.10')
    assert.equal((await get(`${w.url}/latest/meta-data/public-ipv4`, h)).body, '203.0.113.20')
    assert.equal((await get(`${w.url}/latest/meta-data/security-groups`, h)).body, 'default')
    assert.match((await get(`${w.url}/latest/meta-data/instance-id`, h)).body, /^i-[0-9a-f]{8}$/)
    const md = await get(`${w.url}/openstack/latest/meta_data.json`, h)
    assert.match(md.type, /^application\/json/)
    const j = JSON.parse(md.body)
    assert.equal(j.uuid, w.a)
    assert.deepEqual(j.public_keys, { k: KEY })
    const net = JSON.parse((await get(`${w.url}/openstack/latest/network_data.json`, h)).body)
    assert.equal(net.links[0].id, 'tappa-00000000')
    assert.equal(net.links[0].ethernet_mac_address, 'fa:16:3e:00:00:10')
    assert.equal(net.networks[0].type, 'ipv4_dhcp')
    assert.equal((await get(`${w.url}/openstack/latest/user_data`, h)).body, '#!/bin/sh\necho hi\n')
    assert.equal((await get(`${w.url}/latest/user-data`, h)).body, '#!/bin/sh\necho hi\n')
  })

  it('user data of an instance without any is 404; unknown paths are 404', async () => {
    const h = signed(w.b, 'p2')
    assert.equal((await get(`${w.url}/openstack/latest/user_data`, h)).status, 404)
    assert.equal((await get(`${w.url}/latest/user-data`, h)).status, 404)
    assert.equal((await get(`${w.url}/latest/meta-data/nothing-here`, h)).status, 404)
    assert.equal((await get(`${w.url}/openstack/1999-01-01/meta_data.json`, h)).status, 404)
    assert.equal((await get(`${w.url}/latest/meta-data/public-keys/`, h)).status, 404)
  })

  it('one instance cannot read another: a spoofed X-Instance-ID without a valid signature is refused', async () => {
    // b names a without a signature: 400, as Nova (the header is required).
    const unsigned = await get(`${w.url}/latest/meta-data/public-keys/0/openssh-key`, {
      'x-instance-id': w.a,
      'x-tenant-id': 'p1',
    })
    assert.equal(unsigned.status, 400)
    assert.match(unsigned.body, /X-Instance-ID-Signature header is missing/)
    // b signs a's id with a guessed secret, or reuses its own signature: 403.
    for (const signature of [signInstanceId('guess', w.a), signInstanceId(SECRET, w.b), '']) {
      const r = await get(`${w.url}/latest/meta-data/public-keys/0/openssh-key`, {
        'x-instance-id': w.a,
        'x-tenant-id': 'p1',
        'x-instance-id-signature': signature,
      })
      assert.equal(r.status, 403, signature)
      assert.match(r.body, /Invalid proxy request signature/)
      assert.ok(!r.body.includes(KEY))
    }
    // No identification at all: 400.
    assert.equal((await get(`${w.url}/latest/meta-data/`)).status, 400)
  })

  it('a tenant that is not the instance owner gets 404', async () => {
    assert.equal((await get(`${w.url}/latest/meta-data/`, signed(w.a, 'p2'))).status, 404)
  })

  it('a deleted or unknown instance gets 404', async () => {
    const ghost = '33333333-3333-4333-8333-333333333333'
    assert.equal((await get(`${w.url}/latest/meta-data/`, signed(ghost, 'p1'))).status, 404)
  })
})

describe('metadata service, direct path (service_metadata_proxy = false)', () => {
  let w: MetadataWorld
  before(async () => {
    w = await startMetadataWorld({ 'metadata.service_metadata_proxy': 'false' })
  })
  after(() => w.stop())

  it('finds the instance by address on the router networks', async () => {
    const h = { 'x-forwarded-for': '192.0.2.10', 'x-neutron-router-id': 'r1' }
    assert.equal((await get(`${w.url}/latest/meta-data/hostname`, h)).body, 'vm-a')
    const hb = { 'x-forwarded-for': '192.0.2.11', 'x-neutron-network-id': 'n1' }
    assert.equal((await get(`${w.url}/latest/meta-data/hostname`, hb)).body, 'vm-b')
  })

  it('an address no port holds, or a router not on its network, is 404', async () => {
    assert.equal(
      (
        await get(`${w.url}/latest/meta-data/hostname`, {
          'x-forwarded-for': '192.0.2.99',
          'x-neutron-router-id': 'r1',
        })
      ).status,
      404,
    )
    assert.equal(
      (
        await get(`${w.url}/latest/meta-data/hostname`, {
          'x-forwarded-for': '192.0.2.10',
          'x-neutron-router-id': 'r9',
        })
      ).status,
      404,
    )
    // From the test's own socket (127.0.0.1): no instance has that address.
    assert.equal((await get(`${w.url}/latest/meta-data/hostname`)).status, 404)
  })
})
