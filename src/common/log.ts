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

let root: Logger = makeRoot((process.env.NIMBUS_LOG_LEVEL as LogLevel | undefined) ?? 'info')

function makeRoot(level: LogLevel): Logger {
  return pino({
    level,
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
  })
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
