import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, it } from 'node:test'
import { PowerState } from '../../../src/compute/states.ts'
import type { FakeDriver } from '../../../src/compute/virt/fake/driver.ts'
import { startComputeCloud, type Caller, type ComputeCloud } from './helpers.ts'

/** service_down_time in this cloud; heartbeats only when a test asks. */
const DOWN_TIME_S = 2

describe('compute: services, hypervisors, zones and power states', () => {
  let cloud: ComputeCloud
  let admin: Caller
  let member: Caller

  before(async () => {
    cloud = await startComputeCloud({
      hosts: 2,
      config: {
        'compute.service_down_time_s': String(DOWN_TIME_S),
        'compute.report_interval_s': '3600',
        'compute.sync_power_state_interval_s': '3600',
      },
    })
    admin = cloud.admin
    member = await cloud.newMember()
  })
  after(() => cloud?.stop())

  async function heartbeatAll(): Promise<void> {
    for (const h of cloud.compute().hosts) await h.runPeriodic('heartbeat')
    await cloud.conductor().runPeriodic('heartbeat')
  }

  it('lists services with Nova fields, uuids from 2.53, forced_down from 2.11, and admins only', async () => {
    await heartbeatAll()
    const v21 = await admin.nova('GET', '/os-services')
    assert.equal(v21.status, 200)
    const binaries = v21.body.services.map((s: { binary: string }) => s.binary).sort()
    assert.deepEqual(binaries, ['nova-compute', 'nova-compute', 'nova-conductor', 'nova-scheduler'])
    const compute = v21.body.services.find((s: { binary: string }) => s.binary === 'nova-compute')
    assert.equal(typeof compute.id, 'number')
    assert.equal(compute.zone, 'nova')
    assert.equal(compute.status, 'enabled')
    assert.equal(compute.state, 'up')
    assert.equal(compute.forced_down, undefined)
    assert.match(compute.updated_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/)
    const conductor = v21.body.services.find((s: { binary: string }) => s.binary === 'nova-conductor')
    assert.equal(conductor.zone, 'internal')
    const v253 = await admin.nova('GET', '/os-services?binary=nova-compute', undefined, '2.53')
    assert.equal(v253.body.services.length, 2)
    assert.match(v253.body.services[0].id, /^[0-9a-f-]{36}$/)
    assert.equal(v253.body.services[0].forced_down, false)
    const denied = await member.nova('GET', '/os-services')
    assert.equal(denied.status, 403)
    assert.equal(
      denied.body.forbidden.message,
      "Policy doesn't allow os_compute_api:os-services:list to be performed.",
    )
  })

  it('shows a host down after service_down_time without heartbeats, and up again after one', async () => {
    await heartbeatAll()
    await sleep((DOWN_TIME_S + 0.5) * 1000)
    const down = await admin.nova('GET', '/os-services?binary=nova-compute')
    assert.ok(down.body.services.every((s: { state: string }) => s.state === 'down'))
    const hypervisors = await admin.nova('GET', '/os-hypervisors', undefined, '2.53')
    assert.ok(hypervisors.body.hypervisors.every((h: { state: string }) => h.state === 'down'))
    // Nothing is up: the ComputeFilter rejects every host.
    const id = await member.createServer({ name: 'nowhere', imageRef: cloud.imageId, flavorRef: '1' })
    const server = await member.waitStatus(id)
    assert.equal(server.status, 'ERROR')
    assert.match(server.fault.message, /ComputeFilter rejected 2 of 2 hosts/)
    await heartbeatAll()
    const up = await admin.nova('GET', '/os-services?binary=nova-compute')
    assert.ok(up.body.services.every((s: { state: string }) => s.state === 'up'))
    await member.deleteServer(id)
  })

  it('disables and force-downs a compute service (2.53)', async () => {
    await heartbeatAll()
    const list = await admin.nova('GET', '/os-services?binary=nova-compute', undefined, '2.53')
    const svc = list.body.services[0]
    const disabled = await admin.nova(
      'PUT',
      `/os-services/${svc.id}`,
      { status: 'disabled', disabled_reason: 'maintenance' },
      '2.53',
    )
    assert.equal(disabled.status, 200)
    assert.equal(disabled.body.service.status, 'disabled')
    assert.equal(disabled.body.service.disabled_reason, 'maintenance')
    const invalid = await admin.nova(
      'PUT',
      `/os-services/${svc.id}`,
      { status: 'enabled', disabled_reason: 'x' },
      '2.53',
    )
    assert.equal(invalid.status, 400)
    const enabled = await admin.nova('PUT', `/os-services/${svc.id}`, { status: 'enabled' }, '2.53')
    assert.equal(enabled.body.service.status, 'enabled')
    assert.equal(enabled.body.service.disabled_reason, null)
    const notUuid = await admin.nova('PUT', '/os-services/12', { status: 'enabled' }, '2.53')
    assert.equal(notUuid.status, 400)
    const legacy = await admin.nova(
      'PUT',
      '/os-services/disable',
      { host: svc.host, binary: 'nova-compute' },
      '2.1',
    )
    assert.deepEqual(legacy.body, { service: { host: svc.host, binary: 'nova-compute', status: 'disabled' } })
    await admin.nova('PUT', '/os-services/enable', { host: svc.host, binary: 'nova-compute' }, '2.1')
  })

  it('lists hypervisors with the fields of each microversion', async () => {
    await heartbeatAll()
    const v21 = await admin.nova('GET', '/os-hypervisors/detail')
    const h = v21.body.hypervisors[0]
    assert.equal(typeof h.id, 'number')
    assert.equal(h.hypervisor_type, 'fake')
    assert.equal(h.memory_mb, 65_536)
    assert.equal(h.memory_mb_used, 512, 'the reserved host memory counts as used')
    assert.equal(typeof h.cpu_info, 'string')
    const v228 = await admin.nova('GET', '/os-hypervisors/detail', undefined, '2.28')
    assert.equal(typeof v228.body.hypervisors[0].cpu_info, 'object')
    const v288 = await admin.nova('GET', '/os-hypervisors/detail', undefined, '2.88')
    const h88 = v288.body.hypervisors[0]
    assert.equal(h88.memory_mb, undefined)
    assert.match(h88.uptime, /up/)
    assert.equal((await admin.nova('GET', '/os-hypervisors/statistics', undefined, '2.88')).status, 404)
    const stats = await admin.nova('GET', '/os-hypervisors/statistics')
    assert.equal(stats.body.hypervisor_statistics.count, 2)
    const page = await admin.nova('GET', '/os-hypervisors?limit=1', undefined, '2.53')
    assert.equal(page.body.hypervisors.length, 1)
    assert.ok(page.body.hypervisors_links[0].href.includes(`marker=${page.body.hypervisors[0].id}`))
    const shown = await admin.nova(
      'GET',
      `/os-hypervisors/${page.body.hypervisors[0].id}?with_servers=true`,
      undefined,
      '2.75',
    )
    assert.deepEqual(shown.body.hypervisor.servers, [])
    assert.equal((await admin.nova('GET', '/os-hypervisors/not-a-uuid', undefined, '2.53')).status, 400)
    const name = h.hypervisor_hostname as string
    const found = await admin.nova('GET', `/os-hypervisors/${name.slice(1).toUpperCase()}/search`)
    assert.deepEqual(
      found.body.hypervisors.map((x: { id: number }) => x.id),
      [h.id],
    )
    assert.equal(
      (await admin.nova('GET', `/os-hypervisors/${name}/servers`)).body.hypervisors[0].servers,
      undefined,
    )
    assert.equal((await admin.nova('GET', '/os-hypervisors/no-such-node/search')).status, 404)
    assert.equal((await admin.nova('GET', `/os-hypervisors/${name}/search`, undefined, '2.53')).status, 404)
    assert.equal((await member.nova('GET', `/os-hypervisors/${name}/servers`)).status, 403)
    assert.equal((await member.nova('GET', '/os-hypervisors')).status, 403)
  })

  it('lists availability zones (detail for admins)', async () => {
    await heartbeatAll()
    const zones = await member.nova('GET', '/os-availability-zone')
    assert.deepEqual(zones.body, {
      availabilityZoneInfo: [{ zoneName: 'nova', zoneState: { available: true }, hosts: null }],
    })
    assert.equal((await member.nova('GET', '/os-availability-zone/detail')).status, 403)
    const detail = await admin.nova('GET', '/os-availability-zone/detail')
    const nova = detail.body.availabilityZoneInfo.find((z: { zoneName: string }) => z.zoneName === 'nova')
    assert.equal(Object.keys(nova.hosts).length, 2)
    const bad = await member.nova(
      'POST',
      '/servers',
      {
        server: {
          name: 'x',
          imageRef: cloud.imageId,
          flavorRef: '1',
          networks: 'none',
          availability_zone: 'elsewhere',
        },
      },
      '2.37',
    )
    assert.equal(bad.status, 400)
    assert.equal(bad.body.badRequest.message, 'The requested availability zone is not available')
  })

  it('syncs power states: a guest found stopped makes the server SHUTOFF', async () => {
    await heartbeatAll()
    const id = await member.createServer({ name: 'power', imageRef: cloud.imageId, flavorRef: '1' })
    const server = await member.waitStatus(id, ['BUILD'])
    assert.equal(server.status, 'ACTIVE')
    const hostName = (await admin.nova('GET', `/servers/${id}`)).body.server['OS-EXT-SRV-ATTR:host']
    const host = cloud.compute().host(hostName)
    ;(host.driver as FakeDriver).setPowerState(id, PowerState.SHUTDOWN)
    await host.runPeriodic('sync_power_states')
    const after = (await member.nova('GET', `/servers/${id}`)).body.server
    assert.equal(after.status, 'SHUTOFF')
    assert.equal(after['OS-EXT-STS:power_state'], PowerState.SHUTDOWN)
    await member.deleteServer(id)
  })
})
