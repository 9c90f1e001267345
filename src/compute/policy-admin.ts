import type { PolicyRules } from '../common/policy.ts'

/**
 * Nova's policy defaults (Zed, `enforce_new_defaults` off) for server
 * metadata, server groups, host aggregates, simple tenant usage and server
 * diagnostics. Merged into NOVA_POLICY_DEFAULTS (policy.ts); the named
 * rules they use are defined there.
 */
const ANY = '@'
const ADMIN = 'rule:context_is_admin'
const PROJECT_MEMBER_OR_ADMIN = 'rule:project_member_or_admin'
const PROJECT_READER_OR_ADMIN = 'rule:project_reader_or_admin'

export const ADMIN_AREA_POLICY_DEFAULTS: PolicyRules = {
  'os_compute_api:server-metadata:index': PROJECT_READER_OR_ADMIN,
  'os_compute_api:server-metadata:show': PROJECT_READER_OR_ADMIN,
  'os_compute_api:server-metadata:create': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:server-metadata:update_all': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:server-metadata:update': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:server-metadata:delete': PROJECT_MEMBER_OR_ADMIN,

  'os_compute_api:os-server-groups:create': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-server-groups:delete': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-server-groups:index': PROJECT_READER_OR_ADMIN,
  'os_compute_api:os-server-groups:index:all_projects': ADMIN,
  'os_compute_api:os-server-groups:show': PROJECT_READER_OR_ADMIN,

  'os_compute_api:os-aggregates:index': ADMIN,
  'os_compute_api:os-aggregates:create': ADMIN,
  'os_compute_api:os-aggregates:show': ADMIN,
  'os_compute_api:os-aggregates:update': ADMIN,
  'os_compute_api:os-aggregates:delete': ADMIN,
  'os_compute_api:os-aggregates:add_host': ADMIN,
  'os_compute_api:os-aggregates:remove_host': ADMIN,
  'os_compute_api:os-aggregates:set_metadata': ADMIN,

  'os_compute_api:os-simple-tenant-usage:show': PROJECT_READER_OR_ADMIN,
  'os_compute_api:os-simple-tenant-usage:list': ADMIN,

  'os_compute_api:os-server-diagnostics': ADMIN,

  'os_compute_api:os-hosts:list': ADMIN,
  'os_compute_api:os-hosts:show': ADMIN,
  'os_compute_api:os-hosts:update': ADMIN,
  'os_compute_api:os-hosts:start': ADMIN,
  'os_compute_api:os-hosts:shutdown': ADMIN,
  'os_compute_api:os-hosts:reboot': ADMIN,

  'os_compute_api:os-instance-usage-audit-log:list': ADMIN,
  'os_compute_api:os-instance-usage-audit-log:show': ADMIN,

  'os_compute_api:extensions': ANY,
}
