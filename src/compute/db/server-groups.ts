import { randomUUID } from 'node:crypto'
import { NotFound, OverQuota, registerErrorClass } from '../../common/errors.ts'
import type { Queryable } from '../../db/schema.ts'
import type { ServerGroupRow } from '../../db/tables/compute-admin.ts'
import { fromJsonText, nowIso, toJsonText } from '../../db/values.ts'
import type { ServerGroupPolicy } from '../../scheduler/types.ts'

/**
 * Server groups and their members (Nova's `instance_groups` and
 * `instance_group_member`). A member whose instance is deleted no longer
 * counts anywhere: every member query joins the live instances, so deleting
 * a server takes it out of its group (as Nova's views and quota do).
 */

export class InstanceGroupNotFound extends NotFound {}
registerErrorClass(InstanceGroupNotFound)
/** "Quota exceeded, too many servers in group" (403). */
export class GroupMemberLimitExceeded extends OverQuota {}
registerErrorClass(GroupMemberLimitExceeded)
/** "Quota exceeded, too many server groups." (403). */
export class ServerGroupLimitExceeded extends OverQuota {}
registerErrorClass(ServerGroupLimitExceeded)

export function groupNotFound(uuid: string): InstanceGroupNotFound {
  return new InstanceGroupNotFound(`Instance group ${uuid} could not be found.`)
}

export interface ServerGroupRules {
  readonly max_server_per_host?: number
}

export interface ServerGroup {
  readonly uuid: string
  readonly name: string
  readonly projectId: string
  readonly userId: string
  readonly policy: ServerGroupPolicy
  readonly rules: ServerGroupRules
  /** Live members (instances not deleted), oldest first. */
  readonly members: readonly string[]
  readonly createdAt: string
}

function fromRow(row: ServerGroupRow, members: readonly string[]): ServerGroup {
  return {
    uuid: row.uuid,
    name: row.name,
    projectId: row.project_id,
    userId: row.user_id,
    policy: row.policy as ServerGroupPolicy,
    rules: fromJsonText<ServerGroupRules>(row.rules),
    members,
    createdAt: row.created_at,
  }
}

/** Live members of each group (instances not deleted). */
async function membersOf(db: Queryable, groupUuids: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(groupUuids.map((g) => [g, []]))
  if (groupUuids.length === 0) return out
  const rows = await db
    .selectFrom('server_group_members as m')
    .innerJoin('instances as i', 'i.uuid', 'm.instance_uuid')
    .select(['m.group_uuid', 'm.instance_uuid'])
    .where('m.group_uuid', 'in', groupUuids)
    .where('i.deleted', '=', false)
    .orderBy('m.created_at')
    .orderBy('m.instance_uuid')
    .execute()
  for (const r of rows) out.get(r.group_uuid)!.push(r.instance_uuid)
  return out
}

export interface NewServerGroup {
  readonly name: string
  readonly projectId: string
  readonly userId: string
  readonly policy: ServerGroupPolicy
  readonly rules: ServerGroupRules
}

export async function createServerGroup(db: Queryable, g: NewServerGroup): Promise<ServerGroup> {
  const row: ServerGroupRow = {
    uuid: randomUUID(),
    name: g.name,
    project_id: g.projectId,
    user_id: g.userId,
    policy: g.policy,
    rules: toJsonText(g.rules),
    created_at: nowIso(),
    updated_at: null,
  }
  await db.insertInto('server_groups').values(row).execute()
  return fromRow(row, [])
}

export async function getServerGroup(db: Queryable, uuid: string): Promise<ServerGroup> {
  const row = await db.selectFrom('server_groups').selectAll().where('uuid', '=', uuid).executeTakeFirst()
  if (!row) throw groupNotFound(uuid)
  return fromRow(row, (await membersOf(db, [uuid])).get(uuid)!)
}

/** Groups of one project (or every project), oldest first, as Nova lists them. */
export async function listServerGroups(db: Queryable, projectId: string | undefined): Promise<ServerGroup[]> {
  let q = db.selectFrom('server_groups').selectAll().orderBy('created_at').orderBy('uuid')
  if (projectId !== undefined) q = q.where('project_id', '=', projectId)
  const rows = await q.execute()
  const members = await membersOf(
    db,
    rows.map((r) => r.uuid),
  )
  return rows.map((r) => fromRow(r, members.get(r.uuid)!))
}

export async function deleteServerGroup(db: Queryable, uuid: string): Promise<void> {
  const res = await db.deleteFrom('server_groups').where('uuid', '=', uuid).executeTakeFirst()
  if (Number(res.numDeletedRows) === 0) throw groupNotFound(uuid)
  await db.deleteFrom('server_group_members').where('group_uuid', '=', uuid).execute()
}

/** How many groups a project (or one user in it) has: the `server_groups` quota's usage. */
export async function countServerGroups(db: Queryable, projectId: string, userId?: string): Promise<number> {
  let q = db
    .selectFrom('server_groups')
    .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
    .where('project_id', '=', projectId)
  if (userId !== undefined) q = q.where('user_id', '=', userId)
  const row = await q.executeTakeFirstOrThrow()
  return Number(row.n)
}

export async function addServerGroupMembers(
  db: Queryable,
  groupUuid: string,
  instanceUuids: readonly string[],
): Promise<void> {
  if (instanceUuids.length === 0) return
  const now = nowIso()
  await db
    .insertInto('server_group_members')
    .values(instanceUuids.map((i) => ({ group_uuid: groupUuid, instance_uuid: i, created_at: now })))
    .execute()
}

/** The groups each instance is a live member of (2.71 `server_groups`). */
export async function groupsOfInstances(
  db: Queryable,
  instanceUuids: readonly string[],
): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>()
  if (instanceUuids.length === 0) return out
  const rows = await db
    .selectFrom('server_group_members as m')
    .innerJoin('server_groups as g', 'g.uuid', 'm.group_uuid')
    .select(['m.instance_uuid', 'm.group_uuid'])
    .where('m.instance_uuid', 'in', instanceUuids)
    .execute()
  for (const r of rows) out.set(r.instance_uuid, [...(out.get(r.instance_uuid) ?? []), r.group_uuid])
  return out
}

/**
 * The hosts that run live members of a group, leaving out `exclude` (the
 * instances being scheduled now): Nova's `InstanceGroup.get_hosts`.
 */
export async function serverGroupHosts(
  db: Queryable,
  groupUuid: string,
  exclude: readonly string[],
): Promise<string[]> {
  let q = db
    .selectFrom('server_group_members as m')
    .innerJoin('instances as i', 'i.uuid', 'm.instance_uuid')
    .select('i.host')
    .distinct()
    .where('m.group_uuid', '=', groupUuid)
    .where('i.deleted', '=', false)
    .where('i.host', 'is not', null)
  if (exclude.length) q = q.where('i.uuid', 'not in', exclude)
  return (await q.execute()).map((r) => r.host!).sort()
}

/** Live members of a group that `userId` owns: Nova's `server_group_members` usage (per user, per group). */
export async function countUserMembers(db: Queryable, groupUuid: string, userId: string): Promise<number> {
  const row = await db
    .selectFrom('server_group_members as m')
    .innerJoin('instances as i', 'i.uuid', 'm.instance_uuid')
    .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
    .where('m.group_uuid', '=', groupUuid)
    .where('i.deleted', '=', false)
    .where('i.user_id', '=', userId)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}
