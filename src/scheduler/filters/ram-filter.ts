import type { FilterVerdict, HostFilter, HostState, RequestSpec } from '../types.ts'
import { freeRamMb } from '../host-state.ts'
import { amount, mostOf, ratio, rejectedLine } from '../text.ts'

/**
 * Only hosts with room for the flavor's RAM after overcommit (Nova's
 * RamFilter): free = total x ram_allocation_ratio - used - reserved. As in
 * Nova, an instance may overcommit against other instances but never
 * against itself: it must also fit in the host's physical RAM.
 */
export class RamFilter implements HostFilter {
  readonly name = 'RamFilter'

  hostPasses(host: HostState, spec: RequestSpec): FilterVerdict {
    const needed = spec.flavor.memoryMb
    if (host.totalMemoryMb < needed) {
      return { pass: false, reason: `needs ${needed} MB, host has ${amount(host.totalMemoryMb)} MB in total` }
    }
    const free = freeRamMb(host)
    if (free >= needed) return { pass: true }
    const sum =
      `${amount(host.totalMemoryMb)} MB x ${ratio(host.ramAllocationRatio)} - ` +
      `${amount(host.usedMemoryMb)} MB used - ${amount(host.reservedMemoryMb)} MB reserved`
    return { pass: false, reason: `needs ${needed} MB, ${amount(free)} MB free (${sum})` }
  }

  summarize(rejected: readonly HostState[], considered: number, spec: RequestSpec): string {
    const most = mostOf(rejected.map(usableForOneMb))
    const detail = `needs ${spec.flavor.memoryMb} MB, most free ${amount(most)} MB`
    return rejectedLine(this.name, rejected.length, considered, detail)
  }
}

/** The most RAM one instance could get here: free after overcommit, capped by physical RAM. */
function usableForOneMb(host: HostState): number {
  return Math.min(freeRamMb(host), host.totalMemoryMb)
}
