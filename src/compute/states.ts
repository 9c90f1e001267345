/**
 * Nova's three state machines for a server, with Nova's names (they appear
 * in the API as `OS-EXT-STS:*` and in filters), and the mapping from
 * (vm_state, task_state) to the API's `status`.
 *
 * vm_state is where the server rests; task_state is what is happening to it
 * now (null when nothing); power_state is what the hypervisor last reported.
 * A build goes vm_state `building` with task_state
 * scheduling -> networking -> block_device_mapping -> spawning -> null,
 * then vm_state `active`; any failure ends in vm_state `error`, task null.
 */

export const VmState = {
  ACTIVE: 'active',
  BUILDING: 'building',
  PAUSED: 'paused',
  SUSPENDED: 'suspended',
  STOPPED: 'stopped',
  RESCUED: 'rescued',
  RESIZED: 'resized',
  SOFT_DELETED: 'soft-delete',
  DELETED: 'deleted',
  ERROR: 'error',
  SHELVED: 'shelved',
  SHELVED_OFFLOADED: 'shelved_offloaded',
} as const
export type VmState = (typeof VmState)[keyof typeof VmState]

export const TaskState = {
  SCHEDULING: 'scheduling',
  BLOCK_DEVICE_MAPPING: 'block_device_mapping',
  NETWORKING: 'networking',
  SPAWNING: 'spawning',
  IMAGE_SNAPSHOT: 'image_snapshot',
  IMAGE_SNAPSHOT_PENDING: 'image_snapshot_pending',
  IMAGE_PENDING_UPLOAD: 'image_pending_upload',
  IMAGE_UPLOADING: 'image_uploading',
  IMAGE_BACKUP: 'image_backup',
  UPDATING_PASSWORD: 'updating_password',
  RESIZE_PREP: 'resize_prep',
  RESIZE_MIGRATING: 'resize_migrating',
  RESIZE_MIGRATED: 'resize_migrated',
  RESIZE_FINISH: 'resize_finish',
  RESIZE_REVERTING: 'resize_reverting',
  RESIZE_CONFIRMING: 'resize_confirming',
  REBOOTING: 'rebooting',
  REBOOT_PENDING: 'reboot_pending',
  REBOOT_STARTED: 'reboot_started',
  REBOOTING_HARD: 'rebooting_hard',
  REBOOT_PENDING_HARD: 'reboot_pending_hard',
  REBOOT_STARTED_HARD: 'reboot_started_hard',
  PAUSING: 'pausing',
  UNPAUSING: 'unpausing',
  SUSPENDING: 'suspending',
  RESUMING: 'resuming',
  POWERING_OFF: 'powering-off',
  POWERING_ON: 'powering-on',
  RESCUING: 'rescuing',
  UNRESCUING: 'unrescuing',
  REBUILDING: 'rebuilding',
  REBUILD_BLOCK_DEVICE_MAPPING: 'rebuild_block_device_mapping',
  REBUILD_SPAWNING: 'rebuild_spawning',
  MIGRATING: 'migrating',
  DELETING: 'deleting',
  SOFT_DELETING: 'soft-deleting',
  RESTORING: 'restoring',
  SHELVING: 'shelving',
  SHELVING_IMAGE_PENDING_UPLOAD: 'shelving_image_pending_upload',
  SHELVING_IMAGE_UPLOADING: 'shelving_image_uploading',
  SHELVING_OFFLOADING: 'shelving_offloading',
  UNSHELVING: 'unshelving',
} as const
export type TaskState = (typeof TaskState)[keyof typeof TaskState]

/** Hypervisor power states: integers on the wire, as Nova's `OS-EXT-STS:power_state`. */
export const PowerState = {
  NOSTATE: 0,
  RUNNING: 1,
  PAUSED: 3,
  SHUTDOWN: 4,
  CRASHED: 6,
  SUSPENDED: 7,
} as const
export type PowerState = (typeof PowerState)[keyof typeof PowerState]

/** Power state names, for logs and fault messages. */
export const POWER_STATE_NAMES: Readonly<Record<number, string>> = {
  0: 'pending',
  1: 'running',
  3: 'paused',
  4: 'shutdown',
  6: 'crashed',
  7: 'suspended',
}

const DEFAULT = 'default'

/** Nova's `_STATE_MAP` (nova/api/openstack/common.py): vm_state -> task_state -> status. */
const STATE_MAP: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  [VmState.ACTIVE]: {
    [DEFAULT]: 'ACTIVE',
    [TaskState.REBOOTING]: 'REBOOT',
    [TaskState.REBOOT_PENDING]: 'REBOOT',
    [TaskState.REBOOT_STARTED]: 'REBOOT',
    [TaskState.REBOOTING_HARD]: 'HARD_REBOOT',
    [TaskState.REBOOT_PENDING_HARD]: 'HARD_REBOOT',
    [TaskState.REBOOT_STARTED_HARD]: 'HARD_REBOOT',
    [TaskState.UPDATING_PASSWORD]: 'PASSWORD',
    [TaskState.REBUILDING]: 'REBUILD',
    [TaskState.REBUILD_BLOCK_DEVICE_MAPPING]: 'REBUILD',
    [TaskState.REBUILD_SPAWNING]: 'REBUILD',
    [TaskState.MIGRATING]: 'MIGRATING',
    [TaskState.RESIZE_PREP]: 'RESIZE',
    [TaskState.RESIZE_MIGRATING]: 'RESIZE',
    [TaskState.RESIZE_MIGRATED]: 'RESIZE',
    [TaskState.RESIZE_FINISH]: 'RESIZE',
  },
  [VmState.BUILDING]: { [DEFAULT]: 'BUILD' },
  [VmState.STOPPED]: {
    [DEFAULT]: 'SHUTOFF',
    [TaskState.RESIZE_PREP]: 'RESIZE',
    [TaskState.RESIZE_MIGRATING]: 'RESIZE',
    [TaskState.RESIZE_MIGRATED]: 'RESIZE',
    [TaskState.RESIZE_FINISH]: 'RESIZE',
    [TaskState.REBUILDING]: 'REBUILD',
    [TaskState.REBUILD_BLOCK_DEVICE_MAPPING]: 'REBUILD',
    [TaskState.REBUILD_SPAWNING]: 'REBUILD',
  },
  [VmState.RESIZED]: { [DEFAULT]: 'VERIFY_RESIZE', [TaskState.RESIZE_REVERTING]: 'REVERT_RESIZE' },
  [VmState.PAUSED]: { [DEFAULT]: 'PAUSED', [TaskState.MIGRATING]: 'MIGRATING' },
  [VmState.SUSPENDED]: { [DEFAULT]: 'SUSPENDED' },
  [VmState.RESCUED]: { [DEFAULT]: 'RESCUE' },
  [VmState.ERROR]: {
    [DEFAULT]: 'ERROR',
    [TaskState.REBUILDING]: 'REBUILD',
    [TaskState.REBUILD_BLOCK_DEVICE_MAPPING]: 'REBUILD',
    [TaskState.REBUILD_SPAWNING]: 'REBUILD',
  },
  [VmState.DELETED]: { [DEFAULT]: 'DELETED' },
  [VmState.SOFT_DELETED]: { [DEFAULT]: 'SOFT_DELETED' },
  [VmState.SHELVED]: { [DEFAULT]: 'SHELVED' },
  [VmState.SHELVED_OFFLOADED]: { [DEFAULT]: 'SHELVED_OFFLOADED' },
}

/** The API `status` of a server in (vmState, taskState); `UNKNOWN` for a pair Nova does not know. */
export function statusFromState(vmState: string, taskState: string | null): string {
  const byTask = STATE_MAP[vmState]
  if (!byTask) return 'UNKNOWN'
  return (taskState !== null ? byTask[taskState] : undefined) ?? byTask[DEFAULT]!
}

/**
 * The (vm_state, task_state) pairs whose status is one of `statuses`
 * (case-insensitive), as Nova's `task_and_vm_state_from_status`. A result
 * whose task states include `'default'` means "any task state".
 */
export function statesFromStatus(statuses: readonly string[]): {
  readonly vmStates: readonly string[]
  readonly taskStates: readonly string[]
} {
  const wanted = new Set(statuses.map((s) => s.toLowerCase()))
  const vmStates = new Set<string>()
  const taskStates = new Set<string>()
  for (const [vmState, byTask] of Object.entries(STATE_MAP)) {
    for (const [taskState, status] of Object.entries(byTask)) {
      if (!wanted.has(status.toLowerCase())) continue
      vmStates.add(vmState)
      taskStates.add(taskState)
    }
  }
  return { vmStates: [...vmStates].sort(), taskStates: [...taskStates].sort() }
}

/** Every status string the API can show; a `status` filter outside it is a 400 from 2.38. */
export const ALL_STATUSES: ReadonlySet<string> = new Set(
  Object.values(STATE_MAP).flatMap((byTask) => Object.values(byTask)),
)

/** The order of the build's task states: each step may only move forward. */
export const BUILD_TASK_STATES: readonly TaskState[] = [
  TaskState.SCHEDULING,
  TaskState.NETWORKING,
  TaskState.BLOCK_DEVICE_MAPPING,
  TaskState.SPAWNING,
]
