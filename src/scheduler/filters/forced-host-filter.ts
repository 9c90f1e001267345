import type { FilterVerdict, HostFilter, HostState, RequestSpec } from '../types.ts'
import { sameHostName } from '../host-state.ts'
import { rejectedLine } from '../text.ts'

/**
 * Pseudo-filter for `RequestSpec.forceHost` (`availability_zone=zone:host`):
 * only the forced host stays. As in Nova, forcing skips every other filter:
 * the admin is taking responsibility for the placement.
 */
export class ForcedHostFilter implements HostFilter {
  readonly name = 'ForcedHost'
  readonly runOncePerRequest = true

  hostPasses(host: HostState, spec: RequestSpec): FilterVerdict {
    const forced = spec.forceHost
    if (!forced || sameHostName(forced, host.host)) return { pass: true }
    return { pass: false, reason: `an admin forced host '${forced}'` }
  }

  summarize(rejected: readonly HostState[], considered: number, spec: RequestSpec): string {
    const detail = `forced host '${spec.forceHost ?? ''}' is not among the candidate hosts`
    return rejectedLine(this.name, rejected.length, considered, detail)
  }
}
