import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, it } from 'node:test'
import type { ComputeHost } from '../../../src/compute/service.ts'
import type { FakeDriver } from '../../../src/compute/virt/fake/driver.ts'
import {
  createNetwork,
  eventually,
  portsOf,
  startComputeCloud,
  type Caller,
  type ComputeCloud,
} from './helpers.ts'

/** Fake hosts small enough to fill: 2048 MB, 512 MB reserved, so three 512 MB servers each. */
const HOST_MEMORY_MB = 2048
const RESERVED_MB = 512
const TINY_MB = 512
const SLOTS_PER_HOST = (HOST_MEMORY_MB - RESERVED_MB) / TINY_MB

function fake(host: ComputeHost): FakeDriver {
  return host.driver as FakeDriver
}

async function eventsOf(caller: Caller, id: string) {
  const actions = (await caller.nova('GET', `/servers/${id}/os-instance-actions`)).body.instanceActions
  const create = actions.find((a: { action: string }) => a.action === 'create')
  const shown = await caller.nova(
    'GET',
    `/servers/${id}/os-instance-actions/${create.request_id}`,
    undefined,
    '2.84',
  )
  return shown.body.instanceAction.events as {
    event: string
    result: string
    host: string
    details: string | null
    start_time: string
  }[]
}

async function allocationCount(cloud: ComputeCloud, uuid: string): Promise<number> {
  return portsOf(cloud, uuid)
}

describe('compute: scheduling, claims and failures', () => {
  let cloud: ComputeCloud
  let admin: Caller

  before(async () => {
    cloud = await startComputeCloud({
      hosts: 2,
      config: {
        'compute.fake_memory_mb': String(HOST_MEMORY_MB),
        'compute.reserved_host_memory_mb': String(RESERVED_MB),
        // A 1 s BUILD deadline, checked only when a test runs the check.
        'compute.build_timeout_s': '1',
        'compute.build_timeout_check_interval_s': '3600',
        'quota.instances': '-1',
        'quota.cores': '-1',
        'quota.ram': '-1',
      },
    })
    admin = cloud.admin
    // `networks: auto` finds the admin project's only network.
    await createNetwork(cloud, admin, 'sched-net')
  })
  after(() => cloud?.stop())

  it('puts a server that needs more RAM than any host has in ERROR, with the RamFilter numbers', async () => {
    const flavor = await admin.nova('POST', '/flavors', {
      flavor: { name: 'huge', ram: 100_000, vcpus: 1, disk: 1, id: 'huge' },
    })
    assert.equal(flavor.status, 200)
    const id = await admin.createServer({ name: 'too-big', imageRef: cloud.imageId, flavorRef: 'huge' })
    const server = await admin.waitStatus(id)
    assert.equal(server.status, 'ERROR')
    assert.equal(server.fault.code, 500)
    assert.match(server.fault.message, /^No valid host was found\. /)
    assert.match(server.fault.message, /RamFilter rejected 2 of 2 hosts: needs 100000 MB/)
    assert.match(server.fault.message, /most free 1536 MB/)
    assert.equal(server['OS-EXT-STS:task_state'], null)
    const events = await eventsOf(admin, id)
    const select = events.find((e) => e.event === 'scheduler_select_destinations')!
    assert.equal(select.result, 'Error')
    const record = JSON.parse(select.details!)
    assert.ok(
      record.filters.some(
        (f: { name: string; hostsOut: string[] }) => f.name === 'RamFilter' && f.hostsOut.length === 2,
      ),
    )
    assert.equal(events.find((e) => e.event === 'conductor_schedule_and_build_instances')!.result, 'Error')
    // Nova counts an ERROR server against quota until it is deleted.
    const limits = (await admin.nova('GET', '/limits')).body.limits.absolute
    assert.ok(limits.totalInstancesUsed >= 1)
    await admin.deleteServer(id)
  })

  it('fills the free slots exactly under concurrency: M ACTIVE, the rest NoValidHost, no host over-committed', async () => {
    const slots = SLOTS_PER_HOST * 2
    const wanted = slots + 4
    const ids = await Promise.all(
      Array.from({ length: wanted }, (_, i) =>
        admin.createServer({ name: `race-${i}`, imageRef: cloud.imageId, flavorRef: '1' }),
      ),
    )
    const servers = await Promise.all(ids.map((id) => admin.waitStatus(id, ['BUILD'], '2.3')))
    const active = servers.filter((s) => s.status === 'ACTIVE')
    const failed = servers.filter((s) => s.status === 'ERROR')
    assert.equal(active.length, slots)
    assert.equal(failed.length, wanted - slots)
    for (const s of failed) assert.match(s.fault.message, /No valid host was found/)
    const perHost = new Map<string, number>()
    for (const s of active)
      perHost.set(s['OS-EXT-SRV-ATTR:host'], (perHost.get(s['OS-EXT-SRV-ATTR:host']) ?? 0) + 1)
    for (const count of perHost.values()) assert.ok(count <= SLOTS_PER_HOST, `host over-committed: ${count}`)
    for (const host of cloud.compute().hosts) assert.ok(fake(host).guestCount <= SLOTS_PER_HOST)
    for (const s of failed) assert.equal(await allocationCount(cloud, s.id), 0)
    await Promise.all(ids.map((id) => admin.deleteServer(id)))
    for (const host of cloud.compute().hosts) assert.equal(fake(host).guestCount, 0)
  })

  it('reschedules a build that fails on one host to another host', async () => {
    const [first, second] = cloud.compute().hosts
    // The bigger host wins the RAM weigher, so the build lands there first.
    fake(first!).setCapacity({ memoryMb: HOST_MEMORY_MB * 2 })
    await first!.updateResources()
    fake(first!).injectFailure('spawn:start', 'injected spawn failure')
    try {
      const id = await admin.createServer({
        name: 'retry',
        imageRef: cloud.imageId,
        flavorRef: '1',
        networks: 'auto',
      })
      const server = await admin.waitStatus(id, ['BUILD'], '2.3')
      assert.equal(server.status, 'ACTIVE')
      assert.equal(server['OS-EXT-SRV-ATTR:host'], second!.host)
      const builds = (await eventsOf(admin, id)).filter(
        (e) => e.event === 'compute__do_build_and_run_instance',
      )
      assert.deepEqual(
        builds.map((e) => [e.host, e.result]),
        [
          [first!.host, 'Error'],
          [second!.host, 'Success'],
        ],
      )
      const spawnFailure = (await eventsOf(admin, id)).find(
        (e) => e.event === 'compute_spawn' && e.result === 'Error',
      )!
      assert.match(spawnFailure.details!, /injected spawn failure/)
      assert.equal(fake(first!).guestCount, 0)
      assert.equal(fake(first!).leakedResources, 0)
      assert.equal(await allocationCount(cloud, id), 1)
      await admin.deleteServer(id)
    } finally {
      fake(first!).clearFaults()
      fake(first!).setCapacity({ memoryMb: HOST_MEMORY_MB })
      await first!.updateResources()
    }
  })

  it('gives up after max_attempts with a fault naming the step and why, and frees everything', async () => {
    const hosts = cloud.compute().hosts
    for (const h of hosts) fake(h).injectFailure('spawn:define', 'disk full on fake host')
    try {
      const id = await admin.createServer({
        name: 'doomed',
        imageRef: cloud.imageId,
        flavorRef: '1',
        networks: 'auto',
      })
      const server = await admin.waitStatus(id, ['BUILD'], '2.3')
      assert.equal(server.status, 'ERROR')
      assert.match(server.fault.message, /compute_spawn \(spawn:define\): disk full on fake host/)
      assert.equal(server['OS-EXT-SRV-ATTR:host'], null, 'the scheduler allocation is released')
      assert.equal(await allocationCount(cloud, id), 0, 'fixed IPs are released')
      for (const h of hosts) {
        assert.equal(fake(h).guestCount, 0)
        assert.equal(fake(h).leakedResources, 0)
        assert.equal(h.tracker.hasClaim(id), false, 'claims are released')
      }
      await admin.deleteServer(id)
    } finally {
      for (const h of hosts) fake(h).clearFaults()
    }
  })

  it('moves a server stuck in BUILD past its deadline to ERROR naming the last completed step', async () => {
    const hosts = cloud.compute().hosts
    for (const h of hosts) fake(h).setDelay('spawn:start', 1_500)
    try {
      const id = await admin.createServer({
        name: 'slow',
        imageRef: cloud.imageId,
        flavorRef: '1',
        networks: 'auto',
      })
      await eventually(async () => {
        const events = await eventsOf(admin, id)
        return events.some((e) => e.event === 'compute_spawn') ? true : undefined
      }, 'spawn to start')
      // build_timeout_s is 1 in this cloud: the next check fails the build.
      await sleep(1_100)
      await cloud.conductor().runPeriodic('build_timeouts')
      const server = (await admin.nova('GET', `/servers/${id}`)).body.server
      assert.equal(server.status, 'ERROR')
      assert.match(server.fault.message, /timed out after 1 seconds/)
      assert.match(server.fault.message, /last completed step: compute_block_device_mapping/)
      // The host finishes its spawn, finds the server in ERROR and undoes it.
      await eventually(
        async () => (hosts.every((h) => fake(h).guestCount === 0) ? true : undefined),
        'cleanup',
      )
      assert.equal(await allocationCount(cloud, id), 0)
      await admin.deleteServer(id)
    } finally {
      for (const h of hosts) fake(h).clearFaults()
    }
  })
})
