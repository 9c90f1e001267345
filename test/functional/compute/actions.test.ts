import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { updateInstance } from '../../../src/compute/db/instances.ts'
import { ACTION_STATE_RULES } from '../../../src/compute/server-actions.ts'
import type { FakeDriver } from '../../../src/compute/virt/fake/driver.ts'
import { createImage, startComputeCloud, WAIT_TIMEOUT_MS, type Caller, type ComputeCloud } from './helpers.ts'

/**
 * Server actions (issue #6) through the whole cloud: each action's
 * allowed and refused states, the task states and instance action events,
 * locks, policy, failures on the host, and the image-producing actions
 * (createImage, createBackup, shelve) against the image API.
 */

const POLL_MS = 10

/** The vm_states a server can rest in, to drive each action's refusal table. */
const VM_STATES = [
  'active',
  'stopped',
  'paused',
  'suspended',
  'rescued',
  'shelved',
  'shelved_offloaded',
  'error',
] as const

/** Body of each action, and the name its 409 message uses. */
const ACTION_BODIES: Readonly<Record<string, { body: unknown; name: string }>> = {
  'reboot:SOFT': { body: { reboot: { type: 'SOFT' } }, name: 'reboot' },
  'reboot:HARD': { body: { reboot: { type: 'HARD' } }, name: 'reboot' },
  stop: { body: { 'os-stop': null }, name: 'stop' },
  start: { body: { 'os-start': null }, name: 'start' },
  pause: { body: { pause: null }, name: 'pause' },
  unpause: { body: { unpause: null }, name: 'unpause' },
  suspend: { body: { suspend: null }, name: 'suspend' },
  resume: { body: { resume: null }, name: 'resume' },
  rescue: { body: { rescue: null }, name: 'rescue' },
  unrescue: { body: { unrescue: null }, name: 'unrescue' },
  rebuild: { body: { rebuild: { imageRef: 'IMAGE' } }, name: 'rebuild' },
  createImage: { body: { createImage: { name: 'snap' } }, name: 'createImage' },
  createBackup: {
    body: { createBackup: { name: 'b', backup_type: 'daily', rotation: 1 } },
    name: 'createBackup',
  },
  shelve: { body: { shelve: null }, name: 'shelve' },
  shelveOffload: { body: { shelveOffload: null }, name: 'shelveOffload' },
  unshelve: { body: { unshelve: null }, name: 'unshelve' },
  changePassword: { body: { changePassword: { adminPass: 'x' } }, name: 'changePassword' },
  restore: { body: { restore: null }, name: 'restore' },
}

describe('compute: server actions', () => {
  let cloud: ComputeCloud
  let admin: Caller
  let member: Caller

  before(async () => {
    cloud = await startComputeCloud({
      hosts: 2,
      config: { 'quota.instances': '-1', 'quota.cores': '-1', 'quota.ram': '-1' },
    })
    admin = cloud.admin
    member = await cloud.newMember()
  })
  after(() => cloud?.stop())

  async function boot(caller: Caller = member, name = 'vm'): Promise<string> {
    const id = await caller.createServer({ name, imageRef: cloud.imageId, flavorRef: '1' })
    const server = await caller.waitStatus(id)
    assert.equal(server.status, 'ACTIVE')
    return id
  }

  async function act(caller: Caller, id: string, body: unknown, mv?: string) {
    return caller.nova('POST', `/servers/${id}/action`, body, mv)
  }

  /** Waits until no task runs on the server and returns it (2.1 detailed view). */
  async function settled(id: string, caller: Caller = admin): Promise<any> {
    const deadline = Date.now() + WAIT_TIMEOUT_MS
    for (;;) {
      const res = await caller.nova('GET', `/servers/${id}`)
      assert.equal(res.status, 200)
      if (res.body.server['OS-EXT-STS:task_state'] === null) return res.body.server
      if (Date.now() > deadline)
        throw new Error(`server ${id} still ${res.body.server['OS-EXT-STS:task_state']}`)
      await sleep(POLL_MS)
    }
  }

  async function driverOf(id: string): Promise<FakeDriver> {
    const host = (await admin.nova('GET', `/servers/${id}`)).body.server['OS-EXT-SRV-ATTR:host']
    return cloud.compute().host(host).driver as FakeDriver
  }

  /** The events of the server's latest action named `action`. */
  async function eventsOf(
    id: string,
    action: string,
  ): Promise<{ event: string; result: string; details?: string }[]> {
    const list = (await admin.nova('GET', `/servers/${id}/os-instance-actions`)).body.instanceActions
    const found = list.find((a: { action: string }) => a.action === action)
    assert.ok(found, `an instance action ${action} on ${id}: ${JSON.stringify(list)}`)
    const shown = await admin.nova(
      'GET',
      `/servers/${id}/os-instance-actions/${found.request_id}`,
      undefined,
      '2.84',
    )
    return shown.body.instanceAction.events
  }

  async function setState(id: string, vmState: string, taskState: string | null = null): Promise<void> {
    await updateInstance(cloud.tc.cloud.db.kysely, id, { vmState, taskState })
  }

  async function glance(method: string, path: string, token = admin.token) {
    const res = await fetch(`${cloud.tc.url('image')}${path}`, { method, headers: { 'x-auth-token': token } })
    const text = await res.text()
    return { status: res.status, body: res.ok && text ? JSON.parse(text) : text }
  }

  async function imageActive(id: string, token = member.token): Promise<any> {
    const deadline = Date.now() + WAIT_TIMEOUT_MS
    for (;;) {
      const res = await glance('GET', `/v2/images/${id}`, token)
      if (res.status === 200 && res.body.status === 'active') return res.body
      if (Date.now() > deadline) throw new Error(`image ${id} still ${res.status} ${res.body?.status}`)
      await sleep(POLL_MS)
    }
  }

  describe('power actions', () => {
    it('walks stop, start, pause, unpause, suspend, resume, reboot with task states and events', async () => {
      const id = await boot()
      const steps: [unknown, string, string, string, string][] = [
        // body, status right after the call, status at rest, instance action, host event
        [{ 'os-stop': null }, 'ACTIVE', 'SHUTOFF', 'stop', 'compute_stop_instance'],
        [{ 'os-start': null }, 'SHUTOFF', 'ACTIVE', 'start', 'compute_start_instance'],
        [{ pause: null }, 'ACTIVE', 'PAUSED', 'pause', 'compute_pause_instance'],
        [{ unpause: null }, 'PAUSED', 'ACTIVE', 'unpause', 'compute_unpause_instance'],
        [{ suspend: null }, 'ACTIVE', 'SUSPENDED', 'suspend', 'compute_suspend_instance'],
        [{ resume: null }, 'SUSPENDED', 'ACTIVE', 'resume', 'compute_resume_instance'],
        [{ reboot: { type: 'SOFT' } }, 'REBOOT', 'ACTIVE', 'reboot', 'compute_reboot_instance'],
      ]
      const power: Record<string, number> = { ACTIVE: 1, SHUTOFF: 4, PAUSED: 3, SUSPENDED: 7 }
      for (const [body, during, rest, action, event] of steps) {
        const res = await act(member, id, body)
        assert.equal(res.status, 202, `${action}: ${JSON.stringify(res.body)}`)
        assert.equal(res.body, undefined)
        const shown = (await member.nova('GET', `/servers/${id}`)).body.server
        if (shown['OS-EXT-STS:task_state'] !== null) assert.equal(shown.status, during, action)
        const server = await settled(id)
        assert.equal(server.status, rest, action)
        assert.equal(server['OS-EXT-STS:power_state'], power[rest], action)
        const events = await eventsOf(id, action)
        assert.deepEqual(
          events.map((e) => [e.event, e.result]),
          [[event, 'Success']],
          action,
        )
      }
      const driver = await driverOf(id)
      assert.match(await driver.getConsoleOutput({ uuid: id } as never), /Soft reboot/)
    })

    it('hard reboot recovers a stopped server, and interrupts a soft reboot', async () => {
      const id = await boot()
      assert.equal((await act(member, id, { 'os-stop': null })).status, 202)
      await settled(id)
      assert.equal((await act(member, id, { reboot: { type: 'hard' } })).status, 202)
      const server = await settled(id)
      assert.equal(server.status, 'ACTIVE')
      await setState(id, 'active', 'rebooting')
      const soft = await act(member, id, { reboot: { type: 'SOFT' } })
      assert.equal(soft.status, 409)
      assert.equal(
        soft.body.conflictingRequest.message,
        `Cannot 'reboot' instance ${id} while it is in task_state rebooting`,
      )
      assert.equal((await act(member, id, { reboot: { type: 'HARD' } })).status, 202)
      assert.equal((await settled(id)).status, 'ACTIVE')
    })

    it('the power-state sync leaves paused, suspended and stopped servers as the actions left them', async () => {
      const paused = await boot()
      await act(member, paused, { pause: null })
      const suspended = await boot()
      await act(member, suspended, { suspend: null })
      const stopped = await boot()
      await act(member, stopped, { 'os-stop': null })
      for (const id of [paused, suspended, stopped]) await settled(id)
      for (const host of cloud.compute().hosts) await host.runPeriodic('sync_power_states')
      assert.equal((await settled(paused)).status, 'PAUSED')
      assert.equal((await settled(suspended)).status, 'SUSPENDED')
      const server = await settled(stopped)
      assert.equal(server.status, 'SHUTOFF')
      assert.equal(server['OS-EXT-STS:power_state'], 4)
    })

    it('validates the reboot body', async () => {
      const id = await boot()
      const res = await act(member, id, { reboot: { type: 'WARM' } })
      assert.equal(res.status, 400)
      assert.equal((await act(member, id, { reboot: {} })).status, 400)
    })
  })

  describe('state checks', () => {
    it("refuses each action outside Nova's vm_states with a 409 naming the state", async () => {
      const id = await boot(admin, 'table')
      let checked = 0
      for (const [key, rule] of Object.entries(ACTION_STATE_RULES)) {
        const { name } = ACTION_BODIES[key]!
        const body = JSON.parse(JSON.stringify(ACTION_BODIES[key]!.body).replace('IMAGE', cloud.imageId))
        for (const vmState of VM_STATES) {
          if (rule.vmStates!.includes(vmState)) continue
          await setState(id, vmState)
          const res = await act(admin, id, body)
          assert.equal(res.status, 409, `${key} in ${vmState}: ${JSON.stringify(res.body)}`)
          assert.equal(
            res.body.conflictingRequest.message,
            `Cannot '${name}' instance ${id} while it is in vm_state ${vmState}`,
          )
          checked++
        }
      }
      assert.ok(checked > 60, `${checked} refusals checked`)
      await setState(id, 'active')
    })

    it('refuses an action while another task runs, and a server that never launched', async () => {
      const id = await boot(admin, 'busy')
      await setState(id, 'active', 'pausing')
      const res = await act(admin, id, { suspend: null })
      assert.equal(res.status, 409)
      assert.equal(
        res.body.conflictingRequest.message,
        `Cannot 'suspend' instance ${id} while it is in task_state pausing`,
      )
      await updateInstance(cloud.tc.cloud.db.kysely, id, {
        vmState: 'error',
        taskState: null,
        launchedAt: null,
      })
      const stop = await act(admin, id, { 'os-stop': null })
      assert.equal(stop.status, 409)
      assert.equal(
        stop.body.conflictingRequest.message,
        `Cannot 'stop' instance ${id} while it is in launched_at None`,
      )
    })

    it('answers 404 for a missing server and for another project', async () => {
      const res = await act(member, '8c3b2ad8-56b2-4bd9-9fd2-1c3ab1a3e1f4', { pause: null })
      assert.equal(res.status, 404)
      const id = await boot(admin, 'admins')
      assert.equal((await act(member, id, { pause: null })).status, 404)
    })
  })

  describe('locks and policy', () => {
    it('a locked server refuses its owner (409) but not an admin', async () => {
      const id = await boot()
      assert.equal((await act(member, id, { lock: null })).status, 202)
      for (const body of [
        { pause: null },
        { 'os-stop': null },
        { reboot: { type: 'HARD' } },
        { shelve: null },
      ]) {
        const res = await act(member, id, body)
        assert.equal(res.status, 409, JSON.stringify(body))
        assert.equal(res.body.conflictingRequest.message, `Instance ${id} is locked`)
      }
      // createImage does not check the lock (Nova: a lock guards against changes, not copies).
      const snap = await act(member, id, { createImage: { name: 'locked-snap' } }, '2.45')
      assert.equal(snap.status, 202)
      await settled(id)
      assert.equal((await act(admin, id, { pause: null })).status, 202)
      assert.equal((await settled(id)).status, 'PAUSED')
    })

    it('shelveOffload and unshelve to a host are admin-only', async () => {
      const id = await boot()
      const res = await act(member, id, { shelveOffload: null })
      assert.equal(res.status, 403)
      assert.equal(
        res.body.forbidden.message,
        "Policy doesn't allow os_compute_api:os-shelve:shelve_offload to be performed.",
      )
    })
  })

  describe('failures on the host', () => {
    it('a failed pause leaves the server ACTIVE with the event in Error', async () => {
      const id = await boot()
      const driver = await driverOf(id)
      driver.injectFailure('pause', 'hypervisor refused pause', 1)
      assert.equal((await act(member, id, { pause: null })).status, 202)
      const server = await settled(id)
      assert.equal(server.status, 'ACTIVE')
      const [event] = await eventsOf(id, 'pause')
      assert.equal(event!.event, 'compute_pause_instance')
      assert.equal(event!.result, 'Error')
      assert.match(event!.details ?? '', /hypervisor refused pause/)
    })

    it('a failed reboot leaves the server in ERROR with a fault, as Nova', async () => {
      const id = await boot()
      const driver = await driverOf(id)
      driver.injectFailure('reboot', 'reboot exploded', 1)
      assert.equal((await act(member, id, { reboot: { type: 'SOFT' } })).status, 202)
      const server = await settled(id, member)
      assert.equal(server.status, 'ERROR')
      assert.match(server.fault.message, /reboot exploded/)
      // A hard reboot is how a user gets it back.
      assert.equal((await act(member, id, { reboot: { type: 'HARD' } })).status, 202)
      assert.equal((await settled(id)).status, 'ACTIVE')
    })
  })

  describe('rescue', () => {
    it('rescues with the own image (200 with adminPass) and unrescues', async () => {
      const id = await boot()
      const res = await act(member, id, { rescue: { adminPass: 'rescue-me' } })
      assert.equal(res.status, 200)
      assert.deepEqual(res.body, { adminPass: 'rescue-me' })
      const server = await settled(id)
      assert.equal(server.status, 'RESCUE')
      const driver = await driverOf(id)
      assert.equal(driver.rescueImageOf(id), cloud.imageId)
      assert.equal((await act(member, id, { unrescue: null })).status, 202)
      assert.equal((await settled(id)).status, 'ACTIVE')
      assert.equal(driver.rescueImageOf(id), undefined)
    })

    it('uses a named rescue image, generates a password, and refuses an unknown image with 400', async () => {
      const id = await boot()
      const rescueImage = await createImage(cloud.tc.url('image'), admin.token, { name: 'rescue' })
      const res = await act(member, id, { rescue: { rescue_image_ref: rescueImage } })
      assert.equal(res.status, 200)
      assert.match(res.body.adminPass, /^[A-Za-z0-9]{12}$/)
      await settled(id)
      assert.equal((await driverOf(id)).rescueImageOf(id), rescueImage)
      await act(member, id, { unrescue: null })
      await settled(id)
      const bad = await act(member, id, {
        rescue: { rescue_image_ref: '6f0f0b5e-1b7f-4a8e-9e1e-0a0a0a0a0a0a' },
      })
      assert.equal(bad.status, 400)
      assert.equal(
        bad.body.badRequest.message,
        "Requested rescue image '6f0f0b5e-1b7f-4a8e-9e1e-0a0a0a0a0a0a' is not supported",
      )
    })
  })

  describe('rebuild', () => {
    it('respawns from the new image with the new fields; the answer follows the microversion', async () => {
      const id = await boot()
      const newImage = await createImage(cloud.tc.url('image'), admin.token, { name: 'rebuild-to' })
      const res = await act(
        member,
        id,
        {
          rebuild: {
            imageRef: newImage,
            name: 'rebuilt',
            metadata: { role: 'db' },
            adminPass: 'new-pass',
            description: 'after',
            user_data: Buffer.from('#!/bin/sh\n').toString('base64'),
          },
        },
        '2.57',
      )
      assert.equal(res.status, 202, JSON.stringify(res.body))
      assert.equal(res.body.server.adminPass, 'new-pass')
      assert.equal(res.body.server.name, 'rebuilt')
      assert.equal(res.body.server.status, 'REBUILD')
      assert.equal(res.body.server.image.id, newImage)
      assert.equal(res.body.server.key_name, null)
      assert.equal(res.body.server.user_data, Buffer.from('#!/bin/sh\n').toString('base64'))
      assert.match(res.headers.get('location') ?? '', new RegExp(`/servers/${id}$`))
      const full = await act(member, id, { rebuild: { imageRef: newImage } }, '2.75')
      assert.equal(full.status, 409, 'a rebuild is running')
      await settled(id)
      const v275 = await act(admin, id, { rebuild: { imageRef: newImage } }, '2.75')
      assert.equal(v275.status, 202)
      assert.ok('OS-EXT-STS:vm_state' in v275.body.server, 'the full view from 2.75')
      assert.ok('OS-EXT-SRV-ATTR:host' in v275.body.server, 'with the extended attributes for an admin')
      assert.ok(!('OS-EXT-SRV-ATTR:user_data' in v275.body.server), 'user_data only as user_data')
      assert.ok('user_data' in v275.body.server)
      const server = await settled(id)
      assert.equal(server.status, 'ACTIVE')
      assert.deepEqual(server.metadata, { role: 'db' })
      assert.equal((await driverOf(id)).imageOf(id), newImage)
      assert.deepEqual(
        (await eventsOf(id, 'rebuild')).map((e) => [e.event, e.result]),
        [['compute_rebuild_instance', 'Success']],
      )
    })

    it('keeps a stopped server stopped, and refuses unknown images and key pairs with 400', async () => {
      const id = await boot()
      await act(member, id, { 'os-stop': null })
      await settled(id)
      assert.equal((await act(member, id, { rebuild: { imageRef: cloud.imageId } })).status, 202)
      assert.equal((await settled(id)).status, 'SHUTOFF')
      const missing = await act(member, id, { rebuild: { imageRef: '0f0f0b5e-1b7f-4a8e-9e1e-0a0a0a0a0a0a' } })
      assert.equal(missing.status, 400)
      assert.equal(missing.body.badRequest.message, 'Cannot find image for rebuild')
      const key = await act(member, id, { rebuild: { imageRef: cloud.imageId, key_name: 'nope' } }, '2.54')
      assert.equal(key.status, 400)
      assert.equal(key.body.badRequest.message, 'Invalid key_name provided.')
      const old = await act(member, id, { rebuild: { imageRef: cloud.imageId, key_name: null } }, '2.53')
      assert.equal(old.status, 400, 'key_name arrives with 2.54')
    })
  })

  describe('images', () => {
    it('createImage: 2.45 answers the image id; the image goes active with Nova properties', async () => {
      const id = await boot()
      const res = await act(
        member,
        id,
        { createImage: { name: 'snap-1', metadata: { purpose: 'test' } } },
        '2.45',
      )
      assert.equal(res.status, 202)
      const imageId = res.body.image_id
      assert.match(imageId, /^[0-9a-f-]{36}$/)
      const image = await imageActive(imageId)
      assert.equal(image.name, 'snap-1')
      assert.equal(image.instance_uuid, id)
      assert.equal(image.image_type, 'snapshot')
      assert.equal(image.base_image_ref, cloud.imageId)
      assert.equal(image.purpose, 'test')
      assert.equal(image.user_id, member.userId)
      assert.equal(image.owner, member.projectId)
      assert.equal(image.visibility, 'private')
      assert.equal(image.disk_format, 'raw')
      const server = await settled(id)
      assert.equal(server.status, 'ACTIVE')
      assert.deepEqual(
        (await eventsOf(id, 'createImage')).map((e) => [e.event, e.result]),
        [['compute_snapshot_instance', 'Success']],
      )
    })

    it('createImage before 2.45 answers with a Location; a failed upload deletes the image', async () => {
      const id = await boot()
      const res = await act(member, id, { createImage: { name: 'snap-2' } }, '2.44')
      assert.equal(res.status, 202)
      const location = res.headers.get('location') ?? ''
      assert.match(location, /\/images\/[0-9a-f-]{36}$/)
      await imageActive(location.split('/').pop()!)
      const driver = await driverOf(id)
      driver.injectFailure('snapshot', 'disk unreadable', 1)
      const failed = await act(member, id, { createImage: { name: 'snap-3' } }, '2.45')
      assert.equal(failed.status, 202)
      await settled(id)
      const [event] = await eventsOf(id, 'createImage')
      assert.equal(event!.result, 'Error')
      assert.equal((await glance('GET', `/v2/images/${failed.body.image_id}`)).status, 404)
    })

    it('createImage before 2.39 counts metadata against the quota (403)', async () => {
      const id = await boot()
      const metadata = Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`k${i}`, 'v']))
      const res = await act(member, id, { createImage: { name: 'big', metadata } }, '2.38')
      assert.equal(res.status, 403)
      assert.equal(res.body.forbidden.message, 'Image metadata limit exceeded')
    })

    it("the compute image proxy shows a snapshot in Nova's view, lists, deletes; 404 from 2.36", async () => {
      const id = await boot()
      const res = await act(member, id, { createImage: { name: 'proxied', metadata: { k: 'v' } } }, '2.45')
      const imageId = res.body.image_id
      await imageActive(imageId)
      const shown = await member.nova('GET', `/images/${imageId}`)
      assert.equal(shown.status, 200)
      const image = shown.body.image
      assert.equal(image.status, 'ACTIVE')
      assert.equal(image.progress, 100)
      assert.equal(image.name, 'proxied')
      assert.equal(image.metadata.k, 'v')
      assert.equal(image.metadata.image_type, 'snapshot')
      assert.equal(image.server.id, id)
      assert.match(image.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
      assert.equal(typeof image['OS-EXT-IMG-SIZE:size'], 'number')
      assert.deepEqual(
        image.links.map((l: { rel: string }) => l.rel),
        ['self', 'bookmark', 'alternate'],
      )
      const list = await member.nova('GET', `/images?server=${id}`)
      assert.deepEqual(
        list.body.images.map((i: { id: string }) => i.id),
        [imageId],
      )
      const detail = await member.nova('GET', '/images/detail?type=snapshot&limit=1')
      assert.equal(detail.body.images.length, 1)
      assert.equal((await member.nova('GET', `/images/${imageId}`, undefined, '2.36')).status, 404)
      const since = await member.nova('GET', `/images?changes-since=2000-01-01T00:00:00Z&server=${id}`)
      assert.equal(since.body.images.length, 1)
      // Image metadata: the properties, merged (POST), replaced (PUT), one key at a time.
      const md = `/images/${imageId}/metadata`
      assert.equal((await member.nova('GET', md)).body.metadata.k, 'v')
      const merged = await member.nova('POST', md, { metadata: { color: 'blue' } })
      assert.equal(merged.status, 200)
      assert.equal(merged.body.metadata.color, 'blue')
      assert.equal(merged.body.metadata.k, 'v')
      assert.deepEqual((await member.nova('GET', `${md}/color`)).body, { meta: { color: 'blue' } })
      const item = await member.nova('PUT', `${md}/color`, { meta: { color: 'red' } })
      assert.deepEqual(item.body, { meta: { color: 'red' } })
      assert.equal((await member.nova('PUT', `${md}/color`, { meta: { other: 'x' } })).status, 400)
      assert.equal((await member.nova('DELETE', `${md}/color`)).status, 204)
      assert.equal((await member.nova('GET', `${md}/color`)).status, 404)
      const replaced = await member.nova('PUT', md, { metadata: { only: 'this' } })
      assert.deepEqual(replaced.body.metadata, { only: 'this' })
      assert.equal((await member.nova('DELETE', `/images/${imageId}`)).status, 204)
      assert.equal((await member.nova('DELETE', '/images/')).status, 404)
      const gone = await member.nova('GET', `/images/${imageId}`)
      assert.equal(gone.status, 404)
      assert.equal(gone.body.itemNotFound.message, 'Image not found.')
    })

    it('createBackup keeps the newest `rotation` backups', async () => {
      const id = await boot()
      const ids: string[] = []
      for (const n of [1, 2, 3]) {
        const res = await act(
          member,
          id,
          { createBackup: { name: `backup-${n}`, backup_type: 'daily', rotation: 2 } },
          '2.45',
        )
        assert.equal(res.status, 202, JSON.stringify(res.body))
        ids.push(res.body.image_id)
        await settled(id)
        await sleep(5)
      }
      const listed = await glance('GET', `/v2/images?instance_uuid=${id}`, member.token)
      const names = listed.body.images.map((i: { name: string }) => i.name).sort()
      assert.deepEqual(names, ['backup-2', 'backup-3'])
      const image = await imageActive(ids[2]!)
      assert.equal(image.image_type, 'backup')
      assert.equal(image.backup_type, 'daily')
    })
  })

  describe('shelve', () => {
    it('shelve offloads at once (shelved_offload_time 0), unshelve schedules and spawns it again', async () => {
      const id = await boot()
      assert.equal((await act(member, id, { shelve: null })).status, 202)
      let server = await settled(id)
      assert.equal(server.status, 'SHELVED_OFFLOADED')
      const asAdmin = (await admin.nova('GET', `/servers/${id}`)).body.server
      assert.equal(asAdmin['OS-EXT-SRV-ATTR:host'], null)
      const images = await glance('GET', `/v2/images?instance_uuid=${id}`, member.token)
      const [shelvedImage] = images.body.images
      assert.equal(shelvedImage.name, 'vm-shelved')
      assert.equal(shelvedImage.status, 'active')
      assert.deepEqual(
        (await eventsOf(id, 'shelve')).map((e) => [e.event, e.result]),
        [['compute_shelve_instance', 'Success']],
      )
      assert.equal((await act(member, id, { unshelve: null })).status, 202)
      server = await settled(id)
      assert.equal(server.status, 'ACTIVE')
      const after = (await admin.nova('GET', `/servers/${id}`)).body.server
      assert.match(after['OS-EXT-SRV-ATTR:host'], /-[12]$/)
      assert.equal(
        (await glance('GET', `/v2/images/${shelvedImage.id}`)).status,
        404,
        'shelved image deleted',
      )
      const events = (await eventsOf(id, 'unshelve')).map((e) => [e.event, e.result])
      assert.deepEqual(events.sort(), [
        ['compute_unshelve_instance', 'Success'],
        ['conductor_unshelve_instance', 'Success'],
        ['schedule_instances', 'Success'],
      ])
    })

    it('deleting a shelved server deletes its shelved image', async () => {
      const id = await boot()
      await act(member, id, { shelve: null })
      await settled(id)
      const [image] = (await glance('GET', `/v2/images?instance_uuid=${id}`, member.token)).body.images
      assert.ok(image, 'the shelved image')
      await member.deleteServer(id)
      assert.equal((await glance('GET', `/v2/images/${image.id}`)).status, 404)
    })

    it('unshelve to a zone or host is for offloaded servers only; unknown hosts are 400', async () => {
      const id = await boot()
      const res = await act(member, id, { unshelve: { availability_zone: 'nova' } }, '2.77')
      assert.equal(res.status, 409)
      assert.equal(
        res.body.conflictingRequest.message,
        `Cannot 'unshelve' instance ${id} while it is in vm_state active`,
      )
      await act(member, id, { shelve: null })
      await settled(id)
      const host = await admin.nova(
        'POST',
        `/servers/${id}/action`,
        { unshelve: { host: 'nowhere' } },
        '2.91',
      )
      assert.equal(host.status, 400)
      assert.equal(host.body.badRequest.message, 'Compute host nowhere could not be found.')
      const zone = await act(member, id, { unshelve: { availability_zone: 'mars' } }, '2.77')
      assert.equal(zone.status, 400)
      const computeHost = cloud.compute().hosts[1]!.host
      const ok = await admin.nova(
        'POST',
        `/servers/${id}/action`,
        { unshelve: { host: computeHost } },
        '2.91',
      )
      assert.equal(ok.status, 202)
      await settled(id)
      assert.equal(
        (await admin.nova('GET', `/servers/${id}`)).body.server['OS-EXT-SRV-ATTR:host'],
        computeHost,
      )
    })
  })

  describe('console output and password', () => {
    it('returns the whole log or its last lines', async () => {
      const id = await boot()
      const all = await act(member, id, { 'os-getConsoleOutput': {} })
      assert.equal(all.status, 200)
      const lines = all.body.output.split('\n').filter(Boolean)
      assert.ok(lines.length >= 2)
      const minusOne = await act(member, id, { 'os-getConsoleOutput': { length: -1 } })
      assert.equal(minusOne.body.output, all.body.output)
      // As Nova's `_tail_log` (and Tempest's check): the output splits into exactly `length` pieces.
      const three = await act(member, id, { 'os-getConsoleOutput': { length: '3' } })
      assert.equal(three.status, 200)
      assert.equal(three.body.output.split('\n').length, 3)
      assert.ok(all.body.output.endsWith(three.body.output))
      const zero = await act(member, id, { 'os-getConsoleOutput': { length: 0 } })
      assert.equal(zero.body.output, '')
      assert.equal((await act(member, id, { 'os-getConsoleOutput': { length: -2 } })).status, 400)
      assert.equal((await act(member, id, { 'os-getConsoleOutput': { length: 'x' } })).status, 400)
    })

    it('answers 409 for a server without a host', async () => {
      const id = await boot()
      await updateInstance(cloud.tc.cloud.db.kysely, id, { host: null })
      const res = await act(member, id, { 'os-getConsoleOutput': {} })
      assert.equal(res.status, 409)
      assert.equal(res.body.conflictingRequest.message, `Instance ${id} is not ready`)
    })

    it('changePassword sets it through the driver; 409 when the guest is not running', async () => {
      const id = await boot()
      assert.equal((await act(member, id, { changePassword: { adminPass: 's3cret' } })).status, 202)
      assert.equal((await driverOf(id)).adminPasswordOf(id), 's3cret')
      assert.equal((await settled(id)).status, 'ACTIVE')
      ;(await driverOf(id)).setPowerState(id, 4)
      const res = await act(member, id, { changePassword: { adminPass: 'again' } })
      assert.equal(res.status, 409)
      assert.match(
        res.body.conflictingRequest.message,
        new RegExp(`^Failed to set admin password on ${id} because`),
      )
      assert.equal((await settled(id)).status, 'ACTIVE')
    })
  })
})

describe('compute: shelve with shelved_offload_time > 0', () => {
  let cloud: ComputeCloud
  let member: Caller

  before(async () => {
    cloud = await startComputeCloud({ hosts: 1, config: { 'compute.shelved_offload_time': '1' } })
    member = await cloud.newMember()
  })
  after(() => cloud?.stop())

  async function shelved(): Promise<{ id: string; host: string }> {
    const id = await member.createServer({ name: 'keep', imageRef: cloud.imageId, flavorRef: '1' })
    await member.waitStatus(id)
    assert.equal((await member.nova('POST', `/servers/${id}/action`, { shelve: null })).status, 202)
    const server = await member.waitStatus(id, ['ACTIVE'])
    assert.equal(server.status, 'SHELVED')
    const host = (await cloud.admin.nova('GET', `/servers/${id}`)).body.server['OS-EXT-SRV-ATTR:host']
    assert.ok(host, 'a SHELVED server keeps its host')
    return { id, host }
  }

  it('keeps the server SHELVED on its host; an admin offloads it; unshelve of a SHELVED one powers it on', async () => {
    const { id } = await shelved()
    const res = await cloud.admin.nova('POST', `/servers/${id}/action`, { shelveOffload: null })
    assert.equal(res.status, 202)
    const offloaded = await member.waitStatus(id, ['SHELVED'])
    assert.equal(offloaded.status, 'SHELVED_OFFLOADED')
    const again = await shelved()
    assert.equal((await member.nova('POST', `/servers/${again.id}/action`, { unshelve: null })).status, 202)
    const active = await member.waitStatus(again.id, ['SHELVED'])
    assert.equal(active.status, 'ACTIVE')
    const after = (await cloud.admin.nova('GET', `/servers/${again.id}`)).body.server
    assert.equal(after['OS-EXT-SRV-ATTR:host'], again.host)
  })

  it('the periodic task offloads servers shelved longer than shelved_offload_time', async () => {
    const { id, host } = await shelved()
    await sleep(1_100)
    await cloud.compute().host(host).runPeriodic('shelved_offload')
    const server = await member.waitStatus(id, ['SHELVED'])
    assert.equal(server.status, 'SHELVED_OFFLOADED')
    assert.equal((await cloud.admin.nova('GET', `/servers/${id}`)).body.server['OS-EXT-SRV-ATTR:host'], null)
  })
})
