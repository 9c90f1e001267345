import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, before, beforeEach, describe, it } from 'node:test'
import { migrateToLatest } from '../../../src/db/migrate.ts'
import { SYSTEM } from '../../../src/network/authz.ts'
import { DataplaneAgent } from '../../../src/network/dataplane/agent.ts'
import { CommandFailed, setCommandRunner, type RunOptions } from '../../../src/network/dataplane/exec.ts'
import { bridgeName, tapName } from '../../../src/network/dataplane/names.ts'
import { NetworkPlugin } from '../../../src/network/plugin.ts'
import { TEST_TIMEOUT_MS, useScratchDatabase } from '../db/backends.ts'

/** The kernel's smallest device MTU for a bridge (what `ip link add … mtu` refuses below). */
const KERNEL_MIN_MTU = 68
const POISON_MAC = 'fa:16:3e:de:ad:01'

interface FakeLink {
  ifname: string
  master?: string
  flags: string[]
  mtu: number
}

/**
 * A host for the agent's commands: `ip -j link show` answers the links it
 * holds, `ip link add/set` changes them, and failures come from what a
 * kernel would refuse (an MTU below 68) or from `nft` refusing a ruleset
 * that names the poison MAC — one bad resource among good ones.
 */
class FakeHost {
  readonly links = new Map<string, FakeLink>()
  readonly commands: string[] = []
  loadedRulesets: string[] = []

  run = async (cmd: string, args: readonly string[], opts: RunOptions) => {
    const line = `${cmd} ${args.join(' ')}`
    this.commands.push(line)
    const ok = (stdout = '') => ({ code: 0, stdout, stderr: '' })
    const fail = (why: string) => {
      throw new CommandFailed(`${line}: exit 2: ${why}`, { cmd, args: [...args], code: 2 })
    }
    if (cmd === 'ip' && args[0] === '-j' && args[1] === 'link')
      return ok(JSON.stringify([...this.links.values()]))
    if (cmd === 'ip' && args[0] === 'link' && args[1] === 'add') {
      const mtu = Number(args[args.indexOf('mtu') + 1])
      if (mtu < KERNEL_MIN_MTU) fail('Error: mtu less than device minimum.')
      this.links.set(args[2]!, { ifname: args[2]!, flags: [], mtu })
      return ok()
    }
    if (cmd === 'ip' && args[0] === 'link' && args[1] === 'set') {
      const link = this.links.get(args[2]!)
      if (!link) fail(`Cannot find device "${args[2]}"`)
      const master = args.indexOf('master')
      if (master >= 0) link!.master = args[master + 1]
      if (args.includes('up')) link!.flags = ['UP']
      if (args.includes('down')) link!.flags = []
      return ok()
    }
    if (cmd === 'nft') {
      if (opts.input?.includes(POISON_MAC)) fail('Error: syntax error, unexpected junk')
      if (!args.includes('-c')) this.loadedRulesets.push(opts.input ?? '')
      return ok()
    }
    return ok()
  }
}

describe('data plane agent: one failed resource never stops the others', () => {
  const db = useScratchDatabase('sqlite', (d) => migrateToLatest(d).then(() => undefined))
  let plugin: NetworkPlugin
  let host: FakeHost
  let restore: () => void
  let stateDir: string
  let agent: DataplaneAgent
  const reported = { active: [] as string[], error: [] as string[] }

  before(() => {
    plugin = new NetworkPlugin(db(), {
      defaultPhysicalNetwork: 'physnet1',
      tenantVlanMin: 100,
      tenantVlanMax: 199,
      mtu: 1500,
    })
  })

  beforeEach(() => {
    host = new FakeHost()
    restore = setCommandRunner(host.run)
    stateDir = mkdtempSync(join(tmpdir(), 'nimbus-agent-isolation-'))
    reported.active = []
    reported.error = []
    agent = new DataplaneAgent(plugin.store, {
      host: 'compute-1',
      networkNode: false,
      stateDir,
      nftTable: 'nimbus_test',
      interfaceMappings: {},
      metadataUrl: 'http://127.0.0.1:1',
      onPortsActive: async (ids) => {
        reported.active.push(...ids)
        await plugin.core.markActive(ids)
      },
      onPortsError: async (ids) => {
        reported.error.push(...ids)
        await plugin.core.markError(ids)
      },
    })
  })

  afterEach(() => {
    restore()
    rmSync(stateDir, { recursive: true, force: true })
  })
  after(() => undefined)

  /** A network with a subnet in project `p`; `mtu` is written to the store as an old row would hold it. */
  async function network(name: string, cidr: string, mtu?: number) {
    const net = await plugin.core.createNetwork(SYSTEM, { name, project_id: 'p' })
    if (mtu !== undefined) await plugin.store.update('networks', { ...net, mtu })
    await plugin.core.createSubnet(SYSTEM, {
      network_id: net.id,
      cidr,
      ip_version: 4,
      enable_dhcp: false,
      project_id: 'p',
    })
    return net
  }

  /** A guest port bound to compute-1 whose tap exists (compute made it). */
  async function guestPort(networkId: string, mac?: string) {
    const port = await plugin.core.createPort(SYSTEM, {
      network_id: networkId,
      project_id: 'p',
      device_id: 'vm',
      device_owner: 'compute:nova',
      'binding:host_id': 'compute-1',
      ...(mac ? { mac_address: mac } : {}),
    })
    host.links.set(tapName(port.id), { ifname: tapName(port.id), flags: [], mtu: 1500 })
    return port
  }

  it(
    'a network whose MTU the kernel refuses and a port whose filters do not load fail alone',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      const good = await network('good', '192.0.2.0/24')
      const bad = await network('bad', '198.51.100.0/24', -1)
      const wired = await guestPort(good.id)
      const onBad = await guestPort(bad.id)
      const poisoned = await guestPort(good.id, POISON_MAC)

      await agent.sync()

      assert.ok(host.links.has(bridgeName(good.id)), 'the good network’s bridge exists')
      assert.ok(!host.links.has(bridgeName(bad.id)))
      assert.equal(host.links.get(tapName(wired.id))!.master, bridgeName(good.id))
      assert.equal(host.loadedRulesets.length, 1, 'the ruleset of the other ports is loaded')
      const ruleset = host.loadedRulesets[0]!
      assert.ok(ruleset.includes(wired.mac_address as string))
      assert.ok(!ruleset.includes(POISON_MAC))
      assert.deepEqual(host.links.get(tapName(poisoned.id))!.flags, [], 'an unfiltered tap is held down')
      assert.deepEqual(reported.active, [wired.id])
      assert.deepEqual(reported.error.sort(), [onBad.id, poisoned.id].sort())
      assert.deepEqual(
        [...agent.failures.keys()].sort(),
        [`network:${bad.id}`, `port:${onBad.id}`, `port:${poisoned.id}`].sort(),
      )
      assert.match(agent.failures.get(`network:${bad.id}`)!, /mtu less than device minimum/)
      assert.equal((await plugin.store.get('ports', wired.id))!.status, 'ACTIVE')
      assert.equal((await plugin.store.get('ports', onBad.id))!.status, 'ERROR')
      assert.equal((await plugin.store.get('ports', poisoned.id))!.status, 'ERROR')

      // Fixing the bad network lets its port in at the next sync; the failure clears.
      await plugin.store.update('networks', { ...(await plugin.store.get('networks', bad.id))!, mtu: 1500 })
      await plugin.core.deletePort(SYSTEM, poisoned.id)
      await agent.sync()
      assert.equal(host.links.get(tapName(onBad.id))!.master, bridgeName(bad.id))
      assert.deepEqual([...agent.failures.keys()], [])
      assert.equal((await plugin.store.get('ports', onBad.id))!.status, 'ACTIVE')
      for (const p of [wired, onBad]) await plugin.core.deletePort(SYSTEM, p.id)
    },
  )
})
