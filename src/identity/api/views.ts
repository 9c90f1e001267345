import type { Assignment, Role } from '../assignment.ts'
import type { CatalogEntry, CatalogService, Endpoint, Region } from '../catalog.ts'
import { keystoneTime, type Bounded } from '../common.ts'
import type { AccessRule, ApplicationCredential, Credential, Ec2Credential } from '../credentials.ts'
import type { EndpointGroup, ProjectEndpointGroup } from '../endpoint-filter.ts'
import type { Consumer } from '../oauth1.ts'
import type { Trust } from '../trusts.ts'
import type { PolicyBlob } from '../policies.ts'
import type { Domain, Project } from '../resource.ts'
import type { ValidatedToken } from '../token/provider.ts'
import type { Group, User } from '../users.ts'

/**
 * Keystone's JSON for each entity: its fields, the extra attributes the
 * caller set, and `links.self`. `base` is the URL the client used
 * (`http://host:port`), so links point back where the client came from.
 */
type Json = Record<string, unknown>

const self = (base: string, path: string) => ({ self: `${base}/v3/${path}` })

/** A collection with Keystone's links (no paging: Keystone lists everything, up to its list limit). */
export function collection(key: string, items: readonly Json[] | Bounded<Json>, selfUrl: string): Json {
  const list = Array.isArray(items) ? { items, truncated: false } : (items as Bounded<Json>)
  return {
    [key]: list.items,
    links: { self: selfUrl, previous: null, next: null },
    ...(list.truncated ? { truncated: true } : {}),
  }
}

export function domainView(d: Domain, base: string): Json {
  return {
    ...d.extra,
    id: d.id,
    name: d.name,
    description: d.description ?? '',
    enabled: d.enabled,
    tags: [],
    options: {},
    links: self(base, `domains/${d.id}`),
  }
}

export function projectView(p: Project, base: string): Json {
  return {
    ...p.extra,
    id: p.id,
    name: p.name,
    domain_id: p.domainId,
    description: p.description ?? '',
    enabled: p.enabled,
    parent_id: p.parentId ?? p.domainId,
    is_domain: false,
    tags: p.tags,
    options: {},
    links: self(base, `projects/${p.id}`),
  }
}

/** A domain seen through the project API: a root project acting as a domain (Keystone's is_domain). */
export function domainAsProjectView(d: Domain, base: string): Json {
  return {
    ...d.extra,
    id: d.id,
    name: d.name,
    domain_id: null,
    description: d.description ?? '',
    enabled: d.enabled,
    parent_id: null,
    is_domain: true,
    tags: [],
    options: {},
    links: self(base, `projects/${d.id}`),
  }
}

export function userView(u: User, base: string): Json {
  return {
    ...u.extra,
    id: u.id,
    name: u.name,
    domain_id: u.domainId,
    enabled: u.enabled,
    ...(u.defaultProjectId ? { default_project_id: u.defaultProjectId } : {}),
    password_expires_at: null,
    options: {},
    links: self(base, `users/${u.id}`),
  }
}

export function groupView(g: Group, base: string): Json {
  return {
    ...g.extra,
    id: g.id,
    name: g.name,
    domain_id: g.domainId,
    description: g.description ?? '',
    links: self(base, `groups/${g.id}`),
  }
}

export function roleView(r: Role, base: string): Json {
  return {
    ...r.extra,
    id: r.id,
    name: r.name,
    domain_id: r.domainId,
    description: r.description,
    options: {},
    links: self(base, `roles/${r.id}`),
  }
}

/** A role inside an inference rule: id, name and link only. */
export function roleRef(r: Role, base: string): Json {
  return { id: r.id, name: r.name, links: self(base, `roles/${r.id}`) }
}

export function regionView(r: Region, base: string): Json {
  return {
    ...r.extra,
    id: r.id,
    description: r.description ?? '',
    parent_region_id: r.parentRegionId,
    links: self(base, `regions/${r.id}`),
  }
}

export function serviceView(s: CatalogService, base: string): Json {
  return {
    ...s.extra,
    id: s.id,
    type: s.type,
    ...(s.name !== null ? { name: s.name } : {}),
    ...(s.description !== null ? { description: s.description } : {}),
    enabled: s.enabled,
    links: self(base, `services/${s.id}`),
  }
}

export function endpointView(e: Endpoint, base: string): Json {
  return {
    ...e.extra,
    id: e.id,
    interface: e.interface,
    region_id: e.regionId,
    region: e.regionId,
    url: e.url,
    service_id: e.serviceId,
    enabled: e.enabled,
    links: self(base, `endpoints/${e.id}`),
  }
}

export function credentialView(c: Credential, base: string): Json {
  return {
    ...c.extra,
    id: c.id,
    user_id: c.userId,
    project_id: c.projectId,
    type: c.type,
    blob: c.blob,
    links: self(base, `credentials/${c.id}`),
  }
}

export function policyView(p: PolicyBlob, base: string): Json {
  return { ...p.extra, id: p.id, type: p.type, blob: p.blob, links: self(base, `policies/${p.id}`) }
}

export function ec2View(c: Ec2Credential, base: string): Json {
  return {
    user_id: c.userId,
    tenant_id: c.projectId,
    access: c.access,
    secret: c.secret,
    trust_id: c.trustId,
    links: self(base, `users/${c.userId}/credentials/OS-EC2/${c.access}`),
  }
}

export function appCredView(c: ApplicationCredential & { readonly secret?: string }, base: string): Json {
  return {
    id: c.id,
    name: c.name,
    description: c.description,
    user_id: c.userId,
    project_id: c.projectId,
    roles: c.roles.map((r) => ({ id: r.id, name: r.name, domain_id: null })),
    expires_at: c.expiresAt,
    unrestricted: c.unrestricted,
    access_rules: c.accessRules.map(({ id, service, path, method }) => ({ id, service, path, method })),
    ...(c.secret !== undefined ? { secret: c.secret } : {}),
    links: self(base, `users/${c.userId}/application_credentials/${c.id}`),
  }
}

export function accessRuleView(userId: string, r: AccessRule, base: string): Json {
  return {
    id: r.id,
    service: r.service,
    path: r.path,
    method: r.method,
    links: self(base, `users/${userId}/access_rules/${r.id}`),
  }
}

/** Names looked up for `include_names`. */
export interface AssignmentNames {
  role(id: string): { readonly name: string } | undefined
  user(id: string): { readonly name: string; readonly domainId: string } | undefined
  group(id: string): { readonly name: string; readonly domainId: string } | undefined
  project(id: string): { readonly name: string; readonly domainId: string } | undefined
  domain(id: string): { readonly name: string } | undefined
}

/** One entry of `GET /v3/role_assignments`, with Keystone's links. */
export function assignmentView(a: Assignment, base: string, names: AssignmentNames | undefined): Json {
  const named = <T extends Json>(ref: T, extra: Json | undefined): Json =>
    names ? { ...ref, ...extra } : ref
  const domainRef = (id: string) => ({ id, name: names?.domain(id)?.name })
  const actorKey = a.actor.kind
  const actorInfo = a.actor.kind === 'user' ? names?.user(a.actor.id) : names?.group(a.actor.id)
  const actor = named(
    { id: a.actor.id },
    actorInfo && { name: actorInfo.name, domain: domainRef(actorInfo.domainId) },
  )
  let scope: Json
  let targetPath: string
  if (a.target.kind === 'project') {
    const p = names?.project(a.target.id)
    scope = { project: named({ id: a.target.id }, p && { name: p.name, domain: domainRef(p.domainId) }) }
    targetPath = `projects/${a.target.id}`
  } else if (a.target.kind === 'domain') {
    scope = { domain: named({ id: a.target.id }, { name: names?.domain(a.target.id)?.name }) }
    targetPath = `domains/${a.target.id}`
  } else {
    scope = { system: { all: true } }
    targetPath = 'system'
  }
  // The assignment link names the grant that exists: the group's (not the member's), the prior role
  // (not the implied), the OS-INHERIT grant on the domain or ancestor (not the project it reaches).
  const grantActor = a.viaGroupId ? `groups/${a.viaGroupId}` : `${actorKey}s/${a.actor.id}`
  const grantRole = a.priorRoleId ?? a.roleId
  const inheritedFrom = a.inheritedFrom ?? (a.inherited ? a.target : undefined)
  if (a.inherited) scope['OS-INHERIT:inherited_to'] = 'projects'
  const links: Json = {
    assignment: inheritedFrom
      ? `${base}/v3/OS-INHERIT/${inheritedFrom.kind}s/${inheritedFrom.kind === 'system' ? '' : inheritedFrom.id}/${grantActor}/roles/${grantRole}/inherited_to_projects`
      : `${base}/v3/${targetPath}/${grantActor}/roles/${grantRole}`,
  }
  if (a.viaGroupId) links.membership = `${base}/v3/groups/${a.viaGroupId}/users/${a.actor.id}`
  if (a.priorRoleId) links.prior_role = `${base}/v3/roles/${a.priorRoleId}`
  return {
    role: named({ id: a.roleId }, { name: names?.role(a.roleId)?.name }),
    [actorKey]: actor,
    scope,
    links,
  }
}

/** The body of a token answer (`POST` and `GET /v3/auth/tokens`). */
export function tokenView(t: ValidatedToken, catalog: readonly CatalogEntry[] | undefined): Json {
  const body: Json = {
    methods: t.methods,
    user: {
      domain: { id: t.user.domainId, name: t.user.domainName },
      id: t.user.id,
      name: t.user.name,
      password_expires_at: null,
    },
    audit_ids: t.auditIds,
    expires_at: keystoneTime(t.expiresAtMs),
    issued_at: keystoneTime(t.issuedAtMs),
  }
  if (t.scope.kind === 'system') {
    body.system = { all: true }
    body.roles = t.roles
  } else if (t.domain) {
    body.domain = t.domain
    body.roles = t.roles
  } else if (t.trust && t.project) {
    // Keystone's trust-scoped rendering: the trust, its project and the delegated roles (no is_domain).
    body['OS-TRUST:trust'] = {
      id: t.trust.id,
      trustor_user: { id: t.trust.trustorUserId },
      trustee_user: { id: t.trust.trusteeUserId },
      impersonation: t.trust.impersonation,
    }
    body.project = {
      domain: { id: t.project.domainId, name: t.project.domainName },
      id: t.project.id,
      name: t.project.name,
    }
    body.roles = t.roles
  } else if (t.project) {
    body.project = {
      domain: { id: t.project.domainId, name: t.project.domainName },
      id: t.project.id,
      name: t.project.name,
    }
    body.is_domain = false
    body.roles = t.roles
  }
  if (catalog) body.catalog = catalog
  if (t.applicationCredential) {
    const { id, name, restricted, accessRules } = t.applicationCredential
    body.application_credential = {
      id,
      name,
      restricted,
      ...(accessRules
        ? {
            access_rules: accessRules.map((r) => ({
              id: r.id,
              service: r.service,
              path: r.path,
              method: r.method,
            })),
          }
        : {}),
    }
  }
  return { token: body }
}

export function endpointGroupView(g: EndpointGroup, base: string): Json {
  return {
    id: g.id,
    name: g.name,
    description: g.description,
    filters: g.filters,
    links: self(base, `OS-EP-FILTER/endpoint_groups/${g.id}`),
  }
}

export function projectEndpointGroupView(a: ProjectEndpointGroup, base: string): Json {
  return {
    endpoint_group_id: a.endpointGroupId,
    project_id: a.projectId,
    links: self(base, `OS-EP-FILTER/endpoint_groups/${a.endpointGroupId}/projects/${a.projectId}`),
  }
}

/** An OS-OAUTH1 consumer; `secret` only in the answer to its creation. */
export function consumerView(c: Consumer & { readonly secret?: string }, base: string): Json {
  return {
    ...c.extra,
    id: c.id,
    description: c.description,
    ...(c.secret !== undefined ? { secret: c.secret } : {}),
    links: self(base, `OS-OAUTH1/consumers/${c.id}`),
  }
}

/** Keystone's utils.isotime(subsecond=True): `2015-08-27T09:49:58.000000Z`. */
function isotimeMicro(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000Z`
}

/** An OS-TRUST trust; `roles` only when showing one trust (lists leave them out, as Keystone). */
export function trustView(t: Trust, base: string, roles?: readonly Role[]): Json {
  return {
    ...t.extra,
    id: t.id,
    trustor_user_id: t.trustorUserId,
    trustee_user_id: t.trusteeUserId,
    project_id: t.projectId,
    impersonation: t.impersonation,
    expires_at: t.expiresAtMs === null ? null : isotimeMicro(t.expiresAtMs),
    remaining_uses: t.remainingUses,
    redelegated_trust_id: t.redelegatedTrustId,
    redelegation_count: t.redelegationCount,
    deleted_at: null,
    ...(roles
      ? {
          roles: roles.map((r) => roleView(r, base)),
          roles_links: { self: `${base}/v3/OS-TRUST/trusts/${t.id}/roles`, previous: null, next: null },
        }
      : {}),
    links: self(base, `OS-TRUST/trusts/${t.id}`),
  }
}
