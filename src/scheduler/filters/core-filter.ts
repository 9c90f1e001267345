import type { FilterVerdict, HostFilter, HostState, RequestSpec } from '../types.ts'
import { freeVcpus } from '../host-state.ts'
import { amount, mostOf, ratio, rejectedLine, vcpus } from '../text.ts'

/**
 * Only hosts with room for the flavor's vCPUs after overcommit (Nova's
 * CoreFilter): free = total x cpu_allocation_ratio - used. An instance may
 * not have more vCPUs than the host has physical ones. A host that reports
 * no vCPUs passes, as in Nova: that means CPU collection is broken, and
 * refusing would take the host out of service for a reporting fault.
 */
export class CoreFilter implements HostFilter {
  readonly name = 'CoreFilter'

  hostPasses(host: HostState, spec: RequestSpec): FilterVerdict {
    if (!host.totalVcpus) return { pass: true }
    const needed = spec.flavor.vcpus
    if (host.totalVcpus < needed) {
      return { pass: false, reason: `needs ${vcpus(needed)}, host has ${vcpus(host.totalVcpus)} in total` }
    }
    const free = freeVcpus(host)
    if (free >= needed) return { pass: true }
    const sum = `${host.totalVcpus} x ${ratio(host.cpuAllocationRatio)} - ${amount(host.usedVcpus)} used`
    return { pass: false, reason: `needs ${vcpus(needed)}, ${vcpus(free)} free (${sum})` }
  }

  summarize(rejected: readonly HostState[], considered: number, spec: RequestSpec): string {
    const most = mostOf(rejected.map((h) => Math.min(freeVcpus(h), h.totalVcpus)))
    const detail = `needs ${vcpus(spec.flavor.vcpus)}, most free ${vcpus(most)}`
    return rejectedLine(this.name, rejected.length, considered, detail)
  }
}
