import type { FilterVerdict, HostFilter, HostState, RequestSpec } from '../types.ts'
import { rejectedLine } from '../text.ts'
import { hintUuids } from './hints.ts'

/**
 * With the `different_host` hint: only hosts running none of the named
 * instances (Nova's DifferentHostFilter). No hint, or an empty one, passes all.
 */
export class DifferentHostFilter implements HostFilter {
  readonly name = 'DifferentHostFilter'
  // Where the named instances run does not change within a request.
  readonly runOncePerRequest = true

  hostPasses(host: HostState, spec: RequestSpec): FilterVerdict {
    const avoid = hintUuids(spec, 'different_host')
    const present = avoid.filter((uuid) => host.instanceUuids.includes(uuid))
    if (present.length === 0) return { pass: true }
    return { pass: false, reason: `runs different_host instance ${present.join(', ')}` }
  }

  summarize(rejected: readonly HostState[], considered: number): string {
    return rejectedLine(
      this.name,
      rejected.length,
      considered,
      'each runs an instance named in different_host',
    )
  }
}
