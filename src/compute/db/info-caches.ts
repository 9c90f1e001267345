import type { Queryable } from '../../db/schema.ts'
import { fromJsonText, nowIso, toJsonText } from '../../db/values.ts'
import { addressesOf, type FixedIp, type VifInfo } from '../objects.ts'

/**
 * Nova's instance_info_caches: each instance's network info (its ports,
 * addresses, MACs and taps) as one JSON document. The network service
 * writes it when it allocates, attaches, detaches or sees a floating IP
 * change; the compute API reads it for `addresses` and the ip filters.
 */

/** The network info of each instance (empty for one without a cache row). */
export async function networkInfoOf(
  db: Queryable,
  uuids: readonly string[],
): Promise<Map<string, VifInfo[]>> {
  const out = new Map<string, VifInfo[]>(uuids.map((u) => [u, []]))
  if (uuids.length === 0) return out
  const rows = await db
    .selectFrom('instance_info_caches')
    .select(['instance_uuid', 'network_info'])
    .where('instance_uuid', 'in', uuids)
    .execute()
  for (const r of rows) out.set(r.instance_uuid, fromJsonText<VifInfo[]>(r.network_info))
  return out
}

/** The addresses of each instance, as the server view shows them. */
export async function fixedIpsOf(db: Queryable, uuids: readonly string[]): Promise<Map<string, FixedIp[]>> {
  const info = await networkInfoOf(db, uuids)
  return new Map([...info].map(([uuid, vifs]) => [uuid, addressesOf(vifs)]))
}

/** The addresses of every instance that has any (the list's `ip`/`ip6` filters). */
export async function allFixedIps(db: Queryable): Promise<Map<string, FixedIp[]>> {
  const rows = await db
    .selectFrom('instance_info_caches')
    .select(['instance_uuid', 'network_info'])
    .where('network_info', '!=', '[]')
    .execute()
  return new Map(rows.map((r) => [r.instance_uuid, addressesOf(fromJsonText<VifInfo[]>(r.network_info))]))
}

/**
 * Replaces an instance's network info. A no-op for an instance that is no
 * longer in the table (hard-deleted): the foreign key would refuse it.
 */
export async function saveNetworkInfo(db: Queryable, uuid: string, vifs: readonly VifInfo[]): Promise<void> {
  const exists = await db.selectFrom('instances').select('uuid').where('uuid', '=', uuid).executeTakeFirst()
  if (!exists) return
  const values = { network_info: toJsonText(vifs), updated_at: nowIso() }
  await db
    .insertInto('instance_info_caches')
    .values({ instance_uuid: uuid, ...values })
    .onConflict((oc) => oc.column('instance_uuid').doUpdateSet(values))
    .execute()
}

/**
 * Records the names of the security groups now on an instance's ports, so
 * the server view (`security_groups`) follows add/removeSecurityGroup as
 * Nova's (which asks Neutron) does.
 */
export async function setInstanceSecurityGroups(
  db: Queryable,
  uuid: string,
  names: readonly string[],
): Promise<void> {
  await db
    .updateTable('instances')
    .set({ security_groups: toJsonText([...new Set(names)].sort()) })
    .where('uuid', '=', uuid)
    .execute()
}
