import type { RequestContext } from '../common/context.ts'
import { Invalid, NotFound } from '../common/errors.ts'
import type { Queryable } from '../db/schema.ts'
import {
  addServerGroupMembers,
  countUserMembers,
  getServerGroup,
  GroupMemberLimitExceeded,
  type ServerGroup,
} from './db/server-groups.ts'
import type { QuotaEngine } from './quota.ts'

/**
 * The server create side of server groups (Nova's compute API
 * `_get_requested_instance_group` and the member quota of
 * `_provision_instances`): the `group` scheduler hint names a group, and the
 * new servers become its members in the transaction that creates them.
 */

/** The group the `group` hint names (400 when it does not exist, as Nova's create). */
export async function requestedServerGroup(
  db: Queryable,
  hints: Readonly<Record<string, string | readonly string[]>>,
): Promise<ServerGroup | undefined> {
  const raw = hints.group
  const hint = Array.isArray(raw) ? raw[0] : (raw as string | undefined)
  if (!hint) return undefined
  try {
    return await getServerGroup(db, hint)
  } catch (err) {
    if (err instanceof NotFound) throw new Invalid(err.message)
    throw err
  }
}

/**
 * Adds the new servers to the group after checking `server_group_members`
 * against the caller's live members of the group, as Nova counts them (403
 * "Quota exceeded, too many servers in group"). Runs inside the create
 * transaction, so members and instances appear together.
 */
export async function joinServerGroup(
  db: Queryable,
  quotas: QuotaEngine,
  ctx: RequestContext,
  group: ServerGroup,
  instanceUuids: readonly string[],
): Promise<void> {
  // The group may have gone since the API looked it up (Nova: 400 at create).
  await requestedServerGroup(db, { group: group.uuid })
  const allowed = (await quotas.limits(db, ctx.projectId ?? '', ctx.userId ?? undefined)).server_group_members
  const owned = await countUserMembers(db, group.uuid, ctx.userId ?? '')
  if (allowed >= 0 && owned + instanceUuids.length > allowed) {
    throw new GroupMemberLimitExceeded('Quota exceeded, too many servers in group')
  }
  await addServerGroupMembers(db, group.uuid, instanceUuids)
}
