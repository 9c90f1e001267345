import type { Queryable } from '../../db/schema.ts'
import type { NetworkAllocationRow } from '../../db/tables/compute.ts'
import { newId, nowIso } from '../../db/values.ts'
import type { FixedIp } from '../objects.ts'

/**
 * The records-only network manager's fixed IPs and MACs, one row per
 * (instance, network). The compute API reads them for `addresses`; the
 * network manager writes them. Unique on (network, address) and on MAC, so
 * two allocations racing for one address cannot both win.
 */

function fixedIpFromRow(row: NetworkAllocationRow): FixedIp {
  return {
    networkId: row.network_id,
    networkLabel: row.network_label,
    address: row.address,
    macAddress: row.mac_address,
    version: row.version === 6 ? 6 : 4,
  }
}

/** Fixed IPs of each instance, in allocation order. */
export async function fixedIpsOf(db: Queryable, uuids: readonly string[]): Promise<Map<string, FixedIp[]>> {
  const out = new Map<string, FixedIp[]>(uuids.map((u) => [u, []]))
  if (uuids.length === 0) return out
  const rows = await db
    .selectFrom('network_allocations')
    .selectAll()
    .where('instance_uuid', 'in', uuids)
    .orderBy('created_at')
    .orderBy('id')
    .execute()
  for (const r of rows) out.get(r.instance_uuid)?.push(fixedIpFromRow(r))
  return out
}

/** Addresses in use on a network. */
export async function usedAddresses(db: Queryable, networkId: string): Promise<Set<string>> {
  const rows = await db
    .selectFrom('network_allocations')
    .select('address')
    .where('network_id', '=', networkId)
    .execute()
  return new Set(rows.map((r) => r.address))
}

export interface NewAllocation {
  readonly instanceUuid: string
  readonly networkId: string
  readonly networkLabel: string
  readonly address: string
  readonly macAddress: string
  readonly version: 4 | 6
}

/** Records one allocation; Conflict if the address or MAC is taken. */
export async function insertAllocation(db: Queryable, a: NewAllocation): Promise<FixedIp> {
  await db
    .insertInto('network_allocations')
    .values({
      id: newId(),
      instance_uuid: a.instanceUuid,
      network_id: a.networkId,
      network_label: a.networkLabel,
      address: a.address,
      mac_address: a.macAddress,
      version: a.version,
      created_at: nowIso(),
    })
    .execute()
  return { ...a }
}

/** Releases every allocation of an instance; returns how many there were. */
export async function releaseAllocations(db: Queryable, instanceUuid: string): Promise<number> {
  const result = await db
    .deleteFrom('network_allocations')
    .where('instance_uuid', '=', instanceUuid)
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}
