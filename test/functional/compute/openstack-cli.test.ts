import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { openstackCli } from './cli.ts'
import { createNetwork, startComputeCloud, type ComputeCloud } from './helpers.ts'

/**
 * Debian's `openstack` CLI (python3-openstackclient 6.0) against the compute
 * API, configured only through OS_* variables as a user would. Without the
 * CLI on PATH the suite fails: it is the compatibility check.
 */
const SUITE_TIMEOUT_MS = 900_000
/** `server create` and `delete` need 2.37 for `--nic none`. */
const COMPUTE_API_VERSION = '2.37'

describe('openstack CLI against the compute API', { timeout: SUITE_TIMEOUT_MS }, () => {
  let cloud: ComputeCloud

  const { cli, json } = openstackCli(() => cloud)
  const compute = (args: readonly string[]) => ['--os-compute-api-version', COMPUTE_API_VERSION, ...args]

  before(async () => {
    cloud = await startComputeCloud({ hosts: 2 })
    // `--nic auto` finds the admin project's only network.
    await createNetwork(cloud, cloud.admin, 'private')
  })
  after(() => cloud?.stop())

  it('server create --wait reaches ACTIVE; server list with filters, --limit and --marker', async () => {
    const first = await json(
      compute([
        'server',
        'create',
        '--flavor',
        'm1.tiny',
        '--image',
        cloud.imageId,
        '--nic',
        'none',
        '--wait',
        'cli-a',
      ]),
    )
    assert.equal(first.status, 'ACTIVE')
    assert.equal(first.flavor, 'm1.tiny (1)')
    assert.equal(first['OS-EXT-STS:vm_state'], 'active')
    const second = await json(
      compute([
        'server',
        'create',
        '--flavor',
        'm1.tiny',
        '--image',
        cloud.imageId,
        '--nic',
        'auto',
        '--wait',
        'cli-b',
      ]),
    )
    assert.equal(second.status, 'ACTIVE')
    assert.match(JSON.stringify(second.addresses), /192\.0\.2\./)
    const all = await json(['server', 'list'])
    assert.deepEqual(all.map((s: { Name: string }) => s.Name).sort(), ['cli-a', 'cli-b'])
    const named = await json(['server', 'list', '--name', '^cli-a$', '--status', 'ACTIVE'])
    assert.deepEqual(
      named.map((s: { ID: string }) => s.ID),
      [first.id],
    )
    const page1 = await json(['server', 'list', '--limit', '1'])
    assert.equal(page1.length, 1)
    const page2 = await json(['server', 'list', '--limit', '1', '--marker', page1[0].ID])
    assert.equal(page2.length, 1)
    assert.notEqual(page2[0].ID, page1[0].ID)
  })

  it('server event list/show: the build timeline', async () => {
    const events = await json(['server', 'event', 'list', 'cli-a'])
    assert.equal(events.length, 1)
    assert.equal(events[0].Action, 'create')
    const shown = await json(['server', 'event', 'show', 'cli-a', events[0]['Request ID']])
    const names = shown.events.map((e: { event: string }) => e.event)
    for (const step of ['scheduler_select_destinations', 'compute_allocate_network', 'compute_spawn']) {
      assert.ok(names.includes(step), step)
    }
    assert.ok(shown.events.every((e: { result: string }) => e.result === 'Success'))
  })

  it('server show shows the fault of a server in ERROR', async () => {
    await cli(['quota', 'set', '--ram', '-1', 'admin'])
    await cli(['flavor', 'create', '--ram', '999999', '--vcpus', '1', '--disk', '1', 'cli-huge'])
    // --wait exits non-zero when the server ends in ERROR, so poll without it.
    await cli(
      compute([
        'server',
        'create',
        '--flavor',
        'cli-huge',
        '--image',
        cloud.imageId,
        '--nic',
        'none',
        'cli-err',
      ]),
    )
    let server: any
    for (let i = 0; i < 50; i++) {
      server = await json(['server', 'show', 'cli-err'])
      if (server.status !== 'BUILD') break
    }
    assert.equal(server.status, 'ERROR')
    assert.match(
      server.fault.message,
      /No valid host was found\. RamFilter rejected 2 of 2 hosts: needs 999999 MB/,
    )
  })

  it('server delete --wait', async () => {
    await cli(['server', 'delete', '--wait', 'cli-a', 'cli-b', 'cli-err'])
    assert.deepEqual(await json(['server', 'list']), [])
  })

  it('flavor create, set --property, show, list, delete', async () => {
    const created = await json([
      'flavor',
      'create',
      '--ram',
      '256',
      '--vcpus',
      '1',
      '--disk',
      '1',
      'cli-flavor',
    ])
    assert.equal(created.ram, 256)
    await cli(['flavor', 'set', '--property', 'hw:cpu_policy=dedicated', 'cli-flavor'])
    const shown = await json(['flavor', 'show', 'cli-flavor'])
    assert.deepEqual(shown.properties, { 'hw:cpu_policy': 'dedicated' })
    const list = await json(['flavor', 'list'])
    assert.ok(list.some((f: { Name: string }) => f.Name === 'cli-flavor'))
    await cli(['flavor', 'delete', 'cli-flavor'])
    assert.ok(!(await json(['flavor', 'list'])).some((f: { Name: string }) => f.Name === 'cli-flavor'))
  })

  it('keypair create (generated and imported), list, show, delete', async () => {
    const privateKey = await cli(['keypair', 'create', 'cli-key'])
    assert.match(privateKey, /-----BEGIN RSA PRIVATE KEY-----/)
    const shown = await json(['keypair', 'show', 'cli-key'])
    assert.match(shown.fingerprint, /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/)
    const publicKey = (await cli(['keypair', 'show', '--public-key', 'cli-key'])).trim()
    const file = join(cloud.tc.stateDir, 'cli-key.pub')
    writeFileSync(file, `${publicKey}\n`)
    const imported = await json(['keypair', 'create', '--public-key', file, 'cli-key2'])
    assert.equal(imported.fingerprint, shown.fingerprint)
    const list = await json(['keypair', 'list'])
    assert.deepEqual(list.map((k: { Name: string }) => k.Name).sort(), ['cli-key', 'cli-key2'])
    await cli(['keypair', 'delete', 'cli-key', 'cli-key2'])
    assert.deepEqual(await json(['keypair', 'list']), [])
  })

  it('quota show and limits show --absolute', async () => {
    const quota = await json(['quota', 'show'])
    assert.equal(quota.instances, 10)
    assert.equal(quota.cores, 20)
    const limits = await json(['limits', 'show', '--absolute'])
    const byName = Object.fromEntries(limits.map((l: { Name: string; Value: number }) => [l.Name, l.Value]))
    assert.equal(byName.maxTotalInstances, 10)
    assert.equal(byName.totalInstancesUsed, 0)
  })

  it('compute service list and hypervisor list', async () => {
    const services = await json(['compute', 'service', 'list'])
    const binaries = services.map((s: { Binary: string }) => s.Binary).sort()
    assert.deepEqual(binaries, ['nova-compute', 'nova-compute', 'nova-conductor', 'nova-scheduler'])
    assert.ok(
      services.every((s: { State: string; Status: string }) => s.State === 'up' && s.Status === 'enabled'),
    )
    const hypervisors = await json(['hypervisor', 'list'])
    assert.equal(hypervisors.length, 2)
    assert.ok(
      hypervisors.every(
        (h: { 'Hypervisor Type': string; State: string }) =>
          h['Hypervisor Type'] === 'fake' && h.State === 'up',
      ),
    )
  })
})
