import { execFile } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Config } from '../common/config.ts'
import { limits } from '../common/limits.ts'
import type { Database } from '../db/index.ts'
import { migrationStatus } from '../db/migrate.ts'
import { isAlive, readPid } from '../network/dataplane/dnsmasq.ts'
import { OWNED_LINK_PREFIXES } from '../network/dataplane/names.ts'
import { inspectBroker, type QueueStat } from '../rpc/index.ts'
import { HEALTH_PATH } from '../service/http.ts'
import type { ServiceReportDetail } from './reporter.ts'

const run = promisify(execFile)

/** An API that does not answer its health check in this long is down. */
export const STATUS_PROBE_TIMEOUT_MS = 3000
/** `ip`/`nft` calls of the data-plane section. */
export const STATUS_COMMAND_TIMEOUT_MS = 5000

/** Nova's binaries in the `services` table, by `nimbus serve` name. */
const NOVA_BINARIES: Readonly<Record<string, string>> = {
  conductor: 'nova-conductor',
  scheduler: 'nova-scheduler',
  compute: 'nova-compute',
}

export type ServiceState = 'up' | 'down' | 'disabled' | 'stopped'

/** One line of the services table. */
export interface ServiceLine {
  readonly service: string
  readonly host: string
  readonly state: ServiceState
  /** Why it is not up, in words. */
  readonly why?: string | undefined
  readonly version?: string | undefined
  readonly pid?: number | undefined
  readonly uptimeS?: number | undefined
  /** Seconds since the last heartbeat (service report, Nova service row or agent). */
  readonly heartbeatAgeS?: number | undefined
  readonly endpoint?: string | undefined
  /**
   * Queues this service consumes that exist (on the bus or the broker), with
   * messages waiting and consumers; -1 when the broker could not be asked.
   */
  readonly queues?: readonly QueueStat[] | undefined
}

export interface DatabaseStatus {
  readonly url: string
  readonly dialect: string
  readonly reachable: boolean
  /** The last applied migration. */
  readonly migration?: string | undefined
  readonly pending: readonly string[]
  readonly error?: string | undefined
}

export interface BrokerStatus {
  readonly transport: 'inproc' | 'amqp'
  readonly url: string
  readonly reachable: boolean
  /** Where the queue numbers come from. */
  readonly source: 'in-process bus (service reports)' | 'management-api' | 'amqp'
  readonly version?: string | undefined
  readonly error?: string | undefined
}

export interface HypervisorStatus {
  readonly host: string
  readonly hypervisorType: string
  /** Nova's encoding: major * 1_000_000 + minor * 1000 + patch. */
  readonly hypervisorVersion: number
  /** `nimbus:accelerator` of the node's cpu_info (the libvirt driver's choice and why), when it reports one. */
  readonly accelerator?: unknown
}

export interface DataplaneStatus {
  readonly enabled: boolean
  readonly host: string
  readonly bridges: readonly string[]
  readonly nftTables: readonly string[]
  readonly dnsmasq: readonly {
    readonly network: string
    readonly pid?: number | undefined
    readonly alive: boolean
  }[]
  readonly error?: string | undefined
}

/** Everything `nimbus status` shows; `problems` empty means exit 0. */
export interface StatusReport {
  readonly generatedAt: string
  readonly services: readonly ServiceLine[]
  readonly database: DatabaseStatus
  readonly broker: BrokerStatus
  readonly hypervisors: readonly HypervisorStatus[]
  readonly dataplane: DataplaneStatus
  readonly problems: readonly string[]
}

/** What collecting the status needs; `now` and `probe` are replaceable for tests. */
export interface StatusDeps {
  readonly config: Config
  readonly db: Database
  readonly now?: () => number
  /** GET of an API's health check: resolves with the status code, rejects when unreachable. */
  readonly probe?: (url: string) => Promise<number>
}

/**
 * Collects the status of the cloud this config points at: every service
 * from its reports and heartbeats with a health probe of each API, the
 * database, the broker and its queues, the hypervisors, and this host's data
 * plane. Read-only; works from any process that reaches the database.
 */
export async function collectStatus(deps: StatusDeps): Promise<StatusReport> {
  const now = deps.now ?? Date.now
  const problems: string[] = []
  const database = await databaseStatus(deps.db)
  if (!database.reachable) problems.push(`database unreachable: ${database.error ?? ''}`)
  else if (database.pending.length)
    problems.push(`database: ${database.pending.length} migrations pending (nimbus db migrate)`)
  const services = database.reachable ? await serviceLines(deps, now()) : []
  const brokerAndQueues = await brokerStatus(deps.config, services)
  const lines = brokerAndQueues.services
  if (database.reachable && lines.length === 0)
    problems.push('no service has ever reported: is the cloud running?')
  for (const s of lines) {
    if (s.state === 'down' || s.state === 'stopped')
      problems.push(`${s.service} on ${s.host} is ${s.state}: ${s.why ?? ''}`)
  }
  if (!brokerAndQueues.broker.reachable)
    problems.push(`broker unreachable: ${brokerAndQueues.broker.error ?? ''}`)
  const hypervisors = database.reachable ? await hypervisorStatus(deps.db) : []
  const dataplane = await dataplaneStatus(deps.config)
  for (const d of dataplane.dnsmasq) {
    if (!d.alive) problems.push(`dnsmasq of network ${d.network} is not running`)
  }
  if (dataplane.error) problems.push(`data plane: ${dataplane.error}`)
  return {
    generatedAt: new Date(now()).toISOString(),
    services: lines,
    database,
    broker: brokerAndQueues.broker,
    hypervisors,
    dataplane,
    problems,
  }
}

async function databaseStatus(db: Database): Promise<DatabaseStatus> {
  try {
    const migrations = await migrationStatus(db)
    const applied = migrations.filter((m) => m.executedAt)
    return {
      url: db.url,
      dialect: db.dialect,
      reachable: true,
      migration: applied.at(-1)?.name,
      pending: migrations.filter((m) => !m.executedAt).map((m) => m.name),
    }
  } catch (err) {
    return { url: db.url, dialect: db.dialect, reachable: false, pending: [], error: (err as Error).message }
  }
}

const ageS = (nowMs: number, iso: string | null | undefined): number | undefined =>
  iso ? Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000)) : undefined

async function defaultProbe(url: string): Promise<number> {
  const res = await fetch(url, { signal: AbortSignal.timeout(STATUS_PROBE_TIMEOUT_MS) })
  await res.body?.cancel()
  return res.status
}

async function serviceLines(deps: StatusDeps, nowMs: number): Promise<ServiceLine[]> {
  const k = deps.db.kysely
  const downAfterS = deps.config.compute.serviceDownTimeS
  const reports = await k
    .selectFrom('service_reports')
    .selectAll()
    .orderBy('service')
    .orderBy('host')
    .execute()
  const novaRows = await k.selectFrom('services').selectAll().orderBy('id').execute()
  const agents = await k
    .selectFrom('network_agents')
    .selectAll()
    .orderBy('host')
    .orderBy('agent_type')
    .execute()
  const probe = deps.probe ?? defaultProbe
  const lines: ServiceLine[] = []
  const novaSeen = new Set<number>()
  const novaState = (
    row: (typeof novaRows)[number],
  ): Pick<ServiceLine, 'state' | 'why' | 'heartbeatAgeS'> => {
    novaSeen.add(row.id)
    const age = ageS(nowMs, row.last_seen_at)
    if (row.forced_down) return { state: 'down', why: 'forced down by an operator', heartbeatAgeS: age }
    if (age === undefined || age > downAfterS)
      return {
        state: 'down',
        why: `no heartbeat for ${age ?? '?'} s (service_down_time ${downAfterS} s)`,
        heartbeatAgeS: age,
      }
    if (row.disabled) return { state: 'disabled', why: row.disabled_reason ?? undefined, heartbeatAgeS: age }
    return { state: 'up', heartbeatAgeS: age }
  }

  for (const r of reports) {
    const detail = JSON.parse(r.detail) as ServiceReportDetail
    const age = ageS(nowMs, r.last_seen_at)
    const base = {
      service: r.service,
      host: r.host,
      version: r.version,
      pid: r.pid,
      uptimeS: r.stopped_at ? undefined : ageS(nowMs, r.started_at),
      endpoint: r.endpoint ?? undefined,
    }
    let state: Pick<ServiceLine, 'state' | 'why' | 'heartbeatAgeS'>
    if (r.stopped_at) state = { state: 'stopped', why: `stopped at ${r.stopped_at}`, heartbeatAgeS: age }
    else if (age === undefined || age > downAfterS)
      state = {
        state: 'down',
        why: `no report for ${age} s (service_down_time ${downAfterS} s)`,
        heartbeatAgeS: age,
      }
    else state = { state: 'up', heartbeatAgeS: age }
    if (state.state === 'up' && r.endpoint) {
      const url = new URL(HEALTH_PATH, r.endpoint).toString()
      try {
        const code = await probe(url)
        if (code !== 200) state = { ...state, state: 'down', why: `health check ${url} answered ${code}` }
      } catch (err) {
        state = { ...state, state: 'down', why: `health check ${url} failed: ${(err as Error).message}` }
      }
    }
    const queueStat = (name: string) => detail.queueStats?.find((q) => q.name === name)
    const queuesOf = (names: readonly string[]) =>
      detail.transport === 'inproc'
        ? names.flatMap((n) => queueStat(n) ?? [])
        : names.map((n) => ({ name: n, depth: -1, consumers: -1 }))
    const binary = NOVA_BINARIES[r.service]
    if (r.service === 'compute') {
      // One line per compute host of the process, from Nova's own heartbeat of that host.
      for (const host of detail.computeHosts ?? [r.host]) {
        const row = novaRows.find((n) => n.binary === binary && n.host === host)
        const hostState = row ? novaState(row) : { state: 'down' as const, why: 'never registered' }
        lines.push({
          ...base,
          host,
          ...(state.state === 'up' ? hostState : state),
          queues: queuesOf(detail.queues.filter((q) => q === 'compute' || q === `compute.${host}`)),
        })
      }
      continue
    }
    const row = binary ? novaRows.find((n) => n.binary === binary && n.host === r.host) : undefined
    const rowState = row ? novaState(row) : undefined
    lines.push({
      ...base,
      ...(state.state === 'up' && rowState ? rowState : state),
      ...(detail.queues.length ? { queues: queuesOf(detail.queues) } : {}),
    })
  }
  // Nova service rows without a report (a process of an older Nimbus, or one that never reported).
  for (const row of novaRows) {
    if (novaSeen.has(row.id)) continue
    const service = Object.entries(NOVA_BINARIES).find(([, b]) => b === row.binary)?.[0] ?? row.binary
    lines.push({ service, host: row.host, ...novaState(row) })
  }
  for (const a of agents) {
    const age = ageS(nowMs, a.heartbeat_at)
    const alive = age !== undefined && age * 1000 <= limits.networkAgentDownTimeMs
    lines.push({
      service: `network: ${a.agent_type}`,
      host: a.host,
      state: !alive ? 'down' : a.admin_state_up ? 'up' : 'disabled',
      ...(alive
        ? {}
        : { why: `no heartbeat for ${age} s (agent_down_time ${limits.networkAgentDownTimeMs / 1000} s)` }),
      heartbeatAgeS: age,
      uptimeS: ageS(nowMs, a.started_at),
    })
  }
  return lines
}

/** Every queue name the services consume, for the broker. */
function queueNames(services: readonly ServiceLine[]): string[] {
  return [...new Set(services.flatMap((s) => (s.queues ?? []).map((q) => q.name)))]
}

async function brokerStatus(
  config: Config,
  services: ServiceLine[],
): Promise<{ broker: BrokerStatus; services: ServiceLine[] }> {
  if (config.transportUrl.startsWith('inproc')) {
    return {
      broker: {
        transport: 'inproc',
        url: config.transportUrl,
        reachable: true,
        source: 'in-process bus (service reports)',
      },
      services,
    }
  }
  const report = await inspectBroker(config.transportUrl, queueNames(services))
  const byName = new Map(report.queues.map((q) => [q.name, q]))
  const withQueues = services.map((s) =>
    s.queues
      ? { ...s, queues: report.reachable ? s.queues.flatMap((q) => byName.get(q.name) ?? []) : s.queues }
      : s,
  )
  return {
    broker: {
      transport: 'amqp',
      url: report.url,
      reachable: report.reachable,
      source: report.source ?? 'amqp',
      version: report.version,
      error: report.error,
    },
    services: withQueues,
  }
}

async function hypervisorStatus(db: Database): Promise<HypervisorStatus[]> {
  const rows = await db.kysely
    .selectFrom('compute_nodes')
    .select(['host', 'hypervisor_type', 'hypervisor_version', 'cpu_info'])
    .orderBy('host')
    .execute()
  return rows.map((r) => {
    let accelerator: unknown
    try {
      accelerator = (JSON.parse(r.cpu_info) as Record<string, unknown>)['nimbus:accelerator']
    } catch {
      accelerator = undefined
    }
    return {
      host: r.host,
      hypervisorType: r.hypervisor_type,
      hypervisorVersion: r.hypervisor_version,
      ...(accelerator === undefined ? {} : { accelerator }),
    }
  })
}

/**
 * This host's data plane, when `[network] dataplane` is on: the bridges and
 * veths Nimbus owns (by prefix), the nft tables named `[network] nft_table`*,
 * and the dnsmasq of each network with a DHCP directory here (its pid file).
 */
async function dataplaneStatus(config: Config): Promise<DataplaneStatus> {
  const host = config.host
  if (!config.network.dataplane) return { enabled: false, host, bridges: [], nftTables: [], dnsmasq: [] }
  const errors: string[] = []
  let bridges: string[] = []
  let nftTables: string[] = []
  try {
    const { stdout } = await run('ip', ['-j', 'link', 'show', 'type', 'bridge'], {
      timeout: STATUS_COMMAND_TIMEOUT_MS,
    })
    bridges = (JSON.parse(stdout || '[]') as { ifname: string }[])
      .map((l) => l.ifname)
      .filter((n) => OWNED_LINK_PREFIXES.some((p) => n.startsWith(p)))
  } catch (err) {
    errors.push(`ip link: ${(err as Error).message}`)
  }
  try {
    const { stdout } = await run('nft', ['-j', 'list', 'tables'], { timeout: STATUS_COMMAND_TIMEOUT_MS })
    const items = (JSON.parse(stdout) as { nftables: { table?: { family: string; name: string } }[] })
      .nftables
    nftTables = items
      .flatMap((i) => (i.table ? [i.table] : []))
      .filter((t) => t.name.startsWith(config.network.nftTable))
      .map((t) => `${t.family} ${t.name}`)
  } catch (err) {
    errors.push(`nft: ${(err as Error).message}`)
  }
  const dhcpDir = join(config.stateDir, 'network', host, 'dhcp')
  const dnsmasq = existsSync(dhcpDir)
    ? readdirSync(dhcpDir).map((network) => {
        const pid = readPid(join(dhcpDir, network, 'pid'))
        return { network, pid, alive: pid !== undefined && isAlive(pid) }
      })
    : []
  return {
    enabled: true,
    host,
    bridges,
    nftTables,
    dnsmasq,
    ...(errors.length ? { error: errors.join('; ') } : {}),
  }
}
