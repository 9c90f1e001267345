import type { FilterVerdict, HostFilter, HostState, RequestSpec } from '../types.ts'
import { distinct, listed, rejectedLine } from '../text.ts'
import { parseVersionPredicate, satisfies, versionToString } from '../version-predicate.ts'

/** What an image asks of a host, canonicalised; undefined = no requirement. */
interface ImageNeeds {
  readonly arch?: string | undefined
  readonly hvType?: string | undefined
  readonly vmMode?: string | undefined
  readonly hvVersion?: string | undefined
}

/**
 * Only hosts whose hypervisor can run the image (Nova's
 * ImagePropertiesFilter): the image's `hw_architecture`, `img_hv_type` and
 * `hw_vm_mode` (or their pre-Liberty names `architecture`, `hypervisor_type`,
 * `vm_mode`) must match what the host offers, and `img_hv_requested_version`
 * must hold for the host's hypervisor version. An image that asks nothing
 * fits everywhere.
 */
export class ImagePropertiesFilter implements HostFilter {
  readonly name = 'ImagePropertiesFilter'
  // Image properties and host capabilities do not change within a request.
  readonly runOncePerRequest = true
  readonly #defaultArchitecture: string | undefined

  /** @param defaultArchitecture `image_properties_default_architecture`, assumed when an image names none. */
  constructor(defaultArchitecture?: string) {
    this.#defaultArchitecture = defaultArchitecture
  }

  hostPasses(host: HostState, spec: RequestSpec): FilterVerdict {
    const needs = this.#needs(spec)
    if (!needs.arch && !needs.hvType && !needs.vmMode) return { pass: true }
    if (!host.cpuArch && !host.hypervisorType && host.supportedVmModes.length === 0) {
      return { pass: false, reason: 'host advertises no supported instance types' }
    }
    const problems = mismatches(needs, host)
    return problems.length === 0 ? { pass: true } : { pass: false, reason: problems.join('; ') }
  }

  summarize(rejected: readonly HostState[], considered: number, spec: RequestSpec): string {
    const n = this.#needs(spec)
    const wanted = [
      n.arch && `architecture ${n.arch}`,
      n.hvType && `hypervisor type ${n.hvType}`,
      n.vmMode && `vm mode ${n.vmMode}`,
      n.hvVersion && `hypervisor version ${n.hvVersion}`,
    ].filter(Boolean)
    const offers = listed(distinct(rejected.map(describeHost)))
    return rejectedLine(
      this.name,
      rejected.length,
      considered,
      `image needs ${wanted.join(', ')}; hosts offer ${offers}`,
    )
  }

  #needs(spec: RequestSpec): ImageNeeds {
    const props = spec.image.properties
    // The current property name wins over the legacy one, as in Nova's ImageMetaProps.
    const prop = (current: string, legacy: string): string | undefined => props[current] ?? props[legacy]
    return {
      arch: canonicalArch(prop('hw_architecture', 'architecture') ?? this.#defaultArchitecture),
      hvType: canonicalHvType(prop('img_hv_type', 'hypervisor_type')),
      vmMode: canonicalVmMode(prop('hw_vm_mode', 'vm_mode')),
      hvVersion: props['img_hv_requested_version'] || undefined,
    }
  }
}

function mismatches(needs: ImageNeeds, host: HostState): string[] {
  const problems: string[] = []
  const hostArch = canonicalArch(host.cpuArch)
  if (needs.arch && needs.arch !== hostArch) {
    problems.push(`image needs architecture ${needs.arch}, host is ${hostArch ?? 'unknown'}`)
  }
  const hvTypes = hostHvTypes(host)
  if (needs.hvType && !hvTypes.includes(needs.hvType)) {
    problems.push(`image needs hypervisor type ${needs.hvType}, host offers ${hvTypes.join(', ') || 'none'}`)
  }
  const vmModes = host.supportedVmModes.map((m) => canonicalVmMode(m) ?? m)
  if (needs.vmMode && !vmModes.includes(needs.vmMode)) {
    problems.push(`image needs vm mode ${needs.vmMode}, host offers ${vmModes.join(', ') || 'none'}`)
  }
  const versionProblem = needs.hvVersion && checkVersion(needs.hvVersion, host.hypervisorVersion)
  if (versionProblem) problems.push(versionProblem)
  return problems
}

/** Why the host's hypervisor version fails `wanted`, or undefined when it holds. */
function checkVersion(wanted: string, hostVersion: number): string | undefined {
  // Nova skips the check when the host reports no version.
  if (!hostVersion) return undefined
  const predicate = parseVersionPredicate(wanted)
  if (!predicate) return `img_hv_requested_version '${wanted}' is not a version predicate`
  if (satisfies(hostVersion, predicate)) return undefined
  return `image needs hypervisor version ${wanted}, host has ${versionToString(hostVersion)}`
}

/**
 * Hypervisor types the host can run. libvirt offers both `kvm` and `qemu`
 * domains where KVM is usable, so a `kvm` host also takes `qemu` images.
 */
function hostHvTypes(host: HostState): string[] {
  const own = canonicalHvType(host.hypervisorType)
  if (!own) return []
  return own === 'kvm' ? ['kvm', 'qemu'] : [own]
}

function describeHost(host: HostState): string {
  const modes = host.supportedVmModes.join('+') || 'none'
  return `${host.cpuArch || '?'}/${host.hypervisorType || '?'}/${modes}`
}

/** Nova's Architecture.canonicalize: lower case, old 32-bit x86 names to i686, amd64 to x86_64. */
function canonicalArch(name: string | undefined): string | undefined {
  if (!name) return undefined
  const lower = name.toLowerCase()
  if (['i386', 'i486', 'i586', 'x86_32', 'x86_32p'].includes(lower)) return 'i686'
  return lower === 'amd64' ? 'x86_64' : lower
}

/** Nova's HVType.canonicalize: lower case, `xapi` is `xen`. */
function canonicalHvType(name: string | undefined): string | undefined {
  if (!name) return undefined
  const lower = name.toLowerCase()
  return lower === 'xapi' ? 'xen' : lower
}

/** Nova's VMMode.canonicalize: lower case; pre-Folsom `pv` is `xen`, `hv` and `baremetal` are `hvm`. */
function canonicalVmMode(name: string | undefined): string | undefined {
  if (!name) return undefined
  const lower = name.toLowerCase()
  if (lower === 'pv') return 'xen'
  return lower === 'hv' || lower === 'baremetal' ? 'hvm' : lower
}
