import type { FilterVerdict, HostFilter, HostState, RequestSpec } from '../types.ts'
import { sameHostName } from '../host-state.ts'
import { rejectedLine } from '../text.ts'

/**
 * Pseudo-filter for `RequestSpec.ignoreHosts`: hosts where an earlier attempt
 * of this build failed are left out of the reschedule. Nova strips ignored
 * hosts before filtering (and earlier had a RetryFilter for it); Nimbus
 * always runs this first and records it under Nova's old name so the
 * decision record shows why those hosts were not tried again.
 */
export class RetryFilter implements HostFilter {
  readonly name = 'RetryFilter'
  readonly runOncePerRequest = true

  hostPasses(host: HostState, spec: RequestSpec): FilterVerdict {
    if (!spec.ignoreHosts.some((ignored) => sameHostName(ignored, host.host))) return { pass: true }
    return { pass: false, reason: 'an earlier attempt of this build failed here' }
  }

  summarize(rejected: readonly HostState[], considered: number): string {
    const detail = 'an earlier attempt of this build failed on each'
    return rejectedLine(this.name, rejected.length, considered, detail)
  }
}
