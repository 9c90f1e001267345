import { DEFAULT_ENABLED_FILTERS } from '../../src/scheduler/options.ts'

/**
 * What Tempest is told Nimbus implements. A flag is off only for a feature
 * Nimbus lacks, and every flag that is off says why; the list is printed in
 * docs/conformance.md. Turn a flag on in the same change that implements
 * the feature.
 */
export interface FeatureFlag {
  readonly section: string
  readonly key: string
  readonly value: string
  /** Why the feature is off (only for flags that disable something). */
  readonly why?: string
}

export const FEATURE_FLAGS: readonly FeatureFlag[] = [
  // Services Nimbus does not have at all.
  {
    section: 'service_available',
    key: 'cinder',
    value: 'False',
    why: 'no block storage service (volumes are out of scope)',
  },
  { section: 'service_available', key: 'swift', value: 'False', why: 'no object storage service' },
  {
    section: 'service_available',
    key: 'horizon',
    value: 'False',
    why: 'no Horizon; the dashboard is not Horizon-compatible',
  },
  { section: 'service_available', key: 'nova', value: 'True' },
  { section: 'service_available', key: 'glance', value: 'True' },
  { section: 'service_available', key: 'neutron', value: 'True' },
  { section: 'service_available', key: 'keystone', value: 'True' },
  // Identity.
  {
    section: 'identity-feature-enabled',
    key: 'api_v2',
    value: 'False',
    why: 'Keystone v2.0 was removed upstream; Nimbus speaks v3 only',
  },
  {
    section: 'identity-feature-enabled',
    key: 'api_v2_admin',
    value: 'False',
    why: 'Keystone v2.0 was removed upstream',
  },
  { section: 'identity-feature-enabled', key: 'api_v3', value: 'True' },
  { section: 'identity-feature-enabled', key: 'trust', value: 'True' },
  { section: 'identity-feature-enabled', key: 'access_rules', value: 'True' },
  // The runner's clouds set [security_compliance] as Tempest's [identity] user_* options say (SECURITY_COMPLIANCE).
  { section: 'identity-feature-enabled', key: 'security_compliance', value: 'True' },
  { section: 'identity-feature-enabled', key: 'application_credentials', value: 'True' },
  { section: 'identity-feature-enabled', key: 'project_tags', value: 'True' },
  { section: 'identity-feature-enabled', key: 'api_extensions', value: 'OS-EC2,OS-INHERIT' },
  // Compute.
  { section: 'compute-feature-enabled', key: 'resize', value: 'True' },
  { section: 'compute-feature-enabled', key: 'pause', value: 'True' },
  { section: 'compute-feature-enabled', key: 'shelve', value: 'True' },
  { section: 'compute-feature-enabled', key: 'suspend', value: 'True' },
  { section: 'compute-feature-enabled', key: 'cold_migration', value: 'True' },
  {
    section: 'compute-feature-enabled',
    key: 'live_migration',
    value: 'False',
    why: 'live migration is not implemented',
  },
  { section: 'compute-feature-enabled', key: 'rescue', value: 'True' },
  {
    section: 'compute-feature-enabled',
    key: 'stable_rescue',
    value: 'False',
    why: 'stable device rescue (2.87, hw_rescue_device / hw_rescue_bus) is not implemented',
  },
  { section: 'compute-feature-enabled', key: 'snapshot', value: 'True' },
  { section: 'compute-feature-enabled', key: 'console_output', value: 'True' },
  { section: 'compute-feature-enabled', key: 'interface_attach', value: 'True' },
  // Served to every guest (src/metadata); in fake-driver runs only Tempest's SSH-validated tests read them.
  { section: 'compute-feature-enabled', key: 'metadata_service', value: 'True' },
  { section: 'compute-feature-enabled', key: 'config_drive', value: 'True' },
  {
    section: 'compute-feature-enabled',
    key: 'change_password',
    value: 'False',
    why: 'changePassword needs a guest agent',
  },
  // Nova returns adminPass on create by default; Nimbus does the same.
  { section: 'compute-feature-enabled', key: 'enable_instance_password', value: 'True' },
  { section: 'compute-feature-enabled', key: 'attach_encrypted_volume', value: 'False', why: 'no volumes' },
  { section: 'compute-feature-enabled', key: 'vnc_console', value: 'False', why: 'no remote consoles' },
  { section: 'compute-feature-enabled', key: 'serial_console', value: 'False', why: 'no remote consoles' },
  {
    section: 'compute-feature-enabled',
    key: 'personality',
    value: 'False',
    why: 'personality files (up to 2.56, removed upstream at 2.57) are accepted but not written into the guest or its config drive',
  },
  // The filters Nimbus's scheduler runs by default; Tempest sends SameHost/DifferentHost hints only when listed.
  {
    section: 'compute-feature-enabled',
    key: 'scheduler_enabled_filters',
    value: DEFAULT_ENABLED_FILTERS.join(','),
  },
  // Nova's sanitize_hostname ('.' and other freeform characters become '-') since Wallaby.
  { section: 'compute-feature-enabled', key: 'hostname_fqdn_sanitization', value: 'True' },
  {
    section: 'compute-feature-enabled',
    key: 'xenapi_apis',
    value: 'False',
    why: "the XenAPI-only os-agents and resetNetwork were removed upstream (Victoria); the flag also gates Tempest's writable server metadata tests, which Nimbus has",
  },
  // Image.
  { section: 'image-feature-enabled', key: 'api_v2', value: 'True' },
  { section: 'image-feature-enabled', key: 'api_v1', value: 'False', why: 'Glance v1 was removed upstream' },
  {
    section: 'image-feature-enabled',
    key: 'import_image',
    value: 'False',
    why: 'interoperable image import is not implemented',
  },
  { section: 'image-feature-enabled', key: 'os_glance_reserved', value: 'True' },
  // Network.
  { section: 'network-feature-enabled', key: 'ipv6', value: 'True' },
  {
    section: 'network-feature-enabled',
    key: 'ipv6_subnet_attributes',
    value: 'False',
    why: 'IPv6 RA and DHCPv6 modes are stored but not served (no router advertisements or DHCPv6)',
  },
  { section: 'network-feature-enabled', key: 'port_security', value: 'True' },
  { section: 'network-feature-enabled', key: 'floating_ips', value: 'True' },
  // Validation through SSH needs real VMs: on with --real-vms (REAL_VM_FLAGS).
  {
    section: 'validation',
    key: 'run_validation',
    value: 'False',
    why: 'fake-driver runs have no guests to log into; `--real-vms` runs turn it on (libvirt guests, SSH through floating IPs)',
  },
]

/**
 * Lockout and password history of the clouds the runner starts, and what
 * Tempest is told about them (its `[identity] user_*` defaults).
 */
export const SECURITY_COMPLIANCE = {
  lockoutFailureAttempts: 2,
  lockoutDurationS: 5,
  uniqueLastPasswordCount: 2,
} as const

/** Modules each area's goal counts (volumes excluded). */
export const CONFORMANCE_AREAS: readonly { readonly name: string; readonly prefix: string }[] = [
  { name: 'compute', prefix: 'tempest.api.compute' },
  { name: 'identity', prefix: 'tempest.api.identity' },
  { name: 'image', prefix: 'tempest.api.image' },
  { name: 'network', prefix: 'tempest.api.network' },
  { name: 'scenario', prefix: 'tempest.scenario' },
]

/** What a `--real-vms` run (libvirt guests, SSH through floating IPs) turns on over FEATURE_FLAGS. */
export const REAL_VM_FLAGS: readonly FeatureFlag[] = [
  { section: 'validation', key: 'run_validation', value: 'True' },
  { section: 'validation', key: 'security_group', value: 'True' },
  { section: 'validation', key: 'security_group_rules', value: 'True' },
]

/** The scenarios issue #9 asks to pass with real VMs. */
export const SCENARIO_REGEX =
  '^tempest\\.scenario\\.(test_server_basic_ops|test_network_basic_ops|test_security_groups_basic_ops|test_snapshot_pattern|test_shelve_instance)\\.'

/** The CI smoke selection with real VMs. */
export const REAL_VM_SMOKE_REGEX = '^tempest\\.scenario\\.test_server_basic_ops\\.'

/** The CI smoke selection: smoke-tagged tests in the four API areas. */
export const SMOKE_REGEX = '^tempest\\.api\\.(compute|identity|image|network)\\..*\\bsmoke\\b'
