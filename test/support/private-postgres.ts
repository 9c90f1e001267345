import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { chownSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'

/**
 * A PostgreSQL server of the test's own: `initdb` into a temporary
 * directory, `postgres` on a free loopback port with its socket in that
 * directory. Never the machine's shared server. Run as root, the server runs
 * as the `postgres` user (it refuses root) and the directory is given to it.
 * `stop()` + `restart()` simulate a database restart; `terminateBackends()`
 * what a failover does to its clients; `destroy()` kills the server and
 * removes the directory, also after a failure.
 */
export interface PrivatePostgres {
  readonly port: number
  /** `postgresql://postgres@127.0.0.1:PORT/DBNAME` */
  url(database: string): string
  createDatabase(name: string): Promise<void>
  /** Ends every backend connected to `database` (pg_terminate_backend); returns how many. */
  terminateBackends(database: string): Promise<number>
  /** Fast shutdown (SIGINT): clients see their connections end. */
  stop(): Promise<void>
  /** Starts the stopped server again on the same port and data directory. */
  start(): Promise<void>
  destroy(): Promise<void>
}

const PG_BIN_DIR = process.env.NIMBUS_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin'
/** Bound on initdb (a few seconds on an idle machine; slower under load). */
const INITDB_TIMEOUT_MS = 60_000
/** Bound on the server accepting connections after it was started. */
const START_TIMEOUT_MS = 30_000
/** Bound on a fast shutdown before the server is killed. */
const STOP_TIMEOUT_MS = 15_000
/** Bound on one admin statement. */
const ADMIN_TIMEOUT_MS = 10_000
/** Pause between two readiness probes. */
const PROBE_INTERVAL_MS = 100

/** Whether the PostgreSQL binaries this helper needs are installed. */
export function postgresBinariesPresent(): boolean {
  try {
    execFileSync(join(PG_BIN_DIR, 'postgres'), ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim())
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim())
  return { uid, gid }
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-pg-'))
  const dataDir = join(dir, 'data')
  const owner = postgresUser()
  let child: ChildProcess | undefined
  let port = 0

  // If this test process dies without running its after hooks, the server
  // must not outlive it: 'exit' handlers run even on an uncaught exception.
  const killOnExit = () => {
    child?.kill('SIGKILL')
    try {
      rmSync(dir, { recursive: true, force: true })
    } catch {
      // the server may still be writing as it dies; nothing more can be done at exit
    }
  }
  process.once('exit', killOnExit)

  const destroy = async () => {
    process.removeListener('exit', killOnExit)
    await stopServer(child, 'SIGKILL')
    child = undefined
    rmSync(dir, { recursive: true, force: true })
  }

  try {
    if (owner) chownSync(dir, owner.uid, owner.gid)
    execFileSync(
      join(PG_BIN_DIR, 'initdb'),
      ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync'],
      { stdio: 'ignore', timeout: INITDB_TIMEOUT_MS, ...(owner ?? {}) },
    )
    port = await freePort()
  } catch (err) {
    await destroy()
    throw err
  }

  const admin = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({
      host: '127.0.0.1',
      port,
      user: 'postgres',
      database: 'postgres',
      connectionTimeoutMillis: ADMIN_TIMEOUT_MS,
      statement_timeout: ADMIN_TIMEOUT_MS,
    })
    client.on('error', () => undefined)
    await client.connect()
    try {
      return await fn(client)
    } finally {
      await client.end().catch(() => undefined)
    }
  }

  const start = async () => {
    if (child) return
    const args = [
      '-D',
      dataDir,
      '-p',
      String(port),
      '-k',
      dir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
      '-c',
      'max_connections=200',
    ]
    const started = spawn(join(PG_BIN_DIR, 'postgres'), args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(owner ?? {}),
    })
    let log = ''
    started.stderr?.on('data', (chunk: Buffer) => {
      log = (log + chunk.toString()).slice(-4_000)
    })
    child = started
    const deadline = Date.now() + START_TIMEOUT_MS
    for (;;) {
      if (started.exitCode !== null) {
        child = undefined
        throw new Error(`private postgres exited with ${started.exitCode}: ${log}`)
      }
      try {
        await admin((c) => c.query('select 1'))
        return
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`private postgres did not start: ${String(err)}; ${log}`)
        await new Promise((r) => setTimeout(r, PROBE_INTERVAL_MS))
      }
    }
  }

  try {
    await start()
  } catch (err) {
    await destroy()
    throw err
  }

  return {
    port,
    url: (database) => `postgresql://postgres@127.0.0.1:${port}/${database}`,
    createDatabase: (name) => admin((c) => c.query(`create database ${name}`)).then(() => undefined),
    terminateBackends: (database) =>
      admin(async (c) => {
        const r = await c.query(
          'select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
          [database],
        )
        return Number(r.rows[0]?.n ?? 0)
      }),
    stop: async () => {
      await stopServer(child, 'SIGINT')
      child = undefined
    },
    start,
    destroy,
  }
}

/** Sends `signal` (SIGINT: fast shutdown) and waits for the exit; SIGKILL after STOP_TIMEOUT_MS. */
function stopServer(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
    child.once('exit', () => {
      clearTimeout(kill)
      resolve()
    })
    child.kill(signal)
  })
}
