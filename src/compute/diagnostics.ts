import { Conflict, NotImplemented } from '../common/errors.ts'
import type { Instance } from './objects.ts'
import { POWER_STATE_NAMES, PowerState } from './states.ts'
import type { VirtDriver, VirtInstance } from './virt/driver.ts'
import type { GuestDiagnostics } from './virt/diagnostics.ts'

/**
 * The compute host's side of `GET /servers/{id}/diagnostics` (Nova's
 * `ComputeManager.get_instance_diagnostics`): only a running guest answers;
 * the driver's numbers plus what the instance record knows.
 */
export interface InstanceDiagnostics extends GuestDiagnostics {
  /** Power state name, e.g. `running`. */
  readonly state: string
  readonly uptimeS: number | null
  readonly configDrive: boolean
}

export async function instanceDiagnostics(
  driver: VirtDriver,
  instance: Instance,
  guest: VirtInstance,
  nowMs = Date.now(),
): Promise<InstanceDiagnostics> {
  const { powerState } = await driver.getInfo(guest)
  if (powerState !== PowerState.RUNNING) {
    throw new Conflict(
      `Cannot 'get_diagnostics' instance ${instance.uuid} while it is in power state ${POWER_STATE_NAMES[powerState] ?? powerState}`,
    )
  }
  if (!driver.getDiagnostics) throw new NotImplemented('Feature not supported.')
  const diag = await driver.getDiagnostics(guest)
  return {
    ...diag,
    state: POWER_STATE_NAMES[powerState] ?? 'running',
    uptimeS: instance.launchedAt
      ? Math.max(0, Math.trunc((nowMs - Date.parse(instance.launchedAt)) / 1000))
      : null,
    configDrive: instance.configDrive === 'True',
  }
}
