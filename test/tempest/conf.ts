import { FEATURE_FLAGS, REAL_VM_FLAGS, SECURITY_COMPLIANCE } from './features.ts'

/** What the generated tempest.conf needs to know about the cloud under test. */
export interface TempestTarget {
  readonly authUrl: string
  readonly region: string
  readonly adminUser: string
  readonly adminPassword: string
  readonly adminProject: string
  readonly domain: string
  readonly imageRef: string
  readonly imageRefAlt: string
  readonly flavorRef: string
  readonly flavorRefAlt: string
  readonly minMicroversion: string
  readonly maxMicroversion: string
  readonly publicNetworkId?: string | undefined
  readonly publicNetworkName?: string | undefined
  /**
   * The aliases the cloud's `GET /v2.0/extensions` lists: Tempest's
   * `[network-feature-enabled] api_extensions` (its default `all` would make
   * it run the tests of extensions Nimbus does not have).
   */
  readonly networkExtensions?: readonly string[] | undefined
  /** Compute nodes the cloud has; Tempest runs its multi-node tests from 2. */
  readonly minComputeNodes?: number | undefined
  readonly lockPath: string
  readonly logFile: string
  /** Options of a Tempest plugin the run loads (`[neutron_plugin_options]` ...), set last. */
  readonly extraFlags?:
    readonly { readonly section: string; readonly key: string; readonly value: string }[] | undefined
  /** Real guests (libvirt): Tempest logs into them over SSH through floating IPs. */
  readonly realVms?: { readonly sshUser: string } | undefined
}

const BUILD_TIMEOUT_S = 120
/** TCG guests: boot, DHCP, metadata and SSH take 10–60 s on a loaded 2-core machine. */
const REAL_VM_BUILD_TIMEOUT_S = 300
const REAL_VM_SSH_TIMEOUT_S = 300
const REAL_VM_PING_TIMEOUT_S = 120
const REAL_VM_CONNECT_TIMEOUT_S = 60

/** tempest.conf for one run: identity v3, dynamic credentials, the cloud's refs and feature flags. */
export function tempestConf(t: TempestTarget): string {
  const sections = new Map<string, Record<string, string>>()
  const set = (section: string, key: string, value: string) => {
    const s = sections.get(section) ?? {}
    s[key] = value
    sections.set(section, s)
  }
  set('DEFAULT', 'log_file', t.logFile)
  set('DEFAULT', 'use_stderr', 'False')
  set('oslo_concurrency', 'lock_path', t.lockPath)
  set('auth', 'use_dynamic_credentials', 'True')
  set('auth', 'admin_username', t.adminUser)
  set('auth', 'admin_password', t.adminPassword)
  set('auth', 'admin_project_name', t.adminProject)
  set('auth', 'admin_domain_name', t.domain)
  set('auth', 'default_credentials_domain_name', t.domain)
  // With an external network, each test project gets its own network, subnet and router
  // (gateway on the external network), as on a Neutron cloud; servers boot on it.
  set('auth', 'create_isolated_networks', t.publicNetworkId ? 'True' : 'False')
  set('identity', 'uri_v3', t.authUrl)
  set('identity', 'auth_version', 'v3')
  set('identity', 'region', t.region)
  set('identity', 'v3_endpoint_type', 'public')
  set('identity', 'user_lockout_failure_attempts', String(SECURITY_COMPLIANCE.lockoutFailureAttempts))
  set('identity', 'user_lockout_duration', String(SECURITY_COMPLIANCE.lockoutDurationS))
  set('identity', 'user_unique_last_password_count', String(SECURITY_COMPLIANCE.uniqueLastPasswordCount))
  set('compute', 'image_ref', t.imageRef)
  set('compute', 'image_ref_alt', t.imageRefAlt)
  set('compute', 'flavor_ref', t.flavorRef)
  set('compute', 'flavor_ref_alt', t.flavorRefAlt)
  set('compute', 'min_microversion', t.minMicroversion)
  set('compute', 'max_microversion', t.maxMicroversion)
  set('compute', 'build_timeout', String(BUILD_TIMEOUT_S))
  set('compute', 'region', t.region)
  if (t.minComputeNodes) set('compute', 'min_compute_nodes', String(t.minComputeNodes))
  set('image', 'build_timeout', String(BUILD_TIMEOUT_S))
  set('image', 'region', t.region)
  set('network', 'region', t.region)
  set('network', 'project_network_cidr', '198.51.100.0/24')
  set('network', 'project_network_mask_bits', '28')
  if (t.publicNetworkId) set('network', 'public_network_id', t.publicNetworkId)
  if (t.publicNetworkName) set('network', 'floating_network_name', t.publicNetworkName)
  set('volume', 'catalog_type', 'volumev3')
  for (const f of FEATURE_FLAGS) set(f.section, f.key, f.value)
  if (t.realVms) {
    for (const f of REAL_VM_FLAGS) set(f.section, f.key, f.value)
    set('compute', 'build_timeout', String(REAL_VM_BUILD_TIMEOUT_S))
    set('validation', 'connect_method', 'floating')
    set('validation', 'auth_method', 'keypair')
    set('validation', 'image_ssh_user', t.realVms.sshUser)
    set('validation', 'image_alt_ssh_user', t.realVms.sshUser)
    // Nova (and Nimbus) generate RSA keypairs.
    set('validation', 'ssh_key_type', 'rsa')
    set('validation', 'ssh_timeout', String(REAL_VM_SSH_TIMEOUT_S))
    set('validation', 'ping_timeout', String(REAL_VM_PING_TIMEOUT_S))
    set('validation', 'connect_timeout', String(REAL_VM_CONNECT_TIMEOUT_S))
    set('validation', 'build_timeout', String(REAL_VM_BUILD_TIMEOUT_S))
    // The guest's DHCP client (busybox udhcpc, pid file /var/run/udhcpc.<nic>.pid).
    set('scenario', 'dhcp_client', 'udhcpc')
  }
  if (t.networkExtensions) set('network-feature-enabled', 'api_extensions', t.networkExtensions.join(','))
  for (const f of t.extraFlags ?? []) set(f.section, f.key, f.value)
  const out: string[] = []
  for (const [name, values] of sections) {
    out.push(`[${name}]`)
    for (const [k, v] of Object.entries(values)) out.push(`${k} = ${v}`)
    out.push('')
  }
  return out.join('\n')
}
