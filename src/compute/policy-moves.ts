import type { PolicyRules } from '../common/policy.ts'

/** Nova Zed's default rules for moves (nova/policies/{servers,migrate_server,evacuate,migrations,server_migrations}.py). */
const ADMIN = 'rule:context_is_admin'
const PROJECT_MEMBER_OR_ADMIN = 'rule:project_member_or_admin'

export const MOVE_POLICY_DEFAULTS: PolicyRules = {
  'os_compute_api:servers:resize': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:servers:confirm_resize': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:servers:revert_resize': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-migrate-server:migrate': ADMIN,
  'os_compute_api:os-migrate-server:migrate:host': ADMIN,
  'os_compute_api:os-evacuate': ADMIN,
  'os_compute_api:os-migrations:index': ADMIN,
  'os_compute_api:servers:migrations:index': ADMIN,
  'os_compute_api:servers:migrations:show': ADMIN,
  'os_compute_api:servers:migrations:delete': ADMIN,
  'os_compute_api:servers:migrations:force_complete': ADMIN,
}
