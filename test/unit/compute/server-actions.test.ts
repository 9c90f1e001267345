import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { describe, it } from 'node:test'
import type { RequestContext } from '../../../src/common/context.ts'
import type { Instance } from '../../../src/compute/objects.ts'
import {
  ACTION_STATE_RULES,
  checkInstanceLock,
  checkInstanceState,
  InstanceInvalidState,
  snapshotImageBody,
} from '../../../src/compute/server-actions.ts'
import { VmState } from '../../../src/compute/states.ts'
import { VirtInvalidState, VirtInstanceNotFound } from '../../../src/compute/virt/driver.ts'
import { FakeDriver } from '../../../src/compute/virt/fake/driver.ts'

/** Nova's allowed vm_states per action (nova/compute/api.py `@check_instance_state`), spelled out again. */
const NOVA_ALLOWED: Readonly<Record<string, readonly string[]>> = {
  'reboot:SOFT': ['active'],
  'reboot:HARD': ['active', 'stopped', 'paused', 'suspended', 'error'],
  stop: ['active', 'error'],
  start: ['stopped'],
  pause: ['active'],
  unpause: ['paused'],
  suspend: ['active'],
  resume: ['suspended'],
  rescue: ['active', 'stopped', 'error'],
  unrescue: ['rescued'],
  rebuild: ['active', 'stopped', 'error'],
  createImage: ['active', 'stopped', 'paused', 'suspended'],
  createBackup: ['active', 'stopped', 'paused', 'suspended'],
  shelve: ['active', 'stopped', 'paused', 'suspended'],
  shelveOffload: ['shelved'],
  unshelve: ['shelved', 'shelved_offloaded'],
  changePassword: ['active'],
  restore: ['soft-delete'],
}

function instance(over: Partial<Instance> = {}): Instance {
  return {
    uuid: randomUUID(),
    vmState: VmState.ACTIVE,
    taskState: null,
    launchedAt: '2026-01-01T00:00:00Z',
    lockedBy: null,
    projectId: 'p1',
    systemMetadata: {},
    ...over,
  } as Instance
}

describe('server actions: state checks', () => {
  it('allow exactly the vm_states Nova allows, for every action and vm_state', () => {
    assert.deepEqual(Object.keys(ACTION_STATE_RULES).sort(), Object.keys(NOVA_ALLOWED).sort())
    let cases = 0
    for (const [action, allowed] of Object.entries(NOVA_ALLOWED)) {
      for (const vmState of Object.values(VmState)) {
        const i = instance({ vmState })
        const name = action.split(':')[0]!
        if (allowed.includes(vmState)) {
          assert.doesNotThrow(
            () => checkInstanceState(i, name, ACTION_STATE_RULES[action]!),
            `${action} ${vmState}`,
          )
        } else {
          assert.throws(
            () => checkInstanceState(i, name, ACTION_STATE_RULES[action]!),
            (err: unknown) =>
              err instanceof InstanceInvalidState &&
              err.status === 409 &&
              err.message === `Cannot '${name}' instance ${i.uuid} while it is in vm_state ${vmState}`,
            `${action} ${vmState}`,
          )
        }
        cases++
      }
    }
    assert.equal(cases, Object.keys(NOVA_ALLOWED).length * Object.values(VmState).length)
  })

  it('refuse a running task, except the ones a hard reboot may interrupt', () => {
    const pausing = instance({ taskState: 'pausing' })
    assert.throws(() => checkInstanceState(pausing, 'reboot', ACTION_STATE_RULES['reboot:SOFT']!), {
      message: `Cannot 'reboot' instance ${pausing.uuid} while it is in task_state pausing`,
    })
    assert.doesNotThrow(() => checkInstanceState(pausing, 'reboot', ACTION_STATE_RULES['reboot:HARD']!))
    const migrating = instance({ taskState: 'migrating' })
    assert.throws(() => checkInstanceState(migrating, 'reboot', ACTION_STATE_RULES['reboot:HARD']!), {
      message: `Cannot 'reboot' instance ${migrating.uuid} while it is in task_state migrating`,
    })
  })

  it('refuse a server that never launched, naming launched_at None', () => {
    const never = instance({ vmState: VmState.ERROR, launchedAt: null })
    assert.throws(() => checkInstanceState(never, 'stop', ACTION_STATE_RULES.stop!), {
      message: `Cannot 'stop' instance ${never.uuid} while it is in launched_at None`,
    })
  })

  it('a lock refuses everyone but admins', () => {
    const locked = instance({ lockedBy: 'owner' })
    const member = { isAdmin: false, roles: ['member'], requestId: 'r' } as RequestContext
    const admin = { isAdmin: true, roles: ['admin'], requestId: 'r' } as RequestContext
    assert.throws(() => checkInstanceLock(member, locked), { message: `Instance ${locked.uuid} is locked` })
    assert.doesNotThrow(() => checkInstanceLock(admin, locked))
    assert.doesNotThrow(() => checkInstanceLock(member, instance()))
  })
})

describe('server actions: snapshot image record', () => {
  const server = instance({
    displayName: 'web',
    projectId: 'owner-project',
    systemMetadata: {
      image_base_image_ref: 'base-id',
      image_min_ram: '128',
      image_min_disk: '1',
      image_disk_format: 'qcow2',
      image_container_format: 'bare',
      image_hw_disk_bus: 'virtio',
      image_img_signature: 'sig',
      image_cache_in_nova: 'True',
      owner_project_name: 'demo',
      owner_user_name: 'alice',
      locked_reason: 'x',
    },
  })

  it("inherits the server image's properties but not the non-inheritable ones", () => {
    const ctx = { projectId: 'owner-project', userId: 'u1', roles: [], isAdmin: false, requestId: 'r' }
    const body = snapshotImageBody(ctx, server, 'snap', 'snapshot', { extra: 'yes' })
    assert.deepEqual(body, {
      name: 'snap',
      base_image_ref: 'base-id',
      hw_disk_bus: 'virtio',
      min_ram: 128,
      min_disk: 1,
      owner_project_name: 'demo',
      owner_user_name: 'alice',
      visibility: 'private',
      instance_uuid: server.uuid,
      user_id: 'u1',
      image_type: 'snapshot',
      extra: 'yes',
    })
  })

  it("a backup keeps the formats; another project's snapshot is shared with the owner", () => {
    const ctx = {
      projectId: 'admin-project',
      userId: 'admin',
      roles: ['admin'],
      isAdmin: true,
      requestId: 'r',
    }
    const body = snapshotImageBody(ctx, server, 'b', 'backup', { backup_type: 'daily' })
    assert.equal(body.disk_format, 'qcow2')
    assert.equal(body.container_format, 'bare')
    assert.equal(body.visibility, 'shared')
    assert.equal(body.instance_owner, 'owner-project')
    assert.equal(body.image_type, 'backup')
    assert.equal(body.backup_type, 'daily')
  })
})

describe('fake driver: rescue and password', () => {
  const vi = () => {
    const uuid = randomUUID()
    return {
      uuid,
      name: `instance-${uuid.slice(0, 8)}`,
      hostname: 'vm',
      memoryMb: 64,
      vcpus: 1,
      rootGb: 1,
      ephemeralGb: 0,
      swapMb: 0,
      imageRef: 'img',
    }
  }
  const image = (id: string) => ({ id, sizeBytes: 1, properties: {} })

  it('rescues from another image and unrescues; unrescue of a guest not rescued is refused', async () => {
    const d = new FakeDriver({ vcpus: 4, memoryMb: 4096, localGb: 10 })
    const inst = vi()
    await d.spawn({ instance: inst, image: image('own'), nics: [], configDrive: false })
    await assert.rejects(d.unrescue(inst), VirtInvalidState)
    await d.rescue({ instance: inst, image: image('rescue'), nics: [] })
    assert.equal(d.rescueImageOf(inst.uuid), 'rescue')
    await d.unrescue(inst)
    assert.equal(d.rescueImageOf(inst.uuid), undefined)
    assert.equal(d.imageOf(inst.uuid), 'own')
    await assert.rejects(d.rescue({ instance: vi(), image: image('x'), nics: [] }), VirtInstanceNotFound)
  })

  it('sets the password of a running guest only; the console has at least 10 lines after boot', async () => {
    const d = new FakeDriver({ vcpus: 4, memoryMb: 4096, localGb: 10 })
    const inst = vi()
    await d.spawn({ instance: inst, image: image('own'), nics: [], configDrive: false })
    await d.setAdminPassword(inst, 'pw')
    assert.equal(d.adminPasswordOf(inst.uuid), 'pw')
    await d.powerOff(inst)
    await assert.rejects(d.setAdminPassword(inst, 'again'), VirtInvalidState)
    assert.ok((await d.getConsoleOutput(inst)).split('\n').length >= 10)
  })
})
