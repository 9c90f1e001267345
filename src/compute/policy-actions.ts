import type { PolicyRules } from '../common/policy.ts'

/**
 * Nova Zed's policy defaults of the server actions (nova/policies/servers.py,
 * pause_server.py, suspend_server.py, rescue.py, shelve.py, create_backup.py,
 * admin_password.py, console_output.py), evaluated as Zed does with
 * `enforce_new_defaults` off: the owner project or an admin, and admins
 * only for shelveOffload and unshelving to a named host.
 */
const ADMIN = 'rule:context_is_admin'
const PROJECT_MEMBER_OR_ADMIN = 'rule:project_member_or_admin'

export const ACTIONS_AREA_POLICY_DEFAULTS: PolicyRules = {
  'os_compute_api:servers:reboot': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:servers:start': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:servers:stop': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:servers:rebuild': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:servers:rebuild:trusted_certs': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:servers:create_image': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:servers:create_image:allow_volume_backed': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-pause-server:pause': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-pause-server:unpause': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-suspend-server:suspend': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-suspend-server:resume': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-rescue': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-unrescue': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-shelve:shelve': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-shelve:shelve_offload': ADMIN,
  'os_compute_api:os-shelve:unshelve': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-shelve:unshelve_to_host': ADMIN,
  'os_compute_api:os-create-backup': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-admin-password': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-console-output': PROJECT_MEMBER_OR_ADMIN,
  'os_compute_api:os-deferred-delete:restore': PROJECT_MEMBER_OR_ADMIN,
}
