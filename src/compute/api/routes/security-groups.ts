import type { RequestContext } from '../../../common/context.ts'
import { Conflict, Forbidden, Invalid, NimbusError, NotFound } from '../../../common/errors.ts'
import { callerOf } from '../../../network/authz.ts'
import type { Doc } from '../../../network/store.ts'
import { respond, type Route } from '../../../service/http.ts'
import { setInstanceSecurityGroups } from '../../db/info-caches.ts'
import type { Instance } from '../../objects.ts'
import { networkProxyRoute, versionedRoute, type ComputeRequest } from '../common.ts'
import { instanceForCaller, type ApiDeps } from '../deps.ts'
import { isUuidLike, validateBody, type Schema } from '../validation.ts'

/**
 * Nova's security group proxy (security_groups.py over
 * network/security_group_api.py): `os-security-groups` and
 * `os-security-group-rules` shown in Nova's format over Neutron's groups
 * (ingress rules only), deprecated at 2.36 (404 beyond 2.35); a server's
 * groups; and the `addSecurityGroup` / `removeSecurityGroup` actions, which
 * change every port of the server.
 */
export function securityGroupRoutes(deps: ApiDeps): Route[] {
  const r = (
    method: Route['method'],
    path: string,
    status: number,
    handler: (req: ComputeRequest) => unknown,
  ) => versionedRoute({ method, path, status, handler })
  return [
    networkProxyRoute('GET', '/v2.1/os-security-groups', 200, (req) => listGroups(deps, req)),
    networkProxyRoute('POST', '/v2.1/os-security-groups', 200, (req) => createGroup(deps, req)),
    networkProxyRoute('GET', '/v2.1/os-security-groups/:id', 200, (req) => showGroup(deps, req)),
    networkProxyRoute('PUT', '/v2.1/os-security-groups/:id', 200, (req) => updateGroup(deps, req)),
    networkProxyRoute('DELETE', '/v2.1/os-security-groups/:id', 202, (req) => deleteGroup(deps, req)),
    // Nova has no such route: a delete without an id is a 404, not a 405.
    r('DELETE', '/v2.1/os-security-groups', 404, () => {
      throw new NotFound('The resource could not be found.')
    }),
    networkProxyRoute('POST', '/v2.1/os-security-group-rules', 200, (req) => createRule(deps, req)),
    networkProxyRoute('DELETE', '/v2.1/os-security-group-rules/:id', 202, (req) => deleteRule(deps, req)),
    r('GET', '/v2.1/servers/:server_id/os-security-groups', 200, (req) => serverGroups(deps, req)),
  ]
}

const groupBody: Schema = {
  type: 'object',
  properties: {
    security_group: {
      type: 'object',
      properties: {
        name: { type: 'string', minLength: 0, maxLength: 255 },
        description: { type: 'string', minLength: 0, maxLength: 255 },
      },
      required: ['name', 'description'],
    },
  },
  required: ['security_group'],
}

const ruleBody: Schema = {
  type: 'object',
  properties: {
    security_group_rule: {
      type: 'object',
      properties: {
        group_id: { type: ['string', 'null'], format: 'uuid' },
        parent_group_id: { type: 'string', format: 'uuid' },
      },
      required: ['parent_group_id'],
    },
  },
  required: ['security_group_rule'],
}

const actionBody = (action: string): Schema => ({
  type: 'object',
  properties: {
    [action]: {
      type: 'object',
      properties: { name: { type: 'string', minLength: 1 } },
      required: ['name'],
      additionalProperties: false,
    },
  },
  required: [action],
})

// ---- views (Nova's _format_security_group / _format_security_group_rule) ----

interface NovaRule {
  readonly id: string
  readonly parent_group_id: string
  readonly ip_protocol: string | null
  readonly from_port: number | null
  readonly to_port: number | null
  readonly group: Record<string, unknown>
  readonly ip_range: Record<string, unknown>
}

/** Neutron's rule in Nova's terms (`_convert_to_nova_security_group_rule_format`). */
function ruleView(rule: Doc, groups: ReadonlyMap<string, Doc>): NovaRule {
  const protocol = (rule.protocol as string | null) ?? null
  let from = (rule.port_range_min as number | null) ?? null
  let to = (rule.port_range_max as number | null) ?? null
  if (protocol && from === null && to === null) {
    ;[from, to] = ['TCP', 'UDP'].includes(protocol.toUpperCase()) ? [1, 65535] : [-1, -1]
  }
  const remote = rule.remote_group_id as string | null
  const source = remote ? groups.get(remote) : undefined
  return {
    id: rule.id,
    parent_group_id: rule.security_group_id as string,
    ip_protocol: protocol,
    from_port: from,
    to_port: to,
    group: remote ? { name: source?.name ?? null, tenant_id: source?.project_id ?? null } : {},
    ip_range: remote ? {} : { cidr: (rule.remote_ip_prefix as string | null) || '0.0.0.0/0' },
  }
}

function groupView(group: Doc, groups: ReadonlyMap<string, Doc>) {
  const rules = ((group.security_group_rules ?? []) as Doc[]).filter((r) => r.direction === 'ingress')
  return {
    id: group.id,
    name: group.name,
    description: group.description,
    tenant_id: group.project_id,
    rules: rules.map((r) => ruleView(r, groups)),
  }
}

function sortedViews(groups: readonly Doc[], all: ReadonlyMap<string, Doc>) {
  return groups
    .map((g) => groupView(g, all))
    .sort((a, b) =>
      a.tenant_id === b.tenant_id
        ? String(a.name).localeCompare(String(b.name))
        : String(a.tenant_id).localeCompare(String(b.tenant_id)),
    )
}

// ---- os-security-groups ----

async function listGroups(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-security-groups:get')
  const sg = deps.network.plugin.securityGroups
  const all = await sg.list(callerOf(ctx))
  const allTenants = ctx.isAdmin && req.query.all_tenants !== undefined
  const visible = allTenants ? all : all.filter((g) => g.project_id === ctx.projectId)
  const offset = Number(req.query.offset?.[0] ?? 0) || 0
  const limit = req.query.limit?.[0] === undefined ? undefined : Number(req.query.limit[0])
  const page = visible.slice(offset, limit === undefined ? undefined : offset + limit)
  return { security_groups: sortedViews(page, byId(all)) }
}

async function showGroup(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-security-groups:show')
  const group = await getGroup(deps, ctx, req.params.id!)
  return { security_group: groupView(group, await groupsById(deps, ctx)) }
}

async function createGroup(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-security-groups:create')
  validateBody(groupBody, req.body)
  const { name, description } = (req.body as { security_group: { name: string; description: string } })
    .security_group
  const group = await neutron(() =>
    deps.network.plugin.securityGroups.create(callerOf(ctx), { name, description }),
  )
  return { security_group: groupView(group, await groupsById(deps, ctx)) }
}

async function updateGroup(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-security-groups:update')
  const id = req.params.id!
  await getGroup(deps, ctx, id)
  validateBody(groupBody, req.body)
  const { name, description } = (req.body as { security_group: { name: string; description: string } })
    .security_group
  const group = await neutron(() =>
    deps.network.plugin.securityGroups.update(callerOf(ctx), id, { name, description }),
  )
  return { security_group: groupView(group, await groupsById(deps, ctx)) }
}

async function deleteGroup(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-security-groups:delete')
  const id = req.params.id!
  await getGroup(deps, ctx, id)
  await neutron(() => deps.network.plugin.securityGroups.delete(callerOf(ctx), id))
  return respond(202)
}

// ---- os-security-group-rules ----

interface RuleRequest {
  readonly parent_group_id: string
  readonly group_id?: string | null
  readonly ip_protocol?: unknown
  readonly from_port?: unknown
  readonly to_port?: unknown
  readonly cidr?: unknown
}

async function createRule(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-security-groups:rule:create')
  validateBody(ruleBody, req.body)
  const r = (req.body as { security_group_rule: RuleRequest }).security_group_rule
  const parent = await getGroup(deps, ctx, r.parent_group_id)
  const source = r.group_id ? await getGroup(deps, ctx, r.group_id) : undefined
  const rule = newIngressRule(r)
  if (!rule) throw new Invalid('Not enough parameters to build a valid rule.')
  if (rule.cidr) {
    const [net, prefix] = rule.cidr.split('/')
    if (net !== '0.0.0.0' && net !== '::' && prefix === '0') {
      throw new Invalid(`Bad prefix for network in cidr ${rule.cidr}`)
    }
  }
  const groups = await groupsById(deps, ctx)
  // Nova's _rule_exists compares (group_id, cidr, from_port, to_port, protocol) in its own terms.
  const wanted = [
    source?.id ?? null,
    rule.cidr ?? null,
    rule.fromPort ?? null,
    rule.toPort ?? null,
    rule.protocol ?? null,
  ]
  const dup = ((parent.security_group_rules ?? []) as Doc[])
    .filter((x) => x.direction === 'ingress')
    .some((x) => {
      const v = ruleView(x, groups)
      const have = [
        x.remote_group_id ?? null,
        (x.remote_ip_prefix as string | null) || '0.0.0.0/0',
        v.from_port,
        v.to_port,
        v.ip_protocol,
      ]
      return have.every((h, i) => h === wanted[i])
    })
  if (dup) throw new Invalid(`This rule already exists in group ${parent.id}`)
  const cidrV6 = rule.cidr?.includes(':') ?? false
  const created = await neutron(() =>
    deps.network.plugin.securityGroups.createRule(callerOf(ctx), {
      security_group_id: parent.id,
      direction: 'ingress',
      ethertype: cidrV6 ? 'IPv6' : 'IPv4',
      protocol: rule.protocol ?? null,
      remote_ip_prefix: rule.cidr ?? null,
      remote_group_id: source?.id ?? null,
      ...(rule.fromPort !== undefined && rule.fromPort !== -1 ? { port_range_min: rule.fromPort } : {}),
      ...(rule.toPort !== undefined && rule.toPort !== -1 ? { port_range_max: rule.toPort } : {}),
    }),
  )
  return { security_group_rule: ruleView(created, groups) }
}

async function deleteRule(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-security-groups:rule:delete')
  const id = req.params.id!
  if (!isUuidLike(id)) throw new Invalid('Security group id should be uuid')
  const sg = deps.network.plugin.securityGroups
  await neutron(() => sg.getRule(callerOf(ctx), id))
  await neutron(() => sg.deleteRule(callerOf(ctx), id))
  return respond(202)
}

/**
 * Nova's `_new_ingress_rule`: protocol and ports checked as Nova checks
 * them (Neutron would take more); undefined when a CIDR rule lacks them.
 */
function newIngressRule(
  r: RuleRequest,
): { protocol?: string; fromPort?: number; toPort?: number; cidr?: string } | undefined {
  const out: { protocol?: string; fromPort?: number; toPort?: number; cidr?: string } = {}
  let from = r.from_port
  let to = r.to_port
  const protocol = r.ip_protocol ? String(r.ip_protocol) : ''
  if (r.group_id) {
    if (protocol.toUpperCase() === 'ICMP' && from == null && to == null) [from, to] = [-1, -1]
    else if (['TCP', 'UDP'].includes(protocol.toUpperCase()) && from == null && to == null)
      [from, to] = [1, 65535]
  } else {
    out.cidr = parseCidr(r.cidr)
  }
  if (protocol && from != null && to != null) {
    const f = Number(from)
    const t = Number(to)
    if (
      !Number.isInteger(f) ||
      !Number.isInteger(t) ||
      String(from).trim() === '' ||
      String(to).trim() === ''
    ) {
      throw new Invalid(
        protocol.toUpperCase() === 'ICMP'
          ? 'Invalid input received: Type and Code must be integers for ICMP protocol type'
          : 'Invalid input received: To and From ports must be integers',
      )
    }
    const p = protocol.toUpperCase()
    if (!['TCP', 'UDP', 'ICMP'].includes(p)) throw new Invalid(`Invalid IP protocol ${protocol}.`)
    if ((p === 'TCP' || p === 'UDP') && f > t) {
      throw new Invalid(`Invalid port range ${f}:${t}. Former value cannot be greater than the later`)
    }
    if ((p === 'TCP' || p === 'UDP') && (f < 1 || t > 65535)) {
      throw new Invalid(`Invalid port range ${f}:${t}. Valid ${p} ports should be between 1-65535`)
    }
    if (p === 'ICMP' && (f < -1 || f > 255 || t < -1 || t > 255)) {
      throw new Invalid(`Invalid port range ${f}:${t}. For ICMP, the type:code must be valid`)
    }
    return { ...out, protocol, fromPort: f, toPort: t }
  }
  return out.cidr ? undefined : out
}

/** Nova's `parse_cidr`: none means everything (IPv4). */
function parseCidr(cidr: unknown): string {
  if (cidr === undefined || cidr === null || cidr === '') return '0.0.0.0/0'
  const text = decodeURIComponent(String(cidr))
  const m = /^([0-9a-fA-F.:]+)\/(\d{1,3})$/.exec(text)
  const valid =
    m !== null &&
    (m[1]!.includes(':')
      ? Number(m[2]) <= 128
      : /^(\d{1,3}\.){3}\d{1,3}$/.test(m[1]!) &&
        m[1]!.split('.').every((o) => Number(o) <= 255) &&
        Number(m[2]) <= 32)
  if (!valid) throw new Invalid(`${text} is not a valid IP network.`)
  return text
}

// ---- a server's groups and the actions ----

async function serverGroups(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  const instance = await instanceForCaller(deps, ctx, req.params.server_id!)
  deps.policy.authorize(ctx, 'os_compute_api:os-security-groups:list', { project_id: instance.projectId })
  const groups = await deps.network.instanceSecurityGroups(instance)
  const sg = deps.network.plugin.securityGroups
  const withRules = await Promise.all(groups.map((g) => sg.get(callerOf({ ...ctx, isAdmin: true }), g.id)))
  return { security_groups: sortedViews(withRules, byId(withRules)) }
}

export async function addSecurityGroupAction(deps: ApiDeps, req: ComputeRequest, instance: Instance) {
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-security-groups:add', { project_id: instance.projectId })
  validateBody(actionBody('addSecurityGroup'), req.body)
  const name = (req.body as { addSecurityGroup: { name: string } }).addSecurityGroup.name
  if (name.trim() === '') throw new Invalid('Security group name cannot be empty')
  await deps.network.addSecurityGroup(ctx, instance, name)
  await recordGroups(deps, instance)
}

export async function removeSecurityGroupAction(deps: ApiDeps, req: ComputeRequest, instance: Instance) {
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-security-groups:remove', { project_id: instance.projectId })
  validateBody(actionBody('removeSecurityGroup'), req.body)
  const name = (req.body as { removeSecurityGroup: { name: string } }).removeSecurityGroup.name
  if (name.trim() === '') throw new Invalid('Security group name cannot be empty')
  await deps.network.removeSecurityGroup(ctx, instance, name)
  await recordGroups(deps, instance)
}

/** The server view's `security_groups` follow the ports' groups. */
async function recordGroups(deps: ApiDeps, instance: Instance): Promise<void> {
  const groups = await deps.network.instanceSecurityGroups(instance)
  await setInstanceSecurityGroups(
    deps.db.kysely,
    instance.uuid,
    groups.map((g) => g.name as string),
  )
}

// ---- helpers ----

/** A group by id as Nova's proxy looks it up: 400 for a non-uuid, 404 when Neutron does not show it. */
async function getGroup(deps: ApiDeps, ctx: RequestContext, id: string): Promise<Doc> {
  if (!isUuidLike(id)) throw new Invalid('Security group id should be uuid')
  try {
    return await deps.network.plugin.securityGroups.get(callerOf(ctx), id)
  } catch (err) {
    if (err instanceof NotFound) throw new NotFound(`Security group ${id} not found.`)
    throw err
  }
}

async function groupsById(deps: ApiDeps, ctx: RequestContext): Promise<Map<string, Doc>> {
  return byId(await deps.network.plugin.securityGroups.list(callerOf(ctx)))
}

function byId(groups: readonly Doc[]): Map<string, Doc> {
  return new Map(groups.map((g) => [g.id, g]))
}

/**
 * Neutron's refusals as Nova's proxy maps them: a conflict (group in use,
 * default group, duplicate) or bad input is a 400; over quota a 403
 * ("Maximum number of security groups or rules exceeded"); not found 404.
 */
async function neutron<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (!(err instanceof NimbusError)) throw err
    if (err.detail?.type === 'OverQuota') {
      throw new Forbidden('Maximum number of security groups or rules exceeded')
    }
    if (err instanceof Conflict || err instanceof Invalid) throw new Invalid(err.message)
    throw err
  }
}
