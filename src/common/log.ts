import pino, { type Logger } from 'pino'
import { currentContext } from './context.ts'

/**
 * Structured logs (one JSON object a line). Every line written inside a
 * request or an RPC handler carries `request_id` (and user/project when
 * known) from the current context, so one grep joins a request across
 * services.
 */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** Log lines the in-process ring keeps, newest last (what `nimbus explain` shows of one request). */
export const LOG_RING_LINES = 10_000
/** A longer line is cut in the ring (stdout gets it whole). */
export const LOG_RING_LINE_MAX_CHARS = 16_384
/** The ring keeps this level and above even when stdout is quieter (tests run silent). */
const LOG_RING_LEVEL = 'info' satisfies LogLevel

/**
 * The last `LOG_RING_LINES` log lines of this process at info or above, as
 * written (JSON text): the embedded cloud's answer to "grep the request id
 * on every host", since all its services log here.
 */
class LogRing {
  readonly #lines: (string | undefined)[]
  #next = 0

  constructor(size: number) {
    this.#lines = new Array<string | undefined>(size)
  }

  write(line: string): void {
    this.#lines[this.#next] =
      line.length > LOG_RING_LINE_MAX_CHARS ? line.slice(0, LOG_RING_LINE_MAX_CHARS) : line
    this.#next = (this.#next + 1) % this.#lines.length
  }

  /** The kept lines containing `text`, oldest first. */
  matching(text: string): string[] {
    const out: string[] = []
    for (let i = 0; i < this.#lines.length; i++) {
      const line = this.#lines[(this.#next + i) % this.#lines.length]
      if (line?.includes(text)) out.push(line.trimEnd())
    }
    return out
  }
}

const ring = new LogRing(LOG_RING_LINES)

/** The lines of this process's log ring that carry `requestId`, parsed, oldest first. */
export function ringLinesFor(requestId: string): Record<string, unknown>[] {
  const needle = `"request_id":${JSON.stringify(requestId)}`
  return ring.matching(needle).flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>]
    } catch {
      return [] // cut at LOG_RING_LINE_MAX_CHARS
    }
  })
}

const LEVEL_ORDER: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

let root: Logger = makeRoot((process.env.NIMBUS_LOG_LEVEL as LogLevel | undefined) ?? 'info')

function makeRoot(level: LogLevel): Logger {
  const streams: pino.StreamEntry[] = [{ level: LOG_RING_LEVEL, stream: ring }]
  if (level !== 'silent') streams.push({ level, stream: pino.destination({ dest: 1, sync: true }) })
  const lowest = LEVEL_ORDER.indexOf(level) < LEVEL_ORDER.indexOf(LOG_RING_LEVEL) ? level : LOG_RING_LEVEL
  return pino(
    {
      level: lowest,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Never let a secret reach a log line, whatever a caller passes.
      redact: {
        paths: [
          'password',
          '*.password',
          '*.*.password',
          'authToken',
          '*.authToken',
          'headers["x-auth-token"]',
        ],
        censor: '***',
      },
      mixin() {
        const ctx = currentContext()
        if (!ctx) return {}
        return { request_id: ctx.requestId, user_id: ctx.userId, project_id: ctx.projectId }
      },
    },
    pino.multistream(streams),
  )
}

let generation = 0

export function setLogLevel(level: LogLevel): void {
  root = makeRoot(level)
  generation++
}

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value)
}

type LogFn = Logger['info']

/** The logging methods a component uses. */
export interface Log {
  readonly fatal: LogFn
  readonly error: LogFn
  readonly warn: LogFn
  readonly info: LogFn
  readonly debug: LogFn
  readonly trace: LogFn
}

/**
 * A logger for one component, e.g. `logger('rpc.amqp')`. Safe to create at
 * module load: it follows later `setLogLevel` calls.
 */
export function logger(component: string): Log {
  let seen = -1
  let child: Logger = root
  const current = (): Logger => {
    if (seen !== generation) {
      child = root.child({ component })
      seen = generation
    }
    return child
  }
  return {
    fatal: (...args: Parameters<LogFn>) => current().fatal(...args),
    error: (...args: Parameters<LogFn>) => current().error(...args),
    warn: (...args: Parameters<LogFn>) => current().warn(...args),
    info: (...args: Parameters<LogFn>) => current().info(...args),
    debug: (...args: Parameters<LogFn>) => current().debug(...args),
    trace: (...args: Parameters<LogFn>) => current().trace(...args),
  } as Log
}
