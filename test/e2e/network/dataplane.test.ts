import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { run } from '../../../src/network/dataplane/exec.ts'
import { bridgeName, DHCP_NETNS_PREFIX, routerNetns, tapName } from '../../../src/network/dataplane/names.ts'
import type { NetworkService } from '../../../src/network/service.ts'
import { startTestCloud, type TestCloud } from '../../functional/harness.ts'
import { Neutron } from '../../functional/network/client.ts'
import { BLOCKED_TIMEOUT_MS, dnsmasqPids, netnsList, pidsMentioning, Topology } from './topology.ts'

/**
 * The data plane against the real kernel, as root: bridges, nftables,
 * dnsmasq and router namespaces, with guests played by namespaces.
 * "Within 1 s" is Nimbus's propagation promise for API changes.
 */
const PROPAGATION_MS = 1_000
const HOST = 'e2e-host'
const NFT_TABLE = 'nimbustest'
const WEB_PORT = 8080
const TALK_PORT = 7000

describe(
  'network data plane (root, namespaces)',
  { skip: process.getuid?.() !== 0 ? 'needs root' : false },
  () => {
    const topo = new Topology()
    let tc: TestCloud
    let api: Neutron
    let agentDir: string
    const ids: Record<string, any> = {}

    before(async () => {
      await topo.create()
      tc = await startTestCloud({
        services: ['identity', 'network', 'metadata'],
        config: {
          'DEFAULT.host': HOST,
          'network.dataplane': 'true',
          'network.host_namespace': topo.hostNs,
          'network.nft_table': NFT_TABLE,
        },
      })
      api = await Neutron.connect(tc)
      // The metadata service listens on a free port in tests: point the relay at it.
      agent()!.metadataUrl = tc.endpoint('metadata').url
      agentDir = `${tc.stateDir}/network/${HOST}`
    })

    after(async () => {
      try {
        await agent()?.teardown()
      } finally {
        await tc?.stop()
        await topo.destroy()
      }
    })

    const agent = () => tc?.cloud.service<NetworkService>('network').agent

    /** True when the router's namespace NATs the floating address. */
    async function natInKernel(routerId: string, address: string): Promise<boolean> {
      const { stdout } = await run('ip', [
        'netns',
        'exec',
        routerNetns(routerId),
        'nft',
        'list',
        'table',
        'ip',
        'nimbus',
      ])
      return stdout.includes(address)
    }

    /** True when the host's nft table holds the rule (rules carry their id as a comment). */
    async function ruleInKernel(ruleId: string): Promise<boolean> {
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
      return stdout.includes(ruleId)
    }

    async function port(networkId: string, attrs: Record<string, unknown> = {}) {
      return api.create('ports', 'port', { network_id: networkId, ...attrs })
    }

    /** Plugs a port into a new guest namespace, binds it to this host and waits until ACTIVE. */
    async function plug(name: string, p: any, prefixLen: number, gateway?: string): Promise<string> {
      const ns = await topo.guest(
        name,
        tapName(p.id),
        p.mac_address,
        `${p.fixed_ips[0].ip_address}/${prefixLen}`,
        gateway,
      )
      await api.ok(
        'PUT',
        `/v2.0/ports/${p.id}`,
        { port: { 'binding:host_id': HOST, device_owner: 'compute:nova', device_id: name } },
        200,
      )
      await topo.until(
        async () => (await api.ok('GET', `/v2.0/ports/${p.id}`, undefined, 200)).port.status === 'ACTIVE',
        PROPAGATION_MS * 3,
      )
      return ns
    }

    it('builds the tenant network: two guests on it talk', async () => {
      const net = await api.create('networks', 'network', { name: 'tenant' })
      const sub = await api.create('subnets', 'subnet', {
        network_id: net.id,
        cidr: '192.0.2.0/24',
        ip_version: 4,
      })
      Object.assign(ids, { net, sub })
      ids.p1 = await port(net.id)
      ids.p2 = await port(net.id)
      ids.g1 = await plug('g1', ids.p1, 24, '192.0.2.1')
      ids.g2 = await plug('g2', ids.p2, 24, '192.0.2.1')
      const { stdout } = await run('ip', [
        '-n',
        topo.hostNs,
        '-j',
        'link',
        'show',
        'master',
        bridgeName(net.id),
      ])
      const onBridge = (JSON.parse(stdout) as { ifname: string }[]).map((l) => l.ifname)
      assert.ok(
        onBridge.includes(tapName(ids.p1.id)) && onBridge.includes(tapName(ids.p2.id)),
        onBridge.join(','),
      )
      // The host takes no part in the tenant network: no IPv6 address on the bridge or the taps.
      const v6 = await run('ip', ['-n', topo.hostNs, '-j', '-6', 'addr', 'show'])
      const withV6 = (JSON.parse(v6.stdout) as { ifname: string; addr_info: unknown[] }[])
        .filter((l) => l.addr_info.length > 0 && [bridgeName(net.id), ...onBridge].includes(l.ifname))
        .map((l) => l.ifname)
      assert.deepEqual(withV6, [])
      await topo.listen(ids.g2, TALK_PORT)
      // The default group lets members of the group reach each other.
      assert.ok(await topo.connects(ids.g1, ids.p2.fixed_ips[0].ip_address, TALK_PORT))
    })

    it('runs dnsmasq for the network with static entries only', async () => {
      const pids = await dnsmasqPids(agentDir)
      assert.equal(pids.length, 1)
      const { readFileSync } = await import('node:fs')
      const hosts = readFileSync(`${agentDir}/dhcp/${ids.net.id}/host`, 'utf8')
      assert.match(
        hosts,
        new RegExp(`${ids.p1.mac_address},host-192-0-2-\\d+,${ids.p1.fixed_ips[0].ip_address}`),
      )
      const args = readFileSync(`/proc/${pids[0]}/cmdline`, 'utf8').split('\0')
      assert.ok(
        args.some((a) => /^--dhcp-range=.*,static,/.test(a)),
        args.join(' '),
      )
    })

    it('answers DHCP with the port’s address (busybox udhcpc in the guest)', async () => {
      // scripts/setup-host.sh installs busybox-static: without it this test fails, it does not skip.
      await run('busybox', ['true']).catch(() =>
        assert.fail('busybox is not installed: apt-get install busybox-static (scripts/setup-host.sh does)'),
      )
      const { stdout, stderr } = await run('ip', [
        'netns',
        'exec',
        ids.g2,
        'busybox',
        'udhcpc',
        '-i',
        'eth0',
        '-n',
        '-q',
        '-t',
        '3',
        '-T',
        '1',
        '-s',
        '/bin/true',
      ])
      assert.match(
        `${stdout}${stderr}`,
        new RegExp(`lease of ${ids.p2.fixed_ips[0].ip_address.replace(/\./g, '\\.')} obtained`),
      )
    })

    it('keeps guests on two unrouted networks apart', async () => {
      const other = await api.create('networks', 'network', { name: 'other' })
      await api.create('subnets', 'subnet', {
        network_id: other.id,
        cidr: '198.51.100.0/24',
        ip_version: 4,
        enable_dhcp: false,
      })
      const p3 = await port(other.id)
      const g3 = await plug('g3', p3, 24)
      await topo.listen(g3, TALK_PORT)
      // Same addresses family, no router between them: nothing gets through either way.
      assert.equal(
        await topo.connects(ids.g1, p3.fixed_ips[0].ip_address, TALK_PORT, BLOCKED_TIMEOUT_MS),
        false,
      )
      assert.equal(
        await topo.connects(g3, ids.p2.fixed_ips[0].ip_address, TALK_PORT, BLOCKED_TIMEOUT_MS),
        false,
      )
    })

    it('opens a port when a rule is added and closes it when the rule is removed, within 1 s', async () => {
      const web = await api.create('security-groups', 'security_group', { name: 'web' })
      ids.web = web
      ids.p4 = await port(ids.net.id, { security_groups: [web.id] })
      ids.g4 = await plug('g4', ids.p4, 24, '192.0.2.1')
      await topo.listen(ids.g4, WEB_PORT)
      const target = ids.p4.fixed_ips[0].ip_address
      assert.equal(await topo.connects(ids.g1, target, WEB_PORT, BLOCKED_TIMEOUT_MS), false)
      const rule = await api.create('security-group-rules', 'security_group_rule', {
        security_group_id: web.id,
        direction: 'ingress',
        protocol: 'tcp',
        port_range_min: WEB_PORT,
        port_range_max: WEB_PORT,
        remote_ip_prefix: '0.0.0.0/0',
      })
      ids.rule = rule
      // In the kernel within 1 s of the API answering; then the port is open.
      await topo.until(() => ruleInKernel(rule.id), PROPAGATION_MS)
      assert.ok(await topo.connects(ids.g1, target, WEB_PORT))
      await api.ok('DELETE', `/v2.0/security-group-rules/${rule.id}`, undefined, 204)
      await topo.until(async () => !(await ruleInKernel(rule.id)), PROPAGATION_MS)
      assert.equal(await topo.connects(ids.g1, target, WEB_PORT, BLOCKED_TIMEOUT_MS), false)
    })

    it('drops a guest that spoofs another guest’s IP or MAC', async () => {
      const victim = ids.p2.fixed_ips[0].ip_address
      assert.ok(await topo.connects(ids.g1, victim, TALK_PORT))
      // g1 claims g4's address as a second IP and sends from it.
      const stolen = ids.p4.fixed_ips[0].ip_address
      await run('ip', ['-n', ids.g1, 'addr', 'add', `${stolen}/32`, 'dev', 'eth0'])
      assert.equal(await topo.connects(ids.g1, victim, TALK_PORT, BLOCKED_TIMEOUT_MS, stolen), false)
      await run('ip', ['-n', ids.g1, 'addr', 'del', `${stolen}/32`, 'dev', 'eth0'])
      // g1 takes another MAC: every frame it sends is dropped.
      await run('ip', ['-n', ids.g1, 'link', 'set', 'eth0', 'address', 'fa:16:3e:66:66:66'])
      assert.equal(await topo.connects(ids.g1, victim, TALK_PORT, BLOCKED_TIMEOUT_MS), false)
      await run('ip', ['-n', ids.g1, 'link', 'set', 'eth0', 'address', ids.p1.mac_address])
      await topo.until(() => topo.connects(ids.g1, victim, TALK_PORT, 300), PROPAGATION_MS * 3)
    })

    it('a port with admin_state_up false passes nothing and is DOWN; set up again, it talks', async () => {
      const victim = ids.p2.fixed_ips[0].ip_address
      assert.ok(await topo.connects(ids.g1, victim, TALK_PORT))
      await api.ok('PUT', `/v2.0/ports/${ids.p2.id}`, { port: { admin_state_up: false } }, 200)
      await topo.until(async () => !(await topo.connects(ids.g1, victim, TALK_PORT, 300)), PROPAGATION_MS * 3)
      const status = async () => (await api.ok('GET', `/v2.0/ports/${ids.p2.id}`, undefined, 200)).port.status
      // The status is written at the end of the sync that took the tap down.
      await topo.until(async () => (await status()) === 'DOWN', PROPAGATION_MS)
      await api.ok('PUT', `/v2.0/ports/${ids.p2.id}`, { port: { admin_state_up: true } }, 200)
      await topo.until(() => topo.connects(ids.g1, victim, TALK_PORT, 300), PROPAGATION_MS * 3)
      await topo.until(async () => (await status()) === 'ACTIVE', PROPAGATION_MS)
    })

    it('reaches a guest from outside through its floating IP only when its group allows', async () => {
      const ext = await api.create('networks', 'network', {
        name: 'public',
        'router:external': true,
        'provider:network_type': 'flat',
        'provider:physical_network': 'public',
      })
      await api.create('subnets', 'subnet', {
        network_id: ext.id,
        cidr: '203.0.113.0/24',
        ip_version: 4,
        gateway_ip: '203.0.113.1',
        enable_dhcp: false,
      })
      const router = await api.create('routers', 'router', {
        name: 'r1',
        external_gateway_info: { network_id: ext.id },
      })
      await api.ok('PUT', `/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: ids.sub.id }, 200)
      const fip = await api.create('floatingips', 'floatingip', {
        floating_network_id: ext.id,
        port_id: ids.p4.id,
      })
      Object.assign(ids, { ext, router, fip })
      await topo.until(
        async () =>
          await run('ip', ['-n', topo.hostNs, 'link', 'show', bridgeName(ext.id)]).then(
            () => true,
            () => false,
          ),
        PROPAGATION_MS * 3, // a new router: namespace, veths, NAT and proxy
      )
      const outside = await topo.external('outside', bridgeName(ext.id), '203.0.113.1/24')
      const address = fip.floating_ip_address as string
      assert.equal(await topo.connects(outside, address, WEB_PORT, BLOCKED_TIMEOUT_MS), false)
      const rule = await api.create('security-group-rules', 'security_group_rule', {
        security_group_id: ids.web.id,
        direction: 'ingress',
        protocol: 'tcp',
        port_range_min: WEB_PORT,
        port_range_max: WEB_PORT,
        remote_ip_prefix: '203.0.113.0/24',
      })
      await topo.until(() => ruleInKernel(rule.id), PROPAGATION_MS)
      assert.ok(await topo.connects(outside, address, WEB_PORT))
      // Disassociated, the address answers nothing.
      await api.ok('PUT', `/v2.0/floatingips/${fip.id}`, { floatingip: { port_id: null } }, 200)
      await topo.until(async () => !(await natInKernel(router.id, address)), PROPAGATION_MS)
      assert.equal(await topo.connects(outside, address, WEB_PORT, BLOCKED_TIMEOUT_MS), false)
    })

    it('relays a guest’s request to 169.254.169.254 to the metadata service', async () => {
      const direct = await fetch(`${tc.endpoint('metadata').url}/`)
      const expected = await direct.text()
      const answer = await topo.get(ids.g1, 'http://169.254.169.254/')
      assert.equal(answer, `${direct.status} ${expected.trim()}`)
    })

    it('leaves nothing behind once everything is deleted', async () => {
      // Another cloud's bridge and veth on this host (same prefixes, another state directory): never ours to remove.
      const foreign = ['nb-f0f0f0f0f0f0', 'nd-f0f0f0f0f0f0']
      await run('ip', ['-n', topo.hostNs, 'link', 'add', foreign[0]!, 'type', 'bridge'])
      await run('ip', [
        '-n',
        topo.hostNs,
        'link',
        'add',
        foreign[1]!,
        'type',
        'veth',
        'peer',
        'name',
        'nfpeer',
      ])
      await run('ip', ['-n', topo.hostNs, 'link', 'set', foreign[1]!, 'master', foreign[0]!])
      await api.ok('DELETE', `/v2.0/floatingips/${ids.fip.id}`, undefined, 204)
      await api.ok(
        'PUT',
        `/v2.0/routers/${ids.router.id}/remove_router_interface`,
        { subnet_id: ids.sub.id },
        200,
      )
      await api.ok('DELETE', `/v2.0/routers/${ids.router.id}`, undefined, 204)
      const { ports } = await api.ok('GET', '/v2.0/ports?device_owner=compute:nova', undefined, 200)
      for (const p of ports) await api.ok('DELETE', `/v2.0/ports/${p.id}`, undefined, 204)
      const { networks } = await api.ok('GET', '/v2.0/networks', undefined, 200)
      for (const n of networks) await api.ok('DELETE', `/v2.0/networks/${n.id}`, undefined, 204)
      // This cloud's DHCP and router namespaces (another cloud on the machine may have its own meanwhile).
      const ownNs = new Set([
        routerNetns(ids.router.id),
        ...networks.map((n: { id: string }) => `${DHCP_NETNS_PREFIX}${n.id}`),
      ])
      await agent()!.sync()
      const { stdout } = await run('ip', ['-n', topo.hostNs, '-j', 'link', 'show'])
      const ours = (JSON.parse(stdout) as { ifname: string }[])
        .map((l) => l.ifname)
        .filter((n) => /^n[bvdrg]-/.test(n))
      assert.deepEqual(ours, foreign)
      assert.deepEqual(await dnsmasqPids(agentDir), [])
      await agent()!.teardown()
      const afterTeardown = await run('ip', ['-n', topo.hostNs, '-j', 'link', 'show'])
      const remaining = (JSON.parse(afterTeardown.stdout) as { ifname: string }[]).map((l) => l.ifname)
      assert.deepEqual(
        foreign.filter((n) => remaining.includes(n)),
        foreign,
        "teardown removed another cloud's links",
      )
      for (const name of foreign) await run('ip', ['-n', topo.hostNs, 'link', 'del', name], { okCodes: [1] })
      const tables = await run('ip', ['netns', 'exec', topo.hostNs, 'nft', 'list', 'tables'])
      assert.ok(!tables.stdout.includes(NFT_TABLE), tables.stdout)
      // No dnsmasq, no metadata proxy: nothing started from the agent's directory runs on.
      assert.deepEqual(await pidsMentioning(agentDir), [])
      const left = (await netnsList()).filter((n) => ownNs.has(n))
      assert.deepEqual(left, [])
    })
  },
)
