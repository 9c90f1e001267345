import type { HostState, HostWeigher } from '../types.ts'
import { physicalFreeRamMb } from '../host-state.ts'

/**
 * Prefers hosts with more free RAM (Nova's RAMWeigher). The raw weight is
 * physical free RAM, without overcommit, as Nova's `free_ram_mb`. A positive
 * `ram_weight_multiplier` spreads instances; a negative one stacks them.
 */
export class RAMWeigher implements HostWeigher {
  readonly name = 'RAMWeigher'
  // Normalise against 0, not the emptiest host: a host's share is free / most free.
  readonly minval = 0

  /** @param multiplier `ram_weight_multiplier` */
  constructor(readonly multiplier: number) {}

  weigh(host: HostState): number {
    return physicalFreeRamMb(host)
  }
}
