import type { PolicyRules } from '../common/policy.ts'

/**
 * Nova's policy defaults for the networking routes compute serves
 * (nova/policies/attach_interfaces.py, security_groups.py, networks.py,
 * tenant_networks.py, floating_ips.py, Zed), with
 * the same rule names as policy.ts: the owner project or an admin.
 */
const PROJECT_MEMBER_OR_ADMIN = 'rule:project_member_or_admin'
const PROJECT_READER_OR_ADMIN = 'rule:project_reader_or_admin'

export const NETWORK_AREA_POLICY_DEFAULTS: PolicyRules = {
  'os_compute_api:os-attach-interfaces:list': PROJECT_READER_OR_ADMIN,
  'os_compute_api:os-attach-interfaces:show': PROJECT_READER_OR_ADMIN,
  'os_compute_api:os-attach-interfaces:create': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-attach-interfaces:delete': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-security-groups:get': PROJECT_READER_OR_ADMIN,
  'os_compute_api:os-security-groups:show': PROJECT_READER_OR_ADMIN,
  'os_compute_api:os-security-groups:create': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-security-groups:update': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-security-groups:delete': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-security-groups:rule:create': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-security-groups:rule:delete': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-security-groups:list': PROJECT_READER_OR_ADMIN,
  'os_compute_api:os-security-groups:add': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-security-groups:remove': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-networks:list': PROJECT_READER_OR_ADMIN,
  'os_compute_api:os-floating-ip-pools': '@',
  'os_compute_api:os-floating-ips:list': PROJECT_READER_OR_ADMIN,
  'os_compute_api:os-floating-ips:show': PROJECT_READER_OR_ADMIN,
  'os_compute_api:os-floating-ips:create': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-floating-ips:delete': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-floating-ips:add': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-floating-ips:remove': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-multinic:add': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-multinic:remove': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-networks:show': PROJECT_READER_OR_ADMIN,
  'os_compute_api:os-tenant-networks:list': PROJECT_READER_OR_ADMIN,
  'os_compute_api:os-tenant-networks:show': PROJECT_READER_OR_ADMIN,
}
