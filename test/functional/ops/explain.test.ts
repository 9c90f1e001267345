import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { explainCommand } from '../../../src/cmd/explain.ts'
import type { FakeDriver } from '../../../src/compute/virt/fake/driver.ts'
import type { Explanation } from '../../../src/ops/explain.ts'
import { startComputeCloud, type ComputeCloud } from '../compute/helpers.ts'

/**
 * `nimbus explain` on the embedded cloud (fake driver, two hosts of 4096 MB):
 * a server that failed for RAM (RamFilter with the numbers), one that failed
 * in spawn (the step, the driver's step and its error, the fault), and one
 * that succeeded (every build step with its duration); the same JSON as the
 * compute API's `?explain=true` extension, which also carries the request's
 * log lines from the process's log ring.
 */
const HOST_MEMORY_MB = 4096

describe('nimbus explain', { timeout: 300_000 }, () => {
  let cloud: ComputeCloud

  async function explain(server: string, opts = {}): Promise<{ code: number; x: Explanation; text: string }> {
    let json = ''
    const code = await explainCommand(
      cloud.tc.cloud.config,
      server,
      { json: true, ...opts },
      (s) => (json += s),
    )
    let text = ''
    await explainCommand(cloud.tc.cloud.config, server, opts, (s) => (text += s))
    return { code, x: JSON.parse(json) as Explanation, text }
  }

  before(async () => {
    cloud = await startComputeCloud({
      hosts: 2,
      config: { 'compute.fake_memory_mb': String(HOST_MEMORY_MB) },
    })
    const flavor = await cloud.admin.nova('POST', '/flavors', {
      flavor: { name: 'm1.huge-ram', ram: 8192, vcpus: 1, disk: 1, id: 'huge-ram' },
    })
    assert.equal(flavor.status, 200, JSON.stringify(flavor.body))
  })
  after(() => cloud?.stop())

  it('a server that failed for RAM: RamFilter with the numbers, exit 1', async () => {
    const id = await cloud.admin.createServer({
      name: 'too-big',
      imageRef: cloud.imageId,
      flavorRef: 'huge-ram',
    })
    assert.equal((await cloud.admin.waitStatus(id, ['BUILD'])).status, 'ERROR')
    const { code, x, text } = await explain('too-big')
    assert.equal(code, 1)
    assert.equal(x.action.action, 'create')
    assert.equal(x.action.microversion, 'compute 2.37', 'from the API log line of the request')
    const ram = x.decision!.filters.find((f) => f.name === 'RamFilter')!
    assert.equal(ram.hostsOut, 2)
    for (const why of Object.values(ram.rejected)) assert.match(why, /8192 MB/)
    assert.match(x.decision!.failure!, /^RamFilter rejected 2 of 2 hosts: needs 8192 MB/)
    assert.equal(x.failedStep, 'scheduler_select_destinations')
    assert.match(x.fault!.message, /^No valid host was found\. RamFilter rejected 2 of 2 hosts/)
    assert.ok(x.logs.length > 0, 'the request has log lines in the ring')
    assert.ok(x.logs.every((l) => l.request_id === x.action.requestId))
    assert.match(text, /RamFilter: rejected 2 of 2 — /)
    assert.match(text, /\nfault 500 on .*: No valid host was found\. RamFilter/)
  })

  it('a server that failed in spawn: the step, the driver step and its error', async () => {
    for (const h of cloud.compute().hosts)
      (h.driver as FakeDriver).injectFailure(
        'spawn:start',
        'qemu: could not open /dev/kvm: Permission denied',
      )
    try {
      const id = await cloud.admin.createServer({ name: 'no-kvm', imageRef: cloud.imageId, flavorRef: '1' })
      assert.equal((await cloud.admin.waitStatus(id, ['BUILD'])).status, 'ERROR')
      const { code, x, text } = await explain(id)
      assert.equal(code, 1)
      const spawns = x.steps.filter((s) => s.event === 'compute_spawn')
      assert.equal(spawns.length, 2, 'one attempt per host (rescheduled once)')
      for (const s of spawns) {
        assert.equal(s.result, 'Error')
        assert.equal(
          s.details,
          'compute_spawn (spawn:start): qemu: could not open /dev/kvm: Permission denied',
        )
      }
      assert.equal(new Set(spawns.map((s) => s.host)).size, 2)
      assert.equal(x.failedStep, 'compute_spawn')
      assert.match(
        x.fault!.message,
        /Exhausted all hosts available for retrying build failures .*Last exception: compute_spawn \(spawn:start\): qemu: could not open \/dev\/kvm/,
      )
      assert.match(
        text,
        /\n +\+[\d.]+ m?s +compute_spawn +vm-\d +[\d.]+ m?s +Error +compute_spawn \(spawn:start\): qemu/,
      )
    } finally {
      for (const h of cloud.compute().hosts) (h.driver as FakeDriver).clearFaults()
    }
  })

  it('a server that succeeded: every build step with its duration, exit 0; the API gives the same', async () => {
    const id = await cloud.admin.createServer({ name: 'fine', imageRef: cloud.imageId, flavorRef: '1' })
    assert.equal((await cloud.admin.waitStatus(id, ['BUILD'])).status, 'ACTIVE')
    const { code, x, text } = await explain('fine')
    assert.equal(code, 0)
    assert.equal(x.failedStep, undefined)
    assert.equal(x.fault, undefined)
    const names = x.steps.map((s) => s.event)
    for (const step of [
      'conductor_schedule_and_build_instances',
      'scheduler_select_destinations',
      'compute__do_build_and_run_instance',
      'compute_claim_resources',
      'compute_allocate_network',
      'compute_prepare_image',
      'compute_block_device_mapping',
      'compute_spawn',
    ])
      assert.ok(names.includes(step), `${step} in ${names.join(', ')}`)
    for (const s of x.steps) {
      assert.equal(s.result, 'Success', JSON.stringify(s))
      assert.ok(typeof s.durationMs === 'number' && s.durationMs >= 0, JSON.stringify(s))
    }
    // The spawn's details: the driver's own steps, each with its duration.
    const spawn = x.steps.find((s) => s.event === 'compute_spawn')!
    const driverSteps = (spawn.details as { driverSteps: { step: string; elapsedMs: number }[] }).driverSteps
    assert.deepEqual(
      driverSteps.map((d) => d.step),
      ['spawn:image', 'spawn:disk', 'spawn:vifs', 'spawn:define', 'spawn:start'],
    )
    for (const d of driverSteps) assert.ok(d.elapsedMs >= 0)
    assert.match(text, /compute_spawn +vm-\d +[\d.]+ m?s +Success +spawn:image [\d.]+ m?s, spawn:disk /)
    assert.deepEqual(x.decision!.chosen, [x.server.host])
    assert.ok(x.decision!.topWeighed.length >= 1)
    assert.match(text, /\n {2}chosen: /)

    const viaApi = await cloud.admin.nova(
      'GET',
      `/servers/${id}/os-instance-actions/${x.action.requestId}?explain=true`,
      undefined,
      '2.84',
    )
    assert.equal(viaApi.status, 200)
    const fromApi = viaApi.body.instanceAction['nimbus:explanation'] as Explanation
    assert.deepEqual(fromApi.steps, x.steps)
    assert.deepEqual(fromApi.decision, x.decision)
    const plain = await cloud.admin.nova(
      'GET',
      `/servers/${id}/os-instance-actions/${x.action.requestId}`,
      undefined,
      '2.84',
    )
    assert.equal(plain.body.instanceAction['nimbus:explanation'], undefined, 'only when asked')
    const bad = await cloud.admin.nova(
      'GET',
      `/servers/${id}/os-instance-actions/${x.action.requestId}?explain=maybe`,
    )
    assert.equal(bad.status, 400)
    const member = await cloud.newMember()
    const mine = await member.createServer({ name: 'mine', imageRef: cloud.imageId, flavorRef: '1' })
    const actions = (await member.nova('GET', `/servers/${mine}/os-instance-actions`)).body.instanceActions
    const denied = await member.nova(
      'GET',
      `/servers/${mine}/os-instance-actions/${actions[0].request_id}?explain=true`,
    )
    assert.equal(denied.status, 403, 'admin only, as event details are')
  })

  it('--request REQ_ID explains that request; an unknown one is an error', async () => {
    const { x } = await explain('fine')
    const byRequest = await explain(undefined as unknown as string, { request: x.action.requestId })
    assert.equal(byRequest.x.server.id, x.server.id)
    await assert.rejects(
      explainCommand(
        cloud.tc.cloud.config,
        undefined,
        { request: 'req-00000000-0000-0000-0000-000000000000' },
        () => {},
      ),
      /No server action has request id/,
    )
  })
})
