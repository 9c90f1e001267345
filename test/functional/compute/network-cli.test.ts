import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { openstackCli } from './cli.ts'
import { eventually, startComputeCloud, type ComputeCloud } from './helpers.ts'

/**
 * Debian's `openstack` CLI (python3-openstackclient 6.0) for servers on
 * Neutron networks, as a user types it: `server create --network`, `server
 * add/remove security group`, `server add/remove port` (os-interface) and
 * `port list --server`. Fails without the CLI: it is the compatibility check.
 */
const SUITE_TIMEOUT_MS = 900_000

describe('openstack CLI: servers on Neutron networks', { timeout: SUITE_TIMEOUT_MS }, () => {
  let cloud: ComputeCloud

  const { cli, json } = openstackCli(() => cloud)

  before(async () => {
    cloud = await startComputeCloud({ hosts: 2 })
    await cli(['network', 'create', 'net1'])
    await cli(['subnet', 'create', '--network', 'net1', '--subnet-range', '192.0.2.0/24', 'sub1'])
  })
  after(() => cloud?.stop())

  it('server create --network --wait shows the address; security groups; ports added and removed', async () => {
    const created = await json([
      'server',
      'create',
      '--flavor',
      'm1.tiny',
      '--image',
      cloud.imageId,
      '--network',
      'net1',
      '--wait',
      'vm1',
    ])
    assert.equal(created.status, 'ACTIVE')
    const shown = await json(['server', 'show', 'vm1'])
    assert.match(JSON.stringify(shown.addresses), /net1.*192\.0\.2\.\d+/)
    const ports = await json(['port', 'list', '--server', 'vm1'])
    assert.equal(ports.length, 1)
    assert.match(JSON.stringify(ports[0]['Fixed IP Addresses']), /192\.0\.2\./)

    await cli(['security', 'group', 'create', 'web'])
    await cli(['server', 'add', 'security', 'group', 'vm1', 'web'])
    const withWeb = await json(['server', 'show', 'vm1'])
    assert.match(JSON.stringify(withWeb.security_groups), /web/)
    const port = await json(['port', 'show', ports[0].ID])
    assert.equal(port.security_group_ids.length, 2)
    await cli(['server', 'remove', 'security', 'group', 'vm1', 'web'])
    assert.equal((await json(['port', 'show', ports[0].ID])).security_group_ids.length, 1)

    const extra = await json(['port', 'create', '--network', 'net1', 'extra'])
    await cli(['server', 'add', 'port', 'vm1', 'extra'])
    const two = await json(['port', 'list', '--server', 'vm1'])
    assert.deepEqual(two.map((p: { ID: string }) => p.ID).sort(), [ports[0].ID, extra.id].sort())
    const interfaces = await cloud.admin.nova('GET', `/servers/${created.id}/os-interface`)
    assert.equal(interfaces.body.interfaceAttachments.length, 2)
    await cli(['server', 'remove', 'port', 'vm1', 'extra'])
    await eventually(async () => {
      const left = await json(['port', 'list', '--server', 'vm1'])
      return left.length === 1 ? true : undefined
    }, 'the port detached')
    assert.equal((await json(['port', 'show', 'extra'])).device_id, '')

    await cli(['server', 'delete', '--wait', 'vm1'])
    assert.deepEqual(await json(['port', 'list', '--device-id', created.id]), [])
  })
})
