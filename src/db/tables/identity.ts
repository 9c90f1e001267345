import type { Selectable } from 'kysely'

/**
 * Keystone's tables. Ids are Keystone-style uuid hex without dashes (what
 * Fernet payloads pack into 16 bytes), except ids Keystone lets callers
 * choose: the `default` domain, region ids (`RegionOne`). Extra attributes
 * an API caller adds to an entity (Keystone keeps them) live in `extra`, a
 * JSON object stored as text.
 */
export interface DomainsTable {
  id: string
  name: string
  description: string | null
  enabled: boolean
  extra: string
  created_at: string
  updated_at: string | null
}

/** Projects. `parent_id` is null for a top-level project (the API shows the domain id there). */
export interface ProjectsTable {
  id: string
  name: string
  domain_id: string
  parent_id: string | null
  description: string | null
  enabled: boolean
  /** JSON array of tag strings. */
  tags: string
  extra: string
  created_at: string
  updated_at: string | null
}

export interface UsersTable {
  id: string
  name: string
  domain_id: string
  enabled: boolean
  /** scrypt hash (see identity/password.ts); null for a user that cannot log in with a password. */
  password_hash: string | null
  default_project_id: string | null
  extra: string
  /** When the password was last set; tokens issued before a change are revoked. */
  password_changed_at: string | null
  /** Failed password logins since the last good one (account lockout). */
  failed_auth_count: number
  failed_auth_at: string | null
  created_at: string
  updated_at: string | null
}

/** The hashes of a user's recent passwords, newest last (password history). */
export interface PasswordHistoryTable {
  user_id: string
  password_hash: string
  created_at: string
}

export interface GroupsTable {
  id: string
  name: string
  domain_id: string
  description: string | null
  extra: string
  created_at: string
  updated_at: string | null
}

export interface GroupMembershipsTable {
  group_id: string
  user_id: string
  created_at: string
}

export interface RolesTable {
  id: string
  name: string
  /** The domain of a domain-specific role; null for a global role. */
  domain_id: string | null
  description: string | null
  extra: string
  created_at: string
  updated_at: string | null
}

/** `prior_role_id` implies `implied_role_id` (admin implies member). */
export interface ImpliedRolesTable {
  prior_role_id: string
  implied_role_id: string
  created_at: string
}

/** Keystone's assignment types. */
export type AssignmentType =
  'UserProject' | 'GroupProject' | 'UserDomain' | 'GroupDomain' | 'UserSystem' | 'GroupSystem'

/** One role of a user or group on a project, a domain or the system (`target_id` = `system`). */
export interface RoleAssignmentsTable {
  type: AssignmentType
  actor_id: string
  target_id: string
  role_id: string
  inherited: boolean
  created_at: string
}

export interface CatalogRegionsTable {
  id: string
  description: string | null
  parent_region_id: string | null
  extra: string
  created_at: string
  updated_at: string | null
}

export interface CatalogServicesTable {
  id: string
  type: string
  name: string | null
  description: string | null
  enabled: boolean
  extra: string
  created_at: string
  updated_at: string | null
}

export interface CatalogEndpointsTable {
  id: string
  service_id: string
  region_id: string | null
  interface: 'public' | 'internal' | 'admin'
  url: string
  enabled: boolean
  extra: string
  created_at: string
  updated_at: string | null
}

/** OS-EP-FILTER endpoint groups: `filters` is a JSON object over `service_id`, `region_id`, `interface`. */
export interface EndpointGroupsTable {
  id: string
  name: string
  description: string | null
  filters: string
  created_at: string
  updated_at: string | null
}

/** OS-EP-FILTER: an endpoint associated with a project. */
export interface ProjectEndpointsTable {
  endpoint_id: string
  project_id: string
  created_at: string
}

/** OS-EP-FILTER: an endpoint group associated with a project. */
export interface ProjectEndpointGroupsTable {
  endpoint_group_id: string
  project_id: string
  created_at: string
}

/** Keystone's domain-specific configuration: one option of one group, its value as JSON. */
export interface DomainConfigOptionsTable {
  domain_id: string
  config_group: string
  config_option: string
  value: string
  /** Sensitive options (`ldap.password`) are stored but never returned. */
  sensitive: boolean
}

/** OS-OAUTH1 consumers; `secret` is returned once, at creation. */
export interface Oauth1ConsumersTable {
  id: string
  description: string | null
  secret: string
  extra: string
  created_at: string
  updated_at: string | null
}

/** OS-TRUST trusts. `expires_at` is ISO 8601 (null: never); `remaining_uses` null: unlimited. */
export interface TrustsTable {
  id: string
  trustor_user_id: string
  trustee_user_id: string
  project_id: string | null
  impersonation: boolean
  expires_at: string | null
  remaining_uses: number | null
  redelegation_count: number
  redelegated_trust_id: string | null
  extra: string
  created_at: string
}

/** The roles a trust delegates. */
export interface TrustRolesTable {
  trust_id: string
  role_id: string
}

/** An application credential access rule: what its credentials' tokens may call. */
export interface AccessRulesTable {
  id: string
  user_id: string
  service: string
  path: string
  method: string
  created_at: string
}

/** The access rules of an application credential. */
export interface ApplicationCredentialAccessRulesTable {
  application_credential_id: string
  access_rule_id: string
}

/** `/v3/credentials`; an ec2 credential's id is the sha256 hex of its access key, as in Keystone. */
export interface CredentialsTable {
  id: string
  user_id: string
  project_id: string | null
  type: string
  /** The blob exactly as given (a JSON document for ec2: `{"access": ..., "secret": ...}`). */
  blob: string
  extra: string
  created_at: string
  updated_at: string | null
}

/** `/v3/policies`: Keystone's policy blobs, stored and served as given (never enforced). */
export interface PoliciesTable {
  id: string
  type: string
  blob: string
  extra: string
  created_at: string
  updated_at: string | null
}

export interface ApplicationCredentialsTable {
  id: string
  name: string
  user_id: string
  project_id: string
  description: string | null
  /** scrypt hash of the secret; the secret itself is shown once, at creation. */
  secret_hash: string
  expires_at: string | null
  unrestricted: boolean
  /** JSON array of role ids the credential delegates. */
  role_ids: string
  created_at: string
}

/**
 * Keystone's revocation events: a token is revoked when every non-null
 * field matches it and it was issued no later than `issued_before`.
 */
export interface RevocationEventsTable {
  id: string
  user_id: string | null
  project_id: string | null
  domain_id: string | null
  audit_id: string | null
  audit_chain_id: string | null
  issued_before: string
  /** After this no token the event could match is still valid: the event can be pruned. */
  expires_at: string
  revoked_at: string
}

/** The tables of this area, merged into `Schema`. */
export interface IdentityTables {
  domains: DomainsTable
  projects: ProjectsTable
  users: UsersTable
  groups: GroupsTable
  group_memberships: GroupMembershipsTable
  roles: RolesTable
  implied_roles: ImpliedRolesTable
  role_assignments: RoleAssignmentsTable
  catalog_regions: CatalogRegionsTable
  catalog_services: CatalogServicesTable
  catalog_endpoints: CatalogEndpointsTable
  credentials: CredentialsTable
  application_credentials: ApplicationCredentialsTable
  revocation_events: RevocationEventsTable
  policies: PoliciesTable
  endpoint_groups: EndpointGroupsTable
  project_endpoints: ProjectEndpointsTable
  project_endpoint_groups: ProjectEndpointGroupsTable
  domain_config_options: DomainConfigOptionsTable
  oauth1_consumers: Oauth1ConsumersTable
  trusts: TrustsTable
  trust_roles: TrustRolesTable
  access_rules: AccessRulesTable
  password_history: PasswordHistoryTable
  application_credential_access_rules: ApplicationCredentialAccessRulesTable
}

export type DomainRow = Selectable<DomainsTable>
export type ProjectRow = Selectable<ProjectsTable>
export type UserRow = Selectable<UsersTable>
export type GroupRow = Selectable<GroupsTable>
export type RoleRow = Selectable<RolesTable>
export type RoleAssignmentRow = Selectable<RoleAssignmentsTable>
export type RegionRow = Selectable<CatalogRegionsTable>
export type CatalogServiceRow = Selectable<CatalogServicesTable>
export type EndpointRow = Selectable<CatalogEndpointsTable>
export type CredentialRow = Selectable<CredentialsTable>
export type ApplicationCredentialRow = Selectable<ApplicationCredentialsTable>
export type PolicyRow = Selectable<PoliciesTable>
export type EndpointGroupRow = Selectable<EndpointGroupsTable>
export type Oauth1ConsumerRow = Selectable<Oauth1ConsumersTable>
export type TrustRow = Selectable<TrustsTable>
export type AccessRuleRow = Selectable<AccessRulesTable>
export type RevocationEventRow = Selectable<RevocationEventsTable>
