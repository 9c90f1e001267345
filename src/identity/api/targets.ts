import { NotFound, Unauthorized } from '../../common/errors.ts'
import type { PolicyTarget } from '../../common/policy.ts'
import type { ApiRequest } from '../../service/http.ts'
import { defaultDomainId, type IdentityDeps } from './deps.ts'
import { member } from './validation.ts'

/**
 * What each identity policy rule sees as `target`, built the way Keystone's
 * enforcer builds it: the entity the request acts on, looked up after
 * authentication. An entity that does not exist gives an empty target, so
 * the caller learns nothing from a 404 a rule would refuse anyway.
 */
type Builder = (req: ApiRequest, d: IdentityDeps) => Promise<PolicyTarget> | PolicyTarget

type Params = Record<string, string>

const param = (req: ApiRequest, name: string): string => (req.params as Params)[name] ?? ''

async function project(req: ApiRequest, d: IdentityDeps): Promise<PolicyTarget> {
  const id = param(req, 'project_id')
  const p = await d.resources.findProject(id)
  if (!p) {
    // A domain reached through the project API (is_domain): a root with no domain.
    const dom = await d.resources.findDomain(id)
    if (dom)
      return { project: { id: dom.id, name: dom.name, domain_id: null, parent_id: null, is_domain: true } }
  }
  return p
    ? { project: { id: p.id, name: p.name, domain_id: p.domainId, parent_id: p.parentId ?? p.domainId } }
    : {}
}

async function userRef(d: IdentityDeps, id: string): Promise<PolicyTarget | undefined> {
  const u = await d.users.findUser(id)
  return u ? { id: u.id, name: u.name, domain_id: u.domainId } : undefined
}

async function groupRef(d: IdentityDeps, id: string): Promise<PolicyTarget | undefined> {
  const g = await d.users.findGroup(id)
  return g ? { id: g.id, name: g.name, domain_id: g.domainId } : undefined
}

async function user(req: ApiRequest, d: IdentityDeps): Promise<PolicyTarget> {
  const u = await userRef(d, param(req, 'user_id'))
  return u ? { user: u } : {}
}

async function group(req: ApiRequest, d: IdentityDeps): Promise<PolicyTarget> {
  const g = await groupRef(d, param(req, 'group_id'))
  return g ? { group: g } : {}
}

async function groupAndUser(req: ApiRequest, d: IdentityDeps): Promise<PolicyTarget> {
  return { ...(await group(req, d)), ...(await user(req, d)) }
}

/** A grant: its actor (user or group), its target (project or domain) and its role. */
async function grant(req: ApiRequest, d: IdentityDeps): Promise<PolicyTarget> {
  const out: Record<string, unknown> = {}
  if (param(req, 'user_id')) Object.assign(out, await user(req, d))
  if (param(req, 'group_id')) Object.assign(out, await group(req, d))
  if (param(req, 'project_id')) Object.assign(out, await project(req, d))
  if (param(req, 'domain_id')) out.domain = { id: param(req, 'domain_id') }
  const roleId = param(req, 'role_id')
  if (roleId) {
    const role = await d.assignments.getRole(roleId).catch(() => undefined)
    if (role) out.role = { id: role.id, name: role.name, domain_id: role.domainId }
  }
  return out
}

const domainScoped: Builder = (req) => (req.ctx.domainId ? { domain_id: req.ctx.domainId } : {})

/** The subject token's user; an invalid subject token is a 404 whoever asks, as in Keystone. */
async function subjectToken(req: ApiRequest, d: IdentityDeps): Promise<PolicyTarget> {
  const subject = req.headers['x-subject-token']
  if (typeof subject !== 'string' || subject === '') throw new NotFound('No token in the request')
  try {
    const token = await d.tokens.validate(subject)
    return { token: { user_id: token.user.id, user: { domain: { id: token.user.domainId } } } }
  } catch (err) {
    if (err instanceof Unauthorized) throw new NotFound(`Could not find token: ${subject}.`)
    throw err
  }
}

async function credential(req: ApiRequest, d: IdentityDeps): Promise<PolicyTarget> {
  const c = await d.credentials.get(param(req, 'credential_id')).catch(() => undefined)
  return c ? { credential: { id: c.id, user_id: c.userId, project_id: c.projectId, type: c.type } } : {}
}

async function ec2Credential(req: ApiRequest, d: IdentityDeps): Promise<PolicyTarget> {
  const c = await d.credentials
    .getEc2(param(req, 'user_id'), param(req, 'credential_id'))
    .catch(() => undefined)
  return { credential: { user_id: c?.userId ?? param(req, 'user_id') } }
}

function bodyEntity(req: ApiRequest, key: string): Record<string, unknown> {
  try {
    const v = member(req, key)
    return v && typeof v === 'object' ? { ...(v as Record<string, unknown>) } : {}
  } catch {
    return {}
  }
}

const PROJECT_RULES = [
  'get_project',
  'update_project',
  'delete_project',
  'list_project_tags',
  'get_project_tag',
  'update_project_tags',
  'create_project_tag',
  'delete_project_tags',
  'delete_project_tag',
]

/** The trust in the path (404 first when there is none, as Keystone builds the target). */
async function trust(req: ApiRequest, d: IdentityDeps): Promise<PolicyTarget> {
  const t = await d.trusts.get(param(req, 'trust_id'))
  return { trust: { id: t.id, trustor_user_id: t.trustorUserId, trustee_user_id: t.trusteeUserId } }
}

export const TARGETS: Readonly<Record<string, Builder>> = {
  'identity:get_trust': trust,
  'identity:delete_trust': trust,
  'identity:list_roles_for_trust': trust,
  'identity:get_role_for_trust': trust,
  'identity:create_trust': (req) => ({ trust: bodyEntity(req, 'trust') }),
  ...Object.fromEntries(PROJECT_RULES.map((r) => [`identity:${r}`, project])),
  'identity:create_project': (req) => {
    const p = bodyEntity(req, 'project')
    return { project: { ...p, domain_id: p.domain_id ?? defaultDomainId(req.ctx) } }
  },
  'identity:list_projects': domainScoped,
  'identity:list_users': domainScoped,
  'identity:list_groups': domainScoped,
  'identity:list_role_assignments': domainScoped,
  'identity:list_role_assignments_for_tree': domainScoped,
  'identity:get_domain': (req) => ({ domain: { id: param(req, 'domain_id') } }),
  'identity:update_domain': (req) => ({ domain: { id: param(req, 'domain_id') } }),
  'identity:delete_domain': (req) => ({ domain: { id: param(req, 'domain_id') } }),
  'identity:get_user': user,
  'identity:get_access_rule': user,
  'identity:list_access_rules': user,
  'identity:delete_access_rule': user,
  'identity:update_user': user,
  'identity:delete_user': user,
  'identity:list_user_projects': user,
  'identity:list_groups_for_user': user,
  'identity:create_user': (req) => {
    const u = bodyEntity(req, 'user')
    return { user: { ...u, domain_id: u.domain_id ?? defaultDomainId(req.ctx) } }
  },
  'identity:get_group': group,
  'identity:update_group': group,
  'identity:delete_group': group,
  'identity:list_users_in_group': group,
  'identity:create_group': (req) => {
    const g = bodyEntity(req, 'group')
    return { group: { ...g, domain_id: g.domain_id ?? defaultDomainId(req.ctx) } }
  },
  'identity:add_user_to_group': groupAndUser,
  'identity:remove_user_from_group': groupAndUser,
  'identity:check_user_in_group': groupAndUser,
  'identity:check_grant': grant,
  'identity:list_grants': grant,
  'identity:create_grant': grant,
  'identity:revoke_grant': grant,
  'identity:get_role': async (req, d) => {
    const role = await d.assignments.getRole(param(req, 'role_id')).catch(() => undefined)
    return role ? { role: { id: role.id, name: role.name, domain_id: role.domainId } } : {}
  },
  'identity:validate_token': subjectToken,
  'identity:check_token': subjectToken,
  'identity:revoke_token': subjectToken,
  'identity:get_credential': credential,
  'identity:update_credential': credential,
  'identity:delete_credential': credential,
  'identity:create_credential': (req) => ({ credential: bodyEntity(req, 'credential') }),
  'identity:list_credentials': (req) => (req.ctx.system ? {} : { credential: { user_id: req.ctx.userId } }),
  'identity:ec2_create_credential': (req) => ({ credential: { user_id: param(req, 'user_id') } }),
  'identity:ec2_get_credential': ec2Credential,
  'identity:ec2_delete_credential': ec2Credential,
}
