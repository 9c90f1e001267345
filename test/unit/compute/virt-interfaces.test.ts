import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { beforeEach, describe, it } from 'node:test'
import {
  VirtDriverError,
  VirtInstanceNotFound,
  type VirtInstance,
  type VirtNic,
} from '../../../src/compute/virt/driver.ts'
import { FakeDriver } from '../../../src/compute/virt/fake/driver.ts'
import { nicXml } from '../../../src/compute/virt/libvirt/domain-xml.ts'

/**
 * The interface hot-plug part of the virt driver contract (os-interface):
 * attach plugs one more NIC into a running guest, detach removes it and
 * succeeds if it is not there; both refuse an unknown guest. The libvirt
 * driver builds the same `<interface>` element spawn writes.
 */

function instance(): VirtInstance {
  const uuid = randomUUID()
  return {
    uuid,
    name: `instance-${uuid.slice(0, 8)}`,
    hostname: 'vm',
    memoryMb: 512,
    vcpus: 1,
    rootGb: 1,
    ephemeralGb: 0,
    swapMb: 0,
    imageRef: randomUUID(),
  }
}

function nic(n: number): VirtNic {
  const portId = randomUUID()
  return {
    networkId: randomUUID(),
    networkLabel: 'net1',
    macAddress: `fa:16:3e:00:00:0${n}`,
    address: `192.0.2.${10 + n}`,
    version: 4,
    portId,
    devname: `tap${portId.slice(0, 11)}`,
    bridge: 'nb-0123456789ab',
    mtu: 1500,
  }
}

describe('virt driver contract: interface attach/detach (fake)', () => {
  let driver: FakeDriver
  let inst: VirtInstance

  beforeEach(async () => {
    driver = new FakeDriver({ vcpus: 8, memoryMb: 8192, localGb: 100 })
    await driver.initHost('iface-host')
    inst = instance()
    await driver.spawn({
      instance: inst,
      image: { id: inst.imageRef, sizeBytes: 1024, properties: {} },
      nics: [nic(1)],
      configDrive: false,
    })
  })

  it('attaches a NIC to a running guest and detaches it again', async () => {
    const extra = nic(2)
    await driver.attachInterface(inst, extra)
    assert.deepEqual(
      driver.nicsOf(inst.uuid).map((n) => n.macAddress),
      ['fa:16:3e:00:00:01', 'fa:16:3e:00:00:02'],
    )
    await driver.detachInterface(inst, extra)
    assert.deepEqual(
      driver.nicsOf(inst.uuid).map((n) => n.macAddress),
      ['fa:16:3e:00:00:01'],
    )
  })

  it('detach succeeds when the NIC or the guest is not there', async () => {
    await driver.detachInterface(inst, nic(3))
    await driver.detachInterface(instance(), nic(3))
    assert.equal(driver.nicsOf(inst.uuid).length, 1)
  })

  it('attach refuses an unknown guest and leaves nothing when the plug fails', async () => {
    await assert.rejects(driver.attachInterface(instance(), nic(4)), VirtInstanceNotFound)
    driver.injectFailure('attach_interface', 'no slot', 1)
    await assert.rejects(driver.attachInterface(inst, nic(4)), VirtDriverError)
    assert.equal(driver.nicsOf(inst.uuid).length, 1)
  })

  it('forgets the NICs when the guest is destroyed', async () => {
    await driver.destroy(inst)
    assert.deepEqual(driver.nicsOf(inst.uuid), [])
  })
})

describe('libvirt: the hot-plugged interface element', () => {
  it('is the bridge interface spawn writes: tap name, MAC, bridge, model', () => {
    const xml = nicXml(
      { macAddress: 'FA:16:3E:00:00:09', bridge: 'nb-0123456789ab', tap: 'tapabcdef01234' },
      'virtio',
    )
    assert.match(xml, /<mac address='fa:16:3e:00:00:09'\/>/)
    assert.match(xml, /<source bridge='nb-0123456789ab'\/>/)
    assert.match(xml, /<target dev='tapabcdef01234'\/>/)
    assert.match(xml, /<model type='virtio'\/>/)
    assert.throws(() => nicXml({ macAddress: 'x', bridge: 'b', tap: 't' }, 'virtio'))
  })
})
