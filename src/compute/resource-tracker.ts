import type { ComputeConfig } from '../common/config.ts'
import { Conflict, registerErrorClass } from '../common/errors.ts'
import type { ComputeNodeReport, FlavorSnapshot, Instance } from './objects.ts'
import type { NodeResources } from './virt/driver.ts'

/**
 * A compute host's resource tracker (Nova's ResourceTracker): the claims of
 * the instances on each node, checked against the node's totals times the
 * allocation ratios, minus what the host reserves for itself. A claim is
 * made and checked in one synchronous step, so concurrent builds on the host
 * can never claim past the totals (Node runs one step at a time: no await
 * sits between the check and the record). It never touches the database;
 * its reports go to the conductor.
 */

/** Nova's ComputeResourcesUnavailable: "Insufficient compute resources: <reason>." (reschedules the build). */
export class ComputeResourcesUnavailable extends Conflict {}
registerErrorClass(ComputeResourcesUnavailable)

interface Claim {
  readonly node: string
  readonly vcpus: number
  readonly memoryMb: number
  readonly diskGb: number
}

const MB_PER_GB = 1024

export class ResourceTracker {
  readonly #host: string
  readonly #config: ComputeConfig
  readonly #nodes = new Map<string, NodeResources>()
  readonly #claims = new Map<string, Claim>()

  constructor(host: string, config: ComputeConfig) {
    this.#host = host
    this.#config = config
  }

  /** Sets a node's totals as the driver reports them. */
  setNode(resources: NodeResources): void {
    this.#nodes.set(resources.hypervisorHostname, resources)
  }

  /** Re-creates the claims of instances already on the host (at start-up). */
  restore(instances: readonly Instance[]): void {
    for (const i of instances) {
      if (i.node && this.#nodes.has(i.node)) this.#claims.set(i.uuid, claimOf(i, i.node))
    }
  }

  /**
   * Claims the instance's resources on `node`, or throws
   * ComputeResourcesUnavailable saying which resource is short, by how much.
   * Claiming an instance twice is a no-op.
   */
  claim(instance: Instance, node: string): void {
    this.claimFlavor(instance.uuid, instance.flavor, node)
  }

  /**
   * Claims `flavor` on `node` under `key` (a move's destination claim: the
   * instance uuid, or a migration key while the instance holds its own claim
   * on this host). Same checks and errors as `claim`; a claimed key is a no-op.
   */
  claimFlavor(key: string, flavor: FlavorSnapshot, node: string): void {
    if (this.#claims.has(key)) return
    const resources = this.#nodes.get(node)
    if (!resources)
      throw new ComputeResourcesUnavailable(`Insufficient compute resources: unknown node ${node}.`)
    const want = claimOfFlavor(flavor, node)
    const used = this.#usage(node)
    const c = this.#config
    const checks: [string, string, number, number][] = [
      [
        'memory',
        'MB',
        resources.memoryMb * c.ramAllocationRatio - c.reservedHostMemoryMb - used.memoryMb,
        want.memoryMb,
      ],
      [
        'disk',
        'GB',
        resources.localGb * c.diskAllocationRatio - c.reservedHostDiskMb / MB_PER_GB - used.diskGb,
        want.diskGb,
      ],
      ['vcpu', 'VCPU', resources.vcpus * c.cpuAllocationRatio - used.vcpus, want.vcpus],
    ]
    for (const [type, unit, free, requested] of checks) {
      if (requested > free) {
        throw new ComputeResourcesUnavailable(
          `Insufficient compute resources: Free ${type} ${free.toFixed(2)} ${unit} < requested ${requested} ${unit}.`,
        )
      }
    }
    this.#claims.set(key, want)
  }

  /** Moves a claim to another key (a same-host resize confirmed: the new flavor's claim becomes the instance's). */
  rekey(from: string, to: string): void {
    const claim = this.#claims.get(from)
    if (!claim) return
    this.#claims.delete(from)
    this.#claims.set(to, claim)
  }

  /** Releases an instance's claim (failed build, delete). Idempotent. */
  drop(instanceUuid: string): void {
    this.#claims.delete(instanceUuid)
  }

  hasClaim(instanceUuid: string): boolean {
    return this.#claims.has(instanceUuid)
  }

  /** What each node reports to the conductor: totals, usage from claims plus the host's reservation. */
  reports(): ComputeNodeReport[] {
    const c = this.#config
    return [...this.#nodes.values()].map((r) => {
      const used = this.#usage(r.hypervisorHostname)
      return {
        host: this.#host,
        hypervisorHostname: r.hypervisorHostname,
        vcpus: r.vcpus,
        memoryMb: r.memoryMb,
        localGb: r.localGb,
        vcpusUsed: used.vcpus,
        memoryMbUsed: used.memoryMb + c.reservedHostMemoryMb,
        localGbUsed: used.diskGb + Math.floor(c.reservedHostDiskMb / MB_PER_GB),
        runningVms: used.count,
        currentWorkload: 0,
        diskAvailableLeast: r.diskAvailableLeast,
        hypervisorType: r.hypervisorType,
        hypervisorVersion: r.hypervisorVersion,
        cpuInfo: r.cpuInfo,
        hostIp: r.hostIp,
        cpuAllocationRatio: c.cpuAllocationRatio,
        ramAllocationRatio: c.ramAllocationRatio,
        diskAllocationRatio: c.diskAllocationRatio,
        reservedHostMemoryMb: c.reservedHostMemoryMb,
        reservedHostDiskGb: Math.floor(c.reservedHostDiskMb / MB_PER_GB),
      }
    })
  }

  #usage(node: string): { vcpus: number; memoryMb: number; diskGb: number; count: number } {
    let vcpus = 0
    let memoryMb = 0
    let diskGb = 0
    let count = 0
    for (const claim of this.#claims.values()) {
      if (claim.node !== node) continue
      vcpus += claim.vcpus
      memoryMb += claim.memoryMb
      diskGb += claim.diskGb
      count++
    }
    return { vcpus, memoryMb, diskGb, count }
  }
}

function claimOf(instance: Instance, node: string): Claim {
  return claimOfFlavor(instance.flavor, node)
}

function claimOfFlavor(f: FlavorSnapshot, node: string): Claim {
  return {
    node,
    vcpus: f.vcpus,
    memoryMb: f.memoryMb,
    diskGb: f.rootGb + f.ephemeralGb + f.swapMb / MB_PER_GB,
  }
}
