import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, it, type TestContext } from 'node:test'
import { loadConfig } from '../../../src/common/config.ts'
import { openDatabase } from '../../../src/db/index.ts'
import { migrateToLatest } from '../../../src/db/migrate.ts'
import { bootstrap, configuredEndpoints } from '../../../src/identity/bootstrap.ts'
import { Identity } from '../../../src/identity/identity.ts'
import { createTransport, type AmqpTransport } from '../../../src/rpc/index.ts'
import { OsClient } from '../../support/os-client.ts'
import { startPrivatePostgres, type PrivatePostgres } from '../../support/private-postgres.ts'

/**
 * Issue #24, distributed mode: compute-api, conductor, scheduler, compute
 * (two fake hosts) and identity+image+network run as separate `nimbus
 * serve` processes on a private PostgreSQL this test starts (never the
 * machine's shared one) and the shared RabbitMQ under an exchange (queue
 * prefix) of their own. In the middle of a load of creates and actions the
 * database backends are killed (pg_terminate_backend, what a failover does)
 * and the server is restarted. Then:
 *  - no process has exited;
 *  - every create answered 202 ends ACTIVE, or ERROR with a fault; every
 *    answer was 202/503 (503 with Retry-After, in Nova's body), never a 500;
 *  - the API answers again within 5 s of the database coming back.
 * The counts (accepted / ACTIVE / ERROR / lost, seconds until service
 * returned) are printed as test diagnostics.
 */

const ROOT = resolve(import.meta.dirname, '../../..')
const NIMBUS = join(ROOT, 'bin/nimbus.js')
const TEST_TIMEOUT_MS = 240_000
/** Bound on every process starting and the compute hosts registering. */
const START_TIMEOUT_MS = 90_000
/** Bound on a process stopping after SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 15_000
/** Bound on one HTTP request of the test. */
const REQUEST_TIMEOUT_MS = 20_000
const POLL_INTERVAL_MS = 200
/** The API must answer this soon after the database is back (the acceptance). */
const SERVICE_RETURN_LIMIT_S = 5
/** Build deadline (the conductor's BUILD timeout), short so nothing can hide in BUILD past the test. */
const BUILD_TIMEOUT_S = 60
/** Bound on every accepted server leaving BUILD after the outage (past the build deadline). */
const SETTLE_TIMEOUT_MS = (BUILD_TIMEOUT_S + 15) * 1000
/** The load: one create every CREATE_INTERVAL_MS, one action every ACTION_INTERVAL_MS. */
const CREATE_INTERVAL_MS = 250
const ACTION_INTERVAL_MS = 300
/** Load before the backends are killed, between kill and stop, while down, and after it is back. */
const LOAD_BEFORE_KILL_MS = 1_000
const KILL_TO_STOP_MS = 500
/** Longer than an API request retries (dbRetryRequestWaitMs), so some requests are answered 503. */
const DOWN_MS = 6_500
const LOAD_AFTER_BACK_MS = 2_000
/** Servers made before the outage that the load stops and starts. */
const ACTION_TARGETS = 2
const ADMIN_PASSWORD = 'dbloss-admin-password'
const DB_NAME = 'nimbus'
/** AMQP queues of this run expire this long after their last consumer left (the broker is shared). */
const QUEUE_EXPIRES_MS = 60_000

/** The processes, as the issue ran them: the three that crashed each alone. */
const PROCESSES: readonly (readonly string[])[] = [
  ['identity', 'image', 'network'],
  ['conductor'],
  ['scheduler'],
  ['compute'],
  ['compute-api'],
]

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolvePort(port))
    })
  })
}

interface Proc {
  readonly name: string
  readonly child: ChildProcess
  readonly logFile: string
  exit?: { code: number | null; signal: NodeJS.Signals | null }
}

interface Counts {
  accepted: number
  refused503: number
  refused503WithoutRetryAfter: number
  otherStatus: Record<string, number>
  actionsAccepted: number
  actions503: number
  actions409: number
  transportErrors: number
}

describe('a lost PostgreSQL connection in distributed mode (issue #24)', { timeout: TEST_TIMEOUT_MS }, () => {
  let dir: string
  let pgServer: PrivatePostgres | undefined
  const procs: Proc[] = []
  let env: Record<string, string>
  let transportUrl: string
  let client: OsClient
  let imageId: string
  let networkId: string
  let startedAt = 0
  let readyAt = 0

  const logsOf = (p: Proc) => {
    try {
      return readFileSync(p.logFile, 'utf8').split('\n').slice(-40).join('\n')
    } catch {
      return ''
    }
  }

  before(async () => {
    startedAt = Date.now()
    dir = mkdtempSync(join(tmpdir(), 'nimbus-dbloss-'))
    pgServer = await startPrivatePostgres()
    await pgServer.createDatabase(DB_NAME)
    const ports = {
      identity: await freePort(),
      compute: await freePort(),
      image: await freePort(),
      network: await freePort(),
      metadata: await freePort(),
    }
    transportUrl = `amqp://guest:guest@127.0.0.1:5672/?exchange=nimbus-dbloss-${randomBytes(4).toString('hex')}&expires_ms=${QUEUE_EXPIRES_MS}`
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(
        (e): e is [string, string] => !e[0].startsWith('NIMBUS_') && e[1] !== undefined,
      ),
    )
    env = {
      ...inherited,
      NIMBUS_DEFAULT__STATE_DIR: join(dir, 'state'),
      NIMBUS_DEFAULT__LOG_LEVEL: process.env.NIMBUS_TEST_LOG_LEVEL ?? 'info',
      NIMBUS_DEFAULT__TRANSPORT_URL: transportUrl,
      NIMBUS_DEFAULT__BIND_HOST: '127.0.0.1',
      NIMBUS_DEFAULT__PUBLIC_HOST: '127.0.0.1',
      NIMBUS_DATABASE__CONNECTION: pgServer.url(DB_NAME),
      NIMBUS_IDENTITY__PORT: String(ports.identity),
      NIMBUS_IDENTITY__ADMIN_PASSWORD: ADMIN_PASSWORD,
      NIMBUS_IDENTITY__PASSWORD_HASH_COST: '10',
      NIMBUS_COMPUTE__PORT: String(ports.compute),
      NIMBUS_IMAGE__PORT: String(ports.image),
      NIMBUS_NETWORK__PORT: String(ports.network),
      NIMBUS_METADATA__PORT: String(ports.metadata),
      NIMBUS_COMPUTE__FAKE_HOSTS: '2',
      NIMBUS_QUOTA__INSTANCES: '-1',
      NIMBUS_QUOTA__CORES: '-1',
      NIMBUS_QUOTA__RAM: '-1',
      NIMBUS_COMPUTE__BUILD_TIMEOUT_S: String(BUILD_TIMEOUT_S),
      NIMBUS_COMPUTE__BUILD_TIMEOUT_CHECK_INTERVAL_S: '2',
    }
    // What `nimbus db migrate` and `nimbus identity bootstrap` do, in this
    // process: two fewer Node start-ups on a busy machine.
    const config = loadConfig({ env })
    const db = await openDatabase(config.databaseUrl)
    try {
      await migrateToLatest(db)
      await bootstrap(await Identity.open(config, db), {
        adminPassword: ADMIN_PASSWORD,
        region: config.identity.region,
        endpoints: configuredEndpoints(config),
      })
    } finally {
      await db.close()
    }
    for (const services of PROCESSES) {
      const name = services.join('+')
      const logFile = join(dir, `${name}.log`)
      const out = createWriteStream(logFile)
      const child = spawn(process.execPath, [NIMBUS, 'serve', ...services], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      child.stdout!.pipe(out)
      child.stderr!.pipe(out)
      const proc: Proc = { name, child, logFile }
      // Should this test process die without its after hook, no service outlives it.
      process.once('exit', () => child.kill('SIGKILL'))
      child.once('exit', (code, signal) => {
        proc.exit = { code, signal }
      })
      procs.push(proc)
    }
    const authUrl = `http://127.0.0.1:${ports.identity}/v3`
    const deadline = Date.now() + START_TIMEOUT_MS
    const untilReady = async <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => {
      for (;;) {
        const dead = procs.find((p) => p.exit)
        if (dead) throw new Error(`${dead.name} exited during start-up:\n${logsOf(dead)}`)
        const value = await probe().catch(() => undefined)
        if (value !== undefined) return value
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
        await sleep(POLL_INTERVAL_MS)
      }
    }
    client = await untilReady('identity', () =>
      OsClient.login({ authUrl, username: 'admin', password: ADMIN_PASSWORD, projectName: 'admin' }),
    )
    await untilReady('conductor, scheduler and two compute hosts', async () => {
      const { status, body } = await client.request('compute', 'GET', '/os-services')
      if (status !== 200) return undefined
      const up = (binary: string) =>
        (body.services as { binary: string; state: string }[]).filter(
          (s) => s.binary === binary && s.state === 'up',
        ).length
      return up('nova-conductor') >= 1 && up('nova-scheduler') >= 1 && up('nova-compute') >= 2
        ? true
        : undefined
    })
    await untilReady('two hypervisors', async () => {
      const { status, body } = await client.request('compute', 'GET', '/os-hypervisors')
      return status === 200 && body.hypervisors.length >= 2 ? true : undefined
    })
    const image = await client.request(
      'image',
      'POST',
      '/v2/images',
      { name: 'dbloss', disk_format: 'raw', container_format: 'bare', visibility: 'public' },
      { expect: [201] },
    )
    imageId = image.body.id
    await client.upload('image', `/v2/images/${imageId}/file`, new Uint8Array(1024))
    const net = await client.request(
      'network',
      'POST',
      '/v2.0/networks',
      { network: { name: 'dbloss' } },
      {
        expect: [201],
      },
    )
    networkId = net.body.network.id
    await client.request(
      'network',
      'POST',
      '/v2.0/subnets',
      { subnet: { network_id: networkId, cidr: '192.0.2.0/24', ip_version: 4 } },
      { expect: [201] },
    )
    readyAt = Date.now()
  })

  after(async () => {
    await Promise.all(procs.map((p) => stopProcess(p.child)))
    await pgServer?.destroy()
    // The broker is shared: drop this run's exchanges; its queues expire by themselves (expires_ms).
    if (transportUrl) {
      const sweeper = createTransport(transportUrl) as AmqpTransport
      await Promise.race([sweeper.deleteTopologyForTest([]), sleep(STOP_TIMEOUT_MS)]).catch(() => undefined)
      await sweeper.close().catch(() => undefined)
    }
    // NIMBUS_TEST_KEEP_DIR=1 keeps the services' logs for a look after a failure.
    if (dir && !process.env.NIMBUS_TEST_KEEP_DIR) rmSync(dir, { recursive: true, force: true })
  })

  /** One create; counts the answer. */
  const create = async (counts: Counts, accepted: string[], n: number) => {
    try {
      const res = await fetch(`${client.endpoint('compute')}/servers`, {
        method: 'POST',
        headers: { 'x-auth-token': client.token, 'content-type': 'application/json' },
        body: JSON.stringify({
          server: { name: `load-${n}`, imageRef: imageId, flavorRef: '1', networks: [{ uuid: networkId }] },
        }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      })
      const text = await res.text()
      if (res.status === 202) {
        counts.accepted++
        accepted.push((JSON.parse(text) as { server: { id: string } }).server.id)
      } else if (res.status === 503) {
        counts.refused503++
        if (!res.headers.get('retry-after')) counts.refused503WithoutRetryAfter++
        assert.equal(typeof JSON.parse(text).serviceUnavailable?.message, 'string', text)
      } else {
        counts.otherStatus[`${res.status} ${text.slice(0, 200)}`] =
          (counts.otherStatus[`${res.status} ${text.slice(0, 200)}`] ?? 0) + 1
      }
    } catch {
      counts.transportErrors++
    }
  }

  /** One stop or start of a target server; counts the answer. */
  const act = async (counts: Counts, serverId: string, n: number) => {
    const action = n % 2 === 0 ? { 'os-stop': null } : { 'os-start': null }
    try {
      const res = await fetch(`${client.endpoint('compute')}/servers/${serverId}/action`, {
        method: 'POST',
        headers: { 'x-auth-token': client.token, 'content-type': 'application/json' },
        body: JSON.stringify(action),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      })
      const text = await res.text()
      if (res.status === 202) counts.actionsAccepted++
      else if (res.status === 503) counts.actions503++
      else if (res.status === 409) counts.actions409++
      else
        counts.otherStatus[`action ${res.status} ${text.slice(0, 200)}`] =
          (counts.otherStatus[`action ${res.status} ${text.slice(0, 200)}`] ?? 0) + 1
    } catch {
      counts.transportErrors++
    }
  }

  /** Every server of the admin project, by id (the fault and task state included). */
  const servers = async () => {
    const { status, body } = await client.request('compute', 'GET', '/servers/detail')
    if (status !== 200) return undefined
    return new Map<string, any>((body.servers as { id: string }[]).map((s) => [s.id, s]))
  }

  it('no process exits, every 202 ends ACTIVE or ERROR with a fault, the API is back within 5 s', async (t: TestContext) => {
    // Servers to stop and start during the outage.
    const targets: string[] = []
    const setup: Counts = newCounts()
    for (let i = 0; i < ACTION_TARGETS; i++) await create(setup, targets, i)
    assert.equal(targets.length, ACTION_TARGETS, JSON.stringify(setup))
    const ready = await waitSettled(targets, SETTLE_TIMEOUT_MS, servers)
    for (const id of targets) {
      const s = ready.get(id)
      assert.equal(s?.status, 'ACTIVE', `before the outage: ${JSON.stringify(s?.fault ?? s)}`)
    }

    // The load, and the outage in its middle.
    const counts = newCounts()
    const accepted: string[] = []
    const inFlight: Promise<void>[] = []
    let loading = true
    const creates = (async () => {
      for (let n = 0; loading; n++) {
        inFlight.push(create(counts, accepted, n))
        await sleep(CREATE_INTERVAL_MS)
      }
    })()
    const actions = (async () => {
      for (let n = 0; loading; n++) {
        inFlight.push(act(counts, targets[n % targets.length]!, Math.floor(n / targets.length)))
        await sleep(ACTION_INTERVAL_MS)
      }
    })()
    await sleep(LOAD_BEFORE_KILL_MS)
    const killed = await pgServer!.terminateBackends(DB_NAME)
    await sleep(KILL_TO_STOP_MS)
    await pgServer!.stop()
    await sleep(DOWN_MS)
    await pgServer!.start()
    const backAt = Date.now()
    // How soon the API answers again: a plain list, as a client would retry.
    let returnedS = Number.POSITIVE_INFINITY
    for (;;) {
      const res = await fetch(`${client.endpoint('compute')}/servers`, {
        headers: { 'x-auth-token': client.token },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      }).catch(() => undefined)
      if (res?.status === 200) {
        returnedS = (Date.now() - backAt) / 1000
        break
      }
      if (Date.now() - backAt > SERVICE_RETURN_LIMIT_S * 4 * 1000) break
      await sleep(50)
    }
    await sleep(LOAD_AFTER_BACK_MS)
    loading = false
    await Promise.all([creates, actions])
    await Promise.all(inFlight)

    // Every accepted create leaves BUILD (at the latest by the build deadline).
    const final = await waitSettled([...accepted, ...targets], SETTLE_TIMEOUT_MS, servers)
    const outcome = { active: 0, error: 0, errorWithFault: 0, errorTimedOut: 0, lost: 0 }
    const faults: string[] = []
    for (const id of accepted) {
      const s = final.get(id)
      if (s?.status === 'ACTIVE') outcome.active++
      else if (s?.status === 'ERROR') {
        outcome.error++
        const message: unknown = s.fault?.message
        if (typeof message === 'string' && message.length > 0) {
          outcome.errorWithFault++
          faults.push(message)
          if (/timed out/.test(message)) outcome.errorTimedOut++
        }
      } else outcome.lost++
    }
    // The stopped and started servers are not left mid-action.
    const targetStates = targets.map((id) => {
      const s = final.get(id)
      return { id, status: s?.status, task: s?.['OS-EXT-STS:task_state'] }
    })
    // A create after the outage works end to end.
    const afterOutage: string[] = []
    await create(newCounts(), afterOutage, 9999)
    const afterFinal = await waitSettled(afterOutage, SETTLE_TIMEOUT_MS, servers)

    t.diagnostic(
      `backends killed ${killed}; database down ${DOWN_MS} ms; creates accepted ${counts.accepted}, ` +
        `ACTIVE ${outcome.active}, ERROR ${outcome.error} (with fault ${outcome.errorWithFault}, by build deadline ${outcome.errorTimedOut}), ` +
        `lost ${outcome.lost}; refused 503 ${counts.refused503}; actions 202 ${counts.actionsAccepted} / 409 ${counts.actions409} / 503 ${counts.actions503}; ` +
        `API answered again ${returnedS.toFixed(2)} s after the database came back`,
    )
    t.diagnostic(
      `start-up ${((readyAt - startedAt) / 1000).toFixed(1)} s, load and settling ${((Date.now() - readyAt) / 1000).toFixed(1)} s`,
    )
    if (faults.length) t.diagnostic(`ERROR faults: ${[...new Set(faults)].join(' | ')}`)

    const exited = procs.filter((p) => p.exit)
    assert.deepEqual(
      exited.map((p) => `${p.name}: ${JSON.stringify(p.exit)}\n${logsOf(p)}`),
      [],
      'no process exited',
    )
    assert.deepEqual(counts.otherStatus, {}, 'every create and action answered 202, 409 or 503')
    assert.equal(counts.transportErrors, 0, 'every request got an answer')
    assert.equal(counts.refused503WithoutRetryAfter, 0, 'every 503 carried Retry-After')
    assert.ok(killed >= 1, 'backends were killed mid-load')
    assert.ok(counts.accepted > 0, 'creates were accepted')
    assert.equal(outcome.lost, 0, 'no accepted create is lost (still BUILD or gone)')
    assert.equal(outcome.errorWithFault, outcome.error, 'every ERROR has a fault')
    assert.equal(outcome.active + outcome.error, counts.accepted)
    assert.ok(returnedS <= SERVICE_RETURN_LIMIT_S, `the API answered again after ${returnedS} s`)
    for (const s of targetStates) {
      assert.ok(['ACTIVE', 'SHUTOFF', 'ERROR'].includes(String(s.status)), JSON.stringify(s))
      assert.equal(s.task ?? null, null, `not left mid-action: ${JSON.stringify(s)}`)
    }
    assert.equal(afterFinal.get(afterOutage[0]!)?.status, 'ACTIVE', 'a create after the outage goes ACTIVE')
  })

  it('nimbus serve started before its database waits for it, says so, then serves', async () => {
    await pgServer!.stop()
    const logFile = join(dir, 'late-scheduler.log')
    const out = createWriteStream(logFile)
    const child = spawn(process.execPath, [NIMBUS, 'serve', 'scheduler'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    process.once('exit', () => child.kill('SIGKILL'))
    child.stdout!.pipe(out)
    child.stderr!.pipe(out)
    let exit: number | null | undefined
    child.once('exit', (code) => {
      exit = code
    })
    const logged = async (text: string) => {
      const deadline = Date.now() + START_TIMEOUT_MS
      for (;;) {
        const log = (() => {
          try {
            return readFileSync(logFile, 'utf8')
          } catch {
            return ''
          }
        })()
        if (log.includes(text)) return
        if (exit !== undefined) throw new Error(`nimbus serve exited with ${exit} before '${text}':\n${log}`)
        if (Date.now() > deadline) throw new Error(`no '${text}' in:\n${log}`)
        await sleep(POLL_INTERVAL_MS)
      }
    }
    try {
      await logged('waiting for the database')
      await pgServer!.start()
      await logged('service started')
      assert.equal(exit, undefined, 'still running')
    } finally {
      await stopProcess(child)
      if (pgServer) await pgServer.start()
    }
  })
})

function newCounts(): Counts {
  return {
    accepted: 0,
    refused503: 0,
    refused503WithoutRetryAfter: 0,
    otherStatus: {},
    actionsAccepted: 0,
    actions503: 0,
    actions409: 0,
    transportErrors: 0,
  }
}

/** Polls (one list per round) until no server is in BUILD or mid-task, or the bound passes; returns the last views. */
async function waitSettled(
  ids: readonly string[],
  timeoutMs: number,
  list: () => Promise<Map<string, any> | undefined>,
): Promise<Map<string, any>> {
  let views = new Map<string, any>()
  const deadline = Date.now() + timeoutMs
  for (;;) {
    views = (await list().catch(() => undefined)) ?? views
    const pending = ids.filter((id) => {
      const s = views.get(id)
      return !s || s.status === 'BUILD' || s['OS-EXT-STS:task_state']
    })
    if (pending.length === 0 || Date.now() > deadline) return views
    await sleep(POLL_INTERVAL_MS * 2)
  }
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolveStop) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
    child.once('exit', () => {
      clearTimeout(kill)
      resolveStop()
    })
    child.kill('SIGTERM')
  })
}
