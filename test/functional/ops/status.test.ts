import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { statusCommand } from '../../../src/cmd/ops.ts'
import type { StatusReport } from '../../../src/ops/status.ts'
import { startComputeCloud, type ComputeCloud } from '../compute/helpers.ts'

/**
 * `nimbus status` on the embedded cloud (every service in one process, the
 * in-process bus): every service up with its heartbeat and queues, exit 0;
 * a compute host forced down makes it exit 1 and says why. The real CLI is
 * run once against the same state directory.
 */
const ROOT = join(import.meta.dirname, '../../..')
const CLI_TIMEOUT_MS = 60_000
const run = promisify(execFile)

async function status(cloud: ComputeCloud, opts = {}): Promise<{ code: number; report: StatusReport }> {
  let out = ''
  const code = await statusCommand(cloud.tc.cloud.config, { json: true, ...opts }, (s) => (out += s))
  return { code, report: JSON.parse(out) as StatusReport }
}

describe('nimbus status (embedded)', { timeout: 300_000 }, () => {
  let cloud: ComputeCloud

  before(async () => {
    cloud = await startComputeCloud({ hosts: 2 })
  })
  after(() => cloud?.stop())

  it('lists every service up with version, uptime, heartbeat and in-process queues; exit 0', async () => {
    const { code, report } = await status(cloud)
    assert.deepEqual(report.problems, [])
    assert.equal(code, 0)
    const names = report.services.map((s) => s.service)
    for (const s of [
      'identity',
      'image',
      'network',
      'conductor',
      'scheduler',
      'compute',
      'compute-api',
      'metadata',
    ])
      assert.ok(names.includes(s), `${s} in ${names.join(', ')}`)
    const computes = report.services.filter((s) => s.service === 'compute')
    assert.deepEqual(
      computes.map((c) => c.host).sort(),
      cloud
        .compute()
        .hosts.map((h) => h.host)
        .sort(),
      'one line per compute host',
    )
    for (const s of report.services) {
      assert.equal(s.state, 'up', JSON.stringify(s))
      if (s.service.startsWith('network: ')) continue
      assert.equal(s.version, '0.1.0')
      assert.equal(s.pid, process.pid)
      assert.ok(s.heartbeatAgeS! >= 0 && s.heartbeatAgeS! <= cloud.tc.cloud.config.compute.serviceDownTimeS)
    }
    const conductor = report.services.find((s) => s.service === 'conductor')!
    const shared = conductor.queues!.find((q) => q.name === 'conductor')!
    assert.ok(shared.consumers >= 1, JSON.stringify(conductor.queues))
    const host = computes[0]!
    assert.deepEqual(
      host.queues!.map((q) => q.name),
      ['compute', `compute.${host.host}`],
    )
    assert.equal(
      report.services.find((s) => s.service === 'compute-api')!.endpoint?.startsWith('http://'),
      true,
    )
    assert.equal(report.database.reachable, true)
    assert.equal(report.database.dialect, 'sqlite')
    assert.deepEqual(report.database.pending, [])
    assert.match(report.database.migration!, /^00\d\d-/)
    assert.equal(report.broker.transport, 'inproc')
    assert.equal(report.hypervisors.length, 2)
    assert.equal(report.dataplane.enabled, false)
  })

  it('a compute host forced down is down with the reason; exit 1', async () => {
    const target = cloud.compute().hosts[1]!.host
    const svc = (
      await cloud.admin.nova('GET', `/os-services?binary=nova-compute&host=${target}`, undefined, '2.53')
    ).body.services[0]
    await cloud.admin.nova('PUT', `/os-services/${svc.id}`, { forced_down: true }, '2.53')
    try {
      const { code, report } = await status(cloud)
      assert.equal(code, 1)
      const line = report.services.find((s) => s.service === 'compute' && s.host === target)!
      assert.equal(line.state, 'down')
      assert.equal(line.why, 'forced down by an operator')
      assert.deepEqual(report.problems, [`compute on ${target} is down: forced down by an operator`])
    } finally {
      await cloud.admin.nova('PUT', `/os-services/${svc.id}`, { forced_down: false }, '2.53')
    }
    assert.equal((await status(cloud)).code, 0)
  })

  it('an API that fails its health check is down', async () => {
    let out = ''
    const code = await statusCommand(cloud.tc.cloud.config, { json: true }, (s) => (out += s))
    assert.equal(code, 0)
    const { collectStatus } = await import('../../../src/ops/status.ts')
    const report = await collectStatus({
      config: cloud.tc.cloud.config,
      db: cloud.tc.cloud.db,
      probe: async (url) => (url.includes(new URL(cloud.tc.url('image')).port) ? 503 : 200),
    })
    const image = report.services.find((s) => s.service === 'image')!
    assert.equal(image.state, 'down')
    assert.match(image.why!, /^health check http:\/\/.*\/healthcheck answered 503$/)
    assert.equal(report.problems.length, 1)
  })

  it('the nimbus CLI prints the table without colours off a TTY and exits 0', async () => {
    const { stdout } = await run(
      process.execPath,
      [join(ROOT, 'bin/nimbus.js'), '--state-dir', cloud.tc.stateDir, 'status'],
      {
        timeout: CLI_TIMEOUT_MS,
        env: { ...process.env, NIMBUS_COMPUTE__FAKE_HOSTS: '2', NIMBUS_DEFAULT__LOG_LEVEL: 'silent' },
      },
    )
    assert.match(stdout, /^SERVICE +HOST +STATE +VERSION +UPTIME +HEARTBEAT +QUEUES/)
    assert.match(stdout, /\ncompute-api +\S+ +up +0\.1\.0 /)
    assert.match(stdout, /\nall up\n$/)
    assert.equal(stdout.includes('\u001b['), false, 'no colour escapes off a TTY')
  })

  it('--stuck: a server in a task state past half its deadline is listed with its step; exit 1', async () => {
    const id = await cloud.admin.createServer({ name: 'stuck', imageRef: cloud.imageId, flavorRef: '1' })
    await cloud.admin.waitStatus(id, ['BUILD'])
    assert.equal((await status(cloud, { stuck: true })).code, 0, 'nothing stuck yet')
    const longAgo = new Date(Date.now() - 400_000).toISOString()
    await cloud.tc.cloud.db.kysely
      .updateTable('instances')
      .set({ task_state: 'rebooting', updated_at: longAgo })
      .where('uuid', '=', id)
      .execute()
    const { code, report } = await status(cloud, { stuck: true })
    assert.equal(code, 1)
    const item = (report as any).items.find((i: any) => i.id === id)
    assert.equal(item.state, 'rebooting')
    assert.equal(item.deadlineS, 600)
    assert.equal(item.overdue, false)
    assert.ok(item.ageS >= 400)
    await cloud.tc.cloud.db.kysely
      .updateTable('instances')
      .set({ task_state: null })
      .where('uuid', '=', id)
      .execute()
    await cloud.admin.deleteServer(id)
  })
})
