import type { FilterVerdict, HostFilter, HostState, RequestSpec, ServerGroupSpec } from '../types.ts'
import { groupMembersOnHost } from '../host-state.ts'
import { counted, rejectedLine } from '../text.ts'

/** Members of one anti-affinity group allowed per host unless `max_server_per_host` says otherwise. */
export const MAX_SERVER_PER_HOST_DEFAULT = 1

/**
 * For a server group with the `anti-affinity` policy: only hosts running
 * fewer than `max_server_per_host` of its members (Nova's
 * ServerGroupAntiAffinityFilter). Runs for every pick: each pick adds a
 * member to the host it lands on.
 */
export class ServerGroupAntiAffinityFilter implements HostFilter {
  readonly name = 'ServerGroupAntiAffinityFilter'

  hostPasses(host: HostState, spec: RequestSpec): FilterVerdict {
    const group = spec.instanceGroup
    if (group?.policy !== 'anti-affinity') return { pass: true }
    const onHost = groupMembersOnHost(host, group)
    const max = maxPerHost(group)
    if (onHost < max) return { pass: true }
    return {
      pass: false,
      reason: `runs ${counted(onHost, 'member')} of anti-affinity group ${group.id} (max_server_per_host ${max})`,
    }
  }

  summarize(rejected: readonly HostState[], considered: number, spec: RequestSpec): string {
    const max = spec.instanceGroup ? maxPerHost(spec.instanceGroup) : MAX_SERVER_PER_HOST_DEFAULT
    const detail = `each already runs ${max} or more members of the anti-affinity group (max_server_per_host ${max})`
    return rejectedLine(this.name, rejected.length, considered, detail)
  }
}

function maxPerHost(group: ServerGroupSpec): number {
  return group.maxServerPerHost ?? MAX_SERVER_PER_HOST_DEFAULT
}
