import { limits } from '../../../common/limits.ts'
import { HostCommandError, run } from '../../../guest-image/exec.ts'
import { PowerState } from '../../states.ts'
import { VirtDriverError, VirtInstanceNotFound } from '../driver.ts'

/** libvirt's messages for a domain it does not know (virsh has no distinct exit code for it). */
const NOT_FOUND_PATTERN = /failed to get domain|Domain not found|no domain with matching/i
/** "operation is not valid: domain is not running" and friends: the state already is what was asked. */
const NOT_RUNNING_PATTERN = /domain is not running|not running/i

/**
 * libvirt through `virsh -c URI`, one bounded process per call. Shelling out
 * keeps Nimbus free of native npm modules: npm's only binding, `libvirt`
 * 1.2.1, is an unmaintained native addon that needs libvirt-dev and a
 * compiler. A call costs tens of milliseconds, far below a boot.
 */
export class Virsh {
  readonly #uri: string

  constructor(uri: string) {
    this.#uri = uri
  }

  get uri(): string {
    return this.#uri
  }

  /** Runs one virsh command; maps "no such domain" to VirtInstanceNotFound. */
  async exec(args: readonly string[], opts: { input?: string; okCodes?: number[] } = {}): Promise<string> {
    try {
      const r = await run(['virsh', '-q', '-c', this.#uri, ...args], {
        timeoutMs: limits.libvirtCommandTimeoutMs,
        ...opts,
      })
      return r.stdout
    } catch (err) {
      if (err instanceof HostCommandError && NOT_FOUND_PATTERN.test(err.message)) {
        throw new VirtInstanceNotFound(`libvirt domain ${args.at(-1)} not found`, { virsh: args[0] })
      }
      if (err instanceof HostCommandError)
        throw new VirtDriverError(err.message, { step: `virsh ${args[0]}` })
      throw err
    }
  }

  /** Like exec, but a missing domain or a domain already stopped is success (idempotent undo/destroy). */
  async execIdempotent(args: readonly string[]): Promise<void> {
    try {
      await this.exec(args)
    } catch (err) {
      if (err instanceof VirtInstanceNotFound) return
      if (err instanceof VirtDriverError && NOT_RUNNING_PATTERN.test(err.message)) return
      throw err
    }
  }

  /** `virsh domstate --reason` as libvirt says it, e.g. `paused (unknown)`. */
  async domstate(domain: string): Promise<string> {
    return (await this.exec(['domstate', '--reason', domain])).trim()
  }

  /** `virsh domstate --reason` mapped to Nova's power states. */
  async powerState(domain: string): Promise<number> {
    return toPowerState(await this.domstate(domain))
  }

  async exists(domain: string): Promise<boolean> {
    try {
      await this.exec(['domid', domain])
      return true
    } catch (err) {
      if (err instanceof VirtInstanceNotFound) return false
      throw err
    }
  }

  /** Names of every domain, running or not. */
  async listAll(): Promise<string[]> {
    const out = await this.exec(['list', '--all', '--name'])
    return out
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
  }
}

/**
 * libvirt state (and reason) -> Nova power state, as nova/virt/libvirt/driver.py
 * LIBVIRT_POWER_STATE, plus "shut off (saved)" = a managed save = SUSPENDED.
 */
export function toPowerState(domstate: string): number {
  const [, state = '', reason = ''] = /^([a-z ]+?)\s*(?:\(([^)]*)\))?$/.exec(domstate.trim()) ?? []
  switch (state) {
    case 'running':
    case 'idle':
    case 'blocked':
    case 'in shutdown':
      return PowerState.RUNNING
    case 'paused':
      return PowerState.PAUSED
    case 'shut off':
      return reason === 'saved' ? PowerState.SUSPENDED : PowerState.SHUTDOWN
    case 'crashed':
      return PowerState.CRASHED
    case 'pmsuspended':
      return PowerState.SUSPENDED
    default:
      return PowerState.NOSTATE
  }
}
