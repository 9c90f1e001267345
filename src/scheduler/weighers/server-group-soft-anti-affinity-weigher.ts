import type { HostState, HostWeigher, RequestSpec } from '../types.ts'
import { groupMembersOnHost } from '../host-state.ts'

/**
 * For a server group with the `soft-anti-affinity` policy: prefers hosts
 * running fewer of its members (Nova's ServerGroupSoftAntiAffinityWeigher;
 * the raw weight is minus the member count). Other requests weigh 0
 * everywhere, which normalises to no effect.
 */
export class ServerGroupSoftAntiAffinityWeigher implements HostWeigher {
  readonly name = 'ServerGroupSoftAntiAffinityWeigher'

  /** @param multiplier `soft_anti_affinity_weight_multiplier` */
  constructor(readonly multiplier: number) {}

  weigh(host: HostState, spec: RequestSpec): number {
    const group = spec.instanceGroup
    return group?.policy === 'soft-anti-affinity' ? -groupMembersOnHost(host, group) : 0
  }
}
