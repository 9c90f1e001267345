import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { openstackCli } from './cli.ts'
import { startComputeCloud, WAIT_TIMEOUT_MS, type ComputeCloud } from './helpers.ts'

/**
 * Debian's `openstack` CLI (python3-openstackclient 6.0) for each server
 * action: one command per action, then the server's state through the API
 * (the CLI's own `--wait` polls every 5 s). Without the CLI on PATH the
 * suite fails: it is the compatibility check.
 */
const SUITE_TIMEOUT_MS = 900_000
const POLL_MS = 20

describe('openstack CLI: server actions', { timeout: SUITE_TIMEOUT_MS }, () => {
  let cloud: ComputeCloud
  let serverId: string

  const shell = openstackCli(() => cloud)
  const cli = (args: readonly string[], apiVersion = '2.45'): Promise<string> => shell.cli(args, apiVersion)

  /** The server once no task runs on it. */
  async function settled(): Promise<any> {
    const deadline = Date.now() + WAIT_TIMEOUT_MS
    for (;;) {
      const server = (await cloud.admin.nova('GET', `/servers/${serverId}`)).body.server
      if (server['OS-EXT-STS:task_state'] === null) return server
      if (Date.now() > deadline) throw new Error(`server still ${server['OS-EXT-STS:task_state']}`)
      await sleep(POLL_MS)
    }
  }

  async function expectStatus(args: readonly string[], status: string, apiVersion?: string): Promise<any> {
    await cli(args, apiVersion)
    const server = await settled()
    assert.equal(server.status, status, args.join(' '))
    return server
  }

  before(async () => {
    cloud = await startComputeCloud({ hosts: 2 })
    serverId = await cloud.admin.createServer({
      name: 'cli-actions',
      imageRef: cloud.imageId,
      flavorRef: '1',
    })
    await cloud.admin.waitStatus(serverId)
  })
  after(() => cloud?.stop())

  it('server reboot (soft and hard), stop, start', async () => {
    await expectStatus(['server', 'reboot', '--soft', serverId], 'ACTIVE')
    await expectStatus(['server', 'reboot', '--hard', serverId], 'ACTIVE')
    await expectStatus(['server', 'stop', serverId], 'SHUTOFF')
    await expectStatus(['server', 'start', serverId], 'ACTIVE')
  })

  it('server pause, unpause, suspend, resume', async () => {
    await expectStatus(['server', 'pause', serverId], 'PAUSED')
    await expectStatus(['server', 'unpause', serverId], 'ACTIVE')
    await expectStatus(['server', 'suspend', serverId], 'SUSPENDED')
    await expectStatus(['server', 'resume', serverId], 'ACTIVE')
  })

  it('server rescue (with a password) and unrescue', async () => {
    await expectStatus(['server', 'rescue', '--password', 'cli-rescue', serverId], 'RESCUE')
    await expectStatus(['server', 'unrescue', serverId], 'ACTIVE')
  })

  it('server rebuild with an image and a name', async () => {
    const out = JSON.parse(
      await cli([
        'server',
        'rebuild',
        '--image',
        cloud.imageId,
        '--name',
        'cli-rebuilt',
        '-f',
        'json',
        serverId,
      ]),
    )
    assert.equal(out.name, 'cli-rebuilt')
    assert.ok(out.adminPass, 'rebuild shows the new admin password')
    const server = await settled()
    assert.equal(server.status, 'ACTIVE')
    assert.equal(server.name, 'cli-rebuilt')
  })

  it('server image create makes an active snapshot', async () => {
    const image = JSON.parse(
      await cli(['server', 'image', 'create', '--name', 'cli-snap', '-f', 'json', serverId]),
    )
    assert.equal(image.name, 'cli-snap')
    await settled()
    const shown = JSON.parse(await cli(['image', 'show', '-f', 'json', image.id]))
    assert.equal(shown.status, 'active')
    assert.match(JSON.stringify(shown.properties), /"image_type": ?"snapshot"/)
  })

  it('console log show --lines', async () => {
    const all = await cli(['console', 'log', 'show', serverId])
    assert.match(all, /login:/)
    const last = await cli(['console', 'log', 'show', '--lines', '3', serverId])
    // Nova's tail: the log split on newlines, last 3 pieces (the log ends with one, so 2 lines).
    const api = await cloud.admin.nova('POST', `/servers/${serverId}/action`, {
      'os-getConsoleOutput': { length: 3 },
    })
    assert.equal(api.body.output.split('\n').length, 3)
    assert.equal(last.trimEnd(), api.body.output.trimEnd())
    assert.ok(all.trimEnd().endsWith(last.trimEnd()))
  })

  it('server shelve and unshelve', async () => {
    await expectStatus(['server', 'shelve', serverId], 'SHELVED_OFFLOADED')
    await expectStatus(['server', 'unshelve', serverId], 'ACTIVE')
    const server = (await cloud.admin.nova('GET', `/servers/${serverId}`)).body.server
    assert.ok(server['OS-EXT-SRV-ATTR:host'], 'unshelved onto a host')
  })
})
