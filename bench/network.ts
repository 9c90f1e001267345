/**
 * Network data plane benchmark (root): the whole cloud in this process
 * with the data plane working in a namespace that stands in for the host.
 *  - port create + bind + rules applied: API create, tap appears, API bind,
 *    until the port is ACTIVE (its tap on the bridge and its filters loaded);
 *  - rule-change propagation: API rule create until the rule is in the kernel;
 *  - rules for 500 ports on one host: one full sync, and one nft load alone.
 * Run: node --import tsx bench/network.ts   (npm run bench:network)
 */
import { performance } from 'node:perf_hooks'
import { setLogLevel } from '../src/common/log.ts'
import { run } from '../src/network/dataplane/exec.ts'
import { tapName } from '../src/network/dataplane/names.ts'
import { renderRuleset } from '../src/network/dataplane/nft.ts'
import { planHost } from '../src/network/dataplane/state.ts'
import type { NetworkService } from '../src/network/service.ts'
import { startTestCloud } from '../test/functional/harness.ts'
import { Neutron } from '../test/functional/network/client.ts'
import { Topology } from '../test/e2e/network/topology.ts'

const HOST = 'bench-host'
const NFT_TABLE = 'nimbusbench'
const BIND_SAMPLES = 30
const RULE_SAMPLES = 30
const MANY_PORTS = 500
const POLL_MS = 2
const WAIT_BOUND_MS = 10_000
/** What the design promises (docs/network.md). */
const TARGETS = { bindP50Ms: 500, ruleP50Ms: 1_000, manyPortsSyncMs: 5_000 } as const

const p = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))]!

async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_BOUND_MS
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/network.ts needs root (bridges, nftables, namespaces)')
  setLogLevel('error')
  const topo = new Topology()
  await topo.create()
  const tc = await startTestCloud({
    services: ['identity', 'network'],
    config: {
      'DEFAULT.host': HOST,
      'network.dataplane': 'true',
      'network.host_namespace': topo.hostNs,
      'network.nft_table': NFT_TABLE,
    },
  })
  const service = tc.cloud.service<NetworkService>('network')
  try {
    const api = await Neutron.connect(tc)
    const net = await api.create('networks', 'network', { name: 'bench' })
    await api.create('subnets', 'subnet', {
      network_id: net.id,
      cidr: '198.51.100.0/22',
      ip_version: 4,
      enable_dhcp: false,
    })
    await api.ok(
      'PUT',
      `/v2.0/quotas/${net.project_id as string}`,
      { quota: { port: -1, security_group_rule: -1 } },
      200,
    )

    const bind: number[] = []
    for (let i = 0; i < BIND_SAMPLES; i++) {
      const t0 = performance.now()
      const port = await api.create('ports', 'port', { network_id: net.id })
      await run('ip', [
        '-n',
        topo.hostNs,
        'link',
        'add',
        tapName(port.id),
        'type',
        'veth',
        'peer',
        'name',
        `pb${i}`,
      ])
      await api.ok(
        'PUT',
        `/v2.0/ports/${port.id}`,
        { port: { 'binding:host_id': HOST, device_id: `vm-${i}`, device_owner: 'compute:nova' } },
        200,
      )
      await until(
        async () => (await api.ok('GET', `/v2.0/ports/${port.id}`, undefined, 200)).port.status === 'ACTIVE',
      )
      bind.push(performance.now() - t0)
    }

    const { security_groups: groups } = await api.ok('GET', '/v2.0/security-groups', undefined, 200)
    const def = groups.find((g: { name: string }) => g.name === 'default')
    const propagation: number[] = []
    for (let i = 0; i < RULE_SAMPLES; i++) {
      const t0 = performance.now()
      const rule = await api.create('security-group-rules', 'security_group_rule', {
        security_group_id: def.id,
        direction: 'ingress',
        protocol: 'tcp',
        port_range_min: 10_000 + i,
        port_range_max: 10_000 + i,
      })
      await until(async () => {
        const { stdout } = await run('ip', [
          'netns',
          'exec',
          topo.hostNs,
          'nft',
          'list',
          'table',
          'inet',
          NFT_TABLE,
        ])
        return stdout.includes(rule.id)
      })
      propagation.push(performance.now() - t0)
    }

    const ports = await api.ok(
      'POST',
      '/v2.0/ports',
      {
        ports: Array.from({ length: MANY_PORTS - BIND_SAMPLES }, (_, i) => ({
          network_id: net.id,
          'binding:host_id': HOST,
          device_id: `many-${i}`,
          device_owner: 'compute:nova',
        })),
      },
      201,
    )
    const agent = service.agent!
    const t0 = performance.now()
    await agent.sync()
    const syncMs = performance.now() - t0
    const plan = await planHost(service.plugin.store, { host: HOST, networkNode: true })
    const script = renderRuleset(NFT_TABLE, plan)
    const t1 = performance.now()
    await run('ip', ['netns', 'exec', topo.hostNs, 'nft', '-f', '-'], { input: script })
    const nftMs = performance.now() - t1

    const result = {
      bench: 'network',
      portCreateBindApplied: {
        samples: bind.length,
        p50Ms: round(p(bind, 0.5)),
        p99Ms: round(p(bind, 0.99)),
        targetP50Ms: TARGETS.bindP50Ms,
      },
      ruleChangePropagation: {
        samples: propagation.length,
        p50Ms: round(p(propagation, 0.5)),
        p99Ms: round(p(propagation, 0.99)),
        targetP50Ms: TARGETS.ruleP50Ms,
      },
      rulesFor500Ports: {
        ports: plan.ports.length,
        fullSyncMs: round(syncMs),
        nftLoadMs: round(nftMs),
        rulesetBytes: script.length,
        targetSyncMs: TARGETS.manyPortsSyncMs,
      },
    }
    console.log(JSON.stringify(result, null, 2))
    void ports
    const ok =
      result.portCreateBindApplied.p50Ms <= TARGETS.bindP50Ms &&
      result.ruleChangePropagation.p50Ms <= TARGETS.ruleP50Ms &&
      result.rulesFor500Ports.fullSyncMs <= TARGETS.manyPortsSyncMs
    process.exitCode = ok ? 0 : 1
  } finally {
    await service.agent?.teardown()
    await tc.stop()
    await topo.destroy()
  }
}

const round = (x: number) => Math.round(x * 10) / 10

await main()
