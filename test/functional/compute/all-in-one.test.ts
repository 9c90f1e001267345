import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { openstackCli } from './cli.ts'
import { eventually, startComputeCloud, type ComputeCloud } from './helpers.ts'

/**
 * The all-in-one cloud (`nimbus up`: the compute API and one compute host in
 * one process) turns allow_resize_to_same_host and allow_migrate_to_same_host
 * on, as devstack does: a resize or a cold migration stays on the only host
 * and reaches VERIFY_RESIZE, and confirm / revert end it. Driven with Debian's
 * `openstack` CLI as the acceptance says; fails if the CLI is missing.
 */
const SUITE_TIMEOUT_MS = 600_000

describe('all-in-one: moves stay on the one host', { timeout: SUITE_TIMEOUT_MS }, () => {
  let cloud: ComputeCloud
  const { cli, json } = openstackCli(() => cloud)
  const show = (name: string) => json(['server', 'show', name])

  before(async () => {
    cloud = await startComputeCloud({ hosts: 1 })
  })
  after(() => cloud?.stop())

  it('openstack server resize --flavor m1.small → VERIFY_RESIZE → resize confirm → ACTIVE with m1.small', async () => {
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
      'aio-vm',
    ])
    const host = (await show('aio-vm'))['OS-EXT-SRV-ATTR:host']
    await cli(['server', 'resize', '--flavor', 'm1.small', '--wait', 'aio-vm'])
    let server = await show('aio-vm')
    assert.equal(server.status, 'VERIFY_RESIZE')
    assert.match(server.flavor, /^m1\.small/)
    assert.equal(server['OS-EXT-SRV-ATTR:host'], host)
    await cli(['server', 'resize', 'confirm', 'aio-vm'])
    server = await show('aio-vm')
    assert.equal(server.status, 'ACTIVE')
    assert.match(server.flavor, /^m1\.small/)
    const tracker = cloud.compute().hosts[0]!.tracker
    await eventually(
      async () => (tracker.reports()[0]!.memoryMbUsed === 512 + 2048 ? true : undefined),
      'only m1.small claimed after confirm (512 MB reserved + 2048 MB)',
    )
  })

  it('resize then revert comes back to the old flavor on the same host', async () => {
    await cli(['server', 'resize', '--flavor', 'm1.tiny', '--wait', 'aio-vm'])
    assert.equal((await show('aio-vm')).status, 'VERIFY_RESIZE')
    await cli(['server', 'resize', 'revert', 'aio-vm'])
    const server = await eventually(async () => {
      const s = await show('aio-vm')
      return s.status === 'ACTIVE' ? s : undefined
    }, 'ACTIVE after revert')
    assert.match(server.flavor, /^m1\.small/)
  })

  it('openstack server migrate stays on the host (allow_migrate_to_same_host) and confirms', async () => {
    const host = (await show('aio-vm'))['OS-EXT-SRV-ATTR:host']
    await cli(['server', 'migrate', '--wait', 'aio-vm'])
    const server = await show('aio-vm')
    assert.equal(server.status, 'VERIFY_RESIZE')
    assert.equal(server['OS-EXT-SRV-ATTR:host'], host)
    await cli(['server', 'resize', 'confirm', 'aio-vm'])
    assert.equal((await show('aio-vm')).status, 'ACTIVE')
    await cli(['server', 'delete', '--wait', 'aio-vm'])
  })
})
