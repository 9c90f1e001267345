import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { PowerState } from '../../../src/compute/states.ts'
import type { FakeDriver } from '../../../src/compute/virt/fake/driver.ts'
import { startComputeCloud, type Caller, type ComputeCloud } from './helpers.ts'

/** `%Y-%m-%dT%H:%M:%S` of a time, as clients send usage periods. */
const qsTime = (ms: number) => new Date(ms).toISOString().slice(0, 19)

describe('compute: simple tenant usage and server diagnostics', () => {
  let cloud: ComputeCloud
  let admin: Caller
  let member: Caller
  let kept: string
  let removed: string
  const start = Date.now() - 3_600_000

  before(async () => {
    cloud = await startComputeCloud({ hosts: 1 })
    admin = cloud.admin
    member = await cloud.newMember()
    kept = await member.createServer({ name: 'use-kept', flavorRef: '1', imageRef: cloud.imageId })
    removed = await member.createServer({ name: 'use-gone', flavorRef: '2', imageRef: cloud.imageId })
    await member.waitStatus(kept)
    await member.waitStatus(removed)
    await member.deleteServer(removed)
  })
  after(() => cloud?.stop())

  const period = () => `start=${qsTime(start)}&end=${qsTime(Date.now() + 3_600_000)}`

  it('lists every project for admins, detailed with server usages, deleted servers as terminated', async () => {
    const res = await admin.nova('GET', `/os-simple-tenant-usage?${period()}&detailed=1`)
    assert.equal(res.status, 200)
    const mine = res.body.tenant_usages.find((t: { tenant_id: string }) => t.tenant_id === member.projectId)
    assert.ok(mine, 'the member project is listed')
    assert.equal(mine.server_usages.length, 2)
    const byId = new Map(mine.server_usages.map((u: { instance_id: string }) => [u.instance_id, u]))
    const k = byId.get(kept) as Record<string, any>
    const g = byId.get(removed) as Record<string, any>
    assert.equal(k.state, 'active')
    assert.equal(k.ended_at, null)
    assert.equal(k.flavor, 'm1.tiny')
    assert.equal(k.vcpus, 1)
    assert.equal(k.memory_mb, 512)
    assert.equal(k.local_gb, 1)
    assert.equal(k.name, 'use-kept')
    assert.equal(g.state, 'terminated')
    assert.match(g.ended_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/)
    assert.equal(g.flavor, 'm1.small')
    assert.ok(k.hours > 0 && k.hours < 0.1, `hours ${k.hours}`)
    assert.ok(typeof k.uptime === 'number')
    const total = k.hours + g.hours
    assert.ok(Math.abs(mine.total_hours - total) < 1e-9)
    assert.ok(Math.abs(mine.total_vcpus_usage - (k.hours * 1 + g.hours * 1)) < 1e-9)
    assert.ok(Math.abs(mine.total_memory_mb_usage - (k.hours * 512 + g.hours * 2048)) < 1e-6)
    assert.match(mine.start, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/)
    const plain = await admin.nova('GET', `/os-simple-tenant-usage?${period()}`)
    const summary = plain.body.tenant_usages.find(
      (t: { tenant_id: string }) => t.tenant_id === member.projectId,
    )
    assert.equal(summary.server_usages, undefined, 'detailed only with detailed=1')
  })

  it('shows one project to its members, pages from 2.40, and checks the period', async () => {
    const own = await member.nova('GET', `/os-simple-tenant-usage/${member.projectId}?${period()}`)
    assert.equal(own.status, 200)
    assert.equal(own.body.tenant_usage.server_usages.length, 2)
    assert.equal((await member.nova('GET', `/os-simple-tenant-usage?${period()}`)).status, 403)
    assert.equal(
      (await member.nova('GET', `/os-simple-tenant-usage/${admin.projectId}?${period()}`)).status,
      403,
    )
    const empty = await admin.nova('GET', `/os-simple-tenant-usage/?${period()}`)
    assert.equal(empty.status, 404)
    const none = await admin.nova('GET', `/os-simple-tenant-usage/no-such-project?${period()}`)
    assert.deepEqual(none.body, { tenant_usage: {} })

    const page1 = await member.nova(
      'GET',
      `/os-simple-tenant-usage/${member.projectId}?${period()}&limit=1`,
      undefined,
      '2.40',
    )
    assert.equal(page1.body.tenant_usage.server_usages.length, 1)
    const next = page1.body.tenant_usage_links[0]
    assert.equal(next.rel, 'next')
    const marker = new URL(next.href).searchParams.get('marker')
    assert.equal(marker, page1.body.tenant_usage.server_usages[0].instance_id)
    const page2 = await member.nova(
      'GET',
      `/os-simple-tenant-usage/${member.projectId}?${period()}&limit=1&marker=${marker}`,
      undefined,
      '2.40',
    )
    assert.equal(page2.body.tenant_usage.server_usages.length, 1)
    assert.notEqual(page2.body.tenant_usage.server_usages[0].instance_id, marker)
    const badMarker = await admin.nova(
      'GET',
      `/os-simple-tenant-usage?${period()}&marker=nope`,
      undefined,
      '2.40',
    )
    assert.equal(badMarker.status, 400)
    assert.equal(badMarker.body.badRequest.message, 'marker [nope] not found')

    const badTime = await admin.nova('GET', '/os-simple-tenant-usage?start=yesterday')
    assert.equal(badTime.status, 400)
    assert.equal(badTime.body.badRequest.message, 'Invalid datetime string: Datetime is in invalid format')
    const reversed = await admin.nova(
      'GET',
      `/os-simple-tenant-usage?start=${qsTime(Date.now())}&end=${qsTime(start)}`,
    )
    assert.equal(reversed.status, 400)
    assert.equal(
      reversed.body.badRequest.message,
      'Invalid start time. The start time cannot occur after the end time.',
    )
    const micro = await admin.nova(
      'GET',
      `/os-simple-tenant-usage?start=2020-01-01 00:00:00.5&end=2020-01-02T00:00:00.000001`,
    )
    assert.equal(micro.status, 200)
    assert.deepEqual(micro.body.tenant_usages, [])
    const unknown = await admin.nova('GET', `/os-simple-tenant-usage?${period()}&foo=1`, undefined, '2.75')
    assert.equal(unknown.status, 400)
  })

  it('answers diagnostics to admins: 2.48 standard form, flat libvirt keys before, 409 when not running', async () => {
    const v248 = await admin.nova('GET', `/servers/${kept}/diagnostics`, undefined, '2.48')
    assert.equal(v248.status, 200)
    const d = v248.body
    assert.equal(d.state, 'running')
    assert.equal(
      d.driver,
      'libvirt',
      "Nova's fake driver reports libvirt (Tempest's schema allows only real drivers)",
    )
    assert.equal(d.hypervisor, 'fake')
    assert.equal(d.config_drive, false)
    assert.equal(d.num_cpus, 1)
    assert.equal(d.num_disks, 1)
    assert.equal(d.num_nics, 1)
    assert.deepEqual(d.memory_details, { maximum: 512, used: 0 })
    assert.deepEqual(Object.keys(d.cpu_details[0]).sort(), ['id', 'time', 'utilisation'])
    assert.deepEqual(Object.keys(d.disk_details[0]).sort(), [
      'errors_count',
      'read_bytes',
      'read_requests',
      'write_bytes',
      'write_requests',
    ])
    assert.equal(d.nic_details[0].mac_address, '01:23:45:67:89:ab')
    assert.ok(d.uptime >= 0)
    const legacy = await admin.nova('GET', `/servers/${kept}/diagnostics`)
    assert.equal(legacy.status, 200)
    assert.equal(legacy.body.memory, 512 * 1024)
    assert.equal(typeof legacy.body.cpu0_time, 'number')
    assert.equal(typeof legacy.body.vda_read, 'number')
    const denied = await member.nova('GET', `/servers/${kept}/diagnostics`)
    assert.equal(denied.status, 403)
    assert.equal(
      denied.body.forbidden.message,
      "Policy doesn't allow os_compute_api:os-server-diagnostics to be performed.",
    )
    assert.equal((await admin.nova('GET', `/servers/${removed}/diagnostics`)).status, 404)
    // A guest that is not running has nothing to report (409 naming the power state).
    const host = cloud.compute().hosts[0]!
    ;(host.driver as FakeDriver).setPowerState(kept, PowerState.SHUTDOWN)
    const off = await admin.nova('GET', `/servers/${kept}/diagnostics`, undefined, '2.48')
    assert.equal(off.status, 409)
    assert.equal(
      off.body.conflictingRequest.message,
      `Cannot 'get_diagnostics' instance ${kept} while it is in power state shutdown`,
    )
  })
})
