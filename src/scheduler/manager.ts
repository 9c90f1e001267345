import { sql, type Transaction } from 'kysely'
import type { Config } from '../common/config.ts'
import type { RequestContext } from '../common/context.ts'
import { logger } from '../common/log.ts'
import type { ComputeNodeRow } from '../db/tables/compute.ts'
import type { Database } from '../db/index.ts'
import type { Schema } from '../db/schema.ts'
import type { ServiceRow } from '../db/services.ts'
import { nowIso } from '../db/values.ts'
import type { SchedulerOptions } from './options.ts'
import { PeriodicTasks } from '../compute/periodic.ts'
import { allocateMove, moveUsages, movingInstanceUuids } from '../compute/db/migrations.ts'
import { recordHeartbeat, registerService } from '../db/services.ts'
import { RpcServer } from '../rpc/index.ts'
import type { Runtime } from '../service/runtime.ts'
import type { Service } from '../service/service.ts'
import {
  SCHEDULER_TOPIC,
  type Destination,
  type DestinationRequest,
  type SelectDestinationsResult,
} from './rpcapi.ts'
import { aggregateZones, withServerGroup } from './groups-zones.ts'
import { selectDestinations } from './select.ts'
import type { HostState, RequestSpec } from './types.ts'

const log = logger('scheduler.manager')

/** The compute service binary whose rows say whether a host is up. */
const COMPUTE_BINARY = 'nova-compute'
const MB_PER_GB = 1024

export interface SchedulerManagerDeps {
  readonly db: Database
  readonly config: Config
  /** Filter and weigher settings; anything absent takes the scheduler's defaults. */
  readonly options?: Partial<SchedulerOptions> | undefined
}

/**
 * The scheduler service (Nova's SchedulerManager): loads every host's state
 * from the database (compute nodes, their services, the instances allocated
 * to them), asks the pure `selectDestinations` where the instances go, and
 * records each choice on its instance (host, node, scheduled_at). The
 * recorded host is the allocation: until a build fails or the instance is
 * deleted, its resources count on that host, so concurrent requests never
 * share the last slot. Requests are serialised (in this process by a queue,
 * across processes by a database lock) for that reason.
 */
export class SchedulerManager {
  readonly #d: SchedulerManagerDeps
  #queue: Promise<unknown> = Promise.resolve()

  constructor(deps: SchedulerManagerDeps) {
    this.#d = deps
  }

  endpoints(): Record<string, (ctx: RequestContext, args: any) => Promise<unknown>> {
    return {
      select_destinations: (ctx, a: { spec: RequestSpec; destination?: DestinationRequest }) =>
        this.selectDestinations(ctx, a.spec, a.destination),
    }
  }

  /**
   * Picks and allocates a host for each instance of `spec`. Rejects with
   * NoValidHost (with the decision record in `detail`) when some instance
   * has none.
   */
  selectDestinations(
    ctx: RequestContext,
    spec: RequestSpec,
    destination: DestinationRequest = {},
  ): Promise<SelectDestinationsResult> {
    const run = this.#queue.then(() => this.#select(ctx, spec, destination))
    this.#queue = run.catch(() => undefined)
    return run
  }

  async #select(
    ctx: RequestContext,
    request: RequestSpec,
    destination: DestinationRequest,
  ): Promise<SelectDestinationsResult> {
    return this.#d.db.transaction(async (trx) => {
      await this.#lock(trx)
      const spec = await withServerGroup(trx, request)
      const needsUuids =
        spec.instanceGroup !== undefined ||
        spec.schedulerHints.same_host !== undefined ||
        spec.schedulerHints.different_host !== undefined
      const hosts = (await this.loadHostStates(trx, { withInstanceUuids: needsUuids })).filter(
        (h) =>
          (destination.host === undefined || h.host.toLowerCase() === destination.host.toLowerCase()) &&
          (destination.node === undefined || h.nodename === destination.node),
      )
      const selection = selectDestinations(spec, hosts, {
        requestId: ctx.requestId,
        ...this.#options(),
      })
      const destinations: Destination[] = selection.hosts.map((h) => ({
        host: h.host,
        node: h.nodename,
        zone: h.availabilityZone,
      }))
      if (destination.migrationUuid !== undefined) {
        await allocateMove(trx, destination.migrationUuid, destinations[0]!)
      } else {
        await this.#allocate(trx, spec.instanceUuids, destinations, destination.defaultZone, zonesOf(hosts))
      }
      log.info(
        { instances: spec.instanceUuids, hosts: destinations.map((d) => d.host) },
        'destinations selected',
      )
      return { destinations, record: selection.record }
    })
  }

  #options(): Partial<SchedulerOptions> {
    const c = this.#d.config.compute
    return {
      initialCpuAllocationRatio: c.cpuAllocationRatio,
      initialRamAllocationRatio: c.ramAllocationRatio,
      initialDiskAllocationRatio: c.diskAllocationRatio,
      ...(this.#d.options ?? {}),
    }
  }

  /** Serialises schedulers across processes (PostgreSQL); SQLite transactions are already serial. */
  async #lock(trx: Transaction<Schema>): Promise<void> {
    if (this.#d.db.dialect !== 'postgres') return
    await sql`select pg_advisory_xact_lock(hashtext('nimbus-scheduler'))`.execute(trx)
  }

  /** Records each instance's host: its allocation. A deleted instance is skipped. */
  async #allocate(
    trx: Transaction<Schema>,
    uuids: readonly string[],
    dests: readonly Destination[],
    defaultZone: string | undefined,
    zones: ReadonlyMap<string, string>,
  ): Promise<void> {
    const now = nowIso()
    for (const [i, uuid] of uuids.entries()) {
      const dest = dests[i]!
      await trx
        .updateTable('instances')
        .set((eb) => ({
          host: dest.host,
          node: dest.node,
          scheduled_at: now,
          updated_at: now,
          // The zone follows the host unless the request named one.
          ...(defaultZone
            ? {
                availability_zone: eb.fn.coalesce(
                  'availability_zone',
                  eb.val(zones.get(dest.host) ?? defaultZone),
                ),
              }
            : {}),
        }))
        .where('uuid', '=', uuid)
        .where('deleted', '=', false)
        .execute()
    }
  }

  /**
   * Every compute node with its service and what is allocated to it, summed
   * by the database (one row per node, whatever the number of instances).
   * The uuids of each host's instances are loaded only when the request
   * needs them (same_host / different_host hints, server groups).
   */
  async loadHostStates(
    db: Transaction<Schema> | Database['kysely'],
    opts: { withInstanceUuids: boolean } = { withInstanceUuids: true },
  ): Promise<HostState[]> {
    const nodes = await db.selectFrom('compute_nodes').selectAll().orderBy('id').execute()
    const services = await db
      .selectFrom('services')
      .selectAll()
      .where('binary', '=', COMPUTE_BINARY)
      .execute()
    const swapMb =
      this.#d.db.dialect === 'postgres'
        ? sql<number>`coalesce(sum(cast(cast(flavor as json)->>'swapMb' as integer)), 0)`
        : sql<number>`coalesce(sum(json_extract(flavor, '$.swapMb')), 0)`
    const usage = await db
      .selectFrom('instances')
      .select((eb) => [
        'host',
        'node',
        eb.fn.countAll<number | string | bigint>().as('count'),
        eb.fn.sum<number | string>('vcpus').as('vcpus'),
        eb.fn.sum<number | string>('memory_mb').as('memory_mb'),
        eb.fn.sum<number | string>(eb('root_gb', '+', eb.ref('ephemeral_gb'))).as('disk_gb'),
        swapMb.as('swap_mb'),
      ])
      .where('deleted', '=', false)
      .where('host', 'is not', null)
      // A server being resized or migrated counts on both hosts through its migration.
      .where('uuid', 'not in', movingInstanceUuids(db))
      .groupBy(['host', 'node'])
      .execute()
    const moves = await moveUsages(db)
    for (const m of moves) {
      usage.push({
        host: m.host,
        node: m.node,
        count: 1,
        vcpus: m.vcpus,
        memory_mb: m.memoryMb,
        disk_gb: m.diskGb,
        swap_mb: 0,
      })
    }
    const uuids = opts.withInstanceUuids
      ? [
          ...(await db
            .selectFrom('instances')
            .select(['uuid', 'host', 'node'])
            .where('deleted', '=', false)
            .where('host', 'is not', null)
            .where('uuid', 'not in', movingInstanceUuids(db))
            .execute()),
          ...moves.map((m) => ({ uuid: m.instanceUuid, host: m.host, node: m.node })),
        ]
      : []
    const byService = new Map(services.map((s) => [s.host, s]))
    const zones = await aggregateZones(db)
    const now = Date.now()
    return nodes.map((node) => {
      const onNode = (r: { host: string | null; node: string | null }) =>
        r.host === node.host && (r.node === null || r.node === node.hypervisor_hostname)
      const used = usage.filter(onNode).reduce(
        (acc, r) => ({
          vcpus: acc.vcpus + Number(r.vcpus),
          memoryMb: acc.memoryMb + Number(r.memory_mb),
          diskGb: acc.diskGb + Number(r.disk_gb) + Number(r.swap_mb) / MB_PER_GB,
        }),
        { vcpus: 0, memoryMb: 0, diskGb: 0 },
      )
      return this.#hostState(
        node,
        byService.get(node.host),
        used,
        uuids.filter(onNode).map((r) => r.uuid),
        now,
        zones.get(node.host),
      )
    })
  }

  #hostState(
    node: ComputeNodeRow,
    service: ServiceRow | undefined,
    used: { readonly vcpus: number; readonly memoryMb: number; readonly diskGb: number },
    instanceUuids: readonly string[],
    nowMs: number,
    zone: string | undefined,
  ): HostState {
    const cpuInfo = JSON.parse(node.cpu_info || '{}') as { arch?: string }
    return {
      host: node.host,
      nodename: node.hypervisor_hostname,
      availabilityZone: zone ?? this.#d.config.compute.defaultAvailabilityZone,
      serviceUp: service !== undefined && this.#serviceUp(service, nowMs),
      serviceDisabled: service?.disabled ?? true,
      serviceDisabledReason: service?.disabled_reason ?? null,
      totalMemoryMb: node.memory_mb,
      usedMemoryMb: used.memoryMb,
      totalVcpus: node.vcpus,
      usedVcpus: used.vcpus,
      totalDiskGb: node.local_gb,
      usedDiskGb: used.diskGb,
      cpuAllocationRatio: Number(node.cpu_allocation_ratio),
      ramAllocationRatio: Number(node.ram_allocation_ratio),
      diskAllocationRatio: Number(node.disk_allocation_ratio),
      reservedMemoryMb: node.reserved_host_memory_mb,
      reservedDiskGb: node.reserved_host_disk_gb,
      instanceUuids,
      failedBuilds: node.failed_builds,
      hypervisorType: node.hypervisor_type,
      hypervisorVersion: node.hypervisor_version,
      cpuArch: cpuInfo.arch ?? 'x86_64',
      supportedVmModes: ['hvm'],
    }
  }

  /** Nova's servicegroup DB driver: a heartbeat within service_down_time and not forced down. */
  #serviceUp(service: ServiceRow, nowMs: number): boolean {
    if (service.forced_down) return false
    const last = service.last_seen_at ?? service.updated_at ?? service.created_at
    return nowMs - Date.parse(last) <= this.#d.config.compute.serviceDownTimeS * 1000
  }
}

/** Each host's zone as the scheduler saw it (aggregate zone or the default). */
function zonesOf(hosts: readonly HostState[]): Map<string, string> {
  return new Map(hosts.map((h) => [h.host, h.availabilityZone]))
}

/** Nova's binary name for the scheduler, as os-services lists it. */
export const SCHEDULER_BINARY = 'nova-scheduler'

/** The scheduler service: its RPC server on the `scheduler` topic and its heartbeats. */
export class SchedulerService implements Service {
  readonly name = 'scheduler'
  readonly manager: SchedulerManager
  readonly #rt: Runtime
  readonly #server: RpcServer
  readonly #periodic = new PeriodicTasks()

  constructor(rt: Runtime) {
    this.#rt = rt
    this.manager = new SchedulerManager({ db: rt.db, config: rt.config })
    this.#server = new RpcServer(
      rt.transport,
      { topic: SCHEDULER_TOPIC, server: rt.config.host },
      this.manager.endpoints(),
    )
    this.#periodic.add('heartbeat', rt.config.compute.reportIntervalS * 1000, () => this.#heartbeat())
  }

  async start(): Promise<void> {
    await registerService(this.#rt.db.kysely, {
      host: this.#rt.config.host,
      binary: SCHEDULER_BINARY,
      topic: SCHEDULER_TOPIC,
    })
    await this.#heartbeat()
    await this.#server.start()
    this.#periodic.start()
  }

  async stop(): Promise<void> {
    await this.#periodic.stop()
    await this.#server.stop()
  }

  async #heartbeat(): Promise<void> {
    await recordHeartbeat(this.#rt.db.kysely, { host: this.#rt.config.host, binary: SCHEDULER_BINARY })
  }
}

export function createSchedulerService(rt: Runtime): Service {
  return new SchedulerService(rt)
}
