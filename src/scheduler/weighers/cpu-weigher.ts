import type { HostState, HostWeigher } from '../types.ts'
import { freeVcpus } from '../host-state.ts'

/**
 * Prefers hosts with more free vCPUs after overcommit (Nova's CPUWeigher):
 * total x cpu_allocation_ratio - used. A positive `cpu_weight_multiplier`
 * spreads instances; a negative one stacks them.
 */
export class CPUWeigher implements HostWeigher {
  readonly name = 'CPUWeigher'
  // Normalise against 0, not the busiest host: a host's share is free / most free.
  readonly minval = 0

  /** @param multiplier `cpu_weight_multiplier` */
  constructor(readonly multiplier: number) {}

  weigh(host: HostState): number {
    return freeVcpus(host)
  }
}
