import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Cloud } from '../../../src/cmd/cloud.ts'
import { statusCommand } from '../../../src/cmd/ops.ts'
import { loadConfig, type Config } from '../../../src/common/config.ts'
import type { StatusReport } from '../../../src/ops/status.ts'
import { AmqpTransport } from '../../../src/rpc/index.ts'

/**
 * `nimbus status` on a distributed cloud: the conductor and scheduler in this
 * process, two compute hosts as `nimbus serve compute` child processes, all
 * on RabbitMQ (127.0.0.1:5672, an exchange of this run's own) and one SQLite
 * file. Both hosts up with their broker queues: exit 0. One host killed
 * (SIGKILL, no goodbye): it shows down once its heartbeat is older than
 * service_down_time, and the exit status is 1.
 */
const ROOT = join(import.meta.dirname, '../../..')
const AMQP_BASE_URL = process.env.NIMBUS_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672/'
const REPORT_INTERVAL_S = 1
const SERVICE_DOWN_TIME_S = 3
/** Two child processes loading the sources through tsx, on a loaded machine. */
const HOSTS_UP_TIMEOUT_MS = 90_000
const POLL_INTERVAL_MS = 250
const HOSTS = ['cmp-a', 'cmp-b'] as const

describe('nimbus status (distributed, RabbitMQ)', { timeout: 300_000 }, () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'nimbus-status-'))
  const exchange = `nimbus-status-${process.pid}`
  const transportUrl = `${AMQP_BASE_URL}?exchange=${exchange}&expires_ms=120000`
  const env: Record<string, string> = {
    NIMBUS_DEFAULT__STATE_DIR: stateDir,
    NIMBUS_DEFAULT__TRANSPORT_URL: transportUrl,
    NIMBUS_DEFAULT__LOG_LEVEL: 'silent',
    NIMBUS_COMPUTE__REPORT_INTERVAL_S: String(REPORT_INTERVAL_S),
    NIMBUS_COMPUTE__SERVICE_DOWN_TIME_S: String(SERVICE_DOWN_TIME_S),
  }
  let config: Config
  let cloud: Cloud | undefined
  const children = new Map<string, ChildProcess>()

  async function status(): Promise<{ code: number; report: StatusReport }> {
    let out = ''
    const code = await statusCommand(config, { json: true }, (s) => (out += s))
    return { code, report: JSON.parse(out) as StatusReport }
  }

  async function until(what: string, check: (r: { code: number; report: StatusReport }) => boolean) {
    const deadline = Date.now() + HOSTS_UP_TIMEOUT_MS
    let last: { code: number; report: StatusReport } | undefined
    while (Date.now() < deadline) {
      last = await status()
      if (check(last)) return last
      await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS))
    }
    assert.fail(`timed out waiting for ${what}: ${JSON.stringify(last?.report.problems)}`)
  }

  const computeLine = (r: StatusReport, host: string) =>
    r.services.find((s) => s.service === 'compute' && s.host === host)

  before(async () => {
    config = loadConfig({ env: { ...env, NIMBUS_DEFAULT__HOST: 'ctl' } })
    cloud = await Cloud.start(config, ['conductor', 'scheduler'], { migrate: true })
    for (const host of HOSTS) {
      const child = spawn(process.execPath, [join(ROOT, 'bin/nimbus.js'), 'serve', 'compute'], {
        env: { ...process.env, ...env, NIMBUS_DEFAULT__HOST: host },
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      children.set(host, child)
    }
  })

  after(async () => {
    for (const child of children.values()) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        await new Promise((r) => child.once('exit', r))
      }
    }
    await cloud?.stop()
    const cleaner = AmqpTransport.fromUrl(transportUrl)
    const queues = ['conductor', 'scheduler', 'compute', ...HOSTS.map((h) => `compute.${h}`)]
    const names = [...queues, 'conductor.ctl', 'scheduler.ctl'].map((q) => `${exchange}.${q}`)
    await cleaner.deleteTopologyForTest(names).catch(() => undefined)
    await cleaner.close()
    rmSync(stateDir, { recursive: true, force: true })
  })

  it('both compute hosts up with their broker queues: exit 0', async () => {
    const { code, report } = await until('both compute hosts up', (r) =>
      // Up in Nova's services table and reported by its process (which reports once its host started).
      HOSTS.every(
        (h) => computeLine(r.report, h)?.state === 'up' && computeLine(r.report, h)?.pid !== undefined,
      ),
    )
    assert.deepEqual(report.problems, [])
    assert.equal(code, 0)
    assert.equal(report.broker.transport, 'amqp')
    assert.equal(report.broker.reachable, true)
    assert.ok(['amqp', 'management-api'].includes(report.broker.source))
    const a = computeLine(report, 'cmp-a')!
    assert.notEqual(a.pid, process.pid, 'the host runs in its own process')
    const own = a.queues!.find((q) => q.name === 'compute.cmp-a')
    assert.ok(own && own.consumers >= 1, JSON.stringify(a.queues))
    assert.equal(report.services.find((s) => s.service === 'conductor')!.state, 'up')
  })

  it('a compute host killed shows down after service_down_time; exit 1', async () => {
    const victim = children.get('cmp-b')!
    victim.kill('SIGKILL')
    await new Promise((r) => victim.once('exit', r))
    const { code, report } = await until(
      'cmp-b down',
      (r) => computeLine(r.report, 'cmp-b')?.state === 'down',
    )
    assert.equal(code, 1)
    const line = computeLine(report, 'cmp-b')!
    // Whichever aged out first: the process's report or the host's heartbeat in Nova's table.
    assert.match(line.why!, /^no (report|heartbeat) for \d+ s \(service_down_time 3 s\)$/)
    assert.ok(line.heartbeatAgeS! > SERVICE_DOWN_TIME_S)
    assert.equal(computeLine(report, 'cmp-a')!.state, 'up')
    assert.ok(
      report.problems.some((p) => p.startsWith('compute on cmp-b is down')),
      report.problems.join('\n'),
    )
  })
})
