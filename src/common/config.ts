import { readFileSync, existsSync } from 'node:fs'
import { homedir, hostname } from 'node:os'
import { join, resolve } from 'node:path'
import ini from 'ini'
import { LIMIT_DEFAULTS, limitNameToConfigKey, type LimitName } from './limits.ts'
import { isLogLevel, type LogLevel } from './log.ts'

/**
 * Nimbus reads one INI file, laid out like OpenStack's (`[DEFAULT]`,
 * `[database]`, one section per service). Every value is checked at start:
 * a bad one stops start-up with a message naming `section.key` and what is
 * allowed. Any option can be overridden from the environment as
 * `NIMBUS_<SECTION>__<KEY>` (e.g. `NIMBUS_DATABASE__CONNECTION`,
 * `NIMBUS_DEFAULT__TRANSPORT_URL`), which wins over the file.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

type Kind = 'string' | 'port' | 'int' | 'float' | 'bool' | 'enum' | 'url' | 'list'

interface OptionSpec {
  readonly kind: Kind
  readonly help: string
  readonly default: string | number | boolean | readonly string[]
  /** For `enum`: the allowed values. For `url`: the allowed schemes. */
  readonly choices?: readonly string[]
  readonly min?: number
  readonly max?: number
}

const PORT_MAX = 65_535
const SECONDS_PER_DAY = 86_400
const QUOTA_MAX = 0x7fff_ffff

/** Options of the compute service, conductor, scheduler and compute hosts (Nova's [DEFAULT], [quota], [scheduler]). */
const COMPUTE_OPTIONS = {
  policy_file: {
    kind: 'string',
    default: '',
    help: "YAML or JSON file of policy rules overriding Nova's defaults (oslo.policy format).",
  },
  default_availability_zone: {
    kind: 'string',
    default: 'nova',
    help: "Availability zone of compute hosts (Nova's default_availability_zone).",
  },
  internal_service_availability_zone: {
    kind: 'string',
    default: 'internal',
    help: 'Availability zone shown for the conductor, scheduler and other non-compute services.',
  },
  service_down_time_s: {
    kind: 'int',
    default: 60,
    min: 1,
    max: SECONDS_PER_DAY,
    help: 'A service whose last heartbeat is older than this is down.',
  },
  report_interval_s: {
    kind: 'int',
    default: 10,
    min: 1,
    max: SECONDS_PER_DAY,
    help: 'Seconds between two heartbeats of a service.',
  },
  max_attempts: {
    kind: 'int',
    default: 3,
    min: 1,
    max: 100,
    help: 'Hosts a build is tried on before the server goes to ERROR (the first attempt included).',
  },
  build_timeout_s: {
    kind: 'int',
    default: 600,
    min: 1,
    max: SECONDS_PER_DAY,
    help: 'A server still in BUILD this long after it was created goes to ERROR (instance_build_timeout).',
  },
  build_timeout_check_interval_s: {
    kind: 'int',
    default: 30,
    min: 1,
    max: SECONDS_PER_DAY,
    help: 'Seconds between two runs of the BUILD deadline check.',
  },
  update_resources_interval_s: {
    kind: 'int',
    default: 60,
    min: 1,
    max: SECONDS_PER_DAY,
    help: 'Seconds between two resource tracker reports of each compute node.',
  },
  sync_power_state_interval_s: {
    kind: 'int',
    default: 600,
    min: 1,
    max: SECONDS_PER_DAY,
    help: 'Seconds between two power-state syncs of each compute host.',
  },
  cpu_allocation_ratio: {
    kind: 'float',
    default: 4.0,
    min: 0.01,
    max: 1000,
    help: 'vCPUs per physical CPU.',
  },
  ram_allocation_ratio: {
    kind: 'float',
    default: 1.0,
    min: 0.01,
    max: 1000,
    help: 'Virtual RAM per physical RAM.',
  },
  disk_allocation_ratio: {
    kind: 'float',
    default: 1.0,
    min: 0.01,
    max: 1000,
    help: 'Virtual disk per physical disk.',
  },
  reserved_host_memory_mb: {
    kind: 'int',
    default: 512,
    min: 0,
    help: 'Memory each compute host keeps for itself; the scheduler does not place guests in it.',
  },
  reserved_host_disk_mb: {
    kind: 'int',
    default: 0,
    min: 0,
    help: 'Disk each compute host keeps for itself.',
  },
  fake_hosts: {
    kind: 'int',
    default: 1,
    min: 1,
    max: 1000,
    help: 'Fake compute hosts the `compute` service runs in this process (nimbus up --fake-hosts).',
  },
  fake_vcpus: { kind: 'int', default: 32, min: 1, help: 'vCPUs of each fake compute host.' },
  fake_memory_mb: { kind: 'int', default: 65_536, min: 1, help: 'Memory of each fake compute host, in MB.' },
  fake_local_gb: {
    kind: 'int',
    default: 2_048,
    min: 1,
    help: 'Local disk of each fake compute host, in GB.',
  },
  fake_spawn_delay_ms: {
    kind: 'int',
    default: 0,
    min: 0,
    max: 3_600_000,
    help: 'Time the fake driver takes to start a guest (benchmarks).',
  },
  shelved_offload_time: {
    kind: 'int',
    default: 0,
    min: -1,
    max: SECONDS_PER_DAY * 365,
    help: "Seconds a shelved server keeps its host before it is offloaded (Nova's shelved_offload_time): 0 offloads at once, -1 never (only shelveOffload does).",
  },
  shelved_poll_interval_s: {
    kind: 'int',
    default: 3600,
    min: 1,
    max: SECONDS_PER_DAY,
    help: "Seconds between two looks for SHELVED servers older than shelved_offload_time (Nova's shelved_poll_interval).",
  },
  enable_instance_password: {
    kind: 'bool',
    default: true,
    help: "Return the admin password in create, rebuild and rescue answers (Nova's [api] enable_instance_password).",
  },
  fixed_range: {
    kind: 'string',
    default: '10.0.0.0/16',
    help: 'Unused: compute takes addresses from Neutron ports (kept so older config files load).',
  },
  allow_resize_to_same_host: {
    kind: 'bool',
    default: false,
    help: "A resize may pick the server's own host (Nova's allow_resize_to_same_host). Unset, it is on when one compute host runs with the API in one process (nimbus up, as devstack sets it) and off otherwise.",
  },
  allow_migrate_to_same_host: {
    kind: 'bool',
    default: false,
    help: "A cold migration may pick the server's own host (devstack's allow_migrate_to_same_host). Unset, it is on when one compute host runs with the API in one process (nimbus up) and off otherwise.",
  },
  resize_confirm_window_s: {
    kind: 'int',
    default: 0,
    min: 0,
    max: SECONDS_PER_DAY * 7,
    help: "Seconds after which a server in VERIFY_RESIZE is confirmed automatically (Nova's resize_confirm_window; 0: never).",
  },
  resize_confirm_check_interval_s: {
    kind: 'int',
    default: 60,
    min: 1,
    max: SECONDS_PER_DAY,
    help: "Seconds between two runs of the automatic resize confirmation (Nova's _poll_unconfirmed_resizes).",
  },
  default_network_label: {
    kind: 'string',
    default: 'private',
    help: 'Unused: server addresses are labelled with their Neutron network names (kept so older config files load).',
  },
} satisfies Record<string, OptionSpec>

/** Default quotas of every project (Nova's [quota] section). */
const QUOTA_OPTIONS = {
  instances: {
    kind: 'int',
    default: 10,
    min: -1,
    max: QUOTA_MAX,
    help: 'Servers per project (-1: unlimited).',
  },
  cores: { kind: 'int', default: 20, min: -1, max: QUOTA_MAX, help: 'vCPUs per project.' },
  ram: { kind: 'int', default: 51_200, min: -1, max: QUOTA_MAX, help: 'Memory per project, in MB.' },
  metadata_items: { kind: 'int', default: 128, min: -1, max: QUOTA_MAX, help: 'Metadata items per server.' },
  injected_files: { kind: 'int', default: 5, min: -1, max: QUOTA_MAX, help: 'Injected files per server.' },
  injected_file_content_bytes: {
    kind: 'int',
    default: 10_240,
    min: -1,
    max: QUOTA_MAX,
    help: 'Bytes per injected file.',
  },
  injected_file_path_length: {
    kind: 'int',
    default: 255,
    min: -1,
    max: QUOTA_MAX,
    help: 'Characters per injected file path.',
  },
  key_pairs: { kind: 'int', default: 100, min: -1, max: QUOTA_MAX, help: 'Key pairs per user.' },
  server_groups: { kind: 'int', default: 10, min: -1, max: QUOTA_MAX, help: 'Server groups per project.' },
  server_group_members: {
    kind: 'int',
    default: 10,
    min: -1,
    max: QUOTA_MAX,
    help: 'Servers per server group.',
  },
} satisfies Record<string, OptionSpec>
const TRANSPORT_SCHEMES = ['inproc', 'amqp'] as const
const DATABASE_SCHEMES = ['sqlite', 'postgresql', 'postgres'] as const
const HTTP_SCHEMES = ['http', 'https'] as const
/** Glance's default image_size_cap: 1 TiB. */
const IMAGE_SIZE_CAP_DEFAULT_BYTES = 1024 ** 4

export const DEFAULT_STATE_DIR = join(homedir(), '.local', 'share', 'nimbus')

/** Every option Nimbus knows. An option not listed here is an error in the file. */
export const OPTIONS = {
  DEFAULT: {
    host: {
      kind: 'string',
      default: hostname(),
      help: 'Name of this node; compute hosts are addressed by it.',
    },
    state_dir: {
      kind: 'string',
      default: DEFAULT_STATE_DIR,
      help: 'Where the database, keys and images live.',
    },
    bind_host: { kind: 'string', default: '127.0.0.1', help: 'Address every API listens on.' },
    public_host: {
      kind: 'string',
      default: '127.0.0.1',
      help: 'Host name or address clients use to reach the APIs (written into the catalog).',
    },
    transport_url: {
      kind: 'url',
      choices: TRANSPORT_SCHEMES,
      default: 'inproc://',
      help: 'RPC transport: inproc:// (one process) or amqp://user:pass@host:5672/',
    },
    log_level: {
      kind: 'enum',
      choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
      help: 'Log level.',
    },
  },
  database: {
    connection: {
      kind: 'url',
      choices: DATABASE_SCHEMES,
      default: '',
      help: 'sqlite:///path/nimbus.db or postgresql://user@host:5432/nimbus (default: SQLite in state_dir).',
    },
  },
  identity: {
    port: { kind: 'port', default: 5000, help: 'Keystone v3 API port.' },
    admin_password: {
      kind: 'string',
      default: '',
      help: 'Password of the bootstrap admin user (default: generated once and kept in state_dir).',
    },
    region: { kind: 'string', default: 'RegionOne', help: 'Region name in the catalog.' },
    token_expiration_s: {
      kind: 'int',
      default: 3600,
      min: 60,
      max: 7 * 86_400,
      help: 'Lifetime of a token, in seconds.',
    },
    max_active_keys: {
      kind: 'int',
      default: 3,
      min: 2,
      max: 100,
      help: 'Fernet keys kept by `nimbus identity fernet-rotate` (staged + primary + secondaries).',
    },
    password_hash_cost: {
      kind: 'int',
      default: 14,
      min: 10,
      max: 20,
      help: 'log2 of the scrypt cost (N) used to hash new passwords; existing hashes keep theirs.',
    },
    policy_file: {
      kind: 'string',
      default: '',
      help: 'YAML or JSON file of policy rules overriding the identity defaults (oslo.policy format).',
    },
  },
  security_compliance: {
    lockout_failure_attempts: {
      kind: 'int',
      default: 0,
      min: 0,
      max: 1000,
      help: "Failed password logins in a row that lock a user's account; 0 never locks (Keystone's [security_compliance]).",
    },
    lockout_duration_s: {
      kind: 'int',
      default: 1800,
      min: 1,
      max: 365 * 86_400,
      help: 'Seconds a locked account stays locked.',
    },
    unique_last_password_count: {
      kind: 'int',
      default: 0,
      min: 0,
      max: 100,
      help: "Recent passwords (the current one included) a user's own new password must differ from; 0: no history.",
    },
  },
  keystone_authtoken: {
    auth_url: {
      kind: 'url',
      choices: HTTP_SCHEMES,
      default: '',
      help: 'Identity URL services validate tokens against when identity runs in another process (default: http://public_host:identity.port).',
    },
    username: {
      kind: 'string',
      default: '',
      help: 'Service user that validates tokens; empty: each token validates itself (token subject rule).',
    },
    password: { kind: 'string', default: '', help: 'Password of the service user.' },
    project_name: { kind: 'string', default: 'service', help: 'Project of the service user.' },
    user_domain_name: { kind: 'string', default: 'Default', help: 'Domain of the service user.' },
    project_domain_name: { kind: 'string', default: 'Default', help: 'Domain of the service project.' },
    token_cache_time_s: {
      kind: 'int',
      default: 10,
      min: 0,
      max: 300,
      help: 'Longest time a validated token is cached by a service that validates over HTTP (0: no cache).',
    },
  },
  compute: {
    port: { kind: 'port', default: 8774, help: 'Nova v2.1 API port.' },
    virt_driver: {
      kind: 'enum',
      choices: ['fake', 'libvirt'],
      default: 'fake',
      help: 'Virt driver of compute hosts: fake (in memory) or libvirt (real QEMU guests; root, libvirtd).',
    },
    force_config_drive: {
      kind: 'bool',
      default: false,
      help: "Attach a config drive to every instance, whether or not it asked for one (Nova's force_config_drive).",
    },
    ...COMPUTE_OPTIONS,
  },
  quota: QUOTA_OPTIONS,
  image: {
    port: { kind: 'port', default: 9292, help: 'Glance v2 API port.' },
    max_image_size_bytes: {
      kind: 'int',
      default: IMAGE_SIZE_CAP_DEFAULT_BYTES,
      min: 1,
      help: "Largest image upload accepted, in bytes (Glance's image_size_cap); larger ones get 413.",
    },
    policy_file: {
      kind: 'string',
      default: '',
      help: 'YAML or JSON file of policy rules overriding the image defaults (oslo.policy format).',
    },
  },
  glance: {
    endpoint_override: {
      kind: 'url',
      choices: HTTP_SCHEMES,
      default: '',
      help: "Image API URL (no version) compute and the conductor use when the image service runs in another process (Nova's [glance] endpoint_override); default http://public_host:image.port.",
    },
  },
  network: {
    port: { kind: 'port', default: 9696, help: 'Neutron v2 API port.' },
    default_physical_network: {
      kind: 'string',
      default: 'physnet1',
      help: 'Physical network on which project (non-admin) networks get a VLAN.',
    },
    tenant_vlan_min: {
      kind: 'int',
      default: 1000,
      min: 1,
      max: 4094,
      help: 'First VLAN id for project networks.',
    },
    tenant_vlan_max: {
      kind: 'int',
      default: 1999,
      min: 1,
      max: 4094,
      help: 'Last VLAN id for project networks.',
    },
    mtu: {
      kind: 'int',
      default: 1500,
      min: 576,
      max: 9216,
      help: 'MTU of every network (global_physnet_mtu).',
    },
    physical_interface_mappings: {
      kind: 'list',
      default: [],
      help: 'physnet:interface pairs: the host interface each physical network leaves by (VLAN sub-interfaces are made on it).',
    },
    dataplane: {
      kind: 'bool',
      default: false,
      help: 'Wire ports bound to this host into the kernel (bridges, nftables, dnsmasq, router namespaces). Needs root.',
    },
    nft_table: { kind: 'string', default: 'nimbus', help: 'Name of the nftables table the data plane owns.' },
    network_node: {
      kind: 'bool',
      default: true,
      help: 'Also run DHCP servers and routers on this host (single host or network node).',
    },
    host_namespace: {
      kind: 'string',
      default: '',
      help: 'Network namespace the data plane treats as the host (tests); empty for the host itself.',
    },
  },
  metadata: {
    port: { kind: 'port', default: 8775, help: 'Metadata service port.' },
    service_metadata_proxy: {
      kind: 'bool',
      default: true,
      help: "Requests come through the network's metadata proxy, which names the instance in a signed X-Instance-ID; false: find it by source address (and X-Neutron-Router-ID).",
    },
    metadata_proxy_shared_secret: {
      kind: 'string',
      default: '',
      help: 'Secret the metadata proxy signs X-Instance-ID with (HMAC-SHA256) and the metadata service checks.',
    },
    vendordata_jsonfile_path: {
      kind: 'string',
      default: '',
      help: 'JSON file served as vendor_data.json (and as "static" in vendor_data2.json); empty: {}.',
    },
  },
  libvirt: {
    connection_uri: {
      kind: 'string',
      default: 'qemu:///system',
      help: 'libvirt URI the libvirt virt driver uses (virsh -c).',
    },
    virt_type: {
      kind: 'enum',
      choices: ['auto', 'kvm', 'qemu'],
      default: 'auto',
      help: 'auto: probe at start whether QEMU really runs guests with KVM, else TCG (qemu); kvm/qemu: force one.',
    },
    instances_path: {
      kind: 'string',
      default: '/var/lib/nimbus/instances',
      help: 'Guest disks, console logs and the base image cache (_base); libvirt-qemu must be able to reach it (not under /root).',
    },
  },
  limits: Object.fromEntries(
    (Object.keys(LIMIT_DEFAULTS) as LimitName[]).map((name) => [
      limitNameToConfigKey(name),
      { kind: 'int', default: LIMIT_DEFAULTS[name], min: 1, help: `Limit ${name}.` } satisfies OptionSpec,
    ]),
  ),
} satisfies Record<string, Record<string, OptionSpec>>

type Section = keyof typeof OPTIONS

export interface Config {
  readonly host: string
  readonly stateDir: string
  readonly bindHost: string
  readonly publicHost: string
  readonly transportUrl: string
  readonly logLevel: LogLevel
  readonly databaseUrl: string
  readonly identity: {
    readonly port: number
    readonly adminPassword: string
    readonly region: string
    readonly tokenExpirationS: number
    readonly maxActiveKeys: number
    readonly passwordHashCost: number
    /** Operator policy overrides (YAML or JSON); empty for none. */
    readonly policyFile: string
  }
  /** Keystone's PCI-DSS options (`[security_compliance]`): account lockout and password history. */
  readonly securityCompliance: {
    readonly lockoutFailureAttempts: number
    readonly lockoutDurationS: number
    readonly uniqueLastPasswordCount: number
  }
  /** How services validate tokens when the identity service is not in their process. */
  readonly authtoken: {
    /** Identity base URL (no version path). */
    readonly authUrl: string
    readonly username: string
    readonly password: string
    readonly projectName: string
    readonly userDomainName: string
    readonly projectDomainName: string
    readonly tokenCacheTimeS: number
  }
  readonly compute: ComputeConfig
  /** Default quotas, by Nova resource name (`instances`, `cores`, ...). */
  readonly quota: Readonly<Record<string, number>>
  readonly image: {
    readonly port: number
    readonly maxImageSizeBytes: number
    /** Operator policy overrides (YAML or JSON); empty for none. */
    readonly policyFile: string
  }
  /** How other services reach the image API when it is not in their process. */
  readonly glance: {
    /** Image API base URL (no version path). */
    readonly url: string
  }
  readonly network: {
    readonly port: number
    readonly defaultPhysicalNetwork: string
    readonly tenantVlanMin: number
    readonly tenantVlanMax: number
    readonly mtu: number
    /** physnet -> host interface. */
    readonly physicalInterfaceMappings: Readonly<Record<string, string>>
    readonly dataplane: boolean
    readonly nftTable: string
    readonly networkNode: boolean
    readonly hostNamespace: string
  }
  readonly metadata: {
    readonly port: number
    readonly serviceMetadataProxy: boolean
    readonly metadataProxySharedSecret: string
    readonly vendordataJsonfilePath: string
  }
  /** The libvirt virt driver (`compute.virt_driver = libvirt`). */
  readonly libvirt: {
    readonly connectionUri: string
    readonly virtType: 'auto' | 'kvm' | 'qemu'
    readonly instancesPath: string
  }
  readonly limits: Partial<Record<LimitName, number>>
  /** Where each value came from, for `nimbus config show`. */
  readonly sources: Readonly<Record<string, 'default' | 'file' | 'env' | 'override'>>
}

type Raw = Record<string, Record<string, string>>

export interface LoadOptions {
  /** Path of the INI file; a missing explicit file is an error. */
  readonly file?: string | undefined
  readonly env?: NodeJS.ProcessEnv
  /** Values set by the caller (CLI flags), as `section.key` -> string; win over everything. */
  readonly overrides?: Readonly<Record<string, string>>
}

/** Reads, merges and validates the configuration. Throws ConfigError. */
export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env
  const sources: Record<string, 'default' | 'file' | 'env' | 'override'> = {}
  const raw: Raw = {}
  const file = opts.file ?? env.NIMBUS_CONFIG
  if (file) {
    if (!existsSync(file)) throw new ConfigError(`config file ${file} does not exist`)
    mergeRaw(raw, parseIniFile(file), 'file', sources)
  }
  mergeRaw(raw, fromEnv(env), 'env', sources)
  mergeRaw(raw, fromDotted(opts.overrides ?? {}), 'override', sources)
  const values = validate(raw, sources)
  return build(values, sources)
}

function parseIniFile(file: string): Raw {
  const parsed = ini.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
  const out: Raw = {}
  for (const [section, body] of Object.entries(parsed)) {
    if (typeof body !== 'object' || body === null) {
      // ini puts keys above the first section at the top level: treat them as [DEFAULT].
      ;(out.DEFAULT ??= {})[section] = String(body)
      continue
    }
    const target = (out[section] ??= {})
    for (const [key, value] of Object.entries(body as Record<string, unknown>)) target[key] = String(value)
  }
  return out
}

const ENV_PREFIX = 'NIMBUS_'

function fromEnv(env: NodeJS.ProcessEnv): Raw {
  const out: Raw = {}
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue
    const rest = name.slice(ENV_PREFIX.length)
    const split = rest.indexOf('__')
    if (split < 0) continue
    const section = rest.slice(0, split)
    const key = rest.slice(split + 2).toLowerCase()
    const sectionName = section === 'DEFAULT' ? 'DEFAULT' : section.toLowerCase()
    ;(out[sectionName] ??= {})[key] = value
  }
  return out
}

function fromDotted(values: Readonly<Record<string, string>>): Raw {
  const out: Raw = {}
  for (const [dotted, value] of Object.entries(values)) {
    const [section, key] = dotted.split('.', 2) as [string, string]
    ;(out[section] ??= {})[key] = value
  }
  return out
}

function mergeRaw(
  into: Raw,
  from: Raw,
  source: 'file' | 'env' | 'override',
  sources: Record<string, string>,
) {
  for (const [section, body] of Object.entries(from)) {
    for (const [key, value] of Object.entries(body)) {
      ;(into[section] ??= {})[key] = value
      sources[`${section}.${key}`] = source
    }
  }
}

type Value = string | number | boolean | readonly string[]

function validate(raw: Raw, sources: Record<string, string>): Map<string, Value> {
  const out = new Map<string, Value>()
  for (const [section, body] of Object.entries(raw)) {
    const specs = (OPTIONS as Record<string, Record<string, OptionSpec>>)[section]
    if (!specs) {
      throw new ConfigError(
        `unknown section [${section}] (from ${describeSource(sources, section, body)}); known sections: ${Object.keys(OPTIONS).join(', ')}`,
      )
    }
    for (const key of Object.keys(body)) {
      if (!specs[key]) {
        throw new ConfigError(
          `unknown option ${section}.${key}; options of [${section}]: ${Object.keys(specs).join(', ')}`,
        )
      }
    }
  }
  for (const [section, specs] of Object.entries(OPTIONS) as [Section, Record<string, OptionSpec>][]) {
    for (const [key, spec] of Object.entries(specs)) {
      const given = raw[section]?.[key]
      const name = `${section}.${key}`
      if (given === undefined) {
        out.set(name, spec.default)
        sources[name] ??= 'default'
      } else {
        out.set(name, parseValue(name, spec, given))
      }
    }
  }
  return out
}

function describeSource(
  sources: Record<string, string>,
  section: string,
  body: Record<string, string>,
): string {
  const first = Object.keys(body)[0]
  return first ? (sources[`${section}.${first}`] ?? 'config') : 'config'
}

function parseValue(name: string, spec: OptionSpec, given: string): Value {
  const value = given.trim()
  switch (spec.kind) {
    case 'string':
      return value
    case 'bool':
      if (/^(true|yes|on|1)$/i.test(value)) return true
      if (/^(false|no|off|0)$/i.test(value)) return false
      throw new ConfigError(`${name} = ${JSON.stringify(given)}: expected a boolean (true/false)`)
    case 'list':
      return value
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean)
    case 'enum':
      if (!spec.choices?.includes(value)) {
        throw new ConfigError(
          `${name} = ${JSON.stringify(given)}: allowed values are ${spec.choices?.join(', ')}`,
        )
      }
      return value
    case 'url':
      return parseUrl(name, spec, value)
    case 'port':
      return parseInteger(name, value, { min: 0, max: PORT_MAX })
    case 'int':
      return parseInteger(name, value, spec)
    case 'float':
      return parseFloatValue(name, value, spec)
  }
}

function parseUrl(name: string, spec: OptionSpec, value: string): string {
  if (value === '') return value
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1]?.toLowerCase()
  if (!scheme || !spec.choices?.includes(scheme)) {
    throw new ConfigError(
      `${name} = ${JSON.stringify(redactUrl(value))}: expected a URL with scheme ${spec.choices?.map((s) => `${s}://`).join(' or ')}`,
    )
  }
  return value
}

function parseFloatValue(name: string, value: string, range: { min?: number; max?: number }): number {
  if (!/^-?\d+(\.\d+)?$/.test(value))
    throw new ConfigError(`${name} = ${JSON.stringify(value)}: expected a number`)
  const n = Number(value)
  if ((range.min !== undefined && n < range.min) || (range.max !== undefined && n > range.max)) {
    throw new ConfigError(
      `${name} = ${value}: allowed range is ${range.min ?? '-inf'}..${range.max ?? 'inf'}`,
    )
  }
  return n
}

function parseInteger(name: string, value: string, range: { min?: number; max?: number }): number {
  if (!/^-?\d+$/.test(value)) throw new ConfigError(`${name} = ${JSON.stringify(value)}: expected an integer`)
  const n = Number(value)
  if ((range.min !== undefined && n < range.min) || (range.max !== undefined && n > range.max)) {
    throw new ConfigError(
      `${name} = ${value}: allowed range is ${range.min ?? '-inf'}..${range.max ?? 'inf'}`,
    )
  }
  return n
}

/** A URL with its password replaced, safe to print. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@]*@/i, '$1***@')
}

function build(
  v: Map<string, Value>,
  sources: Record<string, 'default' | 'file' | 'env' | 'override'>,
): Config {
  const str = (k: string) => v.get(k) as string
  const num = (k: string) => v.get(k) as number
  const stateDir = resolve(str('DEFAULT.state_dir'))
  const logLevel = str('DEFAULT.log_level')
  if (!isLogLevel(logLevel)) throw new ConfigError(`DEFAULT.log_level = ${logLevel}`)
  const limitOverrides: Partial<Record<LimitName, number>> = {}
  for (const name of Object.keys(LIMIT_DEFAULTS) as LimitName[]) {
    const key = `limits.${limitNameToConfigKey(name)}`
    if (sources[key] !== 'default') limitOverrides[name] = num(key)
  }
  return {
    host: str('DEFAULT.host'),
    stateDir,
    bindHost: str('DEFAULT.bind_host'),
    publicHost: str('DEFAULT.public_host'),
    transportUrl: str('DEFAULT.transport_url'),
    logLevel,
    databaseUrl: str('database.connection') || `sqlite://${join(stateDir, 'nimbus.db')}`,
    identity: {
      port: num('identity.port'),
      adminPassword: str('identity.admin_password'),
      region: str('identity.region'),
      tokenExpirationS: num('identity.token_expiration_s'),
      maxActiveKeys: num('identity.max_active_keys'),
      passwordHashCost: num('identity.password_hash_cost'),
      policyFile: str('identity.policy_file'),
    },
    securityCompliance: {
      lockoutFailureAttempts: num('security_compliance.lockout_failure_attempts'),
      lockoutDurationS: num('security_compliance.lockout_duration_s'),
      uniqueLastPasswordCount: num('security_compliance.unique_last_password_count'),
    },
    authtoken: {
      authUrl: (
        str('keystone_authtoken.auth_url') || `http://${str('DEFAULT.public_host')}:${num('identity.port')}`
      )
        .replace(/\/+$/, '')
        .replace(/\/v3$/, ''),
      username: str('keystone_authtoken.username'),
      password: str('keystone_authtoken.password'),
      projectName: str('keystone_authtoken.project_name'),
      userDomainName: str('keystone_authtoken.user_domain_name'),
      projectDomainName: str('keystone_authtoken.project_domain_name'),
      tokenCacheTimeS: num('keystone_authtoken.token_cache_time_s'),
    },
    compute: buildComputeConfig(v),
    quota: Object.fromEntries(Object.keys(QUOTA_OPTIONS).map((k) => [k, num(`quota.${k}`)])),
    image: {
      port: num('image.port'),
      maxImageSizeBytes: num('image.max_image_size_bytes'),
      policyFile: str('image.policy_file'),
    },
    glance: {
      url: (
        str('glance.endpoint_override') || `http://${str('DEFAULT.public_host')}:${num('image.port')}`
      ).replace(/\/+$/, ''),
    },
    network: {
      port: num('network.port'),
      defaultPhysicalNetwork: str('network.default_physical_network'),
      tenantVlanMin: num('network.tenant_vlan_min'),
      tenantVlanMax: num('network.tenant_vlan_max'),
      mtu: num('network.mtu'),
      physicalInterfaceMappings: Object.fromEntries(
        (v.get('network.physical_interface_mappings') as string[]).map((m) => {
          const [physnet, iface] = m.split(':', 2)
          if (!physnet || !iface)
            throw new ConfigError(`network.physical_interface_mappings: '${m}' is not physnet:interface`)
          return [physnet, iface]
        }),
      ),
      dataplane: v.get('network.dataplane') as boolean,
      nftTable: str('network.nft_table'),
      networkNode: v.get('network.network_node') as boolean,
      hostNamespace: str('network.host_namespace'),
    },
    metadata: {
      port: num('metadata.port'),
      serviceMetadataProxy: v.get('metadata.service_metadata_proxy') as boolean,
      metadataProxySharedSecret: str('metadata.metadata_proxy_shared_secret'),
      vendordataJsonfilePath: str('metadata.vendordata_jsonfile_path'),
    },
    libvirt: {
      connectionUri: str('libvirt.connection_uri'),
      virtType: str('libvirt.virt_type') as 'auto' | 'kvm' | 'qemu',
      instancesPath: resolve(str('libvirt.instances_path')),
    },
    limits: limitOverrides,
    sources,
  }
}

/** The compute section, typed. */
export interface ComputeConfig {
  readonly port: number
  readonly virtDriver: 'fake' | 'libvirt'
  readonly forceConfigDrive: boolean
  readonly policyFile: string
  readonly defaultAvailabilityZone: string
  readonly internalServiceAvailabilityZone: string
  readonly serviceDownTimeS: number
  readonly reportIntervalS: number
  readonly maxAttempts: number
  readonly buildTimeoutS: number
  readonly buildTimeoutCheckIntervalS: number
  readonly updateResourcesIntervalS: number
  readonly syncPowerStateIntervalS: number
  readonly cpuAllocationRatio: number
  readonly ramAllocationRatio: number
  readonly diskAllocationRatio: number
  readonly reservedHostMemoryMb: number
  readonly reservedHostDiskMb: number
  readonly fakeHosts: number
  readonly fakeVcpus: number
  readonly fakeMemoryMb: number
  readonly fakeLocalGb: number
  readonly fakeSpawnDelayMs: number
  readonly shelvedOffloadTime: number
  readonly shelvedPollIntervalS: number
  readonly enableInstancePassword: boolean
  readonly allowResizeToSameHost: boolean
  readonly allowMigrateToSameHost: boolean
  readonly resizeConfirmWindowS: number
  readonly resizeConfirmCheckIntervalS: number
  readonly fixedRange: string
  readonly defaultNetworkLabel: string
}

function buildComputeConfig(v: Map<string, Value>): ComputeConfig {
  const n = (k: string) => v.get(`compute.${k}`) as number
  const s = (k: string) => v.get(`compute.${k}`) as string
  return {
    port: n('port'),
    virtDriver: s('virt_driver') as 'fake' | 'libvirt',
    forceConfigDrive: v.get('compute.force_config_drive') as boolean,
    policyFile: s('policy_file'),
    defaultAvailabilityZone: s('default_availability_zone'),
    internalServiceAvailabilityZone: s('internal_service_availability_zone'),
    serviceDownTimeS: n('service_down_time_s'),
    reportIntervalS: n('report_interval_s'),
    maxAttempts: n('max_attempts'),
    buildTimeoutS: n('build_timeout_s'),
    buildTimeoutCheckIntervalS: n('build_timeout_check_interval_s'),
    updateResourcesIntervalS: n('update_resources_interval_s'),
    syncPowerStateIntervalS: n('sync_power_state_interval_s'),
    cpuAllocationRatio: n('cpu_allocation_ratio'),
    ramAllocationRatio: n('ram_allocation_ratio'),
    diskAllocationRatio: n('disk_allocation_ratio'),
    reservedHostMemoryMb: n('reserved_host_memory_mb'),
    reservedHostDiskMb: n('reserved_host_disk_mb'),
    fakeHosts: n('fake_hosts'),
    fakeVcpus: n('fake_vcpus'),
    fakeMemoryMb: n('fake_memory_mb'),
    fakeLocalGb: n('fake_local_gb'),
    fakeSpawnDelayMs: n('fake_spawn_delay_ms'),
    shelvedOffloadTime: n('shelved_offload_time'),
    shelvedPollIntervalS: n('shelved_poll_interval_s'),
    enableInstancePassword: v.get('compute.enable_instance_password') as boolean,
    allowResizeToSameHost: v.get('compute.allow_resize_to_same_host') as boolean,
    allowMigrateToSameHost: v.get('compute.allow_migrate_to_same_host') as boolean,
    resizeConfirmWindowS: n('resize_confirm_window_s'),
    resizeConfirmCheckIntervalS: n('resize_confirm_check_interval_s'),
    fixedRange: s('fixed_range'),
    defaultNetworkLabel: s('default_network_label'),
  }
}

/** A sample config file with every option, its default and its help. */
export function sampleConfig(): string {
  const lines: string[] = []
  for (const [section, specs] of Object.entries(OPTIONS) as [string, Record<string, OptionSpec>][]) {
    lines.push(`[${section}]`)
    for (const [key, spec] of Object.entries(specs)) {
      lines.push(`# ${spec.help}`)
      const def = Array.isArray(spec.default) ? spec.default.join(',') : String(spec.default)
      lines.push(`#${key} = ${def}`)
    }
    lines.push('')
  }
  return lines.join('\n')
}
