import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { buildNetworkData, netmaskOf } from '../../../src/metadata/network-data.ts'
import {
  EC2_VERSIONS,
  InstanceMetadata,
  MetadataPathNotFound,
  OPENSTACK_VERSIONS,
} from '../../../src/metadata/tree.ts'
import { KEY, source } from './fixtures.ts'

const get = (md: InstanceMetadata, path: string) => md.lookup(path, '2026-01-01').body.toString()

describe('metadata trees (Nova base.py)', () => {
  const md = new InstanceMetadata(source())

  it('EC2 listing, ids and leaves', () => {
    assert.equal(get(md, '/latest'), 'meta-data/\nuser-data')
    const listing = get(md, '/latest/meta-data/').split('\n')
    for (const key of [
      'ami-id',
      'ami-launch-index',
      'block-device-mapping/',
      'hostname',
      'instance-id',
      'instance-type',
      'local-hostname',
      'local-ipv4',
      'placement/',
      'public-ipv4',
      'public-keys/',
      'reservation-id',
      'security-groups',
    ])
      assert.ok(listing.includes(key), `${key} in ${listing.join(',')}`)
    assert.deepEqual(listing, [...listing].sort())
    assert.equal(get(md, '/latest/meta-data/instance-id'), 'i-0000002a')
    assert.equal(get(md, '/latest/meta-data/ami-id'), 'ami-0a1b2c3d')
    assert.equal(get(md, '/latest/meta-data/hostname'), 'vm1')
    assert.equal(get(md, '/latest/meta-data/local-ipv4'), '192.0.2.10')
    assert.equal(get(md, '/latest/meta-data/public-ipv4'), '203.0.113.20')
    assert.equal(get(md, '/latest/meta-data/instance-type'), 'm1.tiny')
    assert.equal(get(md, '/latest/meta-data/placement/availability-zone'), 'nova')
    assert.equal(get(md, '/latest/meta-data/security-groups'), 'default')
    assert.equal(get(md, '/latest/meta-data/reservation-id'), 'r-abc123')
    assert.equal(get(md, '/latest/meta-data/ami-launch-index'), '0')
    assert.equal(get(md, '/latest/meta-data/block-device-mapping/'), 'ami\nroot')
    assert.equal(get(md, '/latest/meta-data/block-device-mapping/root'), '/dev/vda')
  })

  it('public keys as the EC2 API lists them (0=name, then openssh-key)', () => {
    assert.equal(get(md, '/latest/meta-data/public-keys/'), '0=k')
    assert.equal(get(md, '/latest/meta-data/public-keys/0'), 'openssh-key')
    assert.equal(get(md, '/latest/meta-data/public-keys/0/openssh-key'), KEY)
  })

  it('user data, and 404 without it', () => {
    assert.equal(get(md, '/latest/user-data'), '#!/bin/sh\necho hi\n')
    const none = new InstanceMetadata(source({ userData: null }))
    assert.throws(() => none.lookup('/latest/user-data'), MetadataPathNotFound)
    assert.throws(() => none.lookup('/openstack/latest/user_data'), MetadataPathNotFound)
    assert.ok(!get(none, '/openstack/latest').split('\n').includes('user_data'))
  })

  it('dated EC2 versions have the keys of their date', () => {
    assert.equal(get(md, '/2009-04-04/meta-data/instance-id'), 'i-0000002a')
    const old = get(md, '/1.0/meta-data/').split('\n')
    assert.ok(!old.includes('instance-type') && !old.includes('local-hostname'))
    assert.ok(get(md, '/2007-08-29/meta-data/').split('\n').includes('instance-type'))
    assert.throws(() => md.lookup('/2010-01-01/meta-data/'), MetadataPathNotFound)
    assert.equal(get(md, '/'), [...EC2_VERSIONS, 'latest'].join('\n'))
    // A path outside /openstack is an EC2 path, also under /ec2.
    assert.equal(get(md, '/ec2/latest/meta-data/hostname'), 'vm1')
  })

  it('OpenStack versions (future ones hidden) and listing', () => {
    assert.equal(get(md, '/openstack'), [...OPENSTACK_VERSIONS, 'latest'].join('\n'))
    assert.equal(
      md.lookup('/openstack', '2019-01-01').body,
      [...OPENSTACK_VERSIONS.slice(0, 8), 'latest'].join('\n'),
    )
    assert.deepEqual(get(md, '/openstack/latest').split('\n'), [
      'meta_data.json',
      'user_data',
      'password',
      'vendor_data.json',
      'network_data.json',
      'vendor_data2.json',
    ])
    assert.deepEqual(get(md, '/openstack/2012-08-10').split('\n'), ['meta_data.json', 'user_data'])
    assert.throws(() => md.lookup('/openstack/2012-08-10/vendor_data.json'), MetadataPathNotFound)
    assert.throws(() => md.lookup('/openstack/2000-01-01/meta_data.json'), MetadataPathNotFound)
  })

  it('meta_data.json has the keys Nova gives', () => {
    const item = md.lookup('/openstack/latest/meta_data.json')
    assert.equal(item.contentType, 'application/json')
    const j = JSON.parse(item.body.toString())
    assert.equal(j.uuid, source().uuid)
    assert.equal(j.name, 'vm1')
    assert.equal(j.hostname, 'vm1')
    assert.deepEqual(j.public_keys, { k: KEY })
    assert.deepEqual(j.keys, [{ name: 'k', type: 'ssh', data: KEY }])
    assert.equal(j.availability_zone, 'nova')
    assert.equal(j.project_id, 'p1')
    assert.equal(j.launch_index, 0)
    assert.deepEqual(j.meta, { role: 'web' })
    assert.deepEqual(j.devices, [])
    assert.equal(Buffer.from(j.random_seed, 'base64').length, 512)
    const folsom = JSON.parse(md.lookup('/openstack/2012-08-10/meta_data.json').body.toString())
    assert.equal(folsom.project_id, undefined)
    assert.equal(folsom.random_seed, undefined)
  })

  it('vendor data: static JSON, and vendor_data2 under "static"', () => {
    const vmd = new InstanceMetadata(source(), { static: { a: 1 } })
    assert.deepEqual(JSON.parse(get(vmd, '/openstack/latest/vendor_data.json')), { a: 1 })
    assert.deepEqual(JSON.parse(get(vmd, '/openstack/latest/vendor_data2.json')), { static: { a: 1 } })
  })

  it('network_data.json: links, DHCP network, DNS services', () => {
    const j = JSON.parse(get(md, '/openstack/latest/network_data.json'))
    assert.deepEqual(j.links, [
      {
        id: 'tapb1c2d3e4-00',
        vif_id: 'b1c2d3e4-0000-4000-8000-000000000001',
        type: 'bridge',
        mtu: null,
        ethernet_mac_address: 'fa:16:3e:00:00:01',
      },
    ])
    assert.deepEqual(j.networks, [
      { id: 'network0', type: 'ipv4_dhcp', link: 'tapb1c2d3e4-00', network_id: 'n1' },
    ])
    assert.deepEqual(j.services, [{ type: 'dns', address: '192.0.2.53' }])
  })

  it('network_data.json: a static subnet gets address, netmask, routes', () => {
    const base = source().vifs[0]!
    const data = buildNetworkData([
      {
        ...base,
        fixedIps: [
          {
            address: '198.51.100.7',
            version: 4,
            subnet: {
              cidr: '198.51.100.0/25',
              gatewayIp: '198.51.100.1',
              enableDhcp: false,
              dnsNameservers: [],
              hostRoutes: [{ destination: '203.0.113.0/24', nexthop: '198.51.100.2' }],
            },
          },
        ],
      },
    ])
    assert.equal(data.links[0]!.mtu, 1500)
    assert.deepEqual(data.networks[0], {
      id: 'network0',
      type: 'ipv4',
      link: 'tapb1c2d3e4-00',
      ip_address: '198.51.100.7',
      netmask: '255.255.255.128',
      routes: [
        { network: '0.0.0.0', netmask: '0.0.0.0', gateway: '198.51.100.1' },
        { network: '203.0.113.0', netmask: '255.255.255.0', gateway: '198.51.100.2' },
      ],
      network_id: 'n1',
      services: [],
    })
    assert.equal(netmaskOf(64, 6), 'ffff:ffff:ffff:ffff::')
  })

  it('config drive files: every version of both trees, from the same code', () => {
    const files = new Map(md.configDriveFiles().map((f) => [f.path, f.content.toString()]))
    assert.ok(files.has('ec2/latest/meta-data.json'))
    assert.ok(files.has('ec2/2009-04-04/user-data'))
    const ec2 = JSON.parse(files.get('ec2/latest/meta-data.json')!)
    assert.equal(ec2['instance-id'], 'i-0000002a')
    assert.deepEqual(ec2['public-keys'], { '0': { 'openssh-key': KEY } })
    for (const v of [...OPENSTACK_VERSIONS, 'latest'])
      assert.ok(files.has(`openstack/${v}/meta_data.json`), v)
    assert.ok(files.has('openstack/latest/network_data.json'))
    assert.ok(files.has('openstack/latest/vendor_data2.json'))
    assert.ok(!files.has('openstack/2012-08-10/vendor_data.json'))
    assert.equal(files.get('openstack/latest/user_data'), '#!/bin/sh\necho hi\n')
    assert.equal(JSON.parse(files.get('openstack/latest/meta_data.json')!).uuid, source().uuid)
  })
})
