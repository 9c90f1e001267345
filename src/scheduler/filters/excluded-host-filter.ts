import type { FilterVerdict, HostFilter, HostState, RequestSpec } from '../types.ts'
import { sameHostName } from '../host-state.ts'
import { distinct, rejectedLine } from '../text.ts'

/**
 * Pseudo-filter for `RequestSpec.excludedHosts`: hosts the caller left out
 * for a reason of its own, recorded with that reason. A move leaves out the
 * server's own host unless `[compute] allow_resize_to_same_host` (or
 * `allow_migrate_to_same_host`) is on; Nova folds that into `ignore_hosts`,
 * so its NoValidHost reads like a failed retry. Here the record says which
 * option kept the host out.
 */
export class ExcludedHostFilter implements HostFilter {
  readonly name = 'ExcludedHost'
  readonly runOncePerRequest = true

  hostPasses(host: HostState, spec: RequestSpec): FilterVerdict {
    const excluded = (spec.excludedHosts ?? []).find((e) => sameHostName(e.host, host.host))
    return excluded ? { pass: false, reason: excluded.reason } : { pass: true }
  }

  summarize(rejected: readonly HostState[], considered: number, spec: RequestSpec): string {
    const reasons = distinct(
      rejected.map((h) => (spec.excludedHosts ?? []).find((e) => sameHostName(e.host, h.host))?.reason ?? ''),
    ).filter(Boolean)
    return rejectedLine(this.name, rejected.length, considered, reasons.join('; '))
  }
}
