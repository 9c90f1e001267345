import type { RequestContext } from '../common/context.ts'
import {
  credentialsFromContext,
  PolicyEngine,
  type PolicyRules,
  type PolicyTarget,
} from '../common/policy.ts'
import { MOVE_POLICY_DEFAULTS } from './policy-moves.ts'
import { NETWORK_AREA_POLICY_DEFAULTS } from './policy-network.ts'
import { ADMIN_AREA_POLICY_DEFAULTS } from './policy-admin.ts'
import { ACTIONS_AREA_POLICY_DEFAULTS } from './policy-actions.ts'

/**
 * Nova's policy defaults (nova/policies/*.py, Zed) for the routes Nimbus
 * serves, as Zed enforces them out of the box: `enforce_new_defaults` is
 * off, so each new rule is OR'ed with the rule it deprecates. In practice:
 * the owner project or an admin for server operations, admins only for
 * flavor management, services, hypervisors and other projects' data.
 */
const ADMIN = 'rule:context_is_admin'
const PROJECT_MEMBER_OR_ADMIN = 'rule:project_member_or_admin'
const PROJECT_READER_OR_ADMIN = 'rule:project_reader_or_admin'
const ANY = '@'
const OWNER_USER_OR_ADMIN = '(rule:context_is_admin) or user_id:%(user_id)s'

export const NOVA_POLICY_DEFAULTS: PolicyRules = {
  context_is_admin: 'role:admin or is_admin:True',
  admin_or_owner: 'is_admin:True or project_id:%(project_id)s',
  admin_api: 'is_admin:True',
  // new default OR deprecated default (admin_or_owner), as Zed evaluates them
  project_member_api: '(role:member and project_id:%(project_id)s) or rule:admin_or_owner',
  project_reader_api: '(role:reader and project_id:%(project_id)s) or rule:admin_or_owner',
  project_member_or_admin: 'rule:project_member_api or rule:context_is_admin',
  project_reader_or_admin: 'rule:project_reader_api or rule:context_is_admin',

  'os_compute_api:servers:index': PROJECT_READER_OR_ADMIN,
  'os_compute_api:servers:detail': PROJECT_READER_OR_ADMIN,
  'os_compute_api:servers:index:get_all_tenants': ADMIN,
  'os_compute_api:servers:detail:get_all_tenants': ADMIN,
  'os_compute_api:servers:allow_all_filters': ADMIN,
  'os_compute_api:servers:show': PROJECT_READER_OR_ADMIN,
  'os_compute_api:servers:show:flavor-extra-specs': PROJECT_READER_OR_ADMIN,
  'os_compute_api:servers:show:host_status': ADMIN,
  'os_compute_api:servers:show:host_status:unknown-only': ADMIN,
  'os_compute_api:servers:create': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:servers:create:forced_host': ADMIN,
  'compute:servers:create:requested_destination': ADMIN,
  'os_compute_api:servers:create:attach_volume': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:servers:create:attach_network': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:servers:create:trusted_certs': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:servers:create:zero_disk_flavor': ADMIN,
  'network:attach_external_network': ADMIN,
  'os_compute_api:servers:delete': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:servers:update': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-extended-server-attributes': ADMIN,
  'os_compute_api:os-deferred-delete:force': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-lock-server:lock': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-lock-server:unlock': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-lock-server:unlock:unlock_override': ADMIN,
  'os_compute_api:os-admin-actions:reset_state': ADMIN,
  'os_compute_api:os-server-external-events:create': ADMIN,
  'os_compute_api:os-server-password:show': PROJECT_READER_OR_ADMIN,
  'os_compute_api:os-server-password:clear': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-server-tags:index': PROJECT_READER_OR_ADMIN,
  'os_compute_api:os-server-tags:show': PROJECT_READER_OR_ADMIN,
  'os_compute_api:os-server-tags:update': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-server-tags:update_all': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-server-tags:delete': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-server-tags:delete_all': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:ips:index': PROJECT_READER_OR_ADMIN,
  'os_compute_api:ips:show': PROJECT_READER_OR_ADMIN,

  'os_compute_api:os-flavor-manage:create': ADMIN,
  'os_compute_api:os-flavor-manage:update': ADMIN,
  'os_compute_api:os-flavor-manage:delete': ADMIN,
  'os_compute_api:os-flavor-extra-specs:index': PROJECT_READER_OR_ADMIN,
  'os_compute_api:os-flavor-extra-specs:show': PROJECT_READER_OR_ADMIN,
  'os_compute_api:os-flavor-extra-specs:create': ADMIN,
  'os_compute_api:os-flavor-extra-specs:update': ADMIN,
  'os_compute_api:os-flavor-extra-specs:delete': ADMIN,
  'os_compute_api:os-flavor-access': `${ADMIN} or rule:admin_or_owner`,
  'os_compute_api:os-flavor-access:add_tenant_access': ADMIN,
  'os_compute_api:os-flavor-access:remove_tenant_access': ADMIN,

  'os_compute_api:os-keypairs:index': OWNER_USER_OR_ADMIN,
  'os_compute_api:os-keypairs:create': OWNER_USER_OR_ADMIN,
  'os_compute_api:os-keypairs:delete': OWNER_USER_OR_ADMIN,
  'os_compute_api:os-keypairs:show': OWNER_USER_OR_ADMIN,

  'os_compute_api:limits': ANY,
  'os_compute_api:limits:other_project': ADMIN,
  'os_compute_api:os-quota-sets:show': PROJECT_READER_OR_ADMIN,
  'os_compute_api:os-quota-sets:detail': PROJECT_READER_OR_ADMIN,
  'os_compute_api:os-quota-sets:defaults': ANY,
  'os_compute_api:os-quota-sets:update': ADMIN,
  'os_compute_api:os-quota-sets:delete': ADMIN,
  'os_compute_api:os-quota-class-sets:show': ADMIN,
  'os_compute_api:os-quota-class-sets:update': ADMIN,

  'os_compute_api:os-availability-zone:list': ANY,
  'os_compute_api:os-availability-zone:detail': ADMIN,
  'os_compute_api:os-services:list': ADMIN,
  'os_compute_api:os-services:update': ADMIN,
  'os_compute_api:os-services:delete': ADMIN,
  'os_compute_api:os-hypervisors:list': ADMIN,
  'os_compute_api:os-hypervisors:list-detail': ADMIN,
  'os_compute_api:os-hypervisors:statistics': ADMIN,
  'os_compute_api:os-hypervisors:show': ADMIN,
  'os_compute_api:os-hypervisors:uptime': ADMIN,
  'os_compute_api:os-hypervisors:search': ADMIN,
  'os_compute_api:os-hypervisors:servers': ADMIN,

  'os_compute_api:os-instance-actions:list': `${PROJECT_READER_OR_ADMIN} or rule:admin_or_owner`,
  'os_compute_api:os-instance-actions:show': `${PROJECT_READER_OR_ADMIN} or rule:admin_or_owner`,
  'os_compute_api:os-instance-actions:events': ADMIN,
  'os_compute_api:os-instance-actions:events:details': ADMIN,
  ...MOVE_POLICY_DEFAULTS,
  ...NETWORK_AREA_POLICY_DEFAULTS,

  ...ADMIN_AREA_POLICY_DEFAULTS,
  ...ACTIONS_AREA_POLICY_DEFAULTS,
}

/** Nova's PolicyNotAuthorized wording. */
function forbiddenMessage(rule: string): string {
  return `Policy doesn't allow ${rule} to be performed.`
}

/**
 * `context.can(rule, target)` as Nova has it. Without a target, the
 * caller's own project and user are the target (Nova's default), so
 * owner-or-admin rules pass for the caller's own resources.
 */
export class ComputePolicy {
  readonly #engine: PolicyEngine

  constructor(policyFile?: string) {
    this.#engine = PolicyEngine.fromFile(NOVA_POLICY_DEFAULTS, policyFile || undefined, { forbiddenMessage })
  }

  /** Throws Forbidden (403, Nova's message) unless `rule` allows the caller. */
  authorize(ctx: RequestContext, rule: string, target?: PolicyTarget): void {
    this.#engine.enforce(rule, credentialsFromContext(ctx), this.#target(ctx, target))
  }

  /** True when `rule` allows the caller (Nova's `context.can(..., fatal=False)`). */
  can(ctx: RequestContext, rule: string, target?: PolicyTarget): boolean {
    return this.#engine.check(rule, credentialsFromContext(ctx), this.#target(ctx, target))
  }

  #target(ctx: RequestContext, target: PolicyTarget | undefined): PolicyTarget {
    return target ?? { project_id: ctx.projectId ?? null, user_id: ctx.userId ?? null }
  }
}
