import type { PolicyRules } from '../common/policy.ts'

/**
 * Keystone's default policy (keystone/common/policies/*.py), for the APIs
 * Nimbus implements. The default roles are admin > member > reader (admin
 * implies member implies reader), so `role:reader` also matches members and
 * admins. Rules read the target the way Keystone builds it: `target.<entity>`
 * for the entity acted on, path parameters at the top level (`%(user_id)s`).
 * Operators override any rule with `[identity] policy_file`.
 */
const ADMIN_REQUIRED = 'rule:admin_required'
const SYSTEM_READER = 'role:reader and system_scope:all'
const ADMIN_OR_SYSTEM_READER = `${ADMIN_REQUIRED} or (${SYSTEM_READER})`
const ADMIN_OR_SYSTEM_READER_OR_OWNER = `(${ADMIN_REQUIRED}) or (${SYSTEM_READER}) or rule:owner`
const ADMIN_OR_SYSTEM_READER_OR_CRED_OWNER = `(${ADMIN_REQUIRED}) or (${SYSTEM_READER}) or user_id:%(target.credential.user_id)s`
const ADMIN_OR_CRED_OWNER = `(${ADMIN_REQUIRED}) or user_id:%(target.credential.user_id)s`
const ADMIN_OR_MEMBER_AND_CRED_OWNER = `(${ADMIN_REQUIRED}) or (role:member and user_id:%(target.credential.user_id)s)`

const PROJECT_DOMAIN = 'domain_id:%(target.project.domain_id)s and not None:%(target.project.domain_id)s'
const READ_PROJECT = `(${ADMIN_REQUIRED}) or (${SYSTEM_READER}) or (role:reader and ${PROJECT_DOMAIN}) or project_id:%(target.project.id)s`
const MANAGE_PROJECT = `(${ADMIN_REQUIRED}) or (role:manager and ${PROJECT_DOMAIN})`
const DOMAIN_READER_OF_TARGET = 'role:reader and domain_id:%(target.domain_id)s'
const LIST_IN_DOMAIN = `(${ADMIN_REQUIRED}) or (${SYSTEM_READER}) or (${DOMAIN_READER_OF_TARGET})`

const GROUP_DOMAIN_READER = 'role:reader and domain_id:%(target.group.domain_id)s'
const READ_GROUP = `(${ADMIN_REQUIRED}) or (${SYSTEM_READER}) or (${GROUP_DOMAIN_READER})`
const MANAGE_GROUP = `(${ADMIN_REQUIRED}) or (role:manager and domain_id:%(target.group.domain_id)s)`
const GROUP_AND_USER_DOMAIN = 'domain_id:%(target.group.domain_id)s and domain_id:%(target.user.domain_id)s'

/** A grant's actor (user or group) and target (project or domain) are in the caller's domain. */
function grantsInDomain(role: string): string {
  const actor = ['domain_id:%(target.user.domain_id)s', 'domain_id:%(target.group.domain_id)s']
  const scope = ['domain_id:%(target.project.domain_id)s', 'domain_id:%(target.domain.id)s']
  return actor.flatMap((a) => scope.map((s) => `(role:${role} and ${a} and ${s})`)).join(' or ')
}
const TRUSTOR = 'user_id:%(target.trust.trustor_user_id)s'
const TRUSTEE = 'user_id:%(target.trust.trustee_user_id)s'
const READ_TRUST = `(${ADMIN_REQUIRED}) or (${SYSTEM_READER} or ${TRUSTOR} or ${TRUSTEE})`
const ROLE_IN_DOMAIN = '(domain_id:%(target.role.domain_id)s or None:%(target.role.domain_id)s)'

export const IDENTITY_POLICY_DEFAULTS: PolicyRules = {
  // base.py
  admin_required: 'role:admin or is_admin:1',
  service_role: 'role:service',
  service_or_admin: `${ADMIN_REQUIRED} or rule:service_role`,
  owner: 'user_id:%(user_id)s',
  admin_or_owner: `${ADMIN_REQUIRED} or rule:owner`,
  token_subject: 'user_id:%(target.token.user_id)s',
  admin_or_token_subject: `${ADMIN_REQUIRED} or rule:token_subject`,
  service_admin_or_token_subject: 'rule:service_or_admin or rule:token_subject',
  domain_managed_target_role:
    "'manager':%(target.role.name)s or 'member':%(target.role.name)s or 'reader':%(target.role.name)s",

  // auth.py and token.py
  'identity:get_auth_catalog': '',
  'identity:get_auth_projects': '',
  'identity:get_auth_domains': '',
  'identity:get_auth_system': '',
  'identity:check_token': `${ADMIN_OR_SYSTEM_READER} or rule:token_subject`,
  'identity:validate_token': `${ADMIN_OR_SYSTEM_READER} or rule:service_role or rule:token_subject`,
  'identity:revoke_token': `${ADMIN_REQUIRED} or rule:token_subject`,

  // domain.py
  'identity:get_domain': `${ADMIN_OR_SYSTEM_READER} or token.domain.id:%(target.domain.id)s or token.project.domain.id:%(target.domain.id)s`,
  'identity:list_domains': `${ADMIN_OR_SYSTEM_READER} or (role:reader and domain_id:%(target.domain.id)s)`,
  'identity:create_domain': ADMIN_REQUIRED,
  'identity:update_domain': ADMIN_REQUIRED,
  'identity:delete_domain': ADMIN_REQUIRED,

  // project.py
  'identity:get_project': READ_PROJECT,
  'identity:list_projects': LIST_IN_DOMAIN,
  'identity:list_user_projects': `(${ADMIN_REQUIRED}) or (${SYSTEM_READER}) or (role:reader and domain_id:%(target.user.domain_id)s) or user_id:%(target.user.id)s`,
  'identity:create_project': MANAGE_PROJECT,
  'identity:update_project': MANAGE_PROJECT,
  'identity:delete_project': MANAGE_PROJECT,
  'identity:list_project_tags': READ_PROJECT,
  'identity:get_project_tag': READ_PROJECT,
  'identity:update_project_tags': MANAGE_PROJECT,
  'identity:create_project_tag': MANAGE_PROJECT,
  'identity:delete_project_tags': MANAGE_PROJECT,
  'identity:delete_project_tag': MANAGE_PROJECT,

  // user.py
  'identity:get_user': `(${ADMIN_REQUIRED}) or (${SYSTEM_READER}) or (role:reader and token.domain.id:%(target.user.domain_id)s) or user_id:%(target.user.id)s`,
  'identity:list_users': LIST_IN_DOMAIN,
  'identity:list_projects_for_user': '',
  'identity:list_domains_for_user': '',
  'identity:create_user': `(${ADMIN_REQUIRED}) or (role:manager and token.domain.id:%(target.user.domain_id)s)`,
  'identity:update_user': `(${ADMIN_REQUIRED}) or (role:manager and token.domain.id:%(target.user.domain_id)s)`,
  'identity:delete_user': `(${ADMIN_REQUIRED}) or (role:manager and token.domain.id:%(target.user.domain_id)s)`,

  // group.py
  'identity:get_group': READ_GROUP,
  'identity:list_groups': READ_GROUP,
  'identity:list_groups_for_user': `(${ADMIN_REQUIRED}) or (${SYSTEM_READER}) or (role:reader and domain_id:%(target.user.domain_id)s) or user_id:%(user_id)s`,
  'identity:create_group': MANAGE_GROUP,
  'identity:update_group': MANAGE_GROUP,
  'identity:delete_group': MANAGE_GROUP,
  'identity:list_users_in_group': READ_GROUP,
  'identity:remove_user_from_group': `(${ADMIN_REQUIRED}) or (role:manager and ${GROUP_AND_USER_DOMAIN})`,
  'identity:check_user_in_group': `(${ADMIN_REQUIRED}) or (${SYSTEM_READER}) or (role:reader and ${GROUP_AND_USER_DOMAIN})`,
  'identity:add_user_to_group': `(${ADMIN_REQUIRED}) or (role:manager and ${GROUP_AND_USER_DOMAIN})`,

  // role.py and implied_role.py
  'identity:get_role': `(${ADMIN_OR_SYSTEM_READER}) or (role:manager and rule:domain_managed_target_role)`,
  'identity:list_roles': `(${ADMIN_OR_SYSTEM_READER}) or (role:manager and not domain_id:None)`,
  'identity:create_role': ADMIN_REQUIRED,
  'identity:update_role': ADMIN_REQUIRED,
  'identity:delete_role': ADMIN_REQUIRED,
  'identity:get_implied_role': ADMIN_OR_SYSTEM_READER,
  'identity:list_implied_roles': ADMIN_OR_SYSTEM_READER,
  'identity:create_implied_role': ADMIN_REQUIRED,
  'identity:delete_implied_role': ADMIN_REQUIRED,
  'identity:list_role_inference_rules': ADMIN_OR_SYSTEM_READER,
  'identity:check_implied_role': ADMIN_OR_SYSTEM_READER,

  // grant.py and role_assignment.py
  'identity:check_grant': `(${ADMIN_REQUIRED}) or ((${SYSTEM_READER}) or (${grantsInDomain('reader')}) and ${ROLE_IN_DOMAIN})`,
  'identity:list_grants': `(${ADMIN_REQUIRED}) or (${SYSTEM_READER}) or ${grantsInDomain('reader')}`,
  'identity:create_grant': `(${ADMIN_REQUIRED}) or ((${grantsInDomain('admin')}) and ${ROLE_IN_DOMAIN})`,
  'identity:revoke_grant': `(${ADMIN_REQUIRED}) or ((${grantsInDomain('admin')}) and ${ROLE_IN_DOMAIN})`,
  'identity:list_system_grants_for_user': ADMIN_OR_SYSTEM_READER,
  'identity:check_system_grant_for_user': ADMIN_OR_SYSTEM_READER,
  'identity:create_system_grant_for_user': ADMIN_REQUIRED,
  'identity:revoke_system_grant_for_user': ADMIN_REQUIRED,
  'identity:list_system_grants_for_group': ADMIN_OR_SYSTEM_READER,
  'identity:check_system_grant_for_group': ADMIN_OR_SYSTEM_READER,
  'identity:create_system_grant_for_group': ADMIN_REQUIRED,
  'identity:revoke_system_grant_for_group': ADMIN_REQUIRED,
  'identity:list_role_assignments': LIST_IN_DOMAIN,
  'identity:list_role_assignments_for_tree': LIST_IN_DOMAIN,

  // region.py, service.py, endpoint.py
  'identity:get_region': '',
  'identity:list_regions': '',
  'identity:create_region': ADMIN_REQUIRED,
  'identity:update_region': ADMIN_REQUIRED,
  'identity:delete_region': ADMIN_REQUIRED,
  'identity:get_service': ADMIN_OR_SYSTEM_READER,
  'identity:list_services': ADMIN_OR_SYSTEM_READER,
  'identity:create_service': ADMIN_REQUIRED,
  'identity:update_service': ADMIN_REQUIRED,
  'identity:delete_service': ADMIN_REQUIRED,
  'identity:get_endpoint': ADMIN_OR_SYSTEM_READER,
  'identity:list_endpoints': ADMIN_OR_SYSTEM_READER,
  'identity:create_endpoint': ADMIN_REQUIRED,
  'identity:update_endpoint': ADMIN_REQUIRED,
  'identity:delete_endpoint': ADMIN_REQUIRED,

  // domain_config.py
  'identity:create_domain_config': ADMIN_REQUIRED,
  'identity:get_domain_config': ADMIN_OR_SYSTEM_READER,
  'identity:get_security_compliance_domain_config': '',
  'identity:update_domain_config': ADMIN_REQUIRED,
  'identity:delete_domain_config': ADMIN_REQUIRED,
  'identity:get_domain_config_default': ADMIN_OR_SYSTEM_READER,

  // endpoint_group.py and project_endpoint.py (OS-EP-FILTER)
  'identity:list_endpoint_groups': ADMIN_OR_SYSTEM_READER,
  'identity:get_endpoint_group': ADMIN_OR_SYSTEM_READER,
  'identity:create_endpoint_group': ADMIN_REQUIRED,
  'identity:update_endpoint_group': ADMIN_REQUIRED,
  'identity:delete_endpoint_group': ADMIN_REQUIRED,
  'identity:list_projects_associated_with_endpoint_group': ADMIN_OR_SYSTEM_READER,
  'identity:list_endpoints_associated_with_endpoint_group': ADMIN_OR_SYSTEM_READER,
  'identity:get_endpoint_group_in_project': ADMIN_OR_SYSTEM_READER,
  'identity:list_endpoint_groups_for_project': ADMIN_OR_SYSTEM_READER,
  'identity:add_endpoint_group_to_project': ADMIN_REQUIRED,
  'identity:remove_endpoint_group_from_project': ADMIN_REQUIRED,
  'identity:list_projects_for_endpoint': ADMIN_OR_SYSTEM_READER,
  'identity:add_endpoint_to_project': ADMIN_REQUIRED,
  'identity:check_endpoint_in_project': ADMIN_OR_SYSTEM_READER,
  'identity:list_endpoints_for_project': ADMIN_OR_SYSTEM_READER,
  'identity:remove_endpoint_from_project': ADMIN_REQUIRED,

  // credential.py and ec2_credential.py
  'identity:get_credential': ADMIN_OR_SYSTEM_READER_OR_CRED_OWNER,
  'identity:list_credentials': ADMIN_OR_SYSTEM_READER_OR_CRED_OWNER,
  'identity:create_credential': ADMIN_OR_CRED_OWNER,
  'identity:update_credential': ADMIN_OR_CRED_OWNER,
  'identity:delete_credential': ADMIN_OR_CRED_OWNER,
  'identity:ec2_get_credential': ADMIN_OR_SYSTEM_READER_OR_CRED_OWNER,
  'identity:ec2_list_credentials': ADMIN_OR_SYSTEM_READER_OR_OWNER,
  'identity:ec2_create_credential': ADMIN_OR_MEMBER_AND_CRED_OWNER,
  'identity:ec2_delete_credential': ADMIN_OR_MEMBER_AND_CRED_OWNER,

  // policy.py (the deprecated policy blob API)
  'identity:get_policy': ADMIN_OR_SYSTEM_READER,
  'identity:list_policies': ADMIN_OR_SYSTEM_READER,
  'identity:create_policy': ADMIN_REQUIRED,
  'identity:update_policy': ADMIN_REQUIRED,
  'identity:delete_policy': ADMIN_REQUIRED,

  // consumer.py (OS-OAUTH1)
  'identity:get_consumer': ADMIN_OR_SYSTEM_READER,
  'identity:list_consumers': ADMIN_OR_SYSTEM_READER,
  'identity:create_consumer': ADMIN_REQUIRED,
  'identity:update_consumer': ADMIN_REQUIRED,
  'identity:delete_consumer': ADMIN_REQUIRED,

  // trust.py (OS-TRUST)
  'identity:create_trust': 'user_id:%(target.trust.trustor_user_id)s',
  'identity:list_trusts': ADMIN_OR_SYSTEM_READER,
  'identity:list_trusts_for_trustor': `(${ADMIN_REQUIRED}) or (${SYSTEM_READER} or ${TRUSTOR})`,
  'identity:list_trusts_for_trustee': `(${ADMIN_REQUIRED}) or (${SYSTEM_READER} or ${TRUSTEE})`,
  'identity:get_trust': READ_TRUST,
  'identity:list_roles_for_trust': READ_TRUST,
  'identity:get_role_for_trust': READ_TRUST,
  'identity:delete_trust': `${ADMIN_REQUIRED} or ${TRUSTOR}`,

  // access_rule.py
  'identity:get_access_rule': `(${SYSTEM_READER}) or user_id:%(target.user.id)s`,
  'identity:list_access_rules': `(${SYSTEM_READER}) or user_id:%(target.user.id)s`,
  'identity:delete_access_rule': '(role:admin and system_scope:all) or user_id:%(target.user.id)s',

  // application_credential.py
  'identity:get_application_credential': ADMIN_OR_SYSTEM_READER_OR_OWNER,
  'identity:list_application_credentials': ADMIN_OR_SYSTEM_READER_OR_OWNER,
  'identity:create_application_credential': 'user_id:%(user_id)s',
  'identity:delete_application_credential': 'rule:admin_or_owner',
}
