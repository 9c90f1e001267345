import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startComputeCloud, type Caller, type ComputeCloud } from './helpers.ts'

describe('compute: quotas and limits', () => {
  let cloud: ComputeCloud
  let admin: Caller
  let member: Caller

  before(async () => {
    cloud = await startComputeCloud()
    admin = cloud.admin
    member = await cloud.newMember()
  })
  after(() => cloud?.stop())

  it('shows defaults and the project quota with the fields of each microversion', async () => {
    const v21 = (await member.nova('GET', `/os-quota-sets/${member.projectId}`)).body.quota_set
    assert.equal(v21.id, member.projectId)
    assert.equal(v21.instances, 10)
    assert.equal(v21.cores, 20)
    assert.equal(v21.ram, 51_200)
    assert.equal(v21.floating_ips, -1)
    assert.equal(v21.injected_files, 5)
    const v257 = (await member.nova('GET', `/os-quota-sets/${member.projectId}`, undefined, '2.57')).body
      .quota_set
    assert.deepEqual(Object.keys(v257).sort(), [
      'cores',
      'id',
      'instances',
      'key_pairs',
      'metadata_items',
      'ram',
      'server_group_members',
      'server_groups',
    ])
    const defaults = await member.nova(
      'GET',
      `/os-quota-sets/${member.projectId}/defaults`,
      undefined,
      '2.36',
    )
    assert.equal(defaults.body.quota_set.floating_ips, undefined)
    assert.equal(defaults.body.quota_set.injected_files, 5)
    const other = await member.nova('GET', `/os-quota-sets/${admin.projectId}`)
    assert.equal(other.status, 403)
  })

  it('counts usage from the servers themselves (limits and quota detail)', async () => {
    const id = await member.createServer({ name: 'counted', imageRef: cloud.imageId, flavorRef: '2' })
    await member.waitStatus(id)
    const limits = (await member.nova('GET', '/limits')).body.limits
    assert.deepEqual(limits.rate, [])
    assert.equal(limits.absolute.totalInstancesUsed, 1)
    assert.equal(limits.absolute.totalCoresUsed, 1)
    assert.equal(limits.absolute.totalRAMUsed, 2048)
    assert.equal(limits.absolute.maxTotalInstances, 10)
    assert.equal(limits.absolute.maxImageMeta, 128)
    assert.equal(limits.absolute.maxPersonality, 5)
    const v257 = (await member.nova('GET', '/limits', undefined, '2.57')).body.limits.absolute
    assert.equal(v257.maxImageMeta, undefined)
    assert.equal(v257.maxPersonality, undefined)
    assert.equal(v257.maxTotalFloatingIps, undefined)
    const detail = (await member.nova('GET', `/os-quota-sets/${member.projectId}/detail`)).body.quota_set
    assert.deepEqual(detail.instances, { limit: 10, in_use: 1, reserved: 0 })
    assert.deepEqual(detail.ram, { limit: 51_200, in_use: 2048, reserved: 0 })
    const forOther = await admin.nova('GET', `/limits?tenant_id=${member.projectId}`)
    assert.equal(forOther.body.limits.absolute.totalInstancesUsed, 1)
    assert.equal((await member.nova('GET', `/limits?tenant_id=${admin.projectId}`)).status, 403)
    await member.deleteServer(id)
    assert.equal((await member.nova('GET', '/limits')).body.limits.absolute.totalInstancesUsed, 0)
  })

  it('lets admins set quotas, refusing limits below what is used', async () => {
    const caller = await cloud.newMember()
    assert.equal(
      (await caller.nova('PUT', `/os-quota-sets/${caller.projectId}`, { quota_set: { instances: 5 } }))
        .status,
      403,
    )
    const set = await admin.nova('PUT', `/os-quota-sets/${caller.projectId}`, {
      quota_set: { instances: 2, cores: '4' },
    })
    assert.equal(set.status, 200)
    assert.equal(set.body.quota_set.instances, 2)
    assert.equal(set.body.quota_set.cores, 4)
    assert.equal(set.body.quota_set.id, undefined)
    const id = await caller.createServer({ name: 'one', imageRef: cloud.imageId, flavorRef: '1' })
    await caller.waitStatus(id)
    const below = await admin.nova('PUT', `/os-quota-sets/${caller.projectId}`, {
      quota_set: { instances: 0 },
    })
    assert.equal(below.status, 400)
    assert.equal(
      below.body.badRequest.message,
      'Quota limit 0 for instances must be greater than or equal to already used and reserved 1.',
    )
    const forced = await admin.nova('PUT', `/os-quota-sets/${caller.projectId}`, {
      quota_set: { instances: 1, force: true },
    })
    assert.equal(forced.body.quota_set.instances, 1)
    const over = await caller.nova(
      'POST',
      '/servers',
      { server: { name: 'two', imageRef: cloud.imageId, flavorRef: '1', networks: 'none' } },
      '2.37',
    )
    assert.equal(over.status, 403)
    assert.equal(
      over.body.forbidden.message,
      'Quota exceeded for instances: Requested 1, but already used 1 of 1 instances',
    )
    assert.equal((await admin.nova('DELETE', `/os-quota-sets/${caller.projectId}`)).status, 202)
    assert.equal(
      (await caller.nova('GET', `/os-quota-sets/${caller.projectId}`)).body.quota_set.instances,
      10,
    )
    await caller.deleteServer(id)
  })

  it('never lets concurrent creates exceed the quota', async () => {
    const caller = await cloud.newMember()
    await admin.nova('PUT', `/os-quota-sets/${caller.projectId}`, { quota_set: { instances: 3 } })
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        caller.nova(
          'POST',
          '/servers',
          { server: { name: `q-${i}`, imageRef: cloud.imageId, flavorRef: '1', networks: 'none' } },
          '2.37',
        ),
      ),
    )
    const accepted = results.filter((r) => r.status === 202)
    const refused = results.filter((r) => r.status === 403)
    assert.equal(accepted.length, 3)
    assert.equal(refused.length, 5)
    for (const r of accepted) await caller.waitStatus(r.body.server.id)
    for (const r of accepted) await caller.deleteServer(r.body.server.id)
  })

  it('creates as many as fit between min_count and max_count, and refuses when min_count does not fit', async () => {
    const caller = await cloud.newMember()
    await admin.nova('PUT', `/os-quota-sets/${caller.projectId}`, { quota_set: { instances: 3 } })
    const res = await caller.nova(
      'POST',
      '/servers',
      {
        server: {
          name: 'm',
          imageRef: cloud.imageId,
          flavorRef: '1',
          networks: 'none',
          min_count: 2,
          max_count: 5,
          return_reservation_id: true,
        },
      },
      '2.37',
    )
    assert.equal(res.status, 202)
    const list = await caller.nova('GET', `/servers?reservation_id=${res.body.reservation_id}`)
    assert.equal(list.body.servers.length, 3)
    const none = await caller.nova(
      'POST',
      '/servers',
      { server: { name: 'n', imageRef: cloud.imageId, flavorRef: '1', networks: 'none', min_count: 2 } },
      '2.37',
    )
    assert.equal(none.status, 403)
    for (const s of list.body.servers) await caller.waitStatus(s.id)
    for (const s of list.body.servers) await caller.deleteServer(s.id)
  })

  it('quota class default replaces the configured defaults; other classes are only stored', async () => {
    const caller = await cloud.newMember()
    assert.equal((await caller.nova('GET', '/os-quota-class-sets/default')).status, 403)
    const v21 = (await admin.nova('GET', '/os-quota-class-sets/default')).body.quota_class_set
    assert.equal(v21.id, 'default')
    assert.equal(v21.instances, 10)
    assert.equal(v21.server_groups, undefined, 'before 2.50 quota classes leave out server groups')
    assert.equal(v21.floating_ips, -1)
    const v250 = (await admin.nova('GET', '/os-quota-class-sets/default', undefined, '2.50')).body
    assert.equal(v250.quota_class_set.server_groups, 10)
    assert.equal(v250.quota_class_set.floating_ips, undefined)
    const bad = await admin.nova(
      'PUT',
      '/os-quota-class-sets/default',
      { quota_class_set: { fixed_ips: 1 } },
      '2.50',
    )
    assert.equal(bad.status, 400)
    const set = await admin.nova('PUT', '/os-quota-class-sets/default', {
      quota_class_set: { instances: 7, cores: '9' },
    })
    assert.equal(set.status, 200)
    assert.equal(set.body.quota_class_set.id, undefined)
    assert.equal(set.body.quota_class_set.instances, 7)
    assert.equal(set.body.quota_class_set.cores, 9)
    try {
      const defaults = (await caller.nova('GET', `/os-quota-sets/${caller.projectId}/defaults`)).body
        .quota_set
      assert.equal(defaults.instances, 7)
      const own = (await caller.nova('GET', `/os-quota-sets/${caller.projectId}`)).body.quota_set
      assert.equal(own.cores, 9)
      assert.equal((await caller.nova('GET', '/limits')).body.limits.absolute.maxTotalInstances, 7)
      await admin.nova('PUT', '/os-quota-class-sets/gold', { quota_class_set: { instances: 50 } })
      assert.equal((await admin.nova('GET', '/os-quota-class-sets/gold')).body.quota_class_set.instances, 50)
      assert.equal(
        (await caller.nova('GET', `/os-quota-sets/${caller.projectId}`)).body.quota_set.instances,
        7,
      )
    } finally {
      await admin.nova('PUT', '/os-quota-class-sets/default', {
        quota_class_set: { instances: 10, cores: 20 },
      })
    }
  })
})
