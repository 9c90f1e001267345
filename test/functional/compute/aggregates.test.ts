import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { FakeDriver } from '../../../src/compute/virt/fake/driver.ts'
import { startComputeCloud, type Caller, type ComputeCloud } from './helpers.ts'

describe('compute: host aggregates and availability zones', () => {
  let cloud: ComputeCloud
  let admin: Caller
  let member: Caller
  let hosts: string[]

  before(async () => {
    cloud = await startComputeCloud({ hosts: 2 })
    admin = cloud.admin
    member = await cloud.newMember()
    const services = (await admin.nova('GET', '/os-services?binary=nova-compute')).body.services
    hosts = services.map((s: { host: string }) => s.host).sort()
  })
  after(() => cloud?.stop())

  const action = (id: number, body: unknown, mv?: string) =>
    admin.nova('POST', `/os-aggregates/${id}/action`, body, mv)

  it('creates, lists, shows, renames and deletes aggregates as Nova answers', async () => {
    const created = await admin.nova('POST', '/os-aggregates', { aggregate: { name: 'agg-crud' } }, '2.41')
    assert.equal(created.status, 200)
    const agg = created.body.aggregate
    assert.equal(agg.name, 'agg-crud')
    assert.equal(agg.availability_zone, null)
    assert.equal(agg.deleted, false)
    assert.equal(agg.deleted_at, null)
    assert.match(agg.uuid, /^[0-9a-f-]{36}$/)
    assert.match(agg.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/)
    assert.equal(agg.hosts, undefined, 'create answers without hosts and metadata')
    assert.equal(agg.metadata, undefined)
    const dup = await admin.nova('POST', '/os-aggregates', { aggregate: { name: 'agg-crud' } })
    assert.equal(dup.status, 409)
    assert.equal(dup.body.conflictingRequest.message, 'Aggregate agg-crud already exists.')
    const shown = (await admin.nova('GET', `/os-aggregates/${agg.id}`)).body.aggregate
    assert.deepEqual(shown.hosts, [])
    assert.deepEqual(shown.metadata, {})
    assert.equal(shown.uuid, undefined, 'uuid only from 2.41')
    const listed = (await admin.nova('GET', '/os-aggregates')).body.aggregates
    assert.ok(listed.some((a: { id: number }) => a.id === agg.id))
    const bad = await admin.nova('GET', '/os-aggregates/abc')
    assert.equal(bad.status, 400)
    assert.equal(bad.body.badRequest.message, 'Invalid input received: id must be an integer')
    const missing = await admin.nova('GET', '/os-aggregates/999999')
    assert.equal(missing.status, 404)
    assert.equal(missing.body.itemNotFound.message, 'Aggregate 999999 could not be found.')
    const renamed = await admin.nova('PUT', `/os-aggregates/${agg.id}`, {
      aggregate: { name: 'agg-renamed', availability_zone: 'az-crud' },
    })
    assert.equal(renamed.status, 200)
    assert.equal(renamed.body.aggregate.name, 'agg-renamed')
    assert.equal(renamed.body.aggregate.availability_zone, 'az-crud')
    assert.deepEqual(renamed.body.aggregate.metadata, { availability_zone: 'az-crud' })
    const empty = await admin.nova('PUT', `/os-aggregates/${agg.id}`, { aggregate: {} })
    assert.equal(empty.status, 400)
    const noZone = await admin.nova('PUT', `/os-aggregates/${agg.id}`, {
      aggregate: { availability_zone: null },
    })
    assert.equal(noZone.status, 400)
    assert.equal(
      noZone.body.badRequest.message,
      `Cannot update aggregate ${agg.id}. Reason: Aggregate agg-renamed does not support empty named availability zone.`,
    )
    assert.equal((await member.nova('GET', '/os-aggregates')).status, 403)
    assert.equal((await member.nova('POST', '/os-aggregates', { aggregate: { name: 'x' } })).status, 403)
    const del = await admin.nova('DELETE', `/os-aggregates/${agg.id}`)
    assert.equal(del.status, 200)
    assert.equal((await admin.nova('DELETE', `/os-aggregates/${agg.id}`)).status, 404)
  })

  it('adds and removes hosts, merges metadata, and keeps a host in one zone', async () => {
    const a = (
      await admin.nova('POST', '/os-aggregates', { aggregate: { name: 'agg-a', availability_zone: 'az-a' } })
    ).body.aggregate
    const b = (
      await admin.nova('POST', '/os-aggregates', { aggregate: { name: 'agg-b', availability_zone: 'az-b' } })
    ).body.aggregate
    const unknown = await action(a.id, { add_host: { host: 'no-such-host' } })
    assert.equal(unknown.status, 404)
    assert.equal(unknown.body.itemNotFound.message, 'Compute host no-such-host could not be found.')
    const added = await action(a.id, { add_host: { host: hosts[0] } }, '2.41')
    assert.equal(added.status, 200)
    assert.deepEqual(added.body.aggregate.hosts, [hosts[0]])
    assert.equal(added.body.aggregate.uuid, a.uuid ?? added.body.aggregate.uuid)
    const again = await action(a.id, { add_host: { host: hosts[0] } })
    assert.equal(again.status, 409)
    assert.equal(again.body.conflictingRequest.message, `Aggregate ${a.id} already has host ${hosts[0]}.`)
    const twoZones = await action(b.id, { add_host: { host: hosts[0] } })
    assert.equal(twoZones.status, 409)
    assert.equal(
      twoZones.body.conflictingRequest.message,
      `Cannot add host to aggregate ${b.id}. Reason: One or more hosts already in availability zone(s) ['az-a'].`,
    )
    // A zone-less aggregate may share hosts with a zone.
    const plain = (await admin.nova('POST', '/os-aggregates', { aggregate: { name: 'agg-plain' } })).body
      .aggregate
    assert.equal((await action(plain.id, { add_host: { host: hosts[0] } })).status, 200)
    const setZone = await action(plain.id, { set_metadata: { metadata: { availability_zone: 'az-other' } } })
    assert.equal(setZone.status, 400)
    assert.match(
      setZone.body.badRequest.message,
      /^Cannot update metadata of aggregate \d+\. Reason: One or more hosts/,
    )
    const meta = await action(a.id, { set_metadata: { metadata: { ssd: 'true', gpu: 'no' } } })
    assert.equal(meta.status, 200)
    assert.deepEqual(meta.body.aggregate.metadata, { availability_zone: 'az-a', gpu: 'no', ssd: 'true' })
    const unset = await action(a.id, { set_metadata: { metadata: { gpu: null } } })
    assert.deepEqual(unset.body.aggregate.metadata, { availability_zone: 'az-a', ssd: 'true' })
    const badKey = await action(a.id, { set_metadata: { metadata: { 'bad/key': 'x' } } })
    assert.equal(badKey.status, 400)
    const unknownAction = await action(a.id, { frobnicate: {} })
    assert.equal(unknownAction.status, 400)

    // The zone shows in os-availability-zone and os-services.
    const zones = (await admin.nova('GET', '/os-availability-zone/detail')).body.availabilityZoneInfo
    const azA = zones.find((z: { zoneName: string }) => z.zoneName === 'az-a')
    assert.deepEqual(Object.keys(azA.hosts), [hosts[0]])
    const names = (await member.nova('GET', '/os-availability-zone')).body.availabilityZoneInfo.map(
      (z: { zoneName: string }) => z.zoneName,
    )
    assert.deepEqual(names.sort(), ['az-a', 'nova'])
    const services = (await admin.nova('GET', '/os-services?binary=nova-compute')).body.services
    assert.equal(services.find((s: { host: string }) => s.host === hosts[0]).zone, 'az-a')
    assert.equal(services.find((s: { host: string }) => s.host === hosts[1]).zone, 'nova')

    // Not empty: no delete. Removing a host it lacks is a 404.
    const notEmpty = await admin.nova('DELETE', `/os-aggregates/${a.id}`)
    assert.equal(notEmpty.status, 400)
    assert.equal(
      notEmpty.body.badRequest.message,
      `Cannot remove host from aggregate ${a.id}. Reason: Host aggregate is not empty.`,
    )
    for (const agg of [a, plain]) {
      assert.equal((await action(agg.id, { remove_host: { host: hosts[0] } })).status, 200)
    }
    const notThere = await action(a.id, { remove_host: { host: hosts[0] } })
    assert.equal(notThere.status, 404)
    assert.equal(notThere.body.itemNotFound.message, `Cannot remove host ${hosts[0]} in aggregate ${a.id}`)
    for (const agg of [a, b, plain])
      assert.equal((await admin.nova('DELETE', `/os-aggregates/${agg.id}`)).status, 200)
  })

  it('schedules into an aggregate zone and refuses to move a zone under running servers', async () => {
    const z = (
      await admin.nova('POST', '/os-aggregates', { aggregate: { name: 'agg-z', availability_zone: 'az-z' } })
    ).body.aggregate
    assert.equal((await action(z.id, { add_host: { host: hosts[1] } })).status, 200)
    const ids: string[] = []
    for (let i = 0; i < 3; i++) {
      ids.push(
        await member.createServer({
          name: `in-az-${i}`,
          flavorRef: '1',
          imageRef: cloud.imageId,
          availability_zone: 'az-z',
        }),
      )
    }
    for (const id of ids) {
      const server = await member.waitStatus(id)
      assert.equal(server.status, 'ACTIVE')
      assert.equal(server['OS-EXT-AZ:availability_zone'], 'az-z')
      const full = (await admin.nova('GET', `/servers/${id}`)).body.server
      assert.equal(full['OS-EXT-SRV-ATTR:host'], hosts[1])
    }
    // No zone asked: the server takes its host's zone.
    const free = await member.waitStatus(
      await member.createServer({ name: 'no-az', flavorRef: '1', imageRef: cloud.imageId }),
    )
    const freeHost = (await admin.nova('GET', `/servers/${free.id}`)).body.server['OS-EXT-SRV-ATTR:host']
    assert.equal(free['OS-EXT-AZ:availability_zone'], freeHost === hosts[1] ? 'az-z' : 'nova')
    const unknownZone = await member.nova(
      'POST',
      '/servers',
      {
        server: {
          name: 'x',
          flavorRef: '1',
          imageRef: cloud.imageId,
          networks: 'none',
          availability_zone: 'az-none',
        },
      },
      '2.37',
    )
    assert.equal(unknownZone.status, 400)
    assert.equal(unknownZone.body.badRequest.message, 'The requested availability zone is not available')
    const move = await action(z.id, { set_metadata: { metadata: { availability_zone: 'az-moved' } } })
    assert.equal(move.status, 400)
    assert.equal(
      move.body.badRequest.message,
      `Cannot update metadata of aggregate ${z.id}. Reason: One or more hosts contain instances in this zone.`,
    )
    for (const id of [...ids, free.id]) await member.deleteServer(id)
    assert.equal((await action(z.id, { remove_host: { host: hosts[1] } })).status, 200)
    assert.equal((await admin.nova('DELETE', `/os-aggregates/${z.id}`)).status, 200)
  })

  it("gives a server placed without a zone its host's aggregate zone, config drive included", async () => {
    const agg = (
      await admin.nova('POST', '/os-aggregates', {
        aggregate: { name: 'agg-cd', availability_zone: 'az-cd' },
      })
    ).body.aggregate
    assert.equal((await action(agg.id, { add_host: { host: hosts[0] } })).status, 200)
    const res = await admin.nova(
      'POST',
      '/servers',
      {
        server: {
          name: 'cd',
          flavorRef: '1',
          imageRef: cloud.imageId,
          networks: 'none',
          config_drive: true,
          host: hosts[0],
        },
      },
      '2.74',
    )
    assert.equal(res.status, 202, JSON.stringify(res.body))
    const server = await admin.waitStatus(res.body.server.id)
    assert.equal(server.status, 'ACTIVE')
    assert.equal(server['OS-EXT-AZ:availability_zone'], 'az-cd')
    const host = cloud.compute().hosts.find((h) => h.host === hosts[0])!
    const files = (host.driver as FakeDriver).configDriveOf(server.id)!
    const md = files.find((f) => f.path === 'openstack/latest/meta_data.json')!
    assert.equal(JSON.parse(md.content.toString()).availability_zone, 'az-cd')
    await admin.deleteServer(server.id)
    assert.equal((await action(agg.id, { remove_host: { host: hosts[0] } })).status, 200)
    assert.equal((await admin.nova('DELETE', `/os-aggregates/${agg.id}`)).status, 200)
  })

  it('takes a deleted compute service out of its aggregates, as Nova', async () => {
    const agg = (await admin.nova('POST', '/os-aggregates', { aggregate: { name: 'agg-svc' } })).body
      .aggregate
    assert.equal((await action(agg.id, { add_host: { host: hosts[1] } })).status, 200)
    const services = (await admin.nova('GET', '/os-services?binary=nova-compute', undefined, '2.53')).body
      .services
    const svc = services.find((s: { host: string }) => s.host === hosts[1])
    assert.equal((await admin.nova('DELETE', `/os-services/${svc.id}`, undefined, '2.53')).status, 204)
    assert.deepEqual((await admin.nova('GET', `/os-aggregates/${agg.id}`)).body.aggregate.hosts, [])
    assert.equal((await admin.nova('DELETE', `/os-aggregates/${agg.id}`)).status, 200)
  })
})
