import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { describe, it } from 'node:test'
import { loadConfig } from '../../../src/common/config.ts'
import { moveClaimKey } from '../../../src/compute/migration.ts'
import { checkState, imageOf, wasRunning } from '../../../src/compute/move-api.ts'
import type { FlavorSnapshot, Instance } from '../../../src/compute/objects.ts'
import { ComputeResourcesUnavailable, ResourceTracker } from '../../../src/compute/resource-tracker.ts'
import { PowerState } from '../../../src/compute/states.ts'
import type { VirtInstance } from '../../../src/compute/virt/driver.ts'
import { FakeDriver } from '../../../src/compute/virt/fake/driver.ts'

/** The pieces of moves that need no cloud: move claims, the fake driver's moves, the API's state checks. */

const NODE = 'node-1'

function flavor(memoryMb: number, vcpus = 1, rootGb = 1): FlavorSnapshot {
  return { memoryMb, vcpus, rootGb, ephemeralGb: 0, swapMb: 0 } as FlavorSnapshot
}

async function tracker(memoryMb: number): Promise<ResourceTracker> {
  const config = loadConfig({ env: {}, overrides: { 'compute.reserved_host_memory_mb': '512' } }).compute
  const rt = new ResourceTracker('host-1', config)
  const driver = new FakeDriver({ nodename: NODE, vcpus: 8, memoryMb, localGb: 100 })
  await driver.initHost('host-1')
  rt.setNode(await driver.getAvailableResource(NODE))
  return rt
}

function virt(uuid: string, memoryMb: number): VirtInstance {
  return {
    uuid,
    name: `instance-${uuid.slice(0, 8)}`,
    hostname: 'vm',
    memoryMb,
    vcpus: 1,
    rootGb: 1,
    ephemeralGb: 0,
    swapMb: 0,
    imageRef: 'img',
  }
}

describe('move claims in the resource tracker', () => {
  it('holds the old and the new flavor on one host under two keys; confirm keeps the new one', async () => {
    const rt = await tracker(4096)
    const uuid = randomUUID()
    const key = moveClaimKey('m-1')
    rt.claimFlavor(uuid, flavor(512), NODE)
    rt.claimFlavor(key, flavor(2048), NODE)
    assert.equal(rt.reports()[0]!.memoryMbUsed, 512 + 512 + 2048)
    assert.throws(() => rt.claimFlavor(moveClaimKey('m-2'), flavor(1025), NODE), ComputeResourcesUnavailable)
    rt.drop(uuid)
    rt.rekey(key, uuid)
    assert.equal(rt.hasClaim(key), false)
    assert.equal(rt.hasClaim(uuid), true)
    assert.equal(rt.reports()[0]!.memoryMbUsed, 512 + 2048)
  })

  it('claiming a key twice is a no-op and rekeying a missing claim does nothing', async () => {
    const rt = await tracker(4096)
    rt.claimFlavor('a', flavor(1024), NODE)
    rt.claimFlavor('a', flavor(1024), NODE)
    rt.rekey('missing', 'b')
    assert.equal(rt.hasClaim('b'), false)
    assert.equal(rt.reports()[0]!.runningVms, 1)
  })
})

describe('fake driver moves', () => {
  it('migrate -> finish on another host -> confirm leaves one guest with the new flavor', async () => {
    const source = new FakeDriver({ vcpus: 8, memoryMb: 8192, localGb: 100 })
    const dest = new FakeDriver({ vcpus: 8, memoryMb: 8192, localGb: 100 })
    await source.initHost('a')
    await dest.initHost('b')
    const uuid = randomUUID()
    await source.spawn({
      instance: virt(uuid, 512),
      image: { id: 'img', sizeBytes: 0, properties: {} },
      nics: [],
      configDrive: false,
    })
    await source.migrateDiskAndPowerOff(virt(uuid, 512), 'b')
    assert.deepEqual(await source.listInstances(), [])
    assert.equal(source.resizedCount, 1)
    await dest.finishMigration({
      instance: virt(uuid, 2048),
      image: { id: 'img', sizeBytes: 0, properties: {} },
      sourceHost: 'a',
      powerOn: true,
    })
    assert.equal((await dest.getInfo(virt(uuid, 2048))).powerState, PowerState.RUNNING)
    assert.equal(dest.guestFlavor(uuid)!.memoryMb, 2048)
    await source.confirmMigration(virt(uuid, 512))
    await source.confirmMigration(virt(uuid, 512))
    assert.equal(source.resizedCount, 0)
  })

  it('revert restores the original, powered as asked; finish refuses a guest already there', async () => {
    const driver = new FakeDriver({ vcpus: 8, memoryMb: 8192, localGb: 100 })
    await driver.initHost('a')
    const uuid = randomUUID()
    const image = { id: 'img', sizeBytes: 0, properties: {} }
    await driver.spawn({ instance: virt(uuid, 512), image, nics: [], configDrive: false })
    await assert.rejects(
      driver.finishMigration({ instance: virt(uuid, 1024), image, sourceHost: 'a', powerOn: true }),
      /already exists/,
    )
    await driver.migrateDiskAndPowerOff(virt(uuid, 512), 'a')
    await driver.finishMigration({ instance: virt(uuid, 1024), image, sourceHost: 'a', powerOn: true })
    await driver.finishRevertMigration(virt(uuid, 512), false)
    assert.equal(driver.guestFlavor(uuid)!.memoryMb, 512)
    assert.equal((await driver.getInfo(virt(uuid, 512))).powerState, PowerState.SHUTDOWN)
    await assert.rejects(driver.finishRevertMigration(virt(uuid, 512), true), /No migrated original/)
  })

  it('an injected failure of a move step rejects and leaves the guest where it was', async () => {
    const driver = new FakeDriver({ vcpus: 8, memoryMb: 8192, localGb: 100 })
    await driver.initHost('a')
    const uuid = randomUUID()
    await driver.spawn({
      instance: virt(uuid, 512),
      image: { id: 'img', sizeBytes: 0, properties: {} },
      nics: [],
      configDrive: false,
    })
    driver.injectFailure('migrate_disk', 'no space for the copy', 1)
    await assert.rejects(driver.migrateDiskAndPowerOff(virt(uuid, 512), 'b'), /no space for the copy/)
    assert.deepEqual(await driver.listInstances(), [uuid])
    assert.equal(driver.resizedCount, 0)
  })
})

describe('move API helpers', () => {
  const instance = {
    uuid: 'u-1',
    vmState: 'active',
    taskState: null,
    imageRef: 'img-1',
    systemMetadata: {
      image_min_ram: '64',
      image_min_disk: '2',
      image_hw_disk_bus: 'scsi',
      image_base_image_ref: 'img-1',
    },
  } as unknown as Instance

  it("checkState answers Nova's 409 wording for the vm_state first, then the task_state", () => {
    assert.throws(
      () => checkState(instance, 'confirmResize', ['resized'], [null]),
      /^InstanceInvalidState: Cannot 'confirmResize' instance u-1 while it is in vm_state active$/,
    )
    assert.throws(
      () => checkState({ ...instance, taskState: 'resize_prep' }, 'resize', ['active'], [null]),
      /Cannot 'resize' instance u-1 while it is in task_state resize_prep/,
    )
    checkState(instance, 'resize', ['active', 'stopped'], [null])
  })

  it('imageOf reads the image from system metadata; wasRunning follows old_vm_state', () => {
    const image = imageOf(instance)
    assert.equal(image.minRamMb, 64)
    assert.equal(image.minDiskGb, 2)
    assert.deepEqual(image.properties, { hw_disk_bus: 'scsi' })
    assert.equal(wasRunning(instance), true)
    assert.equal(wasRunning({ ...instance, systemMetadata: { old_vm_state: 'stopped' } }), false)
  })
})
