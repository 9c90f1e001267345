import { Conflict } from '../common/errors.ts'
import { owns, projectFor, type Caller } from './authz.ts'
import type { ChangeListener } from './core.ts'
import { badRequest, conflict, invalid, securityGroupNotFound, securityGroupRuleNotFound } from './errors.ts'
import { formatCidr, parseCidr } from './ipam.ts'
import type { Quotas } from './quotas.ts'
import { baseDoc, bumpRevision, pick, revised } from './resource.ts'
import type { Doc, Store } from './store.ts'

/** The protocol names Neutron accepts for a rule (neutron_lib constants IP_PROTOCOL_MAP). */
export const PROTOCOL_NUMBERS: Readonly<Record<string, number>> = {
  ah: 51,
  dccp: 33,
  egp: 8,
  esp: 50,
  gre: 47,
  hopopt: 0,
  icmp: 1,
  icmpv6: 58,
  'ipv6-icmp': 58,
  igmp: 2,
  ipip: 4,
  'ipv6-encap': 41,
  'ipv6-frag': 44,
  'ipv6-nonxt': 59,
  'ipv6-opts': 60,
  'ipv6-route': 43,
  ospf: 89,
  pgm: 113,
  rsvp: 46,
  sctp: 132,
  tcp: 6,
  udp: 17,
  udplite: 136,
  vrrp: 112,
}

/** Protocols whose rules take a port range. */
const PORT_PROTOCOLS = new Set([6, 17, 33, 132, 136])
const ICMP_PROTOCOLS = new Set([1, 58])
const PORT_MIN = 1
const PORT_MAX = 65_535
const ICMP_FIELD_MAX = 255
const PROTOCOL_NUMBER_MAX = 255
const ETHERTYPES = ['IPv4', 'IPv6'] as const
/** Protocols (names and numbers) Neutron refuses on an IPv4 rule (_validate_ethertype_and_protocol). */
const IPV6_ONLY_PROTOCOLS: ReadonlySet<string> = new Set([
  'ipv6-encap',
  'ipv6-frag',
  'ipv6-icmp',
  'icmpv6',
  'ipv6-nonxt',
  'ipv6-opts',
  'ipv6-route',
  '41',
  '44',
  '58',
  '59',
  '60',
  '43',
])
const DEFAULT_GROUP_NAME = 'default'

/**
 * Security groups and their rules, with Neutron's semantics: each project
 * has a `default` group made on first use with upstream's four rules
 * (egress anywhere and ingress from members of the group, for IPv4 and
 * IPv6); a new group starts with the two egress rules.
 */
export class SecurityGroupPlugin {
  readonly #store: Store
  readonly #quotas: Quotas
  readonly #changed: ChangeListener

  constructor(store: Store, quotas: Quotas, changed: ChangeListener) {
    this.#store = store
    this.#quotas = quotas
    this.#changed = changed
  }

  /** The project's default group id, created (once, race-free) if it does not exist. */
  async ensureDefault(projectId: string): Promise<string> {
    if (!projectId) return ''
    const existing = await this.#store.defaultSecurityGroupId(projectId)
    if (existing) return existing
    try {
      return await this.#store.transaction(async (store) => {
        const sg = {
          ...baseDoc(projectId),
          name: DEFAULT_GROUP_NAME,
          description: 'Default security group',
          stateful: true,
          shared: false,
        }
        await store.insert('security_groups', sg)
        await store.setDefaultSecurityGroup(projectId, sg.id)
        for (const ethertype of ETHERTYPES) {
          await store.insert(
            'security_group_rules',
            ruleDoc(projectId, sg.id, { direction: 'ingress', ethertype, remote_group_id: sg.id }),
          )
          await store.insert(
            'security_group_rules',
            ruleDoc(projectId, sg.id, { direction: 'egress', ethertype }),
          )
        }
        return sg.id
      })
    } catch (err) {
      // Another request made it first: use theirs.
      const winner = await this.#store.defaultSecurityGroupId(projectId)
      if (err instanceof Conflict && winner) return winner
      throw err
    }
  }

  async create(caller: Caller, body: Record<string, unknown>): Promise<Doc> {
    const projectId = projectFor(caller, body)
    // Quota first, as Neutron's API layer reserves before the plugin runs: the project's
    // default group, made on first use, is not this request's to count. The group's
    // default egress rules count against the rule quota.
    await this.#quotas.check(projectId, 'security_group', 1)
    await this.#quotas.check(projectId, 'security_group_rule', ETHERTYPES.length)
    await this.ensureDefault(projectId)
    if (body.name === DEFAULT_GROUP_NAME) {
      throw conflict('SecurityGroupDefaultAlreadyExists', 'Default security group already exists.')
    }
    const sg = {
      ...baseDoc(projectId),
      name: '',
      description: '',
      stateful: true,
      shared: false,
      ...pick(body, ['name', 'description', 'stateful']),
    }
    await this.#store.transaction(async (store) => {
      await store.insert('security_groups', sg)
      for (const ethertype of ETHERTYPES) {
        await store.insert(
          'security_group_rules',
          ruleDoc(projectId, sg.id, { direction: 'egress', ethertype }),
        )
      }
    })
    return this.#withRules(sg)
  }

  async get(caller: Caller, id: string): Promise<Doc> {
    const sg = await this.#store.get('security_groups', id)
    if (!sg || !owns(caller, sg)) throw securityGroupNotFound(id)
    return this.#withRules(sg)
  }

  async list(caller: Caller): Promise<Doc[]> {
    await this.ensureDefault(caller.projectId)
    const groups = (await this.#store.list('security_groups')).filter((g) => owns(caller, g))
    const rules = await this.#store.list('security_group_rules', {
      security_group_id: groups.map((g) => g.id),
    })
    return groups.map((g) => ({
      ...g,
      security_group_rules: rules.filter((r) => r.security_group_id === g.id),
    }))
  }

  async #withRules(sg: Doc): Promise<Doc> {
    return {
      ...sg,
      security_group_rules: await this.#store.list('security_group_rules', { security_group_id: sg.id }),
    }
  }

  async update(caller: Caller, id: string, body: Record<string, unknown>): Promise<Doc> {
    const sg = await this.get(caller, id)
    if (sg.name === DEFAULT_GROUP_NAME && body.name !== undefined && body.name !== DEFAULT_GROUP_NAME) {
      throw conflict('SecurityGroupCannotUpdateDefault', 'Updating default security group not allowed.')
    }
    if (body.name === DEFAULT_GROUP_NAME && sg.name !== DEFAULT_GROUP_NAME) {
      throw conflict('SecurityGroupDefaultAlreadyExists', 'Default security group already exists.')
    }
    const { security_group_rules: _r, ...stored } = sg
    const doc = revised(stored as Doc, pick(body, ['name', 'description', 'stateful']))
    await this.#store.update('security_groups', doc)
    this.#changed({ kind: 'security_group' })
    return this.#withRules(doc)
  }

  async delete(caller: Caller, id: string): Promise<void> {
    const sg = await this.get(caller, id)
    if (sg.name === DEFAULT_GROUP_NAME && !caller.isAdmin) {
      throw conflict(
        'SecurityGroupCannotRemoveDefault',
        'Insufficient rights for removing default security group.',
      )
    }
    const ports = await this.#store.list('ports')
    if (ports.some((p) => (p.security_groups as string[]).includes(id))) {
      throw conflict('SecurityGroupInUse', `Security Group ${id} in use.`)
    }
    // Rules of other groups naming this one as their remote group go with it
    // (Neutron's remote_group_id foreign key is ON DELETE CASCADE).
    const rules = await this.#store.list('security_group_rules')
    await this.#store.transaction(async (store) => {
      for (const r of rules) {
        if (r.remote_group_id === id && r.security_group_id !== id)
          await store.delete('security_group_rules', r.id)
      }
      await store.delete('security_groups', id)
    })
    this.#changed({ kind: 'security_group' })
  }

  // ---- rules ----

  async createRule(caller: Caller, body: Record<string, unknown>): Promise<Doc> {
    const groupId = body.security_group_id as string
    const sg = await this.#store.get('security_groups', groupId)
    if (!sg || !owns(caller, sg)) throw securityGroupNotFound(groupId)
    const projectId = sg.project_id
    const fields = await this.#validateRule(caller, body)
    const existing = await this.#store.list('security_group_rules', { security_group_id: groupId })
    const dup = existing.find((r) => sameRule(r, fields))
    if (dup)
      throw conflict('SecurityGroupRuleExists', `Security group rule already exists. Rule id is ${dup.id}.`)
    const rule = ruleDoc(projectId, groupId, fields)
    await this.#store.transaction(async (store) => {
      await this.#quotas.checkLocked(store, projectId, 'security_group_rule', 1)
      await store.insert('security_group_rules', rule)
      await bumpRevision(store, 'security_groups', groupId)
    })
    this.#changed({ kind: 'security_group_rule' })
    return rule
  }

  async #validateRule(caller: Caller, body: Record<string, unknown>): Promise<RuleFields> {
    const ethertype = (body.ethertype as string | undefined) ?? 'IPv4'
    if (!(ETHERTYPES as readonly string[]).includes(ethertype)) {
      throw badRequest(`Invalid input for ethertype. Reason: ${ethertype} is not in valid_values.`)
    }
    const direction = body.direction as string
    if (direction !== 'ingress' && direction !== 'egress') {
      throw badRequest(`Invalid input for direction. Reason: ${String(direction)} is not in valid_values.`)
    }
    const protocol = normalizeProtocol(body.protocol)
    if (ethertype === 'IPv4' && protocol !== null && IPV6_ONLY_PROTOCOLS.has(protocol)) {
      throw invalid(
        'SecurityGroupEthertypeConflictWithProtocol',
        `Invalid ethertype ${ethertype} for protocol ${protocol}.`,
      )
    }
    const [min, max] = portRange(protocol, body.port_range_min, body.port_range_max)
    const prefix = body.remote_ip_prefix as string | null | undefined
    const remoteGroup = body.remote_group_id as string | null | undefined
    if (prefix && remoteGroup) {
      throw invalid(
        'SecurityGroupRemoteGroupAndRemoteIpPrefix',
        'Only remote_ip_prefix or remote_group_id may be provided.',
      )
    }
    let normalized: string | null = null
    if (prefix) {
      const cidr = parseCidr(prefix)
      if (!cidr)
        throw badRequest(`Invalid input for remote_ip_prefix. Reason: '${prefix}' is not a valid IP subnet.`)
      if ((cidr.version === 4 ? 'IPv4' : 'IPv6') !== ethertype) {
        throw invalid(
          'SecurityGroupRuleParameterConflict',
          `Conflicting value ethertype ${ethertype} for CIDR ${prefix}`,
        )
      }
      normalized = formatCidr(cidr)
    }
    if (remoteGroup) {
      const rg = await this.#store.get('security_groups', remoteGroup)
      if (!rg || !owns(caller, rg)) throw securityGroupNotFound(remoteGroup)
    }
    return {
      direction,
      ethertype,
      protocol,
      port_range_min: min,
      port_range_max: max,
      remote_ip_prefix: prefix ? (prefix.includes('/') ? prefix : normalized) : null,
      normalized_cidr: normalized,
      remote_group_id: remoteGroup ?? null,
      description: (body.description as string | undefined) ?? '',
    }
  }

  async getRule(caller: Caller, id: string): Promise<Doc> {
    const rule = await this.#store.get('security_group_rules', id)
    if (!rule || !owns(caller, rule)) throw securityGroupRuleNotFound(id)
    return rule
  }

  async listRules(caller: Caller): Promise<Doc[]> {
    await this.ensureDefault(caller.projectId)
    return (await this.#store.list('security_group_rules')).filter((r) => owns(caller, r))
  }

  async deleteRule(caller: Caller, id: string): Promise<void> {
    const rule = await this.getRule(caller, id)
    await this.#store.transaction(async (store) => {
      await store.delete('security_group_rules', id)
      await bumpRevision(store, 'security_groups', rule.security_group_id as string)
    })
    this.#changed({ kind: 'security_group_rule' })
  }
}

interface RuleFields {
  direction: string
  ethertype: string
  protocol?: string | null
  port_range_min?: number | null
  port_range_max?: number | null
  remote_ip_prefix?: string | null
  normalized_cidr?: string | null
  remote_group_id?: string | null
  description?: string
}

function ruleDoc(projectId: string, groupId: string, f: RuleFields): Doc {
  return {
    ...baseDoc(projectId),
    security_group_id: groupId,
    protocol: null,
    port_range_min: null,
    port_range_max: null,
    remote_ip_prefix: null,
    normalized_cidr: null,
    remote_group_id: null,
    remote_address_group_id: null,
    description: '',
    ...f,
  }
}

const COMPARED: readonly (keyof RuleFields)[] = [
  'direction',
  'ethertype',
  'protocol',
  'port_range_min',
  'port_range_max',
  'normalized_cidr',
  'remote_group_id',
]

function sameRule(existing: Doc, f: RuleFields): boolean {
  return COMPARED.every((k) => (existing[k] ?? null) === (f[k] ?? null))
}

/** Protocol as Neutron stores it: the name given, a number as a string, or null for any. */
function normalizeProtocol(value: unknown): string | null {
  if (value === undefined || value === null || value === '' || value === 'any') return null
  // A name or a number only: `["tcp"]` must not pass as the text "tcp".
  const text =
    typeof value === 'string' || typeof value === 'number' ? String(value).toLowerCase() : undefined
  if (text !== undefined && text in PROTOCOL_NUMBERS) return text
  if (text !== undefined && /^\d+$/.test(text) && Number(text) <= PROTOCOL_NUMBER_MAX) return text
  throw invalid(
    'SecurityGroupRuleInvalidProtocol',
    `Security group rule protocol ${String(value)} not supported. Only protocol values [None, ${Object.keys(
      PROTOCOL_NUMBERS,
    )
      .map((p) => `'${p}'`)
      .join(', ')}] and integer representations [0 to 255] are supported.`,
  )
}

/** The protocol number of a stored rule protocol (undefined for any). */
export function protocolNumber(protocol: unknown): number | undefined {
  if (protocol === null || protocol === undefined) return undefined
  const text = String(protocol)
  return PROTOCOL_NUMBERS[text] ?? Number(text)
}

function portRange(protocol: string | null, minV: unknown, maxV: unknown): [number | null, number | null] {
  const min = minV === undefined || minV === null ? null : Number(minV)
  const max = maxV === undefined || maxV === null ? null : Number(maxV)
  if (min === null && max === null) return [null, null]
  if (protocol === null) {
    throw invalid(
      'SecurityGroupProtocolRequiredWithPorts',
      'Must also specify protocol if port range is given.',
    )
  }
  const number = protocolNumber(protocol)!
  if (ICMP_PROTOCOLS.has(number)) {
    if (min === null && max !== null) {
      throw invalid(
        'SecurityGroupMissingIcmpType',
        `ICMP code (port-range-max) ${max} is provided but ICMP type (port-range-min) is missing.`,
      )
    }
    for (const [attr, v] of [
      ['type', min],
      ['code', max],
    ] as const) {
      if (v !== null && (!Number.isInteger(v) || v < 0 || v > ICMP_FIELD_MAX)) {
        throw invalid(
          'SecurityGroupInvalidIcmpValue',
          `Invalid value for ICMP ${attr} (port-range-${attr === 'type' ? 'min' : 'max'}) ${v}. It must be 0 to 255.`,
        )
      }
    }
    return [min, max]
  }
  if (!PORT_PROTOCOLS.has(number)) {
    throw invalid(
      'SecurityGroupInvalidProtocolForPortRange',
      `Invalid protocol ${protocol} for port range, only supported for TCP, UDP, UDPLITE, SCTP and DCCP.`,
    )
  }
  for (const v of [min, max]) {
    if (v !== null && (!Number.isInteger(v) || v < PORT_MIN || v > PORT_MAX)) {
      throw invalid('SecurityGroupInvalidPortValue', `Invalid value for port ${v}`)
    }
  }
  // As Neutron's _validate_port_range: a range needs both ends, in order.
  if (min === null || max === null || min > max)
    throw invalid(
      'SecurityGroupInvalidPortRange',
      'For TCP/UDP protocols, port_range_min must be <= port_range_max',
    )
  // _make_canonical_port_range: the whole range is stored as "any port".
  if (min === PORT_MIN && max === PORT_MAX) return [null, null]
  return [min, max]
}
