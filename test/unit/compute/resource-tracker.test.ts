import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { describe, it } from 'node:test'
import { loadConfig } from '../../../src/common/config.ts'
import type { Instance } from '../../../src/compute/objects.ts'
import { ComputeResourcesUnavailable, ResourceTracker } from '../../../src/compute/resource-tracker.ts'
import { FakeDriver } from '../../../src/compute/virt/fake/driver.ts'

const NODE = 'node-1'

function config(overrides: Record<string, string> = {}) {
  return loadConfig({ env: {}, overrides: { 'compute.reserved_host_memory_mb': '512', ...overrides } })
    .compute
}

function instance(memoryMb: number, vcpus = 1, rootGb = 1): Instance {
  return {
    uuid: randomUUID(),
    flavor: { memoryMb, vcpus, rootGb, ephemeralGb: 0, swapMb: 0 },
  } as unknown as Instance
}

async function tracker(memoryMb: number, vcpus = 4, localGb = 100, overrides: Record<string, string> = {}) {
  const rt = new ResourceTracker('host-1', config(overrides))
  const driver = new FakeDriver({ nodename: NODE, vcpus, memoryMb, localGb })
  await driver.initHost('host-1')
  rt.setNode(await driver.getAvailableResource(NODE))
  return rt
}

describe('resource tracker', () => {
  it('claims up to the totals minus the reserved memory, and never past them', async () => {
    const rt = await tracker(2048)
    rt.claim(instance(512), NODE)
    rt.claim(instance(512), NODE)
    rt.claim(instance(512), NODE)
    assert.throws(
      () => rt.claim(instance(512), NODE),
      (err: unknown) =>
        err instanceof ComputeResourcesUnavailable &&
        err.message === 'Insufficient compute resources: Free memory 0.00 MB < requested 512 MB.',
    )
    const [report] = rt.reports()
    assert.equal(report!.memoryMbUsed, 512 + 3 * 512)
    assert.equal(report!.runningVms, 3)
  })

  it('checks vCPUs with the allocation ratio and disk', async () => {
    const rt = await tracker(65_536, 2, 10, { 'compute.cpu_allocation_ratio': '2.0' })
    for (let i = 0; i < 4; i++) rt.claim(instance(64, 1, 1), NODE)
    assert.throws(() => rt.claim(instance(64, 1, 1), NODE), /Free vcpu 0.00 VCPU < requested 1 VCPU/)
    assert.throws(() => rt.claim(instance(64, 0, 20), NODE), /Free disk 6.00 GB < requested 20 GB/)
  })

  it('never over-commits whatever order concurrent builds claim in', async () => {
    const rt = await tracker(4096)
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        await new Promise((r) => setTimeout(r, i % 3))
        try {
          rt.claim(instance(512), NODE)
          return true
        } catch {
          return false
        }
      }),
    )
    assert.equal(outcomes.filter(Boolean).length, (4096 - 512) / 512)
  })

  it('releases claims, is idempotent, and restores the claims of instances already on the host', async () => {
    const rt = await tracker(2048)
    const a = instance(1024)
    rt.claim(a, NODE)
    rt.claim(a, NODE)
    assert.equal(rt.reports()[0]!.runningVms, 1)
    rt.drop(a.uuid)
    rt.drop(a.uuid)
    assert.equal(rt.hasClaim(a.uuid), false)
    const restored = { ...instance(1536), node: NODE }
    rt.restore([restored])
    assert.throws(() => rt.claim(instance(1), NODE), ComputeResourcesUnavailable)
  })
})
