import { hostAvailabilityZones } from '../compute/db/aggregates.ts'
import { getServerGroup, serverGroupHosts } from '../compute/db/server-groups.ts'
import type { Queryable } from '../db/schema.ts'
import type { RequestSpec } from './types.ts'

/**
 * What the scheduler reads besides hosts: the server group a request's
 * `group` hint names (Nova's `setup_instance_group`: policy, rules, members
 * and the hosts members already run on) and each host's availability zone
 * from the host aggregates.
 */

/** `spec` with `instanceGroup` filled from the `group` hint; unchanged without one. */
export async function withServerGroup(db: Queryable, spec: RequestSpec): Promise<RequestSpec> {
  if (spec.instanceGroup !== undefined) return spec
  const raw = spec.schedulerHints.group
  const hint = Array.isArray(raw) ? raw[0] : (raw as string | undefined)
  if (!hint) return spec
  // The API checked the group at create; one deleted since leaves no policy to honour.
  const group = await getServerGroup(db, hint).catch(() => undefined)
  if (!group) return spec
  return {
    ...spec,
    instanceGroup: {
      id: group.uuid,
      policy: group.policy,
      ...(group.rules.max_server_per_host === undefined
        ? {}
        : { maxServerPerHost: group.rules.max_server_per_host }),
      hosts: await serverGroupHosts(db, group.uuid, spec.instanceUuids),
      members: group.members,
    },
  }
}

/** host -> availability zone, for hosts in an aggregate with an `availability_zone`. */
export function aggregateZones(db: Queryable): Promise<Map<string, string>> {
  return hostAvailabilityZones(db)
}
