import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { beforeEach, describe, it } from 'node:test'
import { PowerState } from '../../../src/compute/states.ts'
import {
  VirtDriverError,
  VirtInstanceExists,
  VirtInstanceNotFound,
  VirtInvalidState,
  type SpawnRequest,
  type VirtDriver,
  type VirtInstance,
} from '../../../src/compute/virt/driver.ts'
import { FAKE_STEPS, FakeDriver } from '../../../src/compute/virt/fake/driver.ts'

/**
 * The virt driver contract, run over every driver that can run here. Each
 * entry says how to build the driver and how to break a spawn step, so the
 * "spawn leaves nothing behind on failure" promise is checked per step.
 */
interface DriverUnderTest {
  readonly name: string
  make(): VirtDriver
  /** The spawn steps that can be broken, and how. */
  readonly spawnSteps: readonly string[]
  breakStep(driver: VirtDriver, step: string): void
  /** Resources a failed spawn left (0 if the promise holds). */
  leaked(driver: VirtDriver): number
}

const DRIVERS: readonly DriverUnderTest[] = [
  {
    name: 'fake',
    make: () => new FakeDriver({ vcpus: 8, memoryMb: 8192, localGb: 100 }),
    spawnSteps: FAKE_STEPS.filter((s) => s.startsWith('spawn:')),
    breakStep: (d, step) =>
      (d as FakeDriver).injectFailure(step as (typeof FAKE_STEPS)[number], `broken ${step}`, 1),
    leaked: (d) => (d as FakeDriver).leakedResources,
  },
]

const HOST = 'contract-host'

function instance(memoryMb = 512): VirtInstance {
  const uuid = randomUUID()
  return {
    uuid,
    name: `instance-${uuid.slice(0, 8)}`,
    hostname: 'vm',
    memoryMb,
    vcpus: 1,
    rootGb: 1,
    ephemeralGb: 0,
    swapMb: 0,
    imageRef: randomUUID(),
  }
}

function spawnRequest(inst: VirtInstance): SpawnRequest {
  return {
    instance: inst,
    image: { id: inst.imageRef, sizeBytes: 1024, properties: {} },
    nics: [
      {
        networkId: randomUUID(),
        networkLabel: 'private',
        macAddress: 'fa:16:3e:00:00:01',
        address: '10.0.0.2',
        version: 4,
      },
    ],
    configDrive: false,
  }
}

for (const dut of DRIVERS) {
  describe(`virt driver contract: ${dut.name}`, () => {
    let driver: VirtDriver

    beforeEach(async () => {
      driver = dut.make()
      await driver.initHost(HOST)
    })

    it('reports one node with its totals', async () => {
      const nodes = await driver.getAvailableNodes()
      assert.equal(nodes.length, 1)
      const res = await driver.getAvailableResource(nodes[0]!)
      assert.ok(res.vcpus > 0 && res.memoryMb > 0 && res.localGb > 0)
      assert.equal(res.memoryMbUsed, 0)
    })

    it('spawns a running guest and counts it', async () => {
      const inst = instance()
      await driver.spawn(spawnRequest(inst))
      assert.equal((await driver.getInfo(inst)).powerState, PowerState.RUNNING)
      assert.deepEqual(await driver.listInstances(), [inst.uuid])
      const node = (await driver.getAvailableNodes())[0]!
      assert.equal((await driver.getAvailableResource(node)).memoryMbUsed, 512)
      assert.match(await driver.getConsoleOutput(inst), /login:/)
    })

    it("reports each of its spawn steps with its duration (onStep), ending with the guest's start", async () => {
      const inst = instance()
      const steps: { step: string; elapsedMs: number }[] = []
      await driver.spawn({
        ...spawnRequest(inst),
        onStep: (step, elapsedMs) => steps.push({ step, elapsedMs }),
      })
      assert.ok(steps.length >= 2, JSON.stringify(steps))
      assert.ok(steps.every((s) => s.step.startsWith('spawn:') && s.elapsedMs >= 0))
      assert.ok(
        steps.some((s) => s.step === 'spawn:start'),
        'the start is one of the steps',
      )
    })

    it('refuses to spawn the same instance twice', async () => {
      const inst = instance()
      await driver.spawn(spawnRequest(inst))
      await assert.rejects(driver.spawn(spawnRequest(inst)), VirtInstanceExists)
    })

    for (const step of dut.spawnSteps) {
      it(`leaves nothing behind when spawn fails at ${step}`, async () => {
        const inst = instance()
        dut.breakStep(driver, step)
        await assert.rejects(driver.spawn(spawnRequest(inst)), VirtDriverError)
        assert.deepEqual(await driver.listInstances(), [])
        await assert.rejects(driver.getInfo(inst), VirtInstanceNotFound)
        assert.equal(dut.leaked(driver), 0)
        // and the same instance can be spawned afterwards
        await driver.spawn(spawnRequest(inst))
        assert.equal((await driver.getInfo(inst)).powerState, PowerState.RUNNING)
      })
    }

    it('destroys, and destroying what is gone succeeds', async () => {
      const inst = instance()
      await driver.spawn(spawnRequest(inst))
      await driver.destroy(inst)
      assert.deepEqual(await driver.listInstances(), [])
      await driver.destroy(inst)
      await driver.destroy(instance())
    })

    it('reports an unknown guest as not found', async () => {
      await assert.rejects(driver.getInfo(instance()), VirtInstanceNotFound)
      await assert.rejects(driver.getConsoleOutput(instance()), VirtInstanceNotFound)
    })

    it('moves through the power states', async () => {
      const inst = instance()
      await driver.spawn(spawnRequest(inst))
      await driver.pause(inst)
      assert.equal((await driver.getInfo(inst)).powerState, PowerState.PAUSED)
      await assert.rejects(driver.suspend(inst), VirtInvalidState)
      await driver.unpause(inst)
      await driver.suspend(inst)
      assert.equal((await driver.getInfo(inst)).powerState, PowerState.SUSPENDED)
      await driver.resume(inst)
      await driver.powerOff(inst)
      assert.equal((await driver.getInfo(inst)).powerState, PowerState.SHUTDOWN)
      await driver.powerOff(inst)
      await driver.powerOn(inst)
      await driver.reboot(inst, 'HARD')
      assert.equal((await driver.getInfo(inst)).powerState, PowerState.RUNNING)
    })

    it('snapshots without changing the guest', async () => {
      const inst = instance()
      await driver.spawn(spawnRequest(inst))
      let bytes = 0
      await driver.snapshot(inst, randomUUID(), async (data) => {
        for await (const chunk of data) bytes += chunk.length
      })
      assert.ok(bytes > 0)
      assert.equal((await driver.getInfo(inst)).powerState, PowerState.RUNNING)
    })

    it('reports the host uptime', async () => {
      assert.match(await driver.getHostUptime(), /up/)
    })
  })
}
