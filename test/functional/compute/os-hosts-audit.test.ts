import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { lastCompletedAuditPeriod } from '../../../src/compute/api/routes/usage.ts'
import { startComputeCloud, type Caller, type ComputeCloud } from './helpers.ts'

/** The deprecated os-hosts API (2.1 to 2.42) and os-instance_usage_audit_log, as Tempest's admin tests use them. */
describe('compute: os-hosts and os-instance_usage_audit_log', () => {
  let cloud: ComputeCloud
  let admin: Caller
  let member: Caller
  let computeHost: string
  let server: string

  before(async () => {
    cloud = await startComputeCloud({ hosts: 1 })
    admin = cloud.admin
    member = await cloud.newMember()
    server = await member.createServer({ name: 'hosts-1', flavorRef: '1', imageRef: cloud.imageId })
    await member.waitStatus(server)
    const shown = await admin.nova('GET', `/servers/${server}`)
    computeHost = shown.body.server['OS-EXT-SRV-ATTR:host']
  })
  after(() => cloud?.stop())

  it('lists the enabled services as host, topic and zone, filtered by zone', async () => {
    const res = await admin.nova('GET', '/os-hosts')
    assert.equal(res.status, 200)
    const hosts = res.body.hosts as { host_name: string; service: string; zone: string }[]
    assert.ok(hosts.length >= 2, JSON.stringify(hosts))
    for (const h of hosts) assert.deepEqual(Object.keys(h).sort(), ['host_name', 'service', 'zone'])
    assert.deepEqual(
      hosts.find((h) => h.service === 'compute'),
      { host_name: computeHost, service: 'compute', zone: 'nova' },
    )
    assert.ok(hosts.some((h) => h.service === 'conductor' && h.zone === 'internal'))
    const nova = await admin.nova('GET', '/os-hosts?zone=nova')
    assert.deepEqual(
      nova.body.hosts.map((h: { service: string }) => h.service),
      ['compute'],
    )
    assert.equal((await admin.nova('GET', '/os-hosts?zone=')).body.hosts.length, hosts.length)
    assert.deepEqual((await admin.nova('GET', '/os-hosts?zone=xxx')).body, { hosts: [] })
    assert.equal((await member.nova('GET', '/os-hosts')).status, 403)
    assert.equal((await admin.nova('GET', '/os-hosts', undefined, '2.43')).status, 404)
  })

  it('shows a compute host: totals, used now, flavors summed, then per project', async () => {
    const res = await admin.nova('GET', `/os-hosts/${computeHost}`)
    assert.equal(res.status, 200)
    const rows = res.body.host.map((r: { resource: Record<string, unknown> }) => r.resource)
    assert.deepEqual(
      rows.map((r: { project: string }) => r.project),
      ['(total)', '(used_now)', '(used_max)', member.projectId],
    )
    for (const r of rows) assert.equal(r.host, computeHost)
    // flavor 1 is m1.tiny: 1 vCPU, 512 MiB, 1 GB root disk
    assert.deepEqual(rows[2], {
      host: computeHost,
      project: '(used_max)',
      cpu: 1,
      memory_mb: 512,
      disk_gb: 1,
    })
    assert.deepEqual(rows[3], {
      host: computeHost,
      project: member.projectId,
      cpu: 1,
      memory_mb: 512,
      disk_gb: 1,
    })
    assert.ok(rows[0].cpu >= 1 && rows[0].memory_mb >= 512)
    const missing = await admin.nova('GET', '/os-hosts/nonexistent_hostname')
    assert.equal(missing.status, 404)
    assert.equal(missing.body.itemNotFound.code, 404)
    assert.equal((await member.nova('GET', `/os-hosts/${computeHost}`)).status, 403)
  })

  it('validates updates, 404s unknown hosts and answers 501 where no driver can act', async () => {
    const put = (who: Caller, host: string, body: unknown) => who.nova('PUT', `/os-hosts/${host}`, body)
    assert.equal(
      (await put(admin, computeHost, { status: 'invalid', maintenance_mode: 'enable' })).status,
      400,
    )
    assert.equal(
      (await put(admin, computeHost, { status: 'enable', maintenance_mode: 'invalid' })).status,
      400,
    )
    assert.equal((await put(admin, computeHost, {})).status, 400)
    assert.equal((await put(member, computeHost, { status: 'enable' })).status, 403)
    assert.equal((await put(admin, 'nonexistent_hostname', { status: 'enable' })).status, 404)
    const unsupported = await put(admin, computeHost, { status: 'Disable' })
    assert.equal(unsupported.status, 501)
    assert.equal(unsupported.body.notImplemented.code, 501)
    for (const action of ['startup', 'shutdown', 'reboot']) {
      assert.equal((await admin.nova('GET', `/os-hosts/nonexistent_hostname/${action}`)).status, 404)
      assert.equal((await member.nova('GET', `/os-hosts/${computeHost}/${action}`)).status, 403)
      assert.equal((await admin.nova('GET', `/os-hosts/${computeHost}/${action}`)).status, 501)
    }
  })

  it('reports the last completed audit period with every compute host not run', async () => {
    const list = await admin.nova('GET', '/os-instance_usage_audit_log')
    assert.equal(list.status, 200)
    const log = list.body.instance_usage_audit_logs
    assert.deepEqual(log.hosts_not_run, [computeHost])
    assert.equal(log.num_hosts, 1)
    assert.equal(log.num_hosts_not_run, 1)
    assert.equal(log.num_hosts_done, 0)
    assert.equal(log.overall_status, '0 of 1 hosts done. 0 errors.')
    assert.deepEqual(log.log, {})
    assert.match(log.period_beginning, /^\d{4}-\d\d-01 00:00:00$/)

    const show = await admin.nova(
      'GET',
      `/os-instance_usage_audit_log/${encodeURIComponent('2026-03-15 10:20:30')}`,
    )
    assert.equal(show.status, 200)
    assert.equal(show.body.instance_usage_audit_log.period_beginning, '2026-02-01 00:00:00')
    assert.equal(show.body.instance_usage_audit_log.period_ending, '2026-03-01 00:00:00')
    const bad = await admin.nova('GET', '/os-instance_usage_audit_log/invalid_time')
    assert.equal(bad.status, 400)
    assert.equal(bad.body.badRequest.message, 'Invalid timestamp for date invalid_time')
    assert.equal((await member.nova('GET', '/os-instance_usage_audit_log')).status, 403)
    assert.equal(
      (await member.nova('GET', '/os-instance_usage_audit_log/2026-03-15%2010%3A20%3A30')).status,
      403,
    )
  })

  it('computes Nova audit periods: a month, the one before when at its first instant', () => {
    assert.deepEqual(lastCompletedAuditPeriod(Date.UTC(2026, 0, 10)), {
      beginMs: Date.UTC(2025, 11, 1),
      endMs: Date.UTC(2026, 0, 1),
    })
    assert.deepEqual(lastCompletedAuditPeriod(Date.UTC(2026, 2, 1)), {
      beginMs: Date.UTC(2026, 0, 1),
      endMs: Date.UTC(2026, 1, 1),
    })
  })
})
