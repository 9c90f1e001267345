import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { buildConfigDriveIso, configDriveFiles } from '../../../src/compute/virt/config-drive.ts'
import type { SpawnRequest } from '../../../src/compute/virt/driver.ts'
import { FakeDriver } from '../../../src/compute/virt/fake/driver.ts'
import { buildDomainXml } from '../../../src/compute/virt/libvirt/domain-xml.ts'
import { readWithCloudInit } from './cloud-init.ts'
import { KEY, source } from './fixtures.ts'

function request(configDrive: boolean, uuid = source().uuid): SpawnRequest {
  return {
    instance: {
      uuid,
      name: 'instance-1',
      hostname: 'vm1',
      memoryMb: 256,
      vcpus: 1,
      rootGb: 1,
      ephemeralGb: 0,
      swapMb: 0,
      imageRef: source().imageRef,
      keyData: KEY,
      userData: source().userData,
    },
    image: { id: source().imageRef, sizeBytes: 1, properties: {} },
    nics: [
      {
        networkId: 'n1',
        networkLabel: 'net1',
        macAddress: 'fa:16:3e:00:00:01',
        address: '192.0.2.10',
        version: 4,
      },
    ],
    configDrive,
    metadata: source({ uuid }),
  }
}

describe('config drive', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-config-drive-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('the fake driver records the drive when asked, or when forced, and forgets it on destroy', async () => {
    const fake = new FakeDriver({ vcpus: 4, memoryMb: 4096, localGb: 40 })
    await fake.initHost('h')
    await fake.spawn(request(false, 'a0000000-0000-4000-8000-000000000001'))
    assert.equal(fake.configDriveOf('a0000000-0000-4000-8000-000000000001'), undefined)
    await fake.spawn(request(true, 'a0000000-0000-4000-8000-000000000002'))
    const files = new Map(fake.configDriveOf('a0000000-0000-4000-8000-000000000002')!.map((f) => [f.path, f]))
    assert.equal(JSON.parse(files.get('openstack/latest/meta_data.json')!.content.toString()).hostname, 'vm1')
    assert.ok(files.has('ec2/latest/meta-data.json'))
    await fake.destroy(request(true, 'a0000000-0000-4000-8000-000000000002').instance)
    assert.equal(fake.configDriveOf('a0000000-0000-4000-8000-000000000002'), undefined)
    const forced = new FakeDriver({ vcpus: 4, memoryMb: 4096, localGb: 40, forceConfigDrive: true })
    await forced.spawn(request(false, 'a0000000-0000-4000-8000-000000000003'))
    assert.ok(forced.configDriveOf('a0000000-0000-4000-8000-000000000003'))
  })

  it('without metadata in the request, the drive holds what the request carries', () => {
    const { metadata: _m, ...bare } = request(true)
    const files = new Map(configDriveFiles(bare).map((f) => [f.path, f.content.toString()]))
    const md = JSON.parse(files.get('openstack/latest/meta_data.json')!)
    assert.equal(md.uuid, source().uuid)
    assert.equal(md.hostname, 'vm1')
    assert.equal(files.get('openstack/latest/user_data'), '#!/bin/sh\necho hi\n')
  })

  it('libvirt attaches it as a read-only cdrom (IDE on pc, SATA on q35)', () => {
    const spec = {
      name: 'nimbus-x',
      uuid: source().uuid,
      title: 'vm1',
      virtType: 'qemu' as const,
      memoryMb: 256,
      vcpus: 1,
      disks: [{ path: '/i/disk', target: 'vda' }],
      nics: [],
      consoleLog: '/i/console.log',
      imageProperties: {},
      imageId: 'img',
      flavorSummary: '1 vcpu',
      configDrive: '/i/disk.config',
    }
    const xml = buildDomainXml(spec)
    assert.match(
      xml,
      /<disk type='file' device='cdrom'>\s*<driver name='qemu' type='raw'\/>\s*<source file='\/i\/disk.config'\/>\s*<target dev='hdd' bus='ide'\/>\s*<readonly\/>/,
    )
    assert.match(
      buildDomainXml({ ...spec, imageProperties: { hw_machine_type: 'q35' } }),
      /<target dev='sdz' bus='sata'\/>/,
    )
    assert.doesNotMatch(buildDomainXml({ ...spec, configDrive: undefined }), /cdrom/)
  })

  it("the ISO is ISO 9660 labelled config-2 and cloud-init's ConfigDriveReader reads it", async () => {
    const iso = join(dir, 'disk.config')
    await buildConfigDriveIso(configDriveFiles(request(true)), iso)
    const info = execFileSync('xorriso', ['-indev', iso, '-pvd_info'], { encoding: 'utf8', stdio: 'pipe' })
    assert.match(info, /Volume Id\s*:\s*config-2/)
    const head = readFileSync(iso).subarray(32768, 32774)
    assert.equal(head.subarray(1, 6).toString('latin1'), 'CD001', 'ISO 9660 primary volume descriptor')
    const out = join(dir, 'extracted')
    execFileSync('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/', out], { stdio: 'pipe' })
    const got = (await readWithCloudInit('-', out)).configdrive
    assert.equal(got.version, 2)
    assert.equal(got.metadata.uuid, source().uuid)
    assert.equal(got.metadata.hostname, 'vm1')
    assert.deepEqual(got.metadata.public_keys, { k: KEY })
    assert.equal(got.userdata, '#!/bin/sh\necho hi\n')
    assert.equal(got.networkdata.links[0].ethernet_mac_address, 'fa:16:3e:00:00:01')
    assert.equal(got['ec2-metadata']['instance-id'], 'i-0000002a')
    // Nothing but the ISO is left beside it.
    assert.deepEqual(execFileSync('ls', ['-A', dir], { encoding: 'utf8' }).trim().split('\n').sort(), [
      'disk.config',
      'extracted',
    ])
  })
})
