import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { COMPUTE_MAX_MICROVERSION } from '../../../src/compute/api/microversions.ts'
import { createNetwork, eventually, startComputeCloud, type Caller, type ComputeCloud } from './helpers.ts'

describe('compute: servers', () => {
  let cloud: ComputeCloud
  let admin: Caller
  let member: Caller

  before(async () => {
    cloud = await startComputeCloud({ hosts: 2 })
    admin = cloud.admin
    member = await cloud.newMember()
    // `networks: auto` finds the member project's only network.
    await createNetwork(cloud, member, 'private')
  })
  after(() => cloud?.stop())

  describe('microversions', () => {
    it('answers with the negotiated version headers', async () => {
      const res = await member.nova('GET', '/servers', undefined, '2.37')
      assert.equal(res.status, 200)
      assert.equal(res.headers.get('openstack-api-version'), 'compute 2.37')
      assert.equal(res.headers.get('x-openstack-nova-api-version'), '2.37')
      assert.match(res.headers.get('vary') ?? '', /OpenStack-API-Version/)
    })

    it('takes latest and refuses versions outside the range with 406', async () => {
      const latest = await member.nova('GET', '/servers', undefined, 'latest')
      assert.equal(latest.headers.get('openstack-api-version'), `compute ${COMPUTE_MAX_MICROVERSION}`)
      const res = await member.nova('GET', '/servers', undefined, '2.1000')
      assert.equal(res.status, 406)
      assert.equal(
        res.body.computeFault?.message ??
          res.body.notAcceptable?.message ??
          Object.values(res.body as object)[0].message,
        `Version 2.1000 is not supported by the API. Minimum is 2.1 and maximum is ${COMPUTE_MAX_MICROVERSION}.`,
      )
    })

    it('answers 400 for a malformed version', async () => {
      const res = await member.nova('GET', '/servers', undefined, '2.x')
      assert.equal(res.status, 400)
      assert.match(res.body.badRequest.message, /is of invalid format/)
    })
  })

  describe('create', () => {
    it('boots to ACTIVE with an address, a host and the build timeline', async () => {
      const id = await member.createServer({
        name: 'vm-active',
        imageRef: cloud.imageId,
        flavorRef: '1',
        networks: 'auto',
      })
      const server = await member.waitStatus(id, ['BUILD'], '2.47')
      assert.equal(server.status, 'ACTIVE')
      assert.equal(server['OS-EXT-STS:vm_state'], 'active')
      assert.equal(server['OS-EXT-STS:task_state'], null)
      assert.equal(server['OS-EXT-STS:power_state'], 1)
      assert.equal(server['OS-EXT-AZ:availability_zone'], 'nova')
      assert.equal(server.flavor.original_name, 'm1.tiny')
      assert.equal(server.flavor.ram, 512)
      assert.equal(server['OS-EXT-SRV-ATTR:host'], undefined, 'extended attributes are for admins')
      assert.ok(server.hostId.length > 0)
      const [ip] = server.addresses.private
      assert.match(ip.addr, /^192\.0\.2\./)
      assert.equal(ip['OS-EXT-IPS:type'], 'fixed')
      assert.match(ip['OS-EXT-IPS-MAC:mac_addr'], /^fa:16:3e:/)
      const asAdmin = (await admin.nova('GET', `/servers/${id}`, undefined, '2.3')).body.server
      assert.match(asAdmin['OS-EXT-SRV-ATTR:host'], /-[12]$/)
      assert.equal(asAdmin['OS-EXT-SRV-ATTR:hostname'], 'vm-active')
      const actions = (await member.nova('GET', `/servers/${id}/os-instance-actions`)).body.instanceActions
      assert.equal(actions.length, 1)
      assert.equal(actions[0].action, 'create')
      const shown = await admin.nova(
        'GET',
        `/servers/${id}/os-instance-actions/${actions[0].request_id}`,
        undefined,
        '2.84',
      )
      const events = shown.body.instanceAction.events.map((e: { event: string; result: string }) => [
        e.event,
        e.result,
      ])
      for (const name of [
        'conductor_schedule_and_build_instances',
        'scheduler_select_destinations',
        'compute__do_build_and_run_instance',
        'compute_claim_resources',
        'compute_allocate_network',
        'compute_prepare_image',
        'compute_block_device_mapping',
        'compute_spawn',
      ]) {
        assert.deepEqual(
          events.find((e: string[]) => e[0] === name),
          [name, 'Success'],
          name,
        )
      }
      const select = shown.body.instanceAction.events.find(
        (e: { event: string }) => e.event === 'scheduler_select_destinations',
      )
      assert.deepEqual(JSON.parse(select.details).chosen, [asAdmin['OS-EXT-SRV-ATTR:host']])
      const asMember = await member.nova(
        'GET',
        `/servers/${id}/os-instance-actions/${actions[0].request_id}`,
        undefined,
        '2.84',
      )
      assert.equal(asMember.body.instanceAction.events[0].details, undefined, 'details are for admins')
      assert.equal(asMember.body.instanceAction.events[0].traceback, undefined)
      await member.deleteServer(id)
    })

    it('answers 202 with adminPass, links, a Location and the default security group', async () => {
      const res = await member.nova(
        'POST',
        '/servers',
        { server: { name: 'vm-created', imageRef: cloud.imageId, flavorRef: '1', networks: 'none' } },
        '2.37',
      )
      assert.equal(res.status, 202)
      assert.equal(typeof res.body.server.adminPass, 'string')
      assert.deepEqual(res.body.server.security_groups, [{ name: 'default' }])
      assert.equal(res.headers.get('location'), res.body.server.links[0].href)
      const server = await member.waitStatus(res.body.server.id)
      assert.deepEqual((await member.nova('GET', `/servers/${server.id}`)).body.server.addresses, {})
      await member.deleteServer(server.id)
    })

    it('requires networks from 2.37 and refuses an unknown network', async () => {
      const missing = await member.nova(
        'POST',
        '/servers',
        { server: { name: 'x', imageRef: cloud.imageId, flavorRef: '1' } },
        '2.37',
      )
      assert.equal(missing.status, 400)
      assert.match(missing.body.badRequest.message, /'networks' is a required property/)
      const unknown = await member.nova(
        'POST',
        '/servers',
        {
          server: {
            name: 'x',
            imageRef: cloud.imageId,
            flavorRef: '1',
            networks: [{ uuid: '9d5d3a55-5a8d-4b8a-a7a9-2c1c1b0b0c0d' }],
          },
        },
        '2.37',
      )
      assert.equal(unknown.status, 400)
      assert.equal(
        unknown.body.badRequest.message,
        'Network 9d5d3a55-5a8d-4b8a-a7a9-2c1c1b0b0c0d could not be found.',
      )
    })

    it('refuses an unknown flavor, image or key pair with Nova messages', async () => {
      const base = { name: 'x', imageRef: cloud.imageId, flavorRef: '1', networks: 'none' }
      const flavor = await member.nova('POST', '/servers', { server: { ...base, flavorRef: '999' } }, '2.37')
      assert.equal(flavor.status, 400)
      assert.equal(flavor.body.badRequest.message, 'Flavor 999 could not be found.')
      const image = await member.nova(
        'POST',
        '/servers',
        { server: { ...base, imageRef: '7e2a7f3a-0000-4000-8000-000000000000' } },
        '2.37',
      )
      assert.equal(image.status, 400)
      assert.equal(image.body.badRequest.message, 'Can not find requested image')
      const key = await member.nova('POST', '/servers', { server: { ...base, key_name: 'nope' } }, '2.37')
      assert.equal(key.status, 400)
      assert.equal(key.body.badRequest.message, 'Invalid key_name provided.')
      const userData = await member.nova(
        'POST',
        '/servers',
        { server: { ...base, user_data: 'x'.repeat(65536) } },
        '2.37',
      )
      assert.equal(userData.status, 400)
    })

    it('checks min_ram against the flavor at create', async () => {
      const bigImage = await import('./helpers.ts').then((h) =>
        h.createImage(cloud.tc.url('image'), admin.token, { min_ram: 4096 }),
      )
      const res = await member.nova(
        'POST',
        '/servers',
        { server: { name: 'x', imageRef: bigImage, flavorRef: '1', networks: 'none' } },
        '2.37',
      )
      assert.equal(res.status, 400)
      assert.equal(res.body.badRequest.message, "Flavor's memory is too small for requested image.")
    })

    it('creates several with min_count/max_count and returns the reservation id', async () => {
      const res = await member.nova(
        'POST',
        '/servers',
        {
          server: {
            name: 'multi',
            imageRef: cloud.imageId,
            flavorRef: '1',
            networks: 'none',
            min_count: 2,
            max_count: 3,
            return_reservation_id: true,
          },
        },
        '2.37',
      )
      assert.equal(res.status, 202)
      const rid = res.body.reservation_id as string
      assert.match(rid, /^r-[0-9a-z]{8}$/)
      const list = await member.nova('GET', `/servers/detail?reservation_id=${rid}`, undefined, '2.3')
      assert.equal(list.body.servers.length, 3)
      const names = list.body.servers.map((s: { name: string }) => s.name).sort()
      assert.deepEqual(names, ['multi-1', 'multi-2', 'multi-3'])
      for (const s of list.body.servers) await member.waitStatus(s.id)
      for (const s of list.body.servers) await member.deleteServer(s.id)
    })
  })

  describe('read', () => {
    it('hides other projects servers from non-admins (404) and lists them for admins with all_tenants', async () => {
      const other = await cloud.newMember()
      const id = await other.createServer({ name: 'secret', imageRef: cloud.imageId, flavorRef: '1' })
      await other.waitStatus(id)
      assert.equal((await member.nova('GET', `/servers/${id}`)).status, 404)
      assert.equal((await member.nova('DELETE', `/servers/${id}`)).status, 404)
      const mine = await member.nova('GET', '/servers')
      assert.ok(!mine.body.servers.some((s: { id: string }) => s.id === id))
      const forbidden = await member.nova('GET', '/servers?all_tenants=1')
      assert.equal(forbidden.status, 403)
      const all = await admin.nova('GET', `/servers?all_tenants=1&project_id=${other.projectId}`)
      assert.deepEqual(
        all.body.servers.map((s: { id: string }) => s.id),
        [id],
      )
      await other.deleteServer(id)
    })

    it('filters by name regex, status, image and flavor, and pages with servers_links', async () => {
      const caller = await cloud.newMember()
      const ids: string[] = []
      for (const name of ['web-1', 'web-2', 'web-3', 'db-1']) {
        ids.push(
          await caller.createServer({
            name,
            imageRef: cloud.imageId,
            flavorRef: name.startsWith('db') ? '2' : '1',
          }),
        )
      }
      for (const id of ids) await caller.waitStatus(id)
      const web = await caller.nova('GET', '/servers?name=^web')
      assert.deepEqual(web.body.servers.map((s: { name: string }) => s.name).sort(), [
        'web-1',
        'web-2',
        'web-3',
      ])
      const escaped = await caller.nova('GET', `/servers?name=${encodeURIComponent('^.*\\-[0-9]+$')}`)
      assert.equal(escaped.status, 200, 'Python accepts \\- outside a class')
      assert.equal(escaped.body.servers.length, 4)
      assert.equal((await caller.nova('GET', '/servers?flavor=2')).body.servers.length, 1)
      assert.equal((await caller.nova('GET', '/servers?flavor=777')).body.servers.length, 0)
      assert.equal((await caller.nova('GET', `/servers?image=${cloud.imageId}`)).body.servers.length, 4)
      assert.equal((await caller.nova('GET', '/servers?status=ACTIVE')).body.servers.length, 4)
      assert.equal((await caller.nova('GET', '/servers?status=SHUTOFF')).body.servers.length, 0)
      const bad = await caller.nova('GET', '/servers?status=bogus', undefined, '2.38')
      assert.equal(bad.status, 400)
      assert.equal(bad.body.badRequest.message, 'Invalid status value')
      assert.deepEqual((await caller.nova('GET', '/servers?status=bogus', undefined, '2.37')).body, {
        servers: [],
      })
      // pagination: newest first, limit 2, then the marker
      const page1 = await caller.nova('GET', '/servers?limit=2')
      assert.equal(page1.body.servers.length, 2)
      const next = new URL(page1.body.servers_links[0].href)
      assert.equal(next.searchParams.get('marker'), page1.body.servers[1].id)
      const page2 = await caller.nova('GET', `/servers${next.search}`)
      assert.equal(page2.body.servers.length, 2)
      const seen = [...page1.body.servers, ...page2.body.servers].map((s: { id: string }) => s.id)
      assert.deepEqual([...seen].sort(), [...ids].sort())
      assert.deepEqual(seen, [...ids].reverse(), 'default order is created_at desc')
      const sorted = await caller.nova('GET', '/servers/detail?sort_key=display_name&sort_dir=asc')
      assert.deepEqual(
        sorted.body.servers.map((s: { name: string }) => s.name),
        ['db-1', 'web-1', 'web-2', 'web-3'],
      )
      const badMarker = await caller.nova('GET', '/servers?marker=00000000-0000-4000-8000-000000000000')
      assert.equal(badMarker.status, 400)
      assert.equal(
        badMarker.body.badRequest.message,
        'marker [00000000-0000-4000-8000-000000000000] not found',
      )
      const strict = await caller.nova('GET', '/servers?bogus=1', undefined, '2.75')
      assert.equal(strict.status, 400)
      assert.equal((await caller.nova('GET', '/servers?bogus=1', undefined, '2.74')).status, 200)
      // changes-since lists deleted servers too
      const since = new Date(Date.now() - 60_000).toISOString()
      await caller.deleteServer(ids[3]!)
      const changed = await caller.nova('GET', `/servers/detail?changes-since=${since}`)
      const deleted = changed.body.servers.find((s: { id: string }) => s.id === ids[3])
      assert.equal(deleted.status, 'DELETED')
      for (const id of ids.slice(0, 3)) await caller.deleteServer(id)
    })

    it('shows fields by microversion', async () => {
      const id = await member.createServer(
        { name: 'fields', imageRef: cloud.imageId, flavorRef: '1', tags: ['a', 'b'] },
        '2.52',
      )
      await member.waitStatus(id)
      const v21 = (await member.nova('GET', `/servers/${id}`)).body.server
      assert.deepEqual(Object.keys(v21.flavor).sort(), ['id', 'links'])
      assert.equal(v21.locked, undefined)
      assert.equal(v21.description, undefined)
      const latest = (await member.nova('GET', `/servers/${id}`, undefined, COMPUTE_MAX_MICROVERSION)).body
        .server
      assert.equal(latest.locked, false)
      assert.equal(latest.locked_reason, null)
      assert.equal(latest.description, null)
      assert.deepEqual(latest.tags, ['a', 'b'])
      assert.equal(latest.trusted_image_certificates, null)
      assert.deepEqual(latest.server_groups, [])
      assert.equal(latest['OS-EXT-SRV-ATTR:hostname'], 'fields')
      assert.equal(latest.host_status, undefined, 'host_status is for admins')
      const asAdmin = (await admin.nova('GET', `/servers/${id}`, undefined, '2.16')).body.server
      assert.equal(asAdmin.host_status, 'UP')
      const tagged = await member.nova('GET', '/servers?tags=a', undefined, '2.26')
      assert.deepEqual(
        tagged.body.servers.map((s: { id: string }) => s.id),
        [id],
      )
      assert.equal(
        (await member.nova('GET', '/servers?not-tags-any=b', undefined, '2.26')).body.servers.length,
        0,
      )
      await member.deleteServer(id)
    })
  })

  describe('update, tags and delete', () => {
    it('renames and answers the full view from 2.75', async () => {
      const id = await member.createServer({ name: 'old', imageRef: cloud.imageId, flavorRef: '1' })
      await member.waitStatus(id)
      const v21 = await member.nova('PUT', `/servers/${id}`, { server: { name: 'new' } })
      assert.equal(v21.status, 200)
      assert.equal(v21.body.server.name, 'new')
      assert.equal(v21.body.server['OS-EXT-STS:vm_state'], undefined)
      const v275 = await member.nova('PUT', `/servers/${id}`, { server: { description: 'd' } }, '2.75')
      assert.equal(v275.body.server.description, 'd')
      assert.equal(v275.body.server['OS-EXT-STS:vm_state'], 'active')
      const v290 = await member.nova('PUT', `/servers/${id}`, { server: { hostname: 'renamed' } }, '2.90')
      assert.equal(v290.body.server['OS-EXT-SRV-ATTR:hostname'], 'renamed')
      const bad = await member.nova('PUT', `/servers/${id}`, { server: { hostname: 'x' } }, '2.89')
      assert.equal(bad.status, 400)
      const access = await member.nova('PUT', `/servers/${id}`, {
        server: { accessIPv4: '1.1.1.1', accessIPv6: '0000:0000:0000:0000:0000:babe:220.12.22.2' },
      })
      assert.equal(access.body.server.accessIPv4, '1.1.1.1')
      assert.equal(
        access.body.server.accessIPv6,
        '::babe:dc0c:1602',
        'stored in compact form, as netaddr does',
      )
      await member.deleteServer(id)
    })

    it('manages tags from 2.26', async () => {
      const id = await member.createServer({ name: 'tags', imageRef: cloud.imageId, flavorRef: '1' })
      await member.waitStatus(id)
      assert.equal((await member.nova('GET', `/servers/${id}/tags`, undefined, '2.25')).status, 404)
      assert.equal((await member.nova('PUT', `/servers/${id}/tags/t1`, undefined, '2.26')).status, 201)
      assert.equal((await member.nova('PUT', `/servers/${id}/tags/t1`, undefined, '2.26')).status, 204)
      assert.equal((await member.nova('GET', `/servers/${id}/tags/t1`, undefined, '2.26')).status, 204)
      assert.equal((await member.nova('GET', `/servers/${id}/tags/t2`, undefined, '2.26')).status, 404)
      const all = await member.nova('PUT', `/servers/${id}/tags`, { tags: ['x', 'y'] }, '2.26')
      assert.deepEqual(all.body.tags, ['x', 'y'])
      assert.equal((await member.nova('DELETE', `/servers/${id}/tags/x`, undefined, '2.26')).status, 204)
      assert.deepEqual((await member.nova('GET', `/servers/${id}/tags`, undefined, '2.26')).body.tags, ['y'])
      await member.deleteServer(id)
    })

    it('deletes through the host, records the action, and 404s afterwards', async () => {
      const id = await member.createServer({
        name: 'bye',
        imageRef: cloud.imageId,
        flavorRef: '1',
        networks: 'auto',
      })
      await member.waitStatus(id)
      const del = await member.nova('DELETE', `/servers/${id}`)
      assert.equal(del.status, 204)
      await eventually(
        async () => ((await member.nova('GET', `/servers/${id}`)).status === 404 ? true : undefined),
        'delete',
      )
      const show = await member.nova('GET', `/servers/${id}`)
      assert.equal(show.status, 404)
      assert.equal(show.body.itemNotFound.message, `Instance ${id} could not be found.`)
      const actions = await member.nova('GET', `/servers/${id}/os-instance-actions`, undefined, '2.21')
      assert.deepEqual(actions.body.instanceActions.map((a: { action: string }) => a.action).sort(), [
        'create',
        'delete',
      ])
      assert.equal(
        (await member.nova('GET', `/servers/${id}/os-instance-actions`, undefined, '2.20')).status,
        404,
      )
    })

    it('locks (owner, then admin takes over), unlocks with override, resets state, takes external events, clears the password', async () => {
      const id = await member.createServer({ name: 'locked', imageRef: cloud.imageId, flavorRef: '1' })
      await member.waitStatus(id)
      const lock = await member.nova(
        'POST',
        `/servers/${id}/action`,
        { lock: { locked_reason: 'maint' } },
        '2.73',
      )
      assert.equal(lock.status, 202)
      const shown = (await member.nova('GET', `/servers/${id}`, undefined, '2.73')).body.server
      assert.equal(shown.locked, true)
      assert.equal(shown.locked_reason, 'maint')
      assert.equal((await member.nova('DELETE', `/servers/${id}`)).status, 409)
      const tooLong = { lock: { locked_reason: 'x'.repeat(256) } }
      assert.equal((await member.nova('POST', `/servers/${id}/action`, tooLong, '2.73')).status, 400)
      assert.equal((await admin.nova('POST', `/servers/${id}/action`, { lock: null })).status, 202)
      const byAdmin = await member.nova('POST', `/servers/${id}/action`, { unlock: null })
      assert.equal(byAdmin.status, 403, "an admin's lock needs unlock_override")
      assert.equal((await admin.nova('POST', `/servers/${id}/action`, { unlock: null })).status, 202)
      const unlocked = (await member.nova('GET', `/servers/${id}`, undefined, '2.73')).body.server
      assert.equal(unlocked.locked, false)
      assert.equal(unlocked.locked_reason, null)
      const actions = (await member.nova('GET', `/servers/${id}/os-instance-actions`)).body.instanceActions
      assert.deepEqual(
        actions.map((a: { action: string }) => a.action),
        ['unlock', 'lock', 'lock', 'create'],
      )
      const reset = { 'os-resetState': { state: 'error' } }
      assert.equal((await member.nova('POST', `/servers/${id}/action`, reset)).status, 403)
      assert.equal((await admin.nova('POST', `/servers/${id}/action`, reset)).status, 202)
      assert.equal((await member.nova('GET', `/servers/${id}`)).body.server.status, 'ERROR')
      const bad = { 'os-resetState': { state: 'building' } }
      assert.equal((await admin.nova('POST', `/servers/${id}/action`, bad)).status, 400)
      await admin.nova('POST', `/servers/${id}/action`, { 'os-resetState': { state: 'active' } })
      assert.equal((await member.nova('GET', `/servers/${id}`)).body.server.status, 'ACTIVE')
      const unknown = '00000000-0000-4000-8000-000000000000'
      const events = {
        events: [
          { server_uuid: id, name: 'network-vif-plugged', tag: 'port-1' },
          { server_uuid: unknown, name: 'network-changed' },
        ],
      }
      assert.equal((await member.nova('POST', '/os-server-external-events', events)).status, 403)
      const reported = await admin.nova('POST', '/os-server-external-events', events)
      assert.equal(reported.status, 207)
      assert.deepEqual(
        reported.body.events.map((e: { code: number; status: string }) => [e.code, e.status]),
        [
          [200, 'completed'],
          [404, 'failed'],
        ],
      )
      const power = { events: [{ server_uuid: id, name: 'power-update' }] }
      assert.equal((await admin.nova('POST', '/os-server-external-events', power)).status, 400)
      const untagged = await admin.nova('POST', '/os-server-external-events', power, '2.76')
      assert.equal(untagged.body.events[0].code, 400)
      assert.deepEqual((await member.nova('GET', `/servers/${id}/os-server-password`)).body, { password: '' })
      assert.equal((await member.nova('DELETE', `/servers/${id}/os-server-password`)).status, 204)
      await member.deleteServer(id)
    })

    it('force-deletes with the forceDelete action', async () => {
      const id = await member.createServer({ name: 'force', imageRef: cloud.imageId, flavorRef: '1' })
      await member.waitStatus(id)
      const res = await member.nova('POST', `/servers/${id}/action`, { forceDelete: null })
      assert.equal(res.status, 202)
      await member.deleteServer(id)
      const unknown = await member.nova('POST', `/servers/${id}/action`, { bogus: null })
      assert.equal(unknown.status, 400)
      const gone = await member.nova('POST', `/servers/${id}/action`, { reboot: { type: 'SOFT' } })
      assert.equal(gone.status, 404, 'a Nova action on a deleted server is a 404 first')
    })
  })
})
