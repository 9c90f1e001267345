import type { FilterVerdict, HostFilter, HostState, RequestSpec } from '../types.ts'
import { freeDiskGb, requestedDiskGb } from '../host-state.ts'
import { amount, mostOf, ratio, rejectedLine } from '../text.ts'

/**
 * Only hosts with room for the flavor's root + ephemeral + swap disk after
 * overcommit (Nova's DiskFilter): free = total x disk_allocation_ratio -
 * used - reserved. The instance must also fit in the host's physical disk.
 */
export class DiskFilter implements HostFilter {
  readonly name = 'DiskFilter'

  hostPasses(host: HostState, spec: RequestSpec): FilterVerdict {
    const needed = requestedDiskGb(spec.flavor)
    if (host.totalDiskGb < needed) {
      return {
        pass: false,
        reason: `needs ${amount(needed)} GB, host has ${amount(host.totalDiskGb)} GB in total`,
      }
    }
    const free = freeDiskGb(host)
    if (free >= needed) return { pass: true }
    const sum =
      `${amount(host.totalDiskGb)} GB x ${ratio(host.diskAllocationRatio)} - ` +
      `${amount(host.usedDiskGb)} GB used - ${amount(host.reservedDiskGb)} GB reserved`
    return { pass: false, reason: `needs ${amount(needed)} GB, ${amount(free)} GB free (${sum})` }
  }

  summarize(rejected: readonly HostState[], considered: number, spec: RequestSpec): string {
    const most = mostOf(rejected.map((h) => Math.min(freeDiskGb(h), h.totalDiskGb)))
    const detail = `needs ${amount(requestedDiskGb(spec.flavor))} GB disk, most free ${amount(most)} GB`
    return rejectedLine(this.name, rejected.length, considered, detail)
  }
}
