import type { HostState, HostWeigher } from '../types.ts'
import { physicalFreeDiskMb } from '../host-state.ts'

/**
 * Prefers hosts with more free disk (Nova's DiskWeigher). The raw weight is
 * physical free disk in MB, as Nova's `free_disk_mb`. A positive
 * `disk_weight_multiplier` spreads instances; a negative one stacks them.
 */
export class DiskWeigher implements HostWeigher {
  readonly name = 'DiskWeigher'
  // Normalise against 0, not the fullest host: a host's share is free / most free.
  readonly minval = 0

  /** @param multiplier `disk_weight_multiplier` */
  constructor(readonly multiplier: number) {}

  weigh(host: HostState): number {
    return physicalFreeDiskMb(host)
  }
}
