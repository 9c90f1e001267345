import type { Config } from '../common/config.ts'
import { setLimits } from '../common/limits.ts'
import { setLogLevel } from '../common/log.ts'
import { openDatabase, redactUrl } from '../db/index.ts'
import { collectStatus, type StatusReport } from '../ops/status.ts'
import { statusText, stuckText } from '../ops/status-text.ts'
import { findStuck } from '../ops/stuck.ts'

/** Colours only on a terminal, and never with NO_COLOR set (no-color.org). */
export function useColours(stream: NodeJS.WriteStream = process.stdout): boolean {
  return Boolean(stream.isTTY) && !process.env.NO_COLOR
}

export interface StatusOptions {
  readonly json?: boolean | undefined
  readonly stuck?: boolean | undefined
}

/**
 * `nimbus status`: prints the report and returns the exit status, 0 when
 * every service is up and nothing is wrong (with `--stuck`: nothing past
 * half its deadline), 1 otherwise.
 */
export async function statusCommand(
  config: Config,
  opts: StatusOptions,
  write: (s: string) => void,
): Promise<number> {
  setLogLevel(config.logLevel === 'info' || config.logLevel === 'debug' ? 'warn' : config.logLevel)
  setLimits(config.limits)
  let db
  try {
    db = await openDatabase(config.databaseUrl)
  } catch (err) {
    const report = unreachable(config, err)
    write(
      opts.json
        ? `${JSON.stringify(report, null, 2)}\n`
        : `database ${report.database.url}: unreachable: ${report.database.error}\n`,
    )
    return 1
  }
  try {
    if (opts.stuck) {
      const stuck = await findStuck(config, db)
      write(opts.json ? `${JSON.stringify(stuck, null, 2)}\n` : stuckText(stuck, useColours()))
      return stuck.items.length ? 1 : 0
    }
    const report = await collectStatus({ config, db })
    write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : statusText(report, useColours()))
    return report.problems.length ? 1 : 0
  } finally {
    await db.close()
  }
}

function unreachable(config: Config, err: unknown): StatusReport {
  const message = err instanceof Error ? err.message : String(err)
  return {
    generatedAt: new Date().toISOString(),
    services: [],
    database: {
      url: redactUrl(config.databaseUrl),
      dialect: config.databaseUrl.split(':')[0] ?? '',
      reachable: false,
      pending: [],
      error: message,
    },
    broker: {
      transport: config.transportUrl.startsWith('inproc') ? 'inproc' : 'amqp',
      url: redactUrl(config.transportUrl),
      reachable: false,
      source: 'amqp',
      error: 'not checked: no database',
    },
    hypervisors: [],
    dataplane: {
      enabled: config.network.dataplane,
      host: config.host,
      bridges: [],
      nftTables: [],
      dnsmasq: [],
    },
    problems: [`database unreachable: ${message}`],
  }
}
