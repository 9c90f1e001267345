import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Invalid } from '../../../src/common/errors.ts'
import { PowerState } from '../../../src/compute/states.ts'
import { buildDomainXml, type DomainSpec, xmlEscape } from '../../../src/compute/virt/libvirt/domain-xml.ts'
import { defaultBridgeName, tapName } from '../../../src/compute/virt/libvirt/driver.ts'
import { versionNumber } from '../../../src/compute/virt/libvirt/host.ts'
import { toPowerState } from '../../../src/compute/virt/libvirt/virsh.ts'

const spec: DomainSpec = {
  name: 'nimbus-6f1c1f5e-0000-4000-8000-000000000001',
  uuid: '6f1c1f5e-0000-4000-8000-000000000001',
  title: 'web-1',
  virtType: 'qemu',
  memoryMb: 512,
  vcpus: 2,
  disks: [
    { path: '/var/lib/nimbus/instances/u/disk', target: 'vda' },
    { path: '/var/lib/nimbus/instances/u/disk.eph0', target: 'vdb' },
  ],
  nics: [{ macAddress: 'FA:16:3E:00:00:01', bridge: 'brq1234567890a', tap: 'tapfa163e000001' }],
  consoleLog: '/var/lib/nimbus/instances/u/console.log',
  imageProperties: {},
  imageId: 'img-1',
  flavorSummary: '2 vcpu, 512 MB, 1 GB',
}

describe('libvirt domain XML', () => {
  it('maps the flavor, disks, ports and console', () => {
    const xml = buildDomainXml(spec)
    assert.match(xml, /^<domain type='qemu'>/)
    assert.match(xml, /<memory unit='MiB'>512<\/memory>/)
    assert.match(xml, /<vcpu>2<\/vcpu>/)
    assert.match(xml, /<cpu mode='maximum'\/>/, 'TCG gets every emulated feature (RDRAND)')
    assert.match(
      xml,
      /<source file='\/var\/lib\/nimbus\/instances\/u\/disk'\/>\s*<target dev='vda' bus='virtio'\/>/,
    )
    assert.match(xml, /<target dev='vdb' bus='virtio'\/>/)
    assert.match(
      xml,
      /<mac address='fa:16:3e:00:00:01'\/>\s*<source bridge='brq1234567890a'\/>\s*<target dev='tapfa163e000001'\/>\s*<model type='virtio'\/>/,
    )
    assert.match(xml, /<log file='\/var\/lib\/nimbus\/instances\/u\/console.log' append='off'\/>/)
    assert.match(xml, /<nimbus:image id='img-1'\/>/)
  })

  it('uses the host CPU under KVM', () => {
    const xml = buildDomainXml({ ...spec, virtType: 'kvm' })
    assert.match(xml, /^<domain type='kvm'>/)
    assert.match(xml, /<cpu mode='host-passthrough'\/>/)
  })

  it('honours hw_disk_bus, hw_vif_model and hw_machine_type', () => {
    const xml = buildDomainXml({
      ...spec,
      imageProperties: { hw_disk_bus: 'sata', hw_vif_model: 'e1000', hw_machine_type: 'q35' },
    })
    assert.match(xml, /bus='sata'/)
    assert.match(xml, /<model type='e1000'\/>/)
    assert.match(xml, /machine='q35'/)
  })

  it('refuses values that would inject XML or are unknown', () => {
    assert.throws(() => buildDomainXml({ ...spec, imageProperties: { hw_disk_bus: 'floppy' } }), Invalid)
    assert.throws(() => buildDomainXml({ ...spec, imageProperties: { hw_machine_type: "pc'/><x" } }), Invalid)
    assert.throws(() => buildDomainXml({ ...spec, nics: [{ ...spec.nics[0]!, macAddress: 'zz' }] }), Invalid)
    assert.throws(() => buildDomainXml({ ...spec, nics: [{ ...spec.nics[0]!, bridge: 'br x' }] }), Invalid)
    assert.throws(() => buildDomainXml({ ...spec, memoryMb: 0 }), Invalid)
  })

  it('escapes free text', () => {
    assert.equal(xmlEscape(`a<b>&'"`), 'a&lt;b&gt;&amp;&apos;&quot;')
    assert.match(buildDomainXml({ ...spec, title: '<web & db>' }), /<title>&lt;web &amp; db&gt;<\/title>/)
  })
})

describe('libvirt names and states', () => {
  it('names taps by MAC within IFNAMSIZ and bridges as Neutron linuxbridge does', () => {
    assert.equal(tapName('FA:16:3E:00:00:01'), 'tapfa163e000001')
    assert.equal(tapName('fa:16:3e:00:00:01').length, 15)
    const nic = {
      networkId: '1234567890abcdef',
      networkLabel: 'n',
      macAddress: 'x',
      address: 'x',
      version: 4 as const,
    }
    assert.equal(defaultBridgeName(nic), 'brq1234567890a')
  })

  it('maps virsh domstate --reason to Nova power states', () => {
    assert.equal(toPowerState('running (booted)'), PowerState.RUNNING)
    assert.equal(toPowerState('paused (user)'), PowerState.PAUSED)
    assert.equal(toPowerState('shut off (destroyed)'), PowerState.SHUTDOWN)
    assert.equal(toPowerState('shut off (saved)'), PowerState.SUSPENDED)
    assert.equal(toPowerState('crashed (panicked)'), PowerState.CRASHED)
    assert.equal(toPowerState('in shutdown'), PowerState.RUNNING)
    assert.equal(toPowerState('pmsuspended (unknown)'), PowerState.SUSPENDED)
    assert.equal(toPowerState('what'), PowerState.NOSTATE)
  })

  it('turns hypervisor versions into Nova integers', () => {
    assert.equal(versionNumber('7.2.22'), 7_002_022)
    assert.equal(versionNumber('QEMU 9.0'), 9_000_000)
    assert.equal(versionNumber('none'), 0)
  })
})
