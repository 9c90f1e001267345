import { duration, painter, table, type Colour } from './render.ts'
import type { ServiceState, StatusReport } from './status.ts'
import type { StuckReport } from './stuck.ts'

const STATE_COLOUR: Readonly<Record<ServiceState, Colour>> = {
  up: 'green',
  disabled: 'yellow',
  down: 'red',
  stopped: 'red',
}

/** Nova's hypervisor version number as `9.0.0`. */
function versionOf(n: number): string {
  return `${Math.floor(n / 1_000_000)}.${Math.floor(n / 1000) % 1000}.${n % 1000}`
}

/** The libvirt driver's `nimbus:accelerator` (virt_type, reason, ...) in one phrase. */
function acceleratorText(a: unknown): string {
  const v = (a ?? {}) as { virt_type?: string; reason?: string; cpu_mode?: string }
  if (!v.virt_type) return `accelerator ${JSON.stringify(a)}`
  return `accelerator ${v.virt_type}${v.cpu_mode ? ` (cpu ${v.cpu_mode})` : ''}${v.reason ? `: ${v.reason}` : ''}`
}

/** The `nimbus status` text: the services table, then database, broker, hypervisors, data plane, problems. */
export function statusText(report: StatusReport, colours: boolean): string {
  const { paint } = painter(colours)
  const out: string[] = []
  const rows = report.services.map((s) => [
    s.service,
    s.host,
    paint(s.state, STATE_COLOUR[s.state]),
    s.version ?? '-',
    duration(s.uptimeS),
    s.heartbeatAgeS === undefined ? '-' : `${duration(s.heartbeatAgeS)} ago`,
    s.queues?.length
      ? s.queues
          .map((q) => `${q.name} ${q.depth < 0 ? '?' : q.depth}/${q.consumers < 0 ? '?' : q.consumers}`)
          .join(', ')
      : '-',
    s.why ?? '',
  ])
  out.push(
    table(
      ['SERVICE', 'HOST', 'STATE', 'VERSION', 'UPTIME', 'HEARTBEAT', 'QUEUES (waiting/consumers)', 'WHY'],
      rows,
    ),
  )
  const db = report.database
  out.push(
    '',
    `database  ${db.dialect} ${db.url}: ${
      db.reachable
        ? `migration ${db.migration ?? 'none'}, ${db.pending.length ? paint(`${db.pending.length} pending: ${db.pending.join(', ')}`, 'red') : 'none pending'}`
        : paint(`unreachable: ${db.error ?? ''}`, 'red')
    }`,
  )
  const b = report.broker
  out.push(
    `broker    ${b.transport} ${b.url}: ${
      b.reachable
        ? `reachable${b.version ? `, RabbitMQ ${b.version}` : ''}; queues from ${b.source}`
        : paint(`unreachable: ${b.error ?? ''}`, 'red')
    }`,
  )
  for (const h of report.hypervisors) {
    const accel = h.accelerator === undefined ? '' : `, ${acceleratorText(h.accelerator)}`
    out.push(`hypervisor ${h.host}: ${h.hypervisorType} ${versionOf(h.hypervisorVersion)}${accel}`)
  }
  const d = report.dataplane
  if (!d.enabled) out.push(`dataplane ${d.host}: off ([network] dataplane = false)`)
  else {
    out.push(
      `dataplane ${d.host}: bridges ${d.bridges.length ? d.bridges.join(' ') : 'none'}; nft ${d.nftTables.length ? d.nftTables.join(', ') : 'none'}`,
    )
    for (const m of d.dnsmasq) {
      out.push(`  dnsmasq ${m.network}: ${m.alive ? `pid ${m.pid}` : paint('not running', 'red')}`)
    }
    if (d.error) out.push(paint(`  ${d.error}`, 'red'))
  }
  out.push('')
  if (report.problems.length === 0) out.push(paint('all up', 'green'))
  else for (const p of report.problems) out.push(paint(`problem: ${p}`, 'red'))
  return `${out.join('\n')}\n`
}

/** The `nimbus status --stuck` text. */
export function stuckText(report: StuckReport, colours: boolean): string {
  const { paint } = painter(colours)
  if (report.items.length === 0) return `nothing in a transitional state past half its deadline\n`
  const rows = report.items.map((i) => [
    i.kind,
    i.id,
    i.state,
    duration(i.ageS),
    `${duration(i.deadlineS)} (${i.deadlineName})`,
    i.overdue ? paint('past deadline', 'red') : paint('past half', 'yellow'),
    i.step ?? '-',
  ])
  return `${table(['KIND', 'ID', 'STATE', 'FOR', 'DEADLINE', '', 'STEP'], rows)}\n`
}
