import type { FilterVerdict, HostFilter, HostState, RequestSpec } from '../types.ts'
import { rejectedLine } from '../text.ts'
import { hintUuids } from './hints.ts'

/**
 * With the `same_host` hint: only hosts running at least one of the named
 * instances (Nova's SameHostFilter). No hint, or an empty one, passes all.
 */
export class SameHostFilter implements HostFilter {
  readonly name = 'SameHostFilter'
  // Where the named instances run does not change within a request.
  readonly runOncePerRequest = true

  hostPasses(host: HostState, spec: RequestSpec): FilterVerdict {
    const wanted = hintUuids(spec, 'same_host')
    if (wanted.length === 0 || wanted.some((uuid) => host.instanceUuids.includes(uuid))) return { pass: true }
    return { pass: false, reason: `runs none of the same_host instances ${wanted.join(', ')}` }
  }

  summarize(rejected: readonly HostState[], considered: number): string {
    return rejectedLine(this.name, rejected.length, considered, 'none runs an instance named in same_host')
  }
}
