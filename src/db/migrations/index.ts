import type { Migration } from 'kysely'
import * as services from './0001-services.ts'
import * as compute from './0002-compute.ts'
import * as identity from './0003-identity.ts'
import * as image from './0004-image.ts'
import * as network from './0007-network.ts'
import * as computeQuotaClasses from './0008-compute-quota-classes.ts'
import * as computeMigrations from './0020-compute-migrations.ts'
import * as instanceInfoCaches from './0013-instance-info-caches.ts'
import * as computeGroupsAggregates from './0011-compute-groups-aggregates.ts'
import * as identityPolicies from './0016-identity-policies.ts'
import * as networkAgents from './0017-network-agents.ts'
import * as imageMetadefs from './0018-image-metadefs.ts'
import * as identityDomainRoles from './0019-identity-domain-roles.ts'
import * as identityEndpointFilter from './0021-identity-endpoint-filter.ts'
import * as identityDomainConfigs from './0022-identity-domain-configs.ts'
import * as identityOauth1Consumers from './0023-identity-oauth1-consumers.ts'
import * as identityTrusts from './0024-identity-trusts.ts'
import * as identityAccessRules from './0025-identity-access-rules.ts'
import * as identitySecurityCompliance from './0026-identity-security-compliance.ts'
import * as serviceReports from './0027-service-reports.ts'
import * as imageDeletedIds from './0028-image-deleted-ids.ts'

/**
 * Every migration, oldest first, keyed by the name recorded in the database.
 * Listed statically (no directory scan) so it works the same under tsx, in a
 * bundle and in tests. To add one: create `NNNN-what.ts` with the next number,
 * export `up` (and `down`), and add it at the end here. Never edit, rename or
 * reorder a migration that has been merged: databases have applied it.
 */
export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '0001-services': services,
  '0002-compute': compute,
  '0003-identity': identity,
  '0004-image': image,
  '0007-network': network,
  '0008-compute-quota-classes': computeQuotaClasses,
  '0011-compute-groups-aggregates': computeGroupsAggregates,
  '0013-instance-info-caches': instanceInfoCaches,
  '0016-identity-policies': identityPolicies,
  '0017-network-agents': networkAgents,
  '0018-image-metadefs': imageMetadefs,
  '0019-identity-domain-roles': identityDomainRoles,
  '0020-compute-migrations': computeMigrations,
  '0021-identity-endpoint-filter': identityEndpointFilter,
  '0022-identity-domain-configs': identityDomainConfigs,
  '0023-identity-oauth1-consumers': identityOauth1Consumers,
  '0024-identity-trusts': identityTrusts,
  '0025-identity-access-rules': identityAccessRules,
  '0026-identity-security-compliance': identitySecurityCompliance,
  '0027-service-reports': serviceReports,
  '0028-image-deleted-ids': imageDeletedIds,
}
