import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { adminContext } from '../../../src/common/context.ts'
import type { FakeDriver } from '../../../src/compute/virt/fake/driver.ts'
import { createNetwork, eventually, startComputeCloud, type Caller, type ComputeCloud } from './helpers.ts'

/**
 * Moves across fake hosts: resize -> VERIFY_RESIZE -> confirm / revert,
 * cold migrate, evacuate, os-migrations, and every refusal, with the claims
 * and quota following the flavor at each step.
 */

const TINY = '1' // m1.tiny: 1 vcpu, 512 MB, 1 GB
const SMALL = '2' // m1.small: 1 vcpu, 2048 MB, 20 GB

async function boot(c: Caller, cloud: ComputeCloud, name: string, flavor = TINY): Promise<any> {
  const id = await c.createServer({ name, imageRef: cloud.imageId, flavorRef: flavor })
  return c.waitStatus(id, ['BUILD'], '2.1')
}

async function migrationsOf(c: Caller, id: string, mv = '2.80'): Promise<any[]> {
  const res = await c.nova('GET', `/os-migrations?instance_uuid=${id}`, undefined, mv)
  assert.equal(res.status, 200, JSON.stringify(res.body))
  return res.body.migrations
}

function driverOf(cloud: ComputeCloud, host: string): FakeDriver {
  return cloud.compute().host(host).driver as FakeDriver
}

describe('moves across fake hosts', { timeout: 120_000 }, () => {
  let cloud: ComputeCloud
  let admin: Caller

  before(async () => {
    cloud = await startComputeCloud({ hosts: 3 })
    admin = cloud.admin
  })
  after(() => cloud?.stop())

  it('resize goes to another host in VERIFY_RESIZE with the new flavor; confirm drops the source', async () => {
    const server = await boot(admin, cloud, 'rs-confirm')
    const source = server['OS-EXT-SRV-ATTR:host']
    const res = await admin.nova('POST', `/servers/${server.id}/action`, { resize: { flavorRef: SMALL } })
    assert.equal(res.status, 202, JSON.stringify(res.body))
    const resized = await admin.waitStatus(server.id, ['ACTIVE', 'RESIZE'], '2.47')
    assert.equal(resized.status, 'VERIFY_RESIZE')
    assert.equal(resized.flavor.original_name, 'm1.small')
    const dest = resized['OS-EXT-SRV-ATTR:host']
    assert.notEqual(dest, source)
    const [m] = await migrationsOf(admin, server.id)
    assert.equal(m.status, 'finished')
    assert.equal(m.migration_type, 'resize')
    assert.equal(m.source_compute, source)
    assert.equal(m.dest_compute, dest)
    assert.equal(m.old_instance_type_id, 1)
    assert.equal(m.new_instance_type_id, 2)
    // Both hosts hold a claim until confirm: the old flavor on the source, the new on the destination.
    assert.equal(cloud.compute().host(source).tracker.hasClaim(server.id), true)
    assert.equal(cloud.compute().host(dest).tracker.hasClaim(server.id), true)
    assert.deepEqual(driverOf(cloud, dest).guestFlavor(server.id), { vcpus: 1, memoryMb: 2048, rootGb: 20 })

    const confirm = await admin.nova('POST', `/servers/${server.id}/action`, { confirmResize: null })
    assert.equal(confirm.status, 204)
    const active = await admin.waitStatus(server.id, ['VERIFY_RESIZE'])
    assert.equal(active.status, 'ACTIVE')
    assert.equal(active['OS-EXT-SRV-ATTR:host'], dest)
    await eventually(
      async () => ((await migrationsOf(admin, server.id))[0].status === 'confirmed' ? true : undefined),
      'migration confirmed',
    )
    assert.equal(cloud.compute().host(source).tracker.hasClaim(server.id), false)
    assert.equal(driverOf(cloud, source).resizedCount, 0)
    const actions = (await admin.nova('GET', `/servers/${server.id}/os-instance-actions`)).body
      .instanceActions
    assert.deepEqual(actions.map((a: any) => a.action).sort(), ['confirmResize', 'create', 'resize'])
    const resizeAction = actions.find((a: any) => a.action === 'resize')
    const events = (
      await admin.nova('GET', `/servers/${server.id}/os-instance-actions/${resizeAction.request_id}`)
    ).body.instanceAction.events.map((e: any) => `${e.event}:${e.result}`)
    for (const step of [
      'conductor_migrate_server',
      'compute_prep_resize',
      'compute_resize_instance',
      'compute_finish_resize',
    ]) {
      assert.ok(events.includes(`${step}:Success`), `${step} in ${events.join(', ')}`)
    }
    await admin.deleteServer(server.id)
  })

  it('revertResize brings the server back to its source with the old flavor', async () => {
    const server = await boot(admin, cloud, 'rs-revert')
    const source = server['OS-EXT-SRV-ATTR:host']
    await admin.nova('POST', `/servers/${server.id}/action`, { resize: { flavorRef: SMALL } })
    const resized = await admin.waitStatus(server.id, ['ACTIVE', 'RESIZE'])
    assert.equal(resized.status, 'VERIFY_RESIZE')
    const dest = resized['OS-EXT-SRV-ATTR:host']
    const revert = await admin.nova('POST', `/servers/${server.id}/action`, { revertResize: null })
    assert.equal(revert.status, 202)
    const back = await admin.waitStatus(server.id, ['VERIFY_RESIZE', 'REVERT_RESIZE'], '2.47')
    assert.equal(back.status, 'ACTIVE')
    assert.equal(back['OS-EXT-SRV-ATTR:host'], source)
    assert.equal(back.flavor.original_name, 'm1.tiny')
    assert.equal((await migrationsOf(admin, server.id))[0].status, 'reverted')
    assert.equal(cloud.compute().host(dest).tracker.hasClaim(server.id), false)
    assert.equal(driverOf(cloud, dest).guestFlavor(server.id), undefined)
    assert.deepEqual(driverOf(cloud, source).guestFlavor(server.id), { vcpus: 1, memoryMb: 512, rootGb: 1 })
    await admin.deleteServer(server.id)
  })

  it('ports follow the server: bound to the destination at finish, back to the source at revert', async () => {
    const member = await cloud.newMember()
    const net = await createNetwork(cloud, member, 'moves-net', '198.51.100.0/24')
    const id = await member.createServer(
      { name: 'rs-net', imageRef: cloud.imageId, flavorRef: TINY, networks: [{ uuid: net.networkId }] },
      '2.37',
    )
    await member.waitStatus(id)
    const bindingOf = async () => {
      const res = await fetch(`${cloud.tc.url('network')}/v2.0/ports?device_id=${id}`, {
        headers: { 'x-auth-token': admin.token },
      })
      const ports = ((await res.json()) as { ports: any[] }).ports
      assert.equal(ports.length, 1)
      return ports[0]['binding:host_id'] as string
    }
    const source = (await admin.nova('GET', `/servers/${id}`)).body.server['OS-EXT-SRV-ATTR:host']
    assert.equal(await bindingOf(), source)
    await member.nova('POST', `/servers/${id}/action`, { resize: { flavorRef: SMALL } })
    assert.equal((await member.waitStatus(id, ['ACTIVE', 'RESIZE'])).status, 'VERIFY_RESIZE')
    const dest = (await admin.nova('GET', `/servers/${id}`)).body.server['OS-EXT-SRV-ATTR:host']
    assert.equal(await bindingOf(), dest)
    await member.nova('POST', `/servers/${id}/action`, { revertResize: null })
    assert.equal((await member.waitStatus(id, ['VERIFY_RESIZE', 'REVERT_RESIZE'])).status, 'ACTIVE')
    assert.equal(await bindingOf(), source)
    await member.deleteServer(id)
  })

  it('refuses the same flavor, an unknown flavor, wrong states and unresized confirms as Nova', async () => {
    const server = await boot(admin, cloud, 'rs-refuse')
    const act = (body: unknown) => admin.nova('POST', `/servers/${server.id}/action`, body)
    const same = await act({ resize: { flavorRef: TINY } })
    assert.equal(same.status, 400)
    assert.equal(same.body.badRequest.message, 'When resizing, instances must change flavor!')
    const unknown = await act({ resize: { flavorRef: 'nope' } })
    assert.equal(unknown.status, 400)
    assert.equal(unknown.body.badRequest.message, 'Flavor nope could not be found.')
    const confirm = await act({ confirmResize: null })
    assert.equal(confirm.status, 409)
    assert.equal(
      confirm.body.conflictingRequest.message,
      `Cannot 'confirmResize' instance ${server.id} while it is in vm_state active`,
    )
    const revert = await act({ revertResize: null })
    assert.equal(revert.status, 409)
    const badBody = await act({ resize: { flavorRef: SMALL, extra: 1 } })
    assert.equal(badBody.status, 400)
    await act({ resize: { flavorRef: SMALL } })
    await admin.waitStatus(server.id, ['ACTIVE', 'RESIZE'])
    const again = await act({ resize: { flavorRef: TINY } })
    assert.equal(again.status, 409)
    assert.equal(
      again.body.conflictingRequest.message,
      `Cannot 'resize' instance ${server.id} while it is in vm_state resized`,
    )
    const member = await cloud.newMember()
    const migrate = await member.nova('POST', `/servers/${server.id}/action`, { migrate: null })
    assert.equal(migrate.status, 404)
    await admin.deleteServer(server.id)
    // The destination's claim and the source's original go with the server.
    for (const h of cloud.compute().hosts) {
      await eventually(async () => (h.tracker.hasClaim(server.id) ? undefined : true), `claim on ${h.host}`)
      assert.equal((h.driver as FakeDriver).resizedCount, 0)
    }
  })

  it('an upsize over the cores or RAM quota is 403; a member may resize its own server', async () => {
    const member = await cloud.newMember()
    await admin.nova('PUT', `/os-quota-sets/${member.projectId}`, { quota_set: { ram: 1024 } })
    const server = await boot(member, cloud, 'rs-quota')
    const over = await member.nova('POST', `/servers/${server.id}/action`, { resize: { flavorRef: SMALL } })
    assert.equal(over.status, 403)
    assert.equal(
      over.body.forbidden.message,
      'Quota exceeded for ram: Requested 1536, but already used 512 of 1024 ram',
    )
    await admin.nova('PUT', `/os-quota-sets/${member.projectId}`, { quota_set: { ram: 4096 } })
    const ok = await member.nova('POST', `/servers/${server.id}/action`, { resize: { flavorRef: SMALL } })
    assert.equal(ok.status, 202)
    assert.equal((await member.waitStatus(server.id, ['ACTIVE', 'RESIZE'])).status, 'VERIFY_RESIZE')
    const usage = (await member.nova('GET', `/os-quota-sets/${member.projectId}/detail`)).body.quota_set
    assert.equal(usage.ram.in_use, 2048)
    await member.deleteServer(server.id)
  })

  it('a failed finish leaves the server in ERROR on its source with a fault and frees the destination claim', async () => {
    const server = await boot(admin, cloud, 'rs-fail')
    const source = server['OS-EXT-SRV-ATTR:host']
    for (const h of cloud.compute().hosts) {
      if (h.host !== source) (h.driver as FakeDriver).injectFailure('finish_migration', 'disk grow failed', 1)
    }
    await admin.nova('POST', `/servers/${server.id}/action`, { resize: { flavorRef: SMALL } })
    const failed = await admin.waitStatus(server.id, ['ACTIVE', 'RESIZE'], '2.47')
    assert.equal(failed.status, 'ERROR')
    assert.match(failed.fault.message, /compute_finish_resize: disk grow failed/)
    assert.equal(failed['OS-EXT-SRV-ATTR:host'], source)
    assert.equal(failed.flavor.original_name, 'm1.tiny')
    const [m] = await migrationsOf(admin, server.id)
    assert.equal(m.status, 'error')
    assert.equal(cloud.compute().host(m.dest_compute).tracker.hasClaim(server.id), false)
    for (const h of cloud.compute().hosts) (h.driver as FakeDriver).clearFaults()
    await admin.deleteServer(server.id)
  })

  it('cold migrate (admin) moves to another host, or the 2.56 host; the own host is 400', async () => {
    const server = await boot(admin, cloud, 'mig')
    const source = server['OS-EXT-SRV-ATTR:host']
    const own = await admin.nova(
      'POST',
      `/servers/${server.id}/action`,
      { migrate: { host: source } },
      '2.56',
    )
    assert.equal(own.status, 400)
    assert.equal(own.body.badRequest.message, 'Cannot migrate to the host where the server exists.')
    const target = cloud
      .compute()
      .hosts.map((h) => h.host)
      .find((h) => h !== source)!
    const res = await admin.nova(
      'POST',
      `/servers/${server.id}/action`,
      { migrate: { host: target } },
      '2.56',
    )
    assert.equal(res.status, 202, JSON.stringify(res.body))
    const moved = await admin.waitStatus(server.id, ['ACTIVE', 'RESIZE'])
    assert.equal(moved.status, 'VERIFY_RESIZE')
    assert.equal(moved['OS-EXT-SRV-ATTR:host'], target)
    const [m] = await migrationsOf(admin, server.id)
    assert.equal(m.migration_type, 'migration')
    assert.equal(m.old_instance_type_id, m.new_instance_type_id)
    await admin.nova('POST', `/servers/${server.id}/action`, { confirmResize: null })
    assert.equal((await admin.waitStatus(server.id, ['VERIFY_RESIZE'])).status, 'ACTIVE')
    await admin.deleteServer(server.id)
  })

  it('/servers/{id}/migrations shows no cold moves and force_complete/delete answer as Nova', async () => {
    const server = await boot(admin, cloud, 'srv-mig')
    await admin.nova('POST', `/servers/${server.id}/action`, { migrate: null })
    await admin.waitStatus(server.id, ['ACTIVE', 'RESIZE'])
    const [m] = await migrationsOf(admin, server.id)
    const list = await admin.nova('GET', `/servers/${server.id}/migrations`, undefined, '2.23')
    assert.deepEqual(list.body, { migrations: [] })
    const show = await admin.nova('GET', `/servers/${server.id}/migrations/${m.id}`, undefined, '2.23')
    assert.equal(show.status, 404)
    assert.equal(
      show.body.itemNotFound.message,
      `Migration ${m.id} for server ${server.id} is not live-migration.`,
    )
    const force = await admin.nova(
      'POST',
      `/servers/${server.id}/migrations/${m.id}/action`,
      { force_complete: null },
      '2.22',
    )
    assert.equal(force.status, 409)
    const abort = await admin.nova('DELETE', `/servers/${server.id}/migrations/${m.id}`, undefined, '2.24')
    assert.equal(abort.status, 409)
    const before223 = await admin.nova('GET', `/servers/${server.id}/migrations`, undefined, '2.22')
    assert.equal(before223.status, 404)
    await admin.deleteServer(server.id)
  })

  it('os-migrations: fields per microversion, filters, paging, admins only', async () => {
    const v21 = (await admin.nova('GET', '/os-migrations')).body.migrations
    assert.ok(v21.length >= 3)
    assert.equal(v21[0].migration_type, undefined)
    assert.equal(v21[0].uuid, undefined)
    const v223 = (await admin.nova('GET', '/os-migrations', undefined, '2.23')).body.migrations
    assert.ok(v223[0].migration_type)
    const resizes = (await admin.nova('GET', '/os-migrations?migration_type=resize', undefined, '2.59')).body
    assert.ok(resizes.migrations.every((m: any) => m.migration_type === 'resize' && m.uuid))
    const page = await admin.nova('GET', '/os-migrations?limit=1', undefined, '2.59')
    assert.equal(page.body.migrations.length, 1)
    assert.match(page.body.migrations_links[0].href, /marker=/)
    const next = await admin.nova(
      'GET',
      `/os-migrations?limit=1&marker=${page.body.migrations[0].uuid}`,
      undefined,
      '2.59',
    )
    assert.notEqual(next.body.migrations[0].uuid, page.body.migrations[0].uuid)
    const badMarker = await admin.nova('GET', '/os-migrations?marker=nope', undefined, '2.59')
    assert.equal(badMarker.status, 400)
    const unknownParam = await admin.nova('GET', '/os-migrations?foo=1', undefined, '2.59')
    assert.equal(unknownParam.status, 400)
    const v280 = (await admin.nova('GET', `/os-migrations?project_id=${admin.projectId}`, undefined, '2.80'))
      .body
    assert.ok(v280.migrations.every((m: any) => m.project_id === admin.projectId && 'user_id' in m))
    const member = await cloud.newMember()
    assert.equal((await member.nova('GET', '/os-migrations')).status, 403)
  })

  it('auto-confirms a resize after resize_confirm_window_s', async () => {
    const c2 = await startComputeCloud({ hosts: 2, config: { 'compute.resize_confirm_window_s': '1' } })
    try {
      const server = await boot(c2.admin, c2, 'auto')
      await c2.admin.nova('POST', `/servers/${server.id}/action`, { resize: { flavorRef: SMALL } })
      assert.equal((await c2.admin.waitStatus(server.id, ['ACTIVE', 'RESIZE'])).status, 'VERIFY_RESIZE')
      await c2.conductor().runPeriodic('confirm_resizes')
      assert.equal((await c2.admin.waitStatus(server.id, ['ACTIVE', 'RESIZE'])).status, 'VERIFY_RESIZE')
      await new Promise((r) => setTimeout(r, 1_100))
      await c2.conductor().runPeriodic('confirm_resizes')
      assert.equal((await c2.admin.waitStatus(server.id, ['VERIFY_RESIZE'])).status, 'ACTIVE')
      const actions = (await c2.admin.nova('GET', `/servers/${server.id}/os-instance-actions`)).body
      assert.ok(actions.instanceActions.some((a: any) => a.action === 'confirmResize'))
    } finally {
      await c2.stop()
    }
  })

  it('with one host and allow_resize_to_same_host off: NoValidHost names the option, keeps the server ACTIVE', async () => {
    const c1 = await startComputeCloud({ hosts: 1, config: { 'compute.allow_resize_to_same_host': 'false' } })
    try {
      const server = await boot(c1.admin, c1, 'lonely')
      const res = await c1.admin.nova('POST', `/servers/${server.id}/action`, {
        resize: { flavorRef: SMALL },
      })
      assert.equal(res.status, 202)
      const [m] = await eventually(async () => {
        const ms = await migrationsOf(c1.admin, server.id)
        return ms[0]?.status === 'error' ? ms : undefined
      }, 'migration error')
      assert.equal(m.dest_compute, null)
      const after = await c1.admin.waitStatus(server.id, ['RESIZE'])
      assert.equal(after.status, 'ACTIVE')
      assert.equal(after['OS-EXT-STS:task_state'], null)
      const actions = (await c1.admin.nova('GET', `/servers/${server.id}/os-instance-actions`)).body
        .instanceActions
      const resize = actions.find((a: any) => a.action === 'resize')
      const detail = (
        await c1.admin.nova(
          'GET',
          `/servers/${server.id}/os-instance-actions/${resize.request_id}`,
          undefined,
          '2.84',
        )
      ).body
      const sched = detail.instanceAction.events.find((e: any) => e.event === 'scheduler_select_destinations')
      assert.equal(sched.result, 'Error')
      // The honest cause: the option kept the only host out, no earlier attempt failed.
      const record = JSON.parse(sched.details)
      assert.deepEqual(
        record.filters.map((f: any) => f.name),
        ['ExcludedHost'],
        'only the exclusion ran: the one host was left out before any real filter',
      )
      const expected =
        "No valid host was found. ExcludedHost rejected 1 of 1 host: the server's own host; " +
        'a resize may stay on its host only with [compute] allow_resize_to_same_host = true'
      assert.equal(record.failure, expected.replace('No valid host was found. ', ''))
      const conductor = detail.instanceAction.events.find((e: any) => e.event === 'conductor_migrate_server')
      assert.equal(conductor.details, expected)
      assert.doesNotMatch(conductor.details, /RetryFilter|earlier attempt/)
    } finally {
      await c1.stop()
    }
  })

  it('a destination whose claim does not fit sends the resize to another host, up to max_attempts', async () => {
    const c3 = await startComputeCloud({ hosts: 3, config: { 'compute.max_attempts': '2' } })
    try {
      const server = await boot(c3.admin, c3, 'resched')
      const source = server['OS-EXT-SRV-ATTR:host']
      const others = c3.compute().hosts.filter((h) => h.host !== source)
      // The scheduler still sees room (the last report); the hosts' own trackers do not.
      for (const h of others) {
        const node = (await h.driver.getAvailableNodes())[0]!
        h.tracker.setNode({ ...(await h.driver.getAvailableResource(node)), memoryMb: 600 })
      }
      await c3.admin.nova('POST', `/servers/${server.id}/action`, { resize: { flavorRef: SMALL } })
      const [m] = await eventually(async () => {
        const ms = await migrationsOf(c3.admin, server.id)
        return ms[0]?.status === 'error' ? ms : undefined
      }, 'migration error after the attempts')
      assert.equal(m.dest_compute, null)
      const after = await c3.admin.waitStatus(server.id, ['RESIZE'])
      assert.equal(after.status, 'ACTIVE')
      const actions = (await c3.admin.nova('GET', `/servers/${server.id}/os-instance-actions`)).body
      const resize = actions.instanceActions.find((a: any) => a.action === 'resize')
      const events = (
        await c3.admin.nova(
          'GET',
          `/servers/${server.id}/os-instance-actions/${resize.request_id}`,
          undefined,
          '2.84',
        )
      ).body.instanceAction.events
      const preps = events.filter((e: any) => e.event === 'compute_prep_resize')
      assert.ok(preps.length >= 1 && preps.every((e: any) => e.result === 'Error'), JSON.stringify(events))
      const conductor = events.filter((e: any) => e.event === 'conductor_migrate_server').at(-1)
      assert.equal(conductor.result, 'Error')
      assert.match(
        conductor.details,
        /^Exceeded maximum number of retries\. Exceeded max scheduling attempts 2 for instance .*Insufficient compute resources: Free memory/,
      )
      for (const h of others) assert.equal(h.tracker.hasClaim(server.id), false)
      // One host fits again: the move goes there, whichever the scheduler tries first.
      const fits = others[1]!
      await fits.updateResources()
      await c3.admin.nova('POST', `/servers/${server.id}/action`, { resize: { flavorRef: SMALL } })
      const resized = await c3.admin.waitStatus(server.id, ['ACTIVE', 'RESIZE'])
      assert.equal(resized.status, 'VERIFY_RESIZE')
      assert.equal(resized['OS-EXT-SRV-ATTR:host'], fits.host)
    } finally {
      await c3.stop()
    }
  })

  it('allow_resize_to_same_host: a resize on one host holds both flavors until confirm or revert', async () => {
    const c1 = await startComputeCloud({
      hosts: 1,
      config: { 'compute.allow_resize_to_same_host': 'true', 'compute.allow_migrate_to_same_host': 'false' },
    })
    try {
      const host = c1.compute().hosts[0]!
      const server = await boot(c1.admin, c1, 'same-host')
      await c1.admin.nova('POST', `/servers/${server.id}/action`, { resize: { flavorRef: SMALL } })
      const resized = await c1.admin.waitStatus(server.id, ['ACTIVE', 'RESIZE'], '2.47')
      assert.equal(resized.status, 'VERIFY_RESIZE')
      assert.equal(resized['OS-EXT-SRV-ATTR:host'], host.host)
      const [m] = await migrationsOf(c1.admin, server.id)
      assert.equal(host.tracker.hasClaim(server.id), true)
      assert.equal(host.tracker.hasClaim(`migration:${m.uuid}`), true)
      const used = (r: ReturnType<typeof host.tracker.reports>) => r[0]!.memoryMbUsed
      const reserved = 512
      assert.equal(used(host.tracker.reports()), reserved + 512 + 2048)
      await c1.admin.nova('POST', `/servers/${server.id}/action`, { revertResize: null })
      const back = await c1.admin.waitStatus(server.id, ['VERIFY_RESIZE', 'REVERT_RESIZE'], '2.47')
      assert.equal(back.status, 'ACTIVE')
      assert.equal(back.flavor.original_name, 'm1.tiny')
      assert.equal(used(host.tracker.reports()), reserved + 512)
      assert.deepEqual((host.driver as FakeDriver).guestFlavor(server.id), {
        vcpus: 1,
        memoryMb: 512,
        rootGb: 1,
      })
      await c1.admin.nova('POST', `/servers/${server.id}/action`, { resize: { flavorRef: SMALL } })
      assert.equal((await c1.admin.waitStatus(server.id, ['ACTIVE', 'RESIZE'])).status, 'VERIFY_RESIZE')
      await c1.admin.nova('POST', `/servers/${server.id}/action`, { confirmResize: null })
      assert.equal((await c1.admin.waitStatus(server.id, ['VERIFY_RESIZE'])).status, 'ACTIVE')
      await eventually(
        async () => (used(host.tracker.reports()) === reserved + 2048 ? true : undefined),
        'only the new flavor claimed',
      )
      assert.equal((host.driver as FakeDriver).resizedCount, 0)
      // A cold migration stays on its host only with allow_migrate_to_same_host, set off here.
      const migrate = await c1.admin.nova('POST', `/servers/${server.id}/action`, { migrate: null })
      assert.equal(migrate.status, 202)
      const [last] = await eventually(async () => {
        const ms = await migrationsOf(c1.admin, server.id)
        return ms[0]?.migration_type === 'migration' && ms[0].status === 'error' ? ms : undefined
      }, 'cold migration refused a place on its own host')
      assert.equal(last.dest_compute, null)
      const actions = (await c1.admin.nova('GET', `/servers/${server.id}/os-instance-actions`)).body
        .instanceActions
      const migrateAction = actions.find((a: any) => a.action === 'migrate')
      const events = (
        await c1.admin.nova(
          'GET',
          `/servers/${server.id}/os-instance-actions/${migrateAction.request_id}`,
          undefined,
          '2.84',
        )
      ).body.instanceAction.events
      const conductor = events.find((e: any) => e.event === 'conductor_migrate_server')
      assert.match(conductor.details, /allow_migrate_to_same_host = true$/)
    } finally {
      await c1.stop()
    }
  })

  it('evacuate with no other host: the fault names the evacuated host and the real filter, not RetryFilter', async () => {
    const c2 = await startComputeCloud({ hosts: 2 })
    try {
      const server = await boot(c2.admin, c2, 'evac-nowhere')
      const source = server['OS-EXT-SRV-ATTR:host']
      const other = c2.compute().hosts.find((h) => h.host !== source)!.host
      const services = (await c2.admin.nova('GET', '/os-services?binary=nova-compute', undefined, '2.53'))
        .body.services
      const idOf = (host: string) => services.find((s: any) => s.host === host).id
      const set = async (host: string, body: unknown) => {
        const res = await c2.admin.nova('PUT', `/os-services/${idOf(host)}`, body, '2.53')
        assert.equal(res.status, 200, JSON.stringify(res.body))
      }
      await set(source, { forced_down: true })
      await set(other, { status: 'disabled', disabled_reason: 'maintenance' })
      const res = await c2.admin.nova('POST', `/servers/${server.id}/action`, { evacuate: {} }, '2.68')
      assert.equal(res.status, 200, JSON.stringify(res.body))
      const failed = await eventually(async () => {
        const s = (await c2.admin.nova('GET', `/servers/${server.id}`)).body.server
        return s.status === 'ERROR' ? s : undefined
      }, 'evacuation failed to ERROR')
      assert.match(
        failed.fault.message,
        /^No valid host was found\. ExcludedHost rejected 1 of 2 hosts: the host being evacuated; ComputeFilter rejected 1 of 1 host/,
      )
      assert.doesNotMatch(failed.fault.message, /RetryFilter|earlier attempt/)
    } finally {
      await c2.stop()
    }
  })

  it('evacuate: 400 while the source service is up; after forced down the server is rebuilt elsewhere', async () => {
    const server = await boot(admin, cloud, 'evac')
    const source = server['OS-EXT-SRV-ATTR:host']
    const up = await admin.nova('POST', `/servers/${server.id}/action`, { evacuate: {} }, '2.68')
    assert.equal(up.status, 400)
    assert.equal(up.body.badRequest.message, `Compute service of ${source} is still in use.`)
    const svc = (
      await admin.nova('GET', `/os-services?binary=nova-compute&host=${source}`, undefined, '2.53')
    ).body.services[0]
    const down = await admin.nova('PUT', `/os-services/${svc.id}`, { forced_down: true }, '2.53')
    assert.equal(down.status, 200, JSON.stringify(down.body))
    try {
      const same = await admin.nova(
        'POST',
        `/servers/${server.id}/action`,
        { evacuate: { host: source } },
        '2.68',
      )
      assert.equal(same.status, 400)
      const act = (body: unknown, mv: string) => admin.nova('POST', `/servers/${server.id}/action`, body, mv)
      const forceNoHost = await act({ evacuate: { force: true } }, '2.29')
      assert.equal(forceNoHost.status, 400)
      assert.equal(forceNoHost.body.badRequest.message, "Can't force to a non-provided destination")
      assert.equal((await act({ evacuate: { force: true } }, '2.68')).status, 400, 'no force from 2.68')
      const unknownHost = await act({ evacuate: { host: 'nope' } }, '2.68')
      assert.equal(unknownHost.status, 404)
      assert.equal(unknownHost.body.itemNotFound.message, 'Compute host nope not found.')
      const old = await admin.nova(
        'POST',
        `/servers/${server.id}/action`,
        { evacuate: { onSharedStorage: false } },
        '2.1',
      )
      assert.equal(old.status, 200, JSON.stringify(old.body))
      assert.equal(typeof old.body.adminPass, 'string')
      const rebuilt = await admin.waitStatus(
        server.id,
        ['REBUILD', 'ACTIVE'].filter((s) => s === 'REBUILD'),
      )
      assert.equal(rebuilt.status, 'ACTIVE')
      assert.notEqual(rebuilt['OS-EXT-SRV-ATTR:host'], source)
      assert.equal(rebuilt.id, server.id)
      const [m] = await migrationsOf(admin, server.id)
      assert.equal(m.migration_type, 'evacuation')
      assert.equal(m.status, 'done')
      assert.equal(cloud.compute().host(rebuilt['OS-EXT-SRV-ATTR:host']).tracker.hasClaim(server.id), true)
      // The old host, when its service starts again, destroys its stale guest (Nova's _destroy_evacuated_instances).
      const stale = cloud.compute().host(source)
      assert.ok((await stale.driver.listInstances()).includes(server.id))
      assert.equal(await stale.moves.destroyEvacuatedInstances(adminContext()), 1)
      assert.ok(!(await stale.driver.listInstances()).includes(server.id))
      assert.equal(stale.tracker.hasClaim(server.id), false)
      assert.equal((await migrationsOf(admin, server.id))[0].status, 'completed')
      assert.equal(await stale.moves.destroyEvacuatedInstances(adminContext()), 0)
    } finally {
      await admin.nova('PUT', `/os-services/${svc.id}`, { forced_down: false }, '2.53')
    }
    await admin.deleteServer(server.id)
  })
})
