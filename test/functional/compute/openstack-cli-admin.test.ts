import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { openstackCli } from './cli.ts'
import { startComputeCloud, type ComputeCloud } from './helpers.ts'

/**
 * Debian's `openstack` CLI (python3-openstackclient 6.0) for server groups,
 * server properties, aggregates, compute services and usage. Without the CLI
 * on PATH the suite fails: it is the compatibility check.
 */
const SUITE_TIMEOUT_MS = 900_000

describe(
  'openstack CLI: server groups, properties, aggregates, services, usage',
  { timeout: SUITE_TIMEOUT_MS },
  () => {
    let cloud: ComputeCloud

    const { cli, json } = openstackCli(() => cloud)
    const boot = (name: string, extra: readonly string[] = []) =>
      json([
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
        ...extra,
        name,
      ])
    /** The CLI's JSON shows `Servers` as the server usages (a list) or their count. */
    const count = (servers: unknown) => (Array.isArray(servers) ? servers.length : Number(servers))
    const waitActive = async (id: string) => (await cloud.admin.waitStatus(id)).status as string
    const hostOf = async (id: string) =>
      (await cloud.admin.nova('GET', `/servers/${id}`)).body.server['OS-EXT-SRV-ATTR:host'] as string

    before(async () => {
      cloud = await startComputeCloud({ hosts: 2 })
    })
    after(() => cloud?.stop())

    it('server group create --policy anti-affinity; server create --hint group= lands on different hosts', async () => {
      const group = await json(['server', 'group', 'create', '--policy', 'anti-affinity', 'cli-anti'])
      assert.equal(group.name, 'cli-anti')
      assert.match(String(group.policies ?? group.policy), /anti-affinity/)
      const a = await boot('cli-ga', ['--hint', `group=${group.id}`])
      const b = await boot('cli-gb', ['--hint', `group=${group.id}`])
      assert.equal(await waitActive(a.id), 'ACTIVE')
      assert.equal(await waitActive(b.id), 'ACTIVE')
      assert.notEqual(await hostOf(a.id), await hostOf(b.id))
      const shown = await json(['server', 'group', 'show', 'cli-anti'])
      assert.match(String(shown.members), new RegExp(a.id))
      assert.match(String(shown.members), new RegExp(b.id))
      const listed = await json(['server', 'group', 'list'])
      assert.ok(listed.some((g: { Name: string }) => g.Name === 'cli-anti'))
      const v264 = await json([
        '--os-compute-api-version',
        '2.64',
        'server',
        'group',
        'create',
        '--policy',
        'soft-affinity',
        'cli-soft',
      ])
      assert.equal(v264.policy, 'soft-affinity')
      await cli(['server', 'delete', '--wait', a.id, b.id])
      await cli(['server', 'group', 'delete', 'cli-anti', 'cli-soft'])
      assert.deepEqual(
        (await json(['server', 'group', 'list'])).filter((g: { Name: string }) => g.Name.startsWith('cli-')),
        [],
      )
    })

    it('server set --property and server unset --property', async () => {
      const s = await boot('cli-props')
      assert.equal(await waitActive(s.id), 'ACTIVE')
      await cli(['server', 'set', '--property', 'color=blue', '--property', 'size=xl', s.id])
      let shown = await json(['server', 'show', s.id])
      assert.deepEqual(shown.properties, { color: 'blue', size: 'xl' })
      await cli(['server', 'unset', '--property', 'color', s.id])
      shown = await json(['server', 'show', s.id])
      assert.deepEqual(shown.properties, { size: 'xl' })
      await cli(['server', 'delete', '--wait', s.id])
    })

    it('aggregate create --zone, add host, set --property, show, remove host, delete', async () => {
      const hosts = (await json(['compute', 'service', 'list', '--service', 'nova-compute']))
        .map((s: { Host: string }) => s.Host)
        .sort()
      const agg = await json(['aggregate', 'create', '--zone', 'cli-az', 'cli-agg'])
      assert.equal(agg.name, 'cli-agg')
      assert.equal(agg.availability_zone, 'cli-az')
      const added = await json(['aggregate', 'add', 'host', 'cli-agg', hosts[0]])
      assert.match(String(added.hosts), new RegExp(hosts[0]))
      await cli(['aggregate', 'set', '--property', 'ssd=true', 'cli-agg'])
      const shown = await json(['aggregate', 'show', 'cli-agg'])
      assert.equal(shown.properties.ssd, 'true', JSON.stringify(shown))
      const zones = await json(['availability', 'zone', 'list', '--compute'])
      assert.ok(zones.some((z: { 'Zone Name': string }) => z['Zone Name'] === 'cli-az'))
      const s = await boot('cli-in-az', ['--availability-zone', 'cli-az'])
      assert.equal(await waitActive(s.id), 'ACTIVE')
      assert.equal(await hostOf(s.id), hosts[0])
      await cli(['server', 'delete', '--wait', s.id])
      await cli(['aggregate', 'remove', 'host', 'cli-agg', hosts[0]])
      await cli(['aggregate', 'delete', 'cli-agg'])
      assert.deepEqual(await json(['aggregate', 'list']), [])
    })

    it('compute service set --disable --disable-reason keeps the scheduler off the host', async () => {
      const hosts = (await json(['compute', 'service', 'list', '--service', 'nova-compute']))
        .map((s: { Host: string }) => s.Host)
        .sort()
      await cli([
        'compute',
        'service',
        'set',
        '--disable',
        '--disable-reason',
        'maintenance window',
        hosts[1],
        'nova-compute',
      ])
      const listed = await json(['compute', 'service', 'list', '--service', 'nova-compute', '--long'])
      const disabled = listed.find((s: { Host: string }) => s.Host === hosts[1])
      assert.equal(disabled.Status, 'disabled')
      assert.equal(disabled['Disabled Reason'], 'maintenance window')
      const ids: string[] = []
      for (let i = 0; i < 3; i++) ids.push((await boot(`cli-svc-${i}`)).id)
      for (const id of ids) {
        assert.equal(await waitActive(id), 'ACTIVE')
        assert.equal(await hostOf(id), hosts[0])
      }
      await cli(['compute', 'service', 'set', '--enable', hosts[1], 'nova-compute'])
      const enabled = (await json(['compute', 'service', 'list', '--service', 'nova-compute'])).find(
        (s: { Host: string }) => s.Host === hosts[1],
      )
      assert.equal(enabled.Status, 'enabled')
      await cli(['server', 'delete', '--wait', ...ids])
    })

    it('usage list and usage show', async () => {
      const s = await boot('cli-usage')
      assert.equal(await waitActive(s.id), 'ACTIVE')
      const usage = await json(['usage', 'list'])
      const mine = usage.find(
        (u: { Project: string }) => u.Project === 'admin' || u.Project === cloud.admin.projectId,
      )
      assert.ok(mine, JSON.stringify(usage))
      assert.ok(count(mine.Servers) >= 1, JSON.stringify(mine))
      const shown = await json(['usage', 'show'])
      assert.ok(count(shown.Servers) >= 1, JSON.stringify(shown))
      await cli(['server', 'delete', '--wait', s.id])
    })
  },
)
