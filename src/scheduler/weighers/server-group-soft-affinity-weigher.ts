import type { HostState, HostWeigher, RequestSpec } from '../types.ts'
import { groupMembersOnHost } from '../host-state.ts'

/**
 * For a server group with the `soft-affinity` policy: prefers hosts running
 * more of its members (Nova's ServerGroupSoftAffinityWeigher). Other
 * requests weigh 0 everywhere, which normalises to no effect.
 */
export class ServerGroupSoftAffinityWeigher implements HostWeigher {
  readonly name = 'ServerGroupSoftAffinityWeigher'

  /** @param multiplier `soft_affinity_weight_multiplier` */
  constructor(readonly multiplier: number) {}

  weigh(host: HostState, spec: RequestSpec): number {
    const group = spec.instanceGroup
    return group?.policy === 'soft-affinity' ? groupMembersOnHost(host, group) : 0
  }
}
