import type { FilterVerdict, HostFilter, HostState } from '../types.ts'
import { rejectedLine } from '../text.ts'

/**
 * Only hosts whose compute service is enabled and up (Nova's ComputeFilter).
 * A disabled service is reported before a down one, as in Nova, because an
 * admin disabling a host is the more deliberate fact.
 */
export class ComputeFilter implements HostFilter {
  readonly name = 'ComputeFilter'
  // Service state does not change within a request.
  readonly runOncePerRequest = true

  hostPasses(host: HostState): FilterVerdict {
    if (host.serviceDisabled) {
      return {
        pass: false,
        reason: `compute service disabled: ${host.serviceDisabledReason || 'no reason given'}`,
      }
    }
    if (!host.serviceUp) {
      return {
        pass: false,
        reason: 'compute service down: no heartbeat within service_down_time, or forced down',
      }
    }
    return { pass: true }
  }

  summarize(rejected: readonly HostState[], considered: number): string {
    const disabled = rejected.filter((h) => h.serviceDisabled).length
    const down = rejected.length - disabled
    return rejectedLine(this.name, rejected.length, considered, `${disabled} disabled, ${down} down`)
  }
}
