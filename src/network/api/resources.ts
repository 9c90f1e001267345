import type { ApiRequest, Route } from '../../service/http.ts'
import { respond } from '../../service/http.ts'
import { limits } from '../../common/limits.ts'
import { PreconditionFailed } from '../../common/errors.ts'
import { callerOf, hideAdminOnly, type Caller } from '../authz.ts'
import { badRequest } from '../errors.ts'
import type { NetworkPlugin } from '../plugin.ts'
import type { Doc } from '../store.ts'
import { checkAttributes } from './attributes.ts'
import { applyFilters, paginate, selectFields } from './query.ts'

/**
 * The Neutron v2.0 resources as route data: each collection is described
 * once (its attribute lists and plugin calls) and expanded into list, show,
 * create (single and bulk), update and delete routes. Handlers only unwrap
 * the body, call the plugin and render.
 */
interface Collection {
  /** URL and list key: `networks`. */
  readonly plural: string
  /** Body key of one resource: `network`. */
  readonly singular: string
  /** Attributes a create body may carry. */
  readonly create: readonly string[]
  /** Attributes an update body may carry. */
  readonly update: readonly string[]
  readonly list: (caller: Caller) => Promise<Doc[]>
  readonly get: (caller: Caller, id: string) => Promise<Doc>
  readonly add: (caller: Caller, body: Record<string, unknown>) => Promise<Doc>
  readonly change: (caller: Caller, id: string, body: Record<string, unknown>) => Promise<Doc>
  readonly remove: (caller: Caller, id: string) => Promise<void>
}

const COMMON = ['name', 'description', 'project_id', 'tenant_id']
const NETWORK_ATTRS = [
  ...COMMON,
  'admin_state_up',
  'shared',
  'router:external',
  'mtu',
  'port_security_enabled',
  'provider:network_type',
  'provider:physical_network',
  'provider:segmentation_id',
  'availability_zone_hints',
]
const SUBNET_CREATE = [
  ...COMMON,
  'network_id',
  'ip_version',
  'cidr',
  'gateway_ip',
  'allocation_pools',
  'dns_nameservers',
  'host_routes',
  'enable_dhcp',
  'ipv6_ra_mode',
  'ipv6_address_mode',
  'subnetpool_id',
  'prefixlen',
  'service_types',
  'segment_id',
]
const SUBNET_UPDATE = [
  'name',
  'description',
  'gateway_ip',
  'allocation_pools',
  'dns_nameservers',
  'host_routes',
  'enable_dhcp',
  'service_types',
]
const PORT_ATTRS = [
  ...COMMON,
  'network_id',
  'admin_state_up',
  'mac_address',
  'fixed_ips',
  'device_id',
  'device_owner',
  'security_groups',
  'port_security_enabled',
  'allowed_address_pairs',
  'binding:host_id',
  'binding:vnic_type',
  'binding:profile',
  'extra_dhcp_opts',
]
const SG_ATTRS = [...COMMON, 'stateful']
const RULE_ATTRS = [
  'project_id',
  'tenant_id',
  'description',
  'security_group_id',
  'direction',
  'ethertype',
  'protocol',
  'port_range_min',
  'port_range_max',
  'remote_ip_prefix',
  'remote_group_id',
]
const ROUTER_ATTRS = [
  ...COMMON,
  'admin_state_up',
  'external_gateway_info',
  'routes',
  'distributed',
  'ha',
  'availability_zone_hints',
]
const FIP_CREATE = [
  'project_id',
  'tenant_id',
  'description',
  'floating_network_id',
  'floating_ip_address',
  'subnet_id',
  'port_id',
  'fixed_ip_address',
  'dns_domain',
  'dns_name',
  'qos_policy_id',
]

/** Attributes that must be in a create body, per collection. */
const REQUIRED: Readonly<Record<string, readonly string[]>> = {
  subnets: ['network_id', 'ip_version'],
  ports: ['network_id'],
  security_group_rules: ['security_group_id', 'direction'],
  floatingips: ['floating_network_id'],
}

export function collections(plugin: NetworkPlugin): Collection[] {
  const { core, securityGroups: sg, l3 } = plugin
  return [
    {
      plural: 'networks',
      singular: 'network',
      create: NETWORK_ATTRS,
      update: NETWORK_ATTRS.filter((a) => a !== 'project_id' && a !== 'tenant_id'),
      list: (c) => core.listNetworks(c),
      get: (c, id) => core.getNetwork(c, id),
      add: async (c, b) => core.getNetwork(c, (await core.createNetwork(c, b)).id),
      change: (c, id, b) => core.updateNetwork(c, id, b),
      remove: (c, id) => core.deleteNetwork(c, id),
    },
    {
      plural: 'subnets',
      singular: 'subnet',
      create: SUBNET_CREATE,
      update: SUBNET_UPDATE,
      list: (c) => core.listSubnets(c),
      get: (c, id) => core.getSubnet(c, id),
      add: (c, b) => core.createSubnet(c, b),
      change: (c, id, b) => core.updateSubnet(c, id, b),
      remove: (c, id) => core.deleteSubnet(c, id),
    },
    {
      plural: 'ports',
      singular: 'port',
      create: PORT_ATTRS,
      update: PORT_ATTRS.filter((a) => a !== 'project_id' && a !== 'tenant_id'),
      list: (c) => core.listPorts(c),
      get: (c, id) => core.getPort(c, id),
      add: (c, b) => core.createPort(c, b),
      change: (c, id, b) => core.updatePort(c, id, b),
      remove: (c, id) => core.deletePort(c, id),
    },
    {
      plural: 'security-groups',
      singular: 'security_group',
      create: SG_ATTRS,
      update: ['name', 'description', 'stateful'],
      list: (c) => sg.list(c),
      get: (c, id) => sg.get(c, id),
      add: (c, b) => sg.create(c, b),
      change: (c, id, b) => sg.update(c, id, b),
      remove: (c, id) => sg.delete(c, id),
    },
    {
      plural: 'security-group-rules',
      singular: 'security_group_rule',
      create: RULE_ATTRS,
      update: [],
      list: (c) => sg.listRules(c),
      get: (c, id) => sg.getRule(c, id),
      add: (c, b) => sg.createRule(c, b),
      change: () => Promise.reject(badRequest('security_group_rule cannot be updated')),
      remove: (c, id) => sg.deleteRule(c, id),
    },
    {
      plural: 'routers',
      singular: 'router',
      create: ROUTER_ATTRS,
      update: ['name', 'description', 'admin_state_up', 'external_gateway_info', 'routes'],
      list: (c) => l3.listRouters(c),
      get: (c, id) => l3.getRouter(c, id),
      add: (c, b) => l3.createRouter(c, b),
      change: (c, id, b) => l3.updateRouter(c, id, b),
      remove: (c, id) => l3.deleteRouter(c, id),
    },
    {
      plural: 'floatingips',
      singular: 'floatingip',
      create: FIP_CREATE,
      update: ['description', 'port_id', 'fixed_ip_address'],
      list: (c) => l3.listFloatingIps(c),
      get: (c, id) => l3.getFloatingIp(c, id),
      add: (c, b) => l3.createFloatingIp(c, b),
      change: (c, id, b) => l3.updateFloatingIp(c, id, b),
      remove: (c, id) => l3.deleteFloatingIp(c, id),
    },
  ]
}

/** URL plural -> the key lists use (`security-groups` -> `security_groups`). */
function listKey(plural: string): string {
  return plural.replace(/-/g, '_')
}

/**
 * The caller of a request. Without an identity service in front (no
 * `authenticate`), Nimbus behaves like Neutron's `noauth` strategy: the
 * project comes from `X-Project-Id` and the roles from `X-Roles`
 * (admin when absent).
 */
export function callerFor(req: ApiRequest): Caller {
  if (req.ctx.userId !== undefined || req.ctx.projectId !== undefined) return callerOf(req.ctx)
  const header = (name: string) => {
    const v = req.headers[name]
    return typeof v === 'string' ? v : undefined
  }
  const roles = (header('x-roles') ?? 'admin').split(',').map((r) => r.trim().toLowerCase())
  return {
    projectId: header('x-project-id') ?? 'admin',
    isAdmin: roles.includes('admin'),
    requestId: req.ctx.requestId,
  }
}

export function render(
  caller: Caller,
  doc: Record<string, unknown>,
  query: Record<string, unknown> = {},
): Record<string, unknown> {
  return selectFields(hideAdminOnly(caller, doc), query)
}

/** The resource body of a create or update, with unknown attributes refused as Neutron does. */
export function unwrap(body: unknown, key: string, allowed: readonly string[]): Record<string, unknown> {
  const wrapper = body as Record<string, unknown> | undefined
  if (!wrapper || typeof wrapper !== 'object') throw badRequest('Resource body required')
  const inner = wrapper[key]
  if (!inner || typeof inner !== 'object' || Array.isArray(inner)) {
    throw badRequest(`Unable to find '${key}' in request body`)
  }
  const unknown = Object.keys(inner).filter((k) => !allowed.includes(k))
  if (unknown.length) throw badRequest(`Unrecognized attribute(s) '${unknown.join(', ')}'`)
  return inner as Record<string, unknown>
}

/** A create or update body: unwrapped, unknown attributes refused, then converted and checked (attributes.ts). */
function bodyOf(c: Collection, body: unknown, allowed: readonly string[]): Record<string, unknown> {
  return checkAttributes(c.plural, unwrap(body, c.singular, allowed))
}

function requireAttrs(plural: string, body: Record<string, unknown>): void {
  for (const attr of REQUIRED[plural] ?? []) {
    if (body[attr] === undefined)
      throw badRequest(`Failed to parse request. Required attribute '${attr}' not specified`)
  }
}

export function resourceRoutes(plugin: NetworkPlugin): Route[] {
  return collections(plugin).flatMap((c) => crudRoutes(c))
}

function crudRoutes(c: Collection): Route[] {
  const base = `/v2.0/${c.plural}`
  const key = listKey(c.plural)
  return [
    {
      method: 'GET',
      path: base,
      handler: async (req) => {
        const caller = callerFor(req)
        const docs = applyFilters(await c.list(caller), req.query)
        const page = paginate(docs, req.query, `${req.baseUrl}${base}`)
        const body: Record<string, unknown> = { [key]: page.items.map((d) => render(caller, d, req.query)) }
        if (page.links.length) body[`${key}_links`] = page.links
        return body
      },
    },
    {
      method: 'GET',
      path: `${base}/:id`,
      handler: async (req) => {
        const caller = callerFor(req)
        return { [c.singular]: render(caller, await c.get(caller, req.params.id), req.query) }
      },
    },
    {
      method: 'POST',
      path: base,
      status: 201,
      handler: async (req) => {
        const caller = callerFor(req)
        const bulk = (req.body as Record<string, unknown> | undefined)?.[key]
        if (bulk !== undefined) return { [key]: await createBulk(c, caller, bulk) }
        const attrs = bodyOf(c, req.body, c.create)
        requireAttrs(c.plural, attrs)
        return { [c.singular]: render(caller, await c.add(caller, attrs)) }
      },
    },
    {
      method: 'PUT',
      path: `${base}/:id`,
      handler: async (req) => {
        const caller = callerFor(req)
        const attrs = bodyOf(c, req.body, c.update)
        await checkRevision(c, caller, req)
        return { [c.singular]: render(caller, await c.change(caller, req.params.id, attrs)) }
      },
    },
    {
      method: 'DELETE',
      path: `${base}/:id`,
      handler: async (req) => {
        const caller = callerFor(req)
        await checkRevision(c, caller, req)
        await c.remove(caller, req.params.id)
        return respond(204)
      },
    },
  ]
}

/**
 * Neutron's bulk create: `{"<plural>": [item, ...]}`, each item bare or
 * wrapped in its singular key, all checked before any is made, and all or
 * nothing (what was made is deleted again when one fails).
 */
async function createBulk(c: Collection, caller: Caller, bulk: unknown): Promise<Record<string, unknown>[]> {
  if (!Array.isArray(bulk)) throw badRequest(`Bulk operation of ${listKey(c.plural)} must be a list`)
  if (bulk.length === 0) throw badRequest('Resources required')
  if (bulk.length > limits.maxPageSize)
    throw badRequest(`At most ${limits.maxPageSize} resources in one bulk request`)
  const bodies = bulk.map((item) => {
    const wrapped =
      item !== null && typeof item === 'object' && c.singular in item ? item : { [c.singular]: item }
    const attrs = bodyOf(c, wrapped, c.create)
    requireAttrs(c.plural, attrs)
    return attrs
  })
  const made: Doc[] = []
  try {
    for (const attrs of bodies) made.push(await c.add(caller, attrs))
  } catch (err) {
    for (const doc of made.reverse()) await c.remove(caller, doc.id).catch(() => undefined)
    throw err
  }
  return made.map((d) => render(caller, d))
}

/**
 * The revision an `If-Match: revision_number=N` header asks for (Neutron's
 * check_request_for_revision_constraint): other entity tags are ignored; two
 * revision tags or a revision that is no integer are a 400.
 */
export function revisionConstraint(header: string | string[] | undefined): number | undefined {
  const text = Array.isArray(header) ? header.join(',') : header
  if (!text) return undefined
  let revision: number | undefined
  for (const raw of text.split(',')) {
    const tag = raw
      .trim()
      .replace(/^W\//, '')
      .replace(/^"(.*)"$/, '$1')
    if (!tag.startsWith('revision_number=')) continue
    if (revision !== undefined) throw badRequest('Multiple revision_number etags are not supported.')
    const value = tag.slice('revision_number='.length)
    if (!/^\d+$/.test(value)) throw badRequest('Revision number must be an integer.')
    revision = Number(value)
  }
  return revision
}

/** Refuses an update or delete whose `If-Match` revision is not the resource's (412, as Neutron). */
async function checkRevision(c: Collection, caller: Caller, req: ApiRequest): Promise<void> {
  const wanted = revisionConstraint(req.headers['if-match'])
  if (wanted === undefined) return
  const current = Number((await c.get(caller, req.params.id as string)).revision_number ?? 0)
  if (current !== wanted) {
    throw new PreconditionFailed(`Constrained to ${wanted}, but current revision is ${current}`, {
      type: 'RevisionNumberConstraintFailed',
    })
  }
}
