import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { signInstanceId } from '../../../src/metadata/signature.ts'
import { readWithCloudInit } from './cloud-init.ts'
import { KEY } from './fixtures.ts'
import { SECRET, startMetadataWorld, type MetadataWorld } from './support.ts'

/**
 * cloud-init's own readers (Debian's cloud-init 22.4, its
 * sources/helpers/openstack.py MetadataReader and ec2_utils, as the
 * OpenStack and EC2 datasources call them) against the service, through a
 * proxy that signs for instance a as the network's metadata relay does.
 */
describe('cloud-init reads the trees', () => {
  let w: MetadataWorld
  let proxy: http.Server
  let url = ''
  before(async () => {
    w = await startMetadataWorld()
    const target = new URL(w.url)
    proxy = http.createServer((req, res) => {
      const up = http.request(
        {
          host: target.hostname,
          port: target.port,
          path: req.url,
          method: req.method,
          headers: {
            'x-instance-id': w.a,
            'x-tenant-id': 'p1',
            'x-instance-id-signature': signInstanceId(SECRET, w.a),
            'x-forwarded-for': '192.0.2.10',
          },
        },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers)
          r.pipe(res)
        },
      )
      up.end()
    })
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`
  })
  after(async () => {
    await new Promise<void>((resolve) => proxy.close(() => resolve()))
    await w.stop()
  })

  it('OpenStack datasource: meta_data, user_data, network_data, vendor_data', async () => {
    const got = await readWithCloudInit(url)
    const os = got.openstack
    assert.equal(os.version, 2)
    assert.equal(os.metadata.uuid, w.a)
    assert.equal(os.metadata.hostname, 'vm-a')
    assert.equal(os.metadata.name, 'vm-a')
    assert.deepEqual(os.metadata.public_keys, { k: KEY })
    assert.equal(os.metadata.availability_zone, 'nova')
    assert.equal(os.metadata.project_id, 'p1')
    assert.equal(os.metadata.launch_index, 0)
    assert.equal(os.userdata, '#!/bin/sh\necho hi\n')
    assert.equal(os.networkdata.links[0].ethernet_mac_address, 'fa:16:3e:00:00:10')
    assert.equal(os.networkdata.networks[0].type, 'ipv4_dhcp')
    assert.deepEqual(os.vendordata, {})
  })

  it('EC2 datasource: the crawled meta-data tree and user-data', async () => {
    const { metadata, userdata } = (await readWithCloudInit(url)).ec2
    assert.match(metadata['instance-id'], /^i-[0-9a-f]{8}$/)
    assert.equal(metadata.hostname, 'vm-a')
    assert.equal(metadata['local-hostname'], 'vm-a')
    assert.equal(metadata['local-ipv4'], '192.0.2.10')
    assert.equal(metadata['public-ipv4'], '203.0.113.20')
    assert.equal(metadata['instance-type'], 'm1.tiny')
    assert.equal(metadata.placement['availability-zone'], 'nova')
    assert.deepEqual(metadata['public-keys'], { k: KEY })
    assert.equal(metadata['block-device-mapping'].root, '/dev/vda')
    assert.equal(userdata, '#!/bin/sh\necho hi\n')
  })
})
