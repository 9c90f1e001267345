import { badRequest, invalidAttribute, invalidInput } from '../errors.ts'
import { ipVersionOf, isValidMac, parseCidr } from '../ipam.ts'

/**
 * Neutron's attribute map at the API edge (neutron_lib's api/definitions):
 * every attribute a body may carry has a converter and a validator, run
 * before the plugin sees the body, so a wrong type is a 400 in Neutron's
 * words and never reaches the plugin (where it would be a 500 or, worse,
 * stored). Converters accept what Neutron's do: `"4"` for an integer,
 * `"true"`/`"1"`/`0` for a boolean, `null` for an empty list.
 *
 * A converter that fails raises InvalidInput ("Invalid input for
 * operation: ..."), a validator HTTPBadRequest ("Invalid input for <attr>.
 * Reason: ..."), as Neutron's `prepare_request_body` does.
 */
export type AttrCheck = (value: unknown, attr: string) => unknown

/** Neutron's NAME_FIELD_SIZE, DESCRIPTION_FIELD_SIZE, DEVICE_ID/OWNER and PROJECT_ID sizes. */
const NAME_MAX = 255
const DESCRIPTION_MAX = 255
const DEVICE_FIELD_MAX = 255
const PROJECT_ID_MAX = 255
/** Neutron's provider network_type/physical_network sizes. */
const NETWORK_TYPE_MAX = 32
const PHYSICAL_NETWORK_MAX = 64
/** Neutron's DB_INTEGER_MAX_VALUE (the quota range's top). */
export const DB_INTEGER_MAX = 2 ** 31 - 1
/** Longest list any list attribute may carry here (each also has its own Neutron limit in the plugin). */
const LIST_ITEMS_MAX = 1_000

/** `data` as Python's `%s` prints it in Neutron's messages. */
export function pyText(data: unknown): string {
  if (data === null || data === undefined) return 'None'
  if (data === true) return 'True'
  if (data === false) return 'False'
  if (typeof data === 'string') return data
  if (Array.isArray(data)) return `[${data.map(pyRepr).join(', ')}]`
  if (typeof data === 'object')
    return `{${Object.entries(data as Record<string, unknown>)
      .map(([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`)
      .join(', ')}}`
  return String(data)
}

function pyRepr(data: unknown): string {
  return typeof data === 'string' ? `'${data}'` : pyText(data)
}

function reject(attr: string, reason: string): never {
  throw invalidAttribute(attr, reason)
}

// ---- converters (convert_to_*) ----

/** converters.convert_to_boolean. */
export function toBoolean(value: unknown): boolean {
  if (typeof value === 'boolean') return value
  if (typeof value === 'string') {
    const v = value.toLowerCase()
    if (v === 'true' || v === '1') return true
    if (v === 'false' || v === '0') return false
  }
  if (value === 0) return false
  if (value === 1) return true
  throw invalidInput(`'${pyText(value)}' cannot be converted to boolean`)
}

/** converters.convert_to_int: Python's `int()` (integral strings, numbers truncated, booleans as 0/1). */
export function toInt(value: unknown): number {
  if (typeof value === 'boolean') return value ? 1 : 0
  if (typeof value === 'number' && Number.isFinite(value)) return Math.trunc(value)
  if (typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value)) {
    const n = Number(value.trim())
    if (Number.isSafeInteger(n)) return n
  }
  throw invalidInput(`'${pyText(value)}' is not an integer`)
}

// ---- checks ----

export const bool: AttrCheck = (v) => toBoolean(v)
export const boolOrNone: AttrCheck = (v) => (v === null ? null : toBoolean(v))

export function string(max: number): AttrCheck {
  return (v, attr) => {
    if (typeof v !== 'string') reject(attr, `'${pyText(v)}' is not a valid string`)
    if (v.length > max) reject(attr, `'${v}' exceeds maximum length of ${max}`)
    return v
  }
}

export function stringOrNone(max: number): AttrCheck {
  const check = string(max)
  return (v, attr) => (v === null ? null : check(v, attr))
}

/** `convert_to_int` then `type:values`. */
export function intIn(valid: readonly number[]): AttrCheck {
  return (v, attr) => {
    const n = toInt(v)
    if (!valid.includes(n)) reject(attr, `${n} is not in [${valid.join(', ')}]`)
    return n
  }
}

/** `convert_to_int` then `type:non_negative`. */
export const nonNegative: AttrCheck = (v, attr) => {
  const n = toInt(v)
  if (n < 0) reject(attr, `'${n}' should be non-negative`)
  return n
}

export const intOrNone: AttrCheck = (v) => (v === null ? null : toInt(v))

export function values(valid: readonly (string | null)[]): AttrCheck {
  return (v, attr) => {
    if (!valid.includes(v as string | null))
      reject(attr, `${pyText(v)} is not in [${valid.map(pyRepr).join(', ')}]`)
    return v
  }
}

const UUID_HEX = /^[0-9a-f]{32}$/i

/** oslo's is_uuid_like: 32 hex digits, dashes and braces aside. */
export function isUuidLike(v: unknown): v is string {
  return (
    typeof v === 'string' &&
    UUID_HEX.test(
      v
        .replace(/^urn:uuid:/i, '')
        .replace(/[{}]/g, '')
        .replace(/-/g, ''),
    )
  )
}

export const uuid: AttrCheck = (v, attr) => {
  if (!isUuidLike(v)) reject(attr, `'${pyText(v)}' is not a valid UUID`)
  return v
}

export const uuidOrNone: AttrCheck = (v, attr) => (v === null ? null : uuid(v, attr))

export const ipAddress: AttrCheck = (v, attr) => {
  if (typeof v !== 'string' || !ipVersionOf(v)) reject(attr, `'${pyText(v)}' is not a valid IP address`)
  return v
}

export const ipAddressOrNone: AttrCheck = (v, attr) => (v === null ? null : ipAddress(v, attr))

export const subnet: AttrCheck = (v, attr) => {
  if (typeof v !== 'string' || !parseCidr(v)) reject(attr, `'${pyText(v)}' is not a valid IP subnet`)
  return v
}

export const subnetOrNone: AttrCheck = (v, attr) => (v === null ? null : subnet(v, attr))

export const macAddress: AttrCheck = (v, attr) => {
  if (typeof v !== 'string' || !isValidMac(v)) reject(attr, `'${pyText(v)}' is not a valid MAC address`)
  return v.toLowerCase()
}

export const dictOrNone: AttrCheck = (v, attr) => {
  if (v !== null && (typeof v !== 'object' || Array.isArray(v)))
    reject(attr, `'${pyText(v)}' is not a dictionary`)
  return v
}

/** A list (null is the empty list, as convert_none_to_empty_list) whose items `item` checks. */
function listOf(
  item: (entry: unknown, attr: string, whole: unknown) => unknown,
  noneIsEmpty = true,
): AttrCheck {
  return (v, attr) => {
    if (v === null && noneIsEmpty) return []
    if (!Array.isArray(v)) reject(attr, `'${pyText(v)}' is not a list`)
    if (v.length > LIST_ITEMS_MAX) reject(attr, `more than ${LIST_ITEMS_MAX} items`)
    return v.map((entry) => item(entry, attr, v))
  }
}

function isDict(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** A dict with exactly `keys` (Neutron's _verify_dict_keys, strict). */
function exactKeys(entry: Record<string, unknown>, keys: readonly string[], attr: string): void {
  const given = Object.keys(entry).sort()
  const want = [...keys].sort()
  if (given.length !== want.length || given.some((k, i) => k !== want[i])) {
    reject(
      attr,
      `Validation of dictionary's keys failed. Expected keys: ${pyText(want)} Provided keys: ${pyText(given)}`,
    )
  }
}

/** type:ip_pools */
export const ipPools = listOf((entry, attr) => {
  if (!isDict(entry)) reject(attr, `Invalid data format for IP pool: '${pyText(entry)}'`)
  exactKeys(entry, ['end', 'start'], attr)
  ipAddress(entry.start, attr)
  ipAddress(entry.end, attr)
  return entry
}, false)

/** type:fixed_ips */
export const fixedIps = listOf((entry, attr) => {
  if (!isDict(entry)) reject(attr, `Invalid data format for fixed IP: '${pyText(entry)}'`)
  const unknown = Object.keys(entry).filter((k) => k !== 'ip_address' && k !== 'subnet_id')
  if (unknown.length) reject(attr, `Invalid data format for fixed IP: '${pyText(entry)}'`)
  if (entry.ip_address !== undefined) ipAddress(entry.ip_address, attr)
  if (entry.subnet_id !== undefined) uuid(entry.subnet_id, attr)
  return entry
})

/** type:nameservers */
export const nameservers = listOf((entry, attr, whole) => {
  if (typeof entry !== 'string' || !ipVersionOf(entry))
    reject(attr, `'${pyText(entry)}' is not a valid nameserver. '${pyText(entry)}' is not a valid IP address`)
  if ((whole as unknown[]).filter((e) => e === entry).length > 1)
    reject(attr, `Duplicate nameserver '${entry}'`)
  return entry
})

/** type:hostroutes (subnets) and a router's `routes`. */
export const hostRoutes = listOf((entry, attr) => {
  if (!isDict(entry)) reject(attr, `Invalid data format for hostroute: '${pyText(entry)}'`)
  exactKeys(entry, ['destination', 'nexthop'], attr)
  if (typeof entry.destination !== 'string' || !parseCidr(entry.destination))
    reject(attr, `'${pyText(entry.destination)}' is not a valid CIDR`)
  ipAddress(entry.nexthop, attr)
  return entry
})

/** A router's `routes`: a list of dicts with `destination` and `nexthop`. */
const routeList = listOf((entry, attr) => {
  if (!isDict(entry)) reject(attr, `Invalid data format for hostroute: '${pyText(entry)}'`)
  exactKeys(entry, ['destination', 'nexthop'], attr)
  return entry
})

/** validate_allowed_address_pairs: `ip_address` (address or CIDR) and an optional `mac_address`. */
export const addressPairs = listOf((entry, attr) => {
  if (!isDict(entry)) reject(attr, `Allowed address pairs must be a list.`)
  const unknown = Object.keys(entry).filter((k) => k !== 'ip_address' && k !== 'mac_address')
  if (unknown.length) reject(attr, `Unrecognized attribute(s) '${unknown.join(', ')}'`)
  if (entry.ip_address === undefined) throw badRequest('AllowedAddressPair must contain ip_address')
  if (typeof entry.ip_address !== 'string' || !parseCidr(entry.ip_address))
    reject(attr, `'${pyText(entry.ip_address)}' is not a valid IP address`)
  if (entry.mac_address !== undefined) macAddress(entry.mac_address, attr)
  return entry
})

/** type:uuid_list (security group ids), without duplicates (_validate_list_of_items). */
export const uuidList: AttrCheck = (v, attr) => {
  const ids = listOf((entry, a) => uuid(entry, a))(v, attr) as string[]
  const dups = [...new Set(ids.filter((id, i) => ids.indexOf(id) !== i))]
  if (dups.length) reject(attr, `Duplicate items in the list: '${dups.join(', ')}'`)
  return ids
}

/** availability_zone_hints: a list of names. */
export const stringList = listOf((entry, attr) => string(NAME_MAX)(entry, attr))

/** extra_dhcp_opts: dicts with opt_name, opt_value and an optional ip_version. */
export const extraDhcpOpts = listOf((entry, attr) => {
  if (!isDict(entry)) reject(attr, `'${pyText(entry)}' is not a dictionary`)
  const unknown = Object.keys(entry).filter((k) => !['opt_name', 'opt_value', 'ip_version'].includes(k))
  if (unknown.length) reject(attr, `Unexpected keys supplied: ${unknown.join(', ')}`)
  string(NAME_MAX)(entry.opt_name, attr)
  if (entry.opt_value !== null) string(NAME_MAX)(entry.opt_value, attr)
  if (entry.ip_version !== undefined) entry.ip_version = intIn([4, 6])(entry.ip_version, attr)
  return entry
})

/** The checks of the attributes every resource shares. */
const COMMON: Record<string, AttrCheck> = {
  name: string(NAME_MAX),
  description: string(DESCRIPTION_MAX),
  project_id: string(PROJECT_ID_MAX),
  tenant_id: string(PROJECT_ID_MAX),
}

/** Per collection (URL plural): attribute -> check. Attributes without an entry pass as given. */
export const ATTRIBUTE_CHECKS: Readonly<Record<string, Readonly<Record<string, AttrCheck>>>> = {
  networks: {
    ...COMMON,
    admin_state_up: bool,
    shared: bool,
    'router:external': bool,
    mtu: nonNegative,
    port_security_enabled: bool,
    'provider:network_type': string(NETWORK_TYPE_MAX),
    'provider:physical_network': stringOrNone(PHYSICAL_NETWORK_MAX),
    'provider:segmentation_id': intOrNone,
    availability_zone_hints: stringList,
  },
  subnets: {
    ...COMMON,
    network_id: uuid,
    ip_version: intIn([4, 6]),
    cidr: subnetOrNone,
    gateway_ip: ipAddressOrNone,
    allocation_pools: ipPools,
    dns_nameservers: nameservers,
    host_routes: hostRoutes,
    enable_dhcp: bool,
    ipv6_ra_mode: values(['dhcpv6-stateful', 'dhcpv6-stateless', 'slaac', null]),
    ipv6_address_mode: values(['dhcpv6-stateful', 'dhcpv6-stateless', 'slaac', null]),
    subnetpool_id: uuidOrNone,
    prefixlen: nonNegative,
    service_types: listOf((entry, attr) => string(NAME_MAX)(entry, attr)),
    segment_id: uuidOrNone,
  },
  ports: {
    ...COMMON,
    network_id: uuid,
    admin_state_up: bool,
    mac_address: macAddress,
    fixed_ips: fixedIps,
    device_id: string(DEVICE_FIELD_MAX),
    device_owner: string(DEVICE_FIELD_MAX),
    security_groups: uuidList,
    port_security_enabled: bool,
    allowed_address_pairs: addressPairs,
    'binding:host_id': string(DEVICE_FIELD_MAX),
    'binding:vnic_type': values([
      'normal',
      'direct',
      'macvtap',
      'baremetal',
      'direct-physical',
      'virtio-forwarder',
      'smart-nic',
      'vdpa',
      'remote-managed',
    ]),
    'binding:profile': dictOrNone,
    extra_dhcp_opts: extraDhcpOpts,
  },
  'security-groups': { ...COMMON, stateful: bool },
  'security-group-rules': {
    project_id: COMMON.project_id!,
    tenant_id: COMMON.tenant_id!,
    description: COMMON.description!,
    // No type check on security_group_id and remote_group_id in Neutron: an unknown
    // or malformed id is the plugin's 404 (SecurityGroupNotFound).
    direction: values(['ingress', 'egress']),
    port_range_min: intOrNone,
    port_range_max: intOrNone,
    remote_ip_prefix: subnetOrNone,
  },
  routers: {
    ...COMMON,
    admin_state_up: bool,
    external_gateway_info: dictOrNone,
    // Only the shape: the L3 plugin says what is wrong with a route (InvalidRoutes).
    routes: routeList,
    distributed: boolOrNone,
    ha: boolOrNone,
    availability_zone_hints: stringList,
  },
  floatingips: {
    project_id: COMMON.project_id!,
    tenant_id: COMMON.tenant_id!,
    description: COMMON.description!,
    floating_network_id: uuid,
    floating_ip_address: ipAddressOrNone,
    subnet_id: uuidOrNone,
    port_id: uuidOrNone,
    fixed_ip_address: ipAddressOrNone,
  },
}

/** The body with every attribute converted and checked as Neutron's attribute map says. */
export function checkAttributes(plural: string, body: Record<string, unknown>): Record<string, unknown> {
  const checks = ATTRIBUTE_CHECKS[plural]
  if (!checks) return body
  const out: Record<string, unknown> = {}
  for (const [attr, value] of Object.entries(body)) {
    const check = checks[attr]
    out[attr] = check && value !== undefined ? check(value, attr) : value
  }
  return out
}
