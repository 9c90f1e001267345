import { Invalid } from '../../common/errors.ts'

/**
 * Validation of flavor extra specs from microversion 2.86 (Nova's
 * nova/api/validation/extra_specs): a known spec must have a valid value; a
 * name in a known namespace that matches no known spec is refused; anything
 * else (another namespace, or no namespace) passes.
 *
 * The table lists every spec Nova Zed knows, with its value constraints.
 * Nova enumerates the standard traits (os-traits) and resource classes
 * (os-resource-classes) one by one; Nimbus accepts any upper-case name in
 * the `trait` and `resources` namespaces instead, with the same value rules.
 */
interface SpecRule {
  /** The spec name, with `{param}` placeholders. */
  readonly name: string
  readonly type: 'str' | 'int' | 'bool'
  readonly enum?: readonly (string | number)[]
  /** A full-match pattern for string values. */
  readonly pattern?: string
  readonly min?: number
  readonly max?: number
  /** Placeholder -> pattern. */
  readonly params?: Readonly<Record<string, string>>
}

const GROUP = '([a-zA-Z0-9_-]{1,64})?'

const RULES: readonly SpecRule[] = [
  { name: 'accel:device_profile', type: 'str' },
  { name: 'aggregate_instance_extra_specs:{key}', type: 'str', params: { key: '.+' } },
  { name: 'capabilities:id', type: 'str' },
  { name: 'capabilities:uuid', type: 'str' },
  { name: 'capabilities:service_id', type: 'str' },
  { name: 'capabilities:host', type: 'str' },
  { name: 'capabilities:vcpus', type: 'str' },
  { name: 'capabilities:memory_mb', type: 'str' },
  { name: 'capabilities:local_gb', type: 'str' },
  { name: 'capabilities:vcpus_used', type: 'str' },
  { name: 'capabilities:memory_mb_used', type: 'str' },
  { name: 'capabilities:local_gb_used', type: 'str' },
  { name: 'capabilities:hypervisor_type', type: 'str' },
  { name: 'capabilities:hypervisor_version', type: 'str' },
  { name: 'capabilities:hypervisor_hostname', type: 'str' },
  { name: 'capabilities:free_ram_mb', type: 'str' },
  { name: 'capabilities:free_disk_gb', type: 'str' },
  { name: 'capabilities:current_workload', type: 'str' },
  { name: 'capabilities:running_vms', type: 'str' },
  { name: 'capabilities:disk_available_least', type: 'str' },
  { name: 'capabilities:host_ip', type: 'str' },
  { name: 'capabilities:mapped', type: 'str' },
  { name: 'capabilities:cpu_allocation_ratio', type: 'str' },
  { name: 'capabilities:ram_allocation_ratio', type: 'str' },
  { name: 'capabilities:disk_allocation_ratio', type: 'str' },
  { name: 'capabilities:total_usable_ram_mb', type: 'str' },
  { name: 'capabilities:total_usable_disk_gb', type: 'str' },
  { name: 'capabilities:disk_mb_used', type: 'str' },
  { name: 'capabilities:free_disk_mb', type: 'str' },
  { name: 'capabilities:vcpus_total', type: 'str' },
  { name: 'capabilities:vcpus_used', type: 'str' },
  { name: 'capabilities:num_instances', type: 'str' },
  { name: 'capabilities:num_io_ops', type: 'str' },
  { name: 'capabilities:failed_builds', type: 'str' },
  { name: 'capabilities:aggregates', type: 'str' },
  { name: 'capabilities:cell_uuid', type: 'str' },
  { name: 'capabilities:updated', type: 'str' },
  { name: 'capabilities:cpu_info{filter}', type: 'str', params: { filter: '(:\\w+)*' } },
  { name: 'capabilities:metrics{filter}', type: 'str', params: { filter: '(:\\w+)*' } },
  { name: 'capabilities:stats{filter}', type: 'str', params: { filter: '(:\\w+)*' } },
  { name: 'capabilities:numa_topology{filter}', type: 'str', params: { filter: '(:\\w+)*' } },
  { name: 'capabilities:supported_hv_specs{filter}', type: 'str', params: { filter: '(:\\w+)*' } },
  { name: 'capabilities:pci_device_pools{filter}', type: 'str', params: { filter: '(:\\w+)*' } },
  { name: 'capabilities:nodename{filter}', type: 'str', params: { filter: '(:\\w+)*' } },
  { name: 'capabilities:pci_stats{filter}', type: 'str', params: { filter: '(:\\w+)*' } },
  { name: 'capabilities:supported_instances{filter}', type: 'str', params: { filter: '(:\\w+)*' } },
  { name: 'capabilities:limits{filter}', type: 'str', params: { filter: '(:\\w+)*' } },
  { name: 'capabilities:instances{filter}', type: 'str', params: { filter: '(:\\w+)*' } },
  { name: 'hw:cpu_realtime', type: 'bool' },
  { name: 'hw:cpu_realtime_mask', type: 'str', pattern: '(\\^)?\\d+((-\\d+)?(,\\^?\\d+(-\\d+)?)?)*' },
  { name: 'hw:hide_hypervisor_id', type: 'bool' },
  { name: 'hw:cpu_policy', type: 'str', enum: ['dedicated', 'shared', 'mixed'] },
  { name: 'hw:cpu_thread_policy', type: 'str', enum: ['prefer', 'isolate', 'require'] },
  { name: 'hw:emulator_threads_policy', type: 'str', enum: ['isolate', 'share'] },
  { name: 'hw:cpu_dedicated_mask', type: 'str', pattern: '\\^?\\d+((-\\d+)?(,\\^?\\d+(-\\d+)?)?)*' },
  { name: 'hw:mem_page_size', type: 'str', pattern: '(large|small|any|\\d+([kKMGT]i?)?(b|bit|B)?)' },
  { name: 'hw:locked_memory', type: 'bool' },
  { name: 'hw:numa_nodes', type: 'int', min: 1 },
  {
    name: 'hw:numa_cpus.{num}',
    type: 'str',
    pattern: '\\^?\\d+((-\\d+)?(,\\^?\\d+(-\\d+)?)?)*',
    params: { num: '\\d+' },
  },
  { name: 'hw:numa_mem.{num}', type: 'int', min: 1, params: { num: '\\d+' } },
  { name: 'hw:pci_numa_affinity_policy', type: 'str', enum: ['required', 'preferred', 'legacy', 'socket'] },
  { name: 'hw:cpu_sockets', type: 'int', min: 1 },
  { name: 'hw:cpu_cores', type: 'int', min: 1 },
  { name: 'hw:cpu_threads', type: 'int', min: 1 },
  { name: 'hw:max_cpu_sockets', type: 'int', min: 1 },
  { name: 'hw:max_cpu_cores', type: 'int', min: 1 },
  { name: 'hw:max_cpu_threads', type: 'int', min: 1 },
  { name: 'hw:boot_menu', type: 'bool' },
  { name: 'hw:vif_multiqueue_enabled', type: 'bool' },
  { name: 'hw:mem_encryption', type: 'bool' },
  { name: 'hw:pmem', type: 'str', pattern: '([a-zA-Z0-9_]+(,)?)+' },
  { name: 'hw:pmu', type: 'bool' },
  { name: 'hw:serial_port_count', type: 'int', min: 0 },
  { name: 'hw:tpm_model', type: 'str', enum: ['tpm-tis', 'tpm-crb'] },
  { name: 'hw:tpm_version', type: 'str', enum: ['1.2', '2.0'] },
  { name: 'hw:watchdog_action', type: 'str', enum: ['none', 'pause', 'poweroff', 'reset', 'disabled'] },
  { name: 'hw:viommu_model', type: 'str', enum: ['intel', 'smmuv3', 'virtio', 'auto'] },
  { name: 'hw:ephemeral_encryption', type: 'bool' },
  { name: 'hw:ephemeral_encryption_format', type: 'str', enum: ['plain', 'luks', 'luksv2'] },
  { name: 'hw_rng:allowed', type: 'bool' },
  { name: 'hw_rng:rate_bytes', type: 'int', min: 0 },
  { name: 'hw_rng:rate_period', type: 'int', min: 0 },
  { name: 'hw_video:ram_max_mb', type: 'int', min: 0 },
  { name: 'hide_hypervisor_id', type: 'bool' },
  { name: 'group_policy', type: 'str', enum: ['isolate', 'none'] },
  { name: 'os:secure_boot', type: 'str', enum: ['disabled', 'required'] },
  {
    name: 'os:resolution',
    type: 'str',
    enum: ['1024x768', '1280x1024', '1600x1200', '1920x1200', '2560x1600', '3840x2160'],
  },
  { name: 'os:monitors', type: 'int', min: 1, max: 8 },
  { name: 'os:vram', type: 'str', enum: ['64', '128', '256', '512', '1024'] },
  { name: 'pci_passthrough:alias', type: 'str', pattern: '[^:]+:\\d+(?:\\s*,\\s*[^:]+:\\d+)*' },
  { name: 'quota:cpu_limit', type: 'int', min: 0 },
  { name: 'quota:cpu_reservation', type: 'int' },
  { name: 'quota:cpu_shares_level', type: 'str', enum: ['custom', 'high', 'normal', 'low'] },
  { name: 'quota:cpu_shares_share', type: 'int', min: 0 },
  { name: 'quota:memory_limit', type: 'int', min: 0 },
  { name: 'quota:memory_reservation', type: 'int' },
  { name: 'quota:memory_shares_level', type: 'str', enum: ['custom', 'high', 'normal', 'low'] },
  { name: 'quota:memory_shares_share', type: 'int', min: 0 },
  { name: 'quota:disk_io_limit', type: 'int', min: 0 },
  { name: 'quota:disk_io_reservation', type: 'int' },
  { name: 'quota:disk_io_shares_level', type: 'str', enum: ['custom', 'high', 'normal', 'low'] },
  { name: 'quota:disk_io_shares_share', type: 'int', min: 0 },
  { name: 'quota:vif_limit', type: 'int', min: 0 },
  { name: 'quota:vif_reservation', type: 'int' },
  { name: 'quota:vif_shares_level', type: 'str', enum: ['custom', 'high', 'normal', 'low'] },
  { name: 'quota:vif_shares_share', type: 'int', min: 0 },
  { name: 'quota:cpu_shares', type: 'int', min: 0 },
  { name: 'quota:cpu_period', type: 'int', min: 0 },
  { name: 'quota:cpu_quota', type: 'int' },
  { name: 'quota:disk_read_bytes_sec', type: 'int', min: 0 },
  { name: 'quota:disk_read_iops_sec', type: 'int', min: 0 },
  { name: 'quota:disk_write_bytes_sec', type: 'int', min: 0 },
  { name: 'quota:disk_write_iops_sec', type: 'int', min: 0 },
  { name: 'quota:disk_total_bytes_sec', type: 'int', min: 0 },
  { name: 'quota:disk_total_iops_sec', type: 'int', min: 0 },
  { name: 'quota:vif_inbound_average', type: 'int', min: 0 },
  { name: 'quota:vif_inbound_peak', type: 'int', min: 0 },
  { name: 'quota:vif_inbound_burst', type: 'int', min: 0 },
  { name: 'quota:vif_outbound_average', type: 'int', min: 0 },
  { name: 'quota:vif_outbound_peak', type: 'int', min: 0 },
  { name: 'quota:vif_outbound_burst', type: 'int', min: 0 },
  {
    name: 'resources{group}:CUSTOM_{resource}',
    type: 'int',
    params: { group: '([a-zA-Z0-9_-]{1,64})?', resource: '[A-Z0-9_]+' },
  },
  {
    name: 'trait{group}:CUSTOM_{trait}',
    type: 'str',
    enum: ['required', 'forbidden'],
    params: { group: '([a-zA-Z0-9_-]{1,64})?', trait: '[A-Z0-9_]+' },
  },
  { name: 'vmware:hw_version', type: 'str' },
  { name: 'vmware:storage_policy', type: 'str' },
  {
    name: 'trait{group}:{trait}',
    type: 'str',
    enum: ['required', 'forbidden'],
    params: { group: GROUP, trait: '[A-Z0-9_]+' },
  },
  { name: 'resources{group}:{resource}', type: 'int', params: { group: GROUP, resource: '[A-Z0-9_]+' } },
]

interface CompiledRule {
  readonly rule: SpecRule
  readonly nameRe: RegExp
  readonly valueRe?: RegExp | undefined
}

/** A Python pattern as a JS one: named groups are written `(?P<name>...)` in Python. */
function jsPattern(python: string): string {
  return python.replace(/\(\?P</g, '(?<')
}

function compile(rule: SpecRule): CompiledRule {
  let name = rule.name.replace(/[.*+?^$()|[\]\\]/g, '\\$&')
  for (const [param, pattern] of Object.entries(rule.params ?? {})) {
    name = name.replace(`{${param}}`, `(?<${param}>${jsPattern(pattern)})`)
  }
  return {
    rule,
    nameRe: new RegExp(`^(?:${name})$`, 'u'),
    valueRe: rule.pattern === undefined ? undefined : new RegExp(`^(?:${jsPattern(rule.pattern)})$`, 'u'),
  }
}

const COMPILED: readonly CompiledRule[] = RULES.map(compile)
const BY_NAME = new Map(COMPILED.filter((c) => !c.rule.params).map((c) => [c.rule.name, c]))
/** Namespace patterns (the part of each rule's name before the colon). */
const NAMESPACES: readonly RegExp[] = [
  ...new Set(
    COMPILED.filter((c) => c.rule.name.includes(':')).map((c) => c.nameRe.source.slice(4).split(':')[0]!),
  ),
].map((ns) => new RegExp(`^(?:${ns})$`, 'u'))

function refuse(message: string): never {
  throw new Invalid(`Validation failed; ${message}`)
}

/** Nova's `validators.validate(name, value)`; Invalid (400) with Nova's message when it fails. */
export function validateExtraSpec(name: string, value: string): void {
  const rule = BY_NAME.get(name) ?? COMPILED.find((c) => c.nameRe.test(name))
  if (rule) {
    checkValue(rule, value)
    return
  }
  if (!name.includes(':')) return
  const namespace = name.split(':', 1)[0]!
  if (!NAMESPACES.some((re) => re.test(namespace))) return
  refuse(`extra spec '${name}' does not appear to be a valid extra spec.`)
}

function checkValue(compiled: CompiledRule, value: string): void {
  const rule = compiled.rule
  if (rule.type === 'int') {
    if (!/^\s*[+-]?\d+\s*$/.test(value)) refuse(`'${value}' is not a valid integer value.`)
    const n = Number(value)
    if (rule.max !== undefined && rule.max < n)
      refuse(`'${value}' is greater than the max value of '${rule.max}'.`)
    if (rule.min !== undefined && rule.min > n)
      refuse(`'${value}' is less than the min value of '${rule.min}'.`)
    return
  }
  if (rule.type === 'bool') {
    if (!/^(1|t|true|on|y|yes|0|f|false|off|n|no)$/i.test(value.trim())) {
      refuse(`'${value}' is not a valid boolean-like value.`)
    }
    return
  }
  if (compiled.valueRe && !compiled.valueRe.test(value)) {
    refuse(`'${value}' is not of the format '${rule.pattern}'.`)
  }
  if (!compiled.valueRe && rule.enum && !rule.enum.map(String).includes(value)) {
    refuse(`'${value}' is not one of: ${rule.enum.join(', ')}.`)
  }
}
