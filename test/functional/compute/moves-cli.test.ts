import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { openstackCli } from './cli.ts'
import { startComputeCloud, type ComputeCloud } from './helpers.ts'

/**
 * Moves through Debian's `openstack` CLI (python3-openstackclient 6.0):
 * `server resize --flavor --wait`, `server resize confirm` / `revert`,
 * `server migrate --wait`, `server migration list`, and `server evacuate`
 * after `compute service set --down`. Fails if the CLI is missing.
 */
const SUITE_TIMEOUT_MS = 900_000

describe('openstack CLI: resize, migrate, evacuate, migration list', { timeout: SUITE_TIMEOUT_MS }, () => {
  let cloud: ComputeCloud

  const { cli, json } = openstackCli(() => cloud)
  const show = (name: string) => json(['server', 'show', name])

  before(async () => {
    cloud = await startComputeCloud({ hosts: 3 })
  })
  after(() => cloud?.stop())

  it('server resize --flavor --wait, then resize confirm; resize again and revert', async () => {
    await cli([
      '--os-compute-api-version',
      '2.37',
      'server',
      'create',
      '--flavor',
      'm1.tiny',
      '--image',
      cloud.imageId,
      '--nic',
      'none',
      '--wait',
      'cli-rs',
    ])
    const source = (await show('cli-rs'))['OS-EXT-SRV-ATTR:host']
    await cli(['server', 'resize', '--flavor', 'm1.small', '--wait', 'cli-rs'])
    let server = await show('cli-rs')
    assert.equal(server.status, 'VERIFY_RESIZE')
    assert.match(server.flavor, /^m1\.small/)
    assert.notEqual(server['OS-EXT-SRV-ATTR:host'], source)
    await cli(['server', 'resize', 'confirm', 'cli-rs'])
    server = await show('cli-rs')
    assert.equal(server.status, 'ACTIVE')
    assert.match(server.flavor, /^m1\.small/)

    await cli(['server', 'resize', '--flavor', 'm1.tiny', '--wait', 'cli-rs'])
    assert.equal((await show('cli-rs')).status, 'VERIFY_RESIZE')
    await cli(['server', 'resize', 'revert', 'cli-rs'])
    for (let i = 0; i < 50 && (server = await show('cli-rs')).status !== 'ACTIVE'; i++) {
      await new Promise((r) => setTimeout(r, 100))
    }
    assert.equal(server.status, 'ACTIVE')
    assert.match(server.flavor, /^m1\.small/)
  })

  it('server migrate --wait, server migration list, and confirm', async () => {
    const before = (await show('cli-rs'))['OS-EXT-SRV-ATTR:host']
    await cli(['server', 'migrate', '--wait', 'cli-rs'])
    const server = await show('cli-rs')
    assert.equal(server.status, 'VERIFY_RESIZE')
    assert.notEqual(server['OS-EXT-SRV-ATTR:host'], before)
    const list = await json([
      '--os-compute-api-version',
      '2.59',
      'server',
      'migration',
      'list',
      '--server',
      'cli-rs',
    ])
    assert.equal(list.length, 3, JSON.stringify(list))
    const newest = list[0]
    assert.equal(newest['Type'], 'migration')
    assert.equal(newest['Status'], 'finished')
    assert.equal(newest['Source Compute'], before)
    await cli(['server', 'resize', 'confirm', 'cli-rs'])
    assert.equal((await show('cli-rs')).status, 'ACTIVE')
  })

  it('server evacuate after compute service set --down rebuilds the server on another host', async () => {
    const source = (await show('cli-rs'))['OS-EXT-SRV-ATTR:host']
    await cli([
      '--os-compute-api-version',
      '2.11',
      'compute',
      'service',
      'set',
      '--down',
      source,
      'nova-compute',
    ])
    try {
      // python3-openstackclient 6.0 sends the evacuate, then reads `.id` of
      // novaclient's (resp, body) tuple: the command fails after the API
      // accepted it, against any cloud. The request itself is checked here.
      const failure = await cli(['server', 'evacuate', 'cli-rs']).then(
        () => undefined,
        (err: Error) => err.message,
      )
      if (failure !== undefined) assert.match(failure, /'TupleWithMeta' object has no attribute/)
      let server = await show('cli-rs')
      for (let i = 0; i < 100 && server.status !== 'ACTIVE'; i++) {
        await new Promise((r) => setTimeout(r, 100))
        server = await show('cli-rs')
      }
      assert.equal(server.status, 'ACTIVE')
      assert.notEqual(server['OS-EXT-SRV-ATTR:host'], source)
      const [m] = await json([
        '--os-compute-api-version',
        '2.59',
        'server',
        'migration',
        'list',
        '--type',
        'evacuation',
      ])
      assert.equal(m['Status'], 'done')
      assert.equal(m['Source Compute'], source)
    } finally {
      await cli([
        '--os-compute-api-version',
        '2.11',
        'compute',
        'service',
        'set',
        '--up',
        source,
        'nova-compute',
      ])
    }
    await cli(['server', 'delete', '--wait', 'cli-rs'])
  })
})
