import type { Options } from 'amqplib'
import { Invalid } from '../common/errors.ts'
import { limits } from '../common/limits.ts'

/** What an `amqp://` transport URL says, split into broker login and Nimbus naming. */
export interface AmqpSettings {
  /** Where and how to log in (amqplib's object form). */
  readonly connect: Options.Connect
  /** The topic exchange; also prefixes every queue name so clouds sharing a broker stay apart. */
  readonly exchange: string
  /**
   * When set, topic and server queues expire after this long without a
   * consumer (x-expires): for test runs and throwaway clouds.
   */
  readonly expiresMs: number | undefined
  /** The URL with its password masked, for logs. */
  readonly redactedUrl: string
}

const DEFAULT_EXCHANGE = 'nimbus'
const DEFAULT_PORT = 5672
const DEFAULT_TLS_PORT = 5671
const EXCHANGE_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/
const KNOWN_PARAMS = new Set(['exchange', 'expires_ms'])

/** Parses `amqp[s]://user:pass@host:port/vhost?exchange=NAME&expires_ms=N`. */
export function parseAmqpUrl(url: string): AmqpSettings {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new Invalid(`transport URL is not a URL: ${redact(url)}`)
  }
  for (const key of parsed.searchParams.keys()) {
    if (!KNOWN_PARAMS.has(key)) throw new Invalid(`unknown AMQP transport URL parameter '${key}'`)
  }
  const tls = parsed.protocol === 'amqps:'
  return {
    connect: {
      protocol: tls ? 'amqps' : 'amqp',
      hostname: parsed.hostname || '127.0.0.1',
      port: parsed.port ? Number(parsed.port) : tls ? DEFAULT_TLS_PORT : DEFAULT_PORT,
      username: decodeURIComponent(parsed.username || 'guest'),
      password: decodeURIComponent(parsed.password || 'guest'),
      // `amqp://host/` and `amqp://host` both mean the default vhost '/', as in oslo.
      vhost: decodeURIComponent(parsed.pathname.slice(1)) || '/',
      heartbeat: Math.ceil(limits.rpcHeartbeatIntervalMs / 1000),
    },
    exchange: exchangeParam(parsed.searchParams.get('exchange')),
    expiresMs: expiresParam(parsed.searchParams.get('expires_ms')),
    redactedUrl: redact(url),
  }
}

function exchangeParam(value: string | null): string {
  if (value === null) return DEFAULT_EXCHANGE
  if (!EXCHANGE_PATTERN.test(value)) {
    throw new Invalid(`invalid exchange '${value}': use 1-64 letters, digits, '_', '-' or '.'`)
  }
  return value
}

function expiresParam(value: string | null): number | undefined {
  if (value === null) return undefined
  const ms = Number(value)
  if (!Number.isInteger(ms) || ms <= 0)
    throw new Invalid(`expires_ms must be a positive integer, got '${value}'`)
  return ms
}

function redact(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@')
}
