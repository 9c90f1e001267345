import type { FilterVerdict, HostFilter, HostState, RequestSpec } from '../types.ts'
import { counted, rejectedLine } from '../text.ts'

/**
 * For a server group with the `affinity` policy: once any member has a host,
 * only that host (Nova's ServerGroupAffinityFilter). Runs for every pick, so
 * in a multi-create the first pick decides the host for the rest.
 */
export class ServerGroupAffinityFilter implements HostFilter {
  readonly name = 'ServerGroupAffinityFilter'

  hostPasses(host: HostState, spec: RequestSpec): FilterVerdict {
    const group = spec.instanceGroup
    if (group?.policy !== 'affinity' || group.hosts.length === 0) return { pass: true }
    if (group.hosts.includes(host.host)) return { pass: true }
    return { pass: false, reason: `affinity group ${group.id} runs on ${group.hosts.join(', ')}, not here` }
  }

  summarize(rejected: readonly HostState[], considered: number, spec: RequestSpec): string {
    const hosts = spec.instanceGroup?.hosts.length ?? 0
    const detail = `affinity group members already run on ${counted(hosts, 'other host')}`
    return rejectedLine(this.name, rejected.length, considered, detail)
  }
}
