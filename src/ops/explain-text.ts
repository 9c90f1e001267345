import type { Explanation } from './explain.ts'
import { millis, painter, table } from './render.ts'

/** Fields of a log line shown as its text; the rest follow as key=value. */
const LOG_FIELDS_SHOWN = new Set([
  'time',
  'level',
  'component',
  'msg',
  'pid',
  'request_id',
  'user_id',
  'project_id',
  'hostname',
])
const LOG_LEVEL_NAMES: Readonly<Record<number, string>> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
}

/** The `nimbus explain` text: the action, its steps in time order, the decision, the fault, the log lines. */
export function explanationText(x: Explanation, colours: boolean, note?: string): string {
  const { paint } = painter(colours)
  const out: string[] = []
  const s = x.server
  out.push(
    `server ${s.name} (${s.id}): ${s.vmState}${s.taskState ? `/${s.taskState}` : ''}, host ${s.host ?? '-'}`,
  )
  const a = x.action
  // Nova leaves some actions' finish_time unset: the steps say whether it ended.
  const running = x.steps.some((step) => step.finishTime === null)
  const ended =
    a.finishTime ??
    (running
      ? null
      : (x.steps
          .map((step) => step.finishTime!)
          .sort()
          .at(-1) ?? null))
  const failed = x.failedStep !== undefined || a.message === 'Error'
  const outcome = failed ? paint('failed', 'red') : ended ? 'finished' : 'in progress'
  out.push(
    `action ${a.action} ${a.requestId}: accepted ${a.startTime} from user ${a.userId ?? '-'} project ${a.projectId ?? '-'}` +
      `${a.microversion ? `, microversion ${a.microversion}` : ''}; ${outcome}${ended ? ` ${ended}` : ''}`,
  )
  out.push('', 'steps:')
  const t0 = Date.parse(a.startTime)
  out.push(
    table(
      ['  AT', 'STEP', 'HOST', 'TOOK', 'RESULT', 'DETAILS'],
      x.steps.map((step) => [
        `  +${millis(Date.parse(step.startTime) - t0)}`,
        step.event,
        step.host ?? '-',
        step.durationMs === null ? 'running' : millis(step.durationMs),
        step.result === 'Error' ? paint('Error', 'red') : (step.result ?? '-'),
        step.details === undefined ? '' : oneLine(step.details),
      ]),
    ),
  )
  const d = x.decision
  if (d) {
    out.push('', `scheduler: ${d.hostsConsidered} host(s) considered`)
    for (const f of d.filters) {
      const rejected = Object.entries(f.rejected)
      out.push(
        `  ${f.name}: ${f.hostsOut ? `rejected ${f.hostsOut} of ${f.hostsIn}` : `passed all ${f.hostsIn}`}` +
          (rejected.length ? ` — ${rejected.map(([h, why]) => `${h}: ${why}`).join('; ')}` : ''),
      )
    }
    for (const w of d.topWeighed) {
      const parts = Object.entries(w.weights).map(([name, v]) => `${name} ${v.toFixed(3)}`)
      out.push(`  weighed ${w.host}: ${w.total.toFixed(3)}${parts.length ? ` (${parts.join(', ')})` : ''}`)
    }
    if (d.chosen.length) out.push(`  chosen: ${d.chosen.join(', ')}`)
    if (d.failure) out.push(paint(`  no valid host: ${d.failure}`, 'red'))
  }
  if (x.failedStep) out.push('', paint(`failed step: ${x.failedStep}`, 'red'))
  if (x.fault) out.push(paint(`fault ${x.fault.code} on ${x.fault.host ?? '-'}: ${x.fault.message}`, 'red'))
  out.push('')
  if (x.logSource === 'none')
    out.push(`log lines: ${note ?? "not in this process; grep the request id in the services' logs"}`)
  else {
    out.push(`log lines with ${a.requestId} (${x.logs.length}):`)
    for (const line of x.logs) out.push(`  ${logLine(line)}`)
  }
  return `${out.join('\n')}\n`
}

function oneLine(value: unknown): string {
  const steps = (value as { driverSteps?: { step: string; elapsedMs: number }[] } | null)?.driverSteps
  if (Array.isArray(steps)) return steps.map((s) => `${s.step} ${millis(s.elapsedMs)}`).join(', ')
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  return text.replace(/\s*\n\s*/g, ' | ')
}

function logLine(line: Record<string, unknown>): string {
  const level = LOG_LEVEL_NAMES[line.level as number] ?? String(line.level)
  const extra = Object.entries(line)
    .filter(([k]) => !LOG_FIELDS_SHOWN.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
  return `${String(line.time ?? '')} ${level} ${String(line.component ?? '')}: ${String(line.msg ?? '')}${extra.length ? `  ${extra.join(' ')}` : ''}`
}
