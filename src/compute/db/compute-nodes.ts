import { NotFound, registerErrorClass } from '../../common/errors.ts'
import { paginate } from '../../db/paginate.ts'
import type { Queryable } from '../../db/schema.ts'
import type { ComputeNodeRow } from '../../db/tables/compute.ts'
import { fromJsonText, newId, nowIso, toJsonText } from '../../db/values.ts'
import type { ComputeNode, ComputeNodeReport } from '../objects.ts'

/** Compute nodes: one row per hypervisor node, written by its host's resource tracker. */

export class ComputeHostNotFound extends NotFound {}
registerErrorClass(ComputeHostNotFound)

function nodeFromRow(row: ComputeNodeRow): ComputeNode {
  return {
    id: row.id,
    uuid: row.uuid,
    host: row.host,
    hypervisorHostname: row.hypervisor_hostname,
    vcpus: row.vcpus,
    memoryMb: row.memory_mb,
    localGb: row.local_gb,
    vcpusUsed: row.vcpus_used,
    memoryMbUsed: row.memory_mb_used,
    localGbUsed: row.local_gb_used,
    freeRamMb: row.free_ram_mb,
    freeDiskGb: row.free_disk_gb,
    runningVms: row.running_vms,
    currentWorkload: row.current_workload,
    diskAvailableLeast: row.disk_available_least,
    hypervisorType: row.hypervisor_type,
    hypervisorVersion: row.hypervisor_version,
    cpuInfo: fromJsonText<Record<string, unknown>>(row.cpu_info),
    hostIp: row.host_ip,
    cpuAllocationRatio: Number(row.cpu_allocation_ratio),
    ramAllocationRatio: Number(row.ram_allocation_ratio),
    diskAllocationRatio: Number(row.disk_allocation_ratio),
    reservedHostMemoryMb: row.reserved_host_memory_mb,
    reservedHostDiskGb: row.reserved_host_disk_gb,
    failedBuilds: row.failed_builds,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

function reportColumns(r: ComputeNodeReport) {
  return {
    vcpus: r.vcpus,
    memory_mb: r.memoryMb,
    local_gb: r.localGb,
    vcpus_used: r.vcpusUsed,
    memory_mb_used: r.memoryMbUsed,
    local_gb_used: r.localGbUsed,
    free_ram_mb: r.memoryMb - r.memoryMbUsed,
    free_disk_gb: r.localGb - r.localGbUsed,
    running_vms: r.runningVms,
    current_workload: r.currentWorkload,
    disk_available_least: r.diskAvailableLeast,
    hypervisor_type: r.hypervisorType,
    hypervisor_version: r.hypervisorVersion,
    cpu_info: toJsonText(r.cpuInfo),
    host_ip: r.hostIp,
    cpu_allocation_ratio: String(r.cpuAllocationRatio),
    ram_allocation_ratio: String(r.ramAllocationRatio),
    disk_allocation_ratio: String(r.diskAllocationRatio),
    reserved_host_memory_mb: r.reservedHostMemoryMb,
    reserved_host_disk_gb: r.reservedHostDiskGb,
  }
}

/** Creates or refreshes the node row for (host, hypervisor hostname); a restarted host keeps its ids. */
export async function upsertComputeNode(db: Queryable, report: ComputeNodeReport): Promise<ComputeNode> {
  const now = nowIso()
  const columns = reportColumns(report)
  const row = await db
    .insertInto('compute_nodes')
    .values({
      uuid: newId(),
      host: report.host,
      hypervisor_hostname: report.hypervisorHostname,
      ...columns,
      failed_builds: 0,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) =>
      oc.columns(['host', 'hypervisor_hostname']).doUpdateSet({ ...columns, updated_at: now }),
    )
    .returningAll()
    .executeTakeFirstOrThrow()
  return nodeFromRow(row)
}

/** Counts a failed build on a node (reset on success), for the build failure weigher. */
export async function recordBuildResult(
  db: Queryable,
  host: string,
  node: string,
  failed: boolean,
): Promise<void> {
  await db
    .updateTable('compute_nodes')
    .set((eb) => ({ failed_builds: failed ? eb('failed_builds', '+', 1) : 0 }))
    .where('host', '=', host)
    .where('hypervisor_hostname', '=', node)
    .execute()
}

export async function listComputeNodes(db: Queryable): Promise<ComputeNode[]> {
  const rows = await db.selectFrom('compute_nodes').selectAll().orderBy('id').execute()
  return rows.map(nodeFromRow)
}

/** A page of nodes in id order; the marker is a node id (integer before 2.53, uuid after). */
export async function pageComputeNodes(
  db: Queryable,
  page: { limit?: number | undefined; marker?: string | undefined; markerIsUuid: boolean },
): Promise<{ readonly items: ComputeNode[]; readonly hasMore: boolean }> {
  let markerId: number | undefined
  if (page.marker !== undefined) {
    const q = db.selectFrom('compute_nodes').select('id')
    const m = page.markerIsUuid
      ? await q.where('uuid', '=', page.marker).executeTakeFirst()
      : /^\d+$/.test(page.marker)
        ? await q.where('id', '=', Number(page.marker)).executeTakeFirst()
        : undefined
    if (!m) throw new NotFound(`marker [${page.marker}] not found`, { markerNotFound: true })
    markerId = m.id
  }
  const result = await paginate(db, db.selectFrom('compute_nodes').selectAll(), {
    table: 'compute_nodes',
    limit: page.limit,
    marker: markerId,
    idColumn: 'id',
  })
  return { items: result.items.map(nodeFromRow), hasMore: result.hasMore }
}

/** A node by integer id or uuid; ComputeHostNotFound if none. */
export async function getComputeNode(db: Queryable, id: string, byUuid: boolean): Promise<ComputeNode> {
  const q = db.selectFrom('compute_nodes').selectAll()
  const row = byUuid
    ? await q.where('uuid', '=', id).executeTakeFirst()
    : /^\d+$/.test(id)
      ? await q.where('id', '=', Number(id)).executeTakeFirst()
      : undefined
  if (!row) throw new ComputeHostNotFound(`Compute host ${id} could not be found.`)
  return nodeFromRow(row)
}
