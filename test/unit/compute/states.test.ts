import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ALL_STATUSES,
  statesFromStatus,
  statusFromState,
  TaskState,
  VmState,
} from '../../../src/compute/states.ts'

describe('compute states', () => {
  it('maps a build to BUILD whatever the task state', () => {
    for (const task of [
      TaskState.SCHEDULING,
      TaskState.NETWORKING,
      TaskState.BLOCK_DEVICE_MAPPING,
      TaskState.SPAWNING,
      null,
    ]) {
      assert.equal(statusFromState(VmState.BUILDING, task), 'BUILD')
    }
  })

  it('maps Nova pairs as nova/api/openstack/common.py does', () => {
    assert.equal(statusFromState(VmState.ACTIVE, null), 'ACTIVE')
    assert.equal(statusFromState(VmState.ACTIVE, TaskState.REBOOTING), 'REBOOT')
    assert.equal(statusFromState(VmState.ACTIVE, TaskState.REBOOTING_HARD), 'HARD_REBOOT')
    assert.equal(statusFromState(VmState.ACTIVE, TaskState.DELETING), 'ACTIVE')
    assert.equal(statusFromState(VmState.STOPPED, null), 'SHUTOFF')
    assert.equal(statusFromState(VmState.ERROR, null), 'ERROR')
    assert.equal(statusFromState(VmState.ERROR, TaskState.REBUILDING), 'REBUILD')
    assert.equal(statusFromState(VmState.RESIZED, TaskState.RESIZE_REVERTING), 'REVERT_RESIZE')
    assert.equal(statusFromState(VmState.DELETED, null), 'DELETED')
    assert.equal(statusFromState(VmState.SOFT_DELETED, null), 'SOFT_DELETED')
    assert.equal(statusFromState('bogus', null), 'UNKNOWN')
  })

  it('turns statuses back into vm and task states', () => {
    const active = statesFromStatus(['active'])
    assert.deepEqual(active.vmStates, [VmState.ACTIVE])
    assert.ok(active.taskStates.includes('default'))
    const reboot = statesFromStatus(['REBOOT'])
    assert.deepEqual(reboot.vmStates, [VmState.ACTIVE])
    assert.deepEqual(
      reboot.taskStates,
      [TaskState.REBOOT_PENDING, TaskState.REBOOT_STARTED, TaskState.REBOOTING].sort(),
    )
    const none = statesFromStatus(['nonsense'])
    assert.deepEqual(none, { vmStates: [], taskStates: [] })
    const build = statesFromStatus(['BUILD', 'error'])
    assert.deepEqual(build.vmStates, [VmState.BUILDING, VmState.ERROR])
  })

  it('knows every status string', () => {
    for (const s of [
      'ACTIVE',
      'BUILD',
      'ERROR',
      'DELETED',
      'SHUTOFF',
      'REBUILD',
      'VERIFY_RESIZE',
      'SHELVED_OFFLOADED',
    ]) {
      assert.ok(ALL_STATUSES.has(s), s)
    }
  })
})
