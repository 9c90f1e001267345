import { readFileSync } from 'node:fs'
import type { Config } from '../common/config.ts'
import { logger } from '../common/log.ts'
import { PeriodicTasks } from '../compute/periodic.ts'
import { COMPUTE_TOPIC } from '../compute/rpcapi.ts'
import { ComputeService } from '../compute/service.ts'
import { CONDUCTOR_TOPIC } from '../conductor/rpcapi.ts'
import type { Database } from '../db/index.ts'
import { nowIso } from '../db/values.ts'
import { AGENT_TOPIC } from '../network/notifier.ts'
import { NETWORK_TOPIC } from '../network/rpcapi.ts'
import { InprocTransport, type QueueStat, type Transport } from '../rpc/index.ts'
import { SCHEDULER_TOPIC } from '../scheduler/rpcapi.ts'
import { HttpService, type Service } from '../service/service.ts'

const log = logger('ops.reporter')

/** The RPC topics each service consumes (its shared queue and one `topic.<server>` queue per server). */
export const SERVICE_TOPICS: Readonly<Record<string, readonly string[]>> = {
  conductor: [CONDUCTOR_TOPIC],
  scheduler: [SCHEDULER_TOPIC],
  compute: [COMPUTE_TOPIC],
  network: [NETWORK_TOPIC, AGENT_TOPIC],
}

/** What a process says about one of its services, beyond the columns (stored as JSON). */
export interface ServiceReportDetail {
  /** `inproc` or `amqp`: where the queue numbers come from. */
  readonly transport: 'inproc' | 'amqp'
  /** Queue names (without exchange prefix) this service consumes from. */
  readonly queues: readonly string[]
  /** In-process bus only: those queues' depth and consumers when the report was written. */
  readonly queueStats?: readonly QueueStat[] | undefined
  /** The compute hosts this process runs (compute only). */
  readonly computeHosts?: readonly string[] | undefined
}

/** The Nimbus version from package.json, read once. */
export const NIMBUS_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string
    }
    return pkg.version ?? 'unknown'
  } catch {
    return 'unknown'
  }
})()

/**
 * Writes one `service_reports` row per service of this process at start, then
 * every `[compute] report_interval_s`, and marks them stopped on a clean stop:
 * the heartbeats `nimbus status` reads for every service, the HTTP ones
 * included. On the in-process bus the rows also carry the queue numbers,
 * which no other process could read.
 */
export class ServiceReporter {
  readonly #db: Database
  readonly #config: Config
  readonly #transport: Transport
  readonly #services: readonly Service[]
  readonly #startedAt = nowIso()
  readonly #periodic = new PeriodicTasks()

  constructor(db: Database, config: Config, transport: Transport, services: readonly Service[]) {
    this.#db = db
    this.#config = config
    this.#transport = transport
    this.#services = services
    this.#periodic.add('service_report', config.compute.reportIntervalS * 1000, () => this.report())
  }

  async start(): Promise<void> {
    await this.report()
    this.#periodic.start()
  }

  /** Upserts every service's row now. */
  async report(): Promise<void> {
    const now = nowIso()
    for (const service of this.#services) {
      const row = {
        host: this.#config.host,
        service: service.name,
        pid: process.pid,
        version: NIMBUS_VERSION,
        started_at: this.#startedAt,
        last_seen_at: now,
        stopped_at: null,
        endpoint: service instanceof HttpService ? service.endpoint.url : null,
        detail: JSON.stringify(this.#detail(service)),
      }
      await this.#db.kysely
        .insertInto('service_reports')
        .values(row)
        .onConflict((oc) =>
          oc.columns(['host', 'service']).doUpdateSet({
            pid: row.pid,
            version: row.version,
            started_at: row.started_at,
            last_seen_at: row.last_seen_at,
            stopped_at: null,
            endpoint: row.endpoint,
            detail: row.detail,
          }),
        )
        .execute()
    }
  }

  /** Stops reporting and marks this process's rows stopped (best effort: the database may be gone). */
  async stop(): Promise<void> {
    await this.#periodic.stop()
    try {
      await this.#db.kysely
        .updateTable('service_reports')
        .set({ stopped_at: nowIso() })
        .where('host', '=', this.#config.host)
        .where('pid', '=', process.pid)
        .execute()
    } catch (err) {
      log.warn({ err }, 'could not mark the service reports stopped')
    }
  }

  #detail(service: Service): ServiceReportDetail {
    const topics = SERVICE_TOPICS[service.name] ?? []
    const servers = service instanceof ComputeService ? service.hosts.map((h) => h.host) : [this.#config.host]
    const queues = topics.flatMap((t) => [t, ...servers.map((s) => `${t}.${s}`)])
    const inproc = this.#transport instanceof InprocTransport
    const stats = inproc ? this.#transport.queueStats().filter((q) => queues.includes(q.name)) : undefined
    return {
      transport: inproc ? 'inproc' : 'amqp',
      queues,
      ...(stats ? { queueStats: stats } : {}),
      ...(service instanceof ComputeService ? { computeHosts: servers } : {}),
    }
  }
}
