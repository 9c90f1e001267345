import type { FilterVerdict, HostFilter, HostState, RequestSpec } from '../types.ts'
import { distinct, listed, rejectedLine } from '../text.ts'

/**
 * Only hosts in the requested availability zone, when one is requested
 * (Nova's AvailabilityZoneFilter). `HostState.availabilityZone` is already
 * resolved: the host aggregate's zone, or `default_availability_zone`.
 */
export class AvailabilityZoneFilter implements HostFilter {
  readonly name = 'AvailabilityZoneFilter'
  // Zones do not change within a request.
  readonly runOncePerRequest = true

  hostPasses(host: HostState, spec: RequestSpec): FilterVerdict {
    const wanted = spec.availabilityZone
    if (!wanted || host.availabilityZone === wanted) return { pass: true }
    return { pass: false, reason: `host is in zone '${host.availabilityZone}', request asks for '${wanted}'` }
  }

  summarize(rejected: readonly HostState[], considered: number, spec: RequestSpec): string {
    const zones = listed(distinct(rejected.map((h) => `'${h.availabilityZone}'`)))
    const detail = `requested zone '${spec.availabilityZone ?? ''}', hosts are in ${zones}`
    return rejectedLine(this.name, rejected.length, considered, detail)
  }
}
