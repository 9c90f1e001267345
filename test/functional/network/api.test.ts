import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createScratchDatabase, DIALECTS, type ScratchDatabase } from '../../unit/db/backends.ts'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { Neutron } from './client.ts'

/** A well-formed id nothing has. */
const UNKNOWN_ID = '0b7d3b8e-5a52-4c34-9d6e-1f2a3b4c5d6e'

/** The Neutron v2.0 API end to end over HTTP: every route, its errors and Neutron's bodies. */
for (const dialect of DIALECTS)
  describe(`network API (${dialect})`, () => {
    let tc: TestCloud
    let api: Neutron
    let scratch: ScratchDatabase | undefined

    before(async () => {
      scratch = dialect === 'postgres' ? await createScratchDatabase('postgres') : undefined
      tc = await startTestCloud(scratch ? { config: { 'database.connection': scratch.url } } : {})
      api = await Neutron.connect(tc)
    })
    after(async () => {
      await tc?.stop()
      await scratch?.drop()
    })

    async function network(attrs: Record<string, unknown> = {}) {
      return api.create('networks', 'network', { name: 'net', ...attrs })
    }
    async function subnet(networkId: string, cidr: string, attrs: Record<string, unknown> = {}) {
      return api.create('subnets', 'subnet', { network_id: networkId, cidr, ip_version: 4, ...attrs })
    }

    describe('discovery', () => {
      it('lists v2.0 at / and the extensions it implements', async () => {
        const versions = await api.ok('GET', '/', undefined, 200)
        assert.equal(versions.versions[0].id, 'v2.0')
        const { extensions } = await api.ok('GET', '/v2.0/extensions', undefined, 200)
        const aliases = extensions.map((e: { alias: string }) => e.alias)
        for (const a of [
          'router',
          'security-group',
          'provider',
          'external-net',
          'quotas',
          'binding',
          'port-security',
        ]) {
          assert.ok(aliases.includes(a), a)
        }
        const one = await api.ok('GET', '/v2.0/extensions/router', undefined, 200)
        assert.equal(one.extension.alias, 'router')
        await api.fails('GET', '/v2.0/extensions/nope', undefined, 404, 'HTTPNotFound')
      })

      it('lists the v2.0 collections with links at /v2.0/', async () => {
        for (const path of ['/v2.0/', '/v2.0']) {
          const { resources } = await api.ok('GET', path, undefined, 200)
          const byName = new Map(resources.map((r: { name: string }) => [r.name, r]))
          for (const [name, collection] of [
            ['network', 'networks'],
            ['subnet', 'subnets'],
            ['port', 'ports'],
            ['router', 'routers'],
          ]) {
            const r = byName.get(name) as { collection: string; links: { href: string; rel: string }[] }
            assert.ok(r, name)
            assert.equal(r.collection, collection)
            const [link] = r.links
            assert.equal(link?.rel, 'self')
            assert.ok(link?.href.endsWith(`/v2.0/${collection}`), link?.href)
          }
        }
      })
    })

    describe('networks', () => {
      it('creates with Neutron defaults, shows, lists, updates and deletes', async () => {
        const net = await network({ name: 'n1' })
        assert.equal(net.status, 'ACTIVE')
        assert.equal(net.admin_state_up, true)
        assert.equal(net.shared, false)
        assert.equal(net['router:external'], false)
        assert.equal(net.mtu, 1500)
        assert.equal(net['provider:network_type'], 'vlan')
        assert.equal(typeof net['provider:segmentation_id'], 'number')
        assert.deepEqual(net.subnets, [])
        assert.equal(net.project_id, net.tenant_id)
        const shown = await api.ok('GET', `/v2.0/networks/${net.id}`, undefined, 200)
        assert.equal(shown.network.name, 'n1')
        const updated = await api.ok('PUT', `/v2.0/networks/${net.id}`, { network: { name: 'n2' } }, 200)
        assert.equal(updated.network.name, 'n2')
        assert.equal(updated.network.revision_number, 1)
        const listed = await api.ok('GET', '/v2.0/networks?name=n2', undefined, 200)
        assert.deepEqual(
          listed.networks.map((n: { id: string }) => n.id),
          [net.id],
        )
        await api.ok('DELETE', `/v2.0/networks/${net.id}`, undefined, 204)
        const msg = await api.fails('GET', `/v2.0/networks/${net.id}`, undefined, 404, 'NetworkNotFound')
        assert.equal(msg, `Network ${net.id} could not be found.`)
      })

      it('takes provider attributes and refuses a second flat network or a used VLAN', async () => {
        const flat = await network({ 'provider:network_type': 'flat', 'provider:physical_network': 'ext' })
        assert.equal(flat['provider:segmentation_id'], null)
        await api.fails(
          'POST',
          '/v2.0/networks',
          { network: { 'provider:network_type': 'flat', 'provider:physical_network': 'ext' } },
          409,
          'FlatNetworkInUse',
        )
        const vlan = {
          'provider:network_type': 'vlan',
          'provider:physical_network': 'p2',
          'provider:segmentation_id': 42,
        }
        await network(vlan)
        await api.fails('POST', '/v2.0/networks', { network: vlan }, 409, 'VlanIdInUse')
        await api.fails(
          'POST',
          '/v2.0/networks',
          { network: { 'provider:network_type': 'gre' } },
          400,
          'InvalidInput',
        )
        await api.fails(
          'POST',
          '/v2.0/networks',
          { network: { ...vlan, 'provider:segmentation_id': 5000 } },
          400,
          'InvalidInput',
        )
      })

      it('refuses unknown attributes and a missing body', async () => {
        const msg = await api.fails(
          'POST',
          '/v2.0/networks',
          { network: { bogus: 1 } },
          400,
          'HTTPBadRequest',
        )
        assert.equal(msg, "Unrecognized attribute(s) 'bogus'")
        await api.fails('POST', '/v2.0/networks', { net: {} }, 400, 'HTTPBadRequest')
        await api.fails('PUT', '/v2.0/networks/nope', { network: { name: 'x' } }, 404, 'NetworkNotFound')
        await api.fails('DELETE', '/v2.0/networks/nope', undefined, 404, 'NetworkNotFound')
      })

      it('creates in bulk', async () => {
        const body = await api.ok(
          'POST',
          '/v2.0/networks',
          { networks: [{ name: 'b1' }, { name: 'b2' }] },
          201,
        )
        assert.deepEqual(
          body.networks.map((n: { name: string }) => n.name),
          ['b1', 'b2'],
        )
      })

      it('refuses to delete a network with ports (NetworkInUse) and cleans up DHCP ports', async () => {
        const net = await network()
        await subnet(net.id, '198.51.100.0/24')
        const port = await api.create('ports', 'port', { network_id: net.id })
        const msg = await api.fails('DELETE', `/v2.0/networks/${net.id}`, undefined, 409, 'NetworkInUse')
        assert.match(msg, /There are one or more ports still in use on the network/)
        await api.ok('DELETE', `/v2.0/ports/${port.id}`, undefined, 204)
        await api.ok('DELETE', `/v2.0/networks/${net.id}`, undefined, 204)
        const left = await api.ok('GET', `/v2.0/ports?network_id=${net.id}`, undefined, 200)
        assert.deepEqual(left.ports, [])
      })
    })

    describe('subnets', () => {
      it('fills gateway, pools and a DHCP port; refuses overlap within a network', async () => {
        const net = await network()
        const s = await subnet(net.id, '192.0.2.0/24', {
          dns_nameservers: ['192.0.2.53'],
          host_routes: [{ destination: '203.0.113.0/24', nexthop: '192.0.2.254' }],
        })
        assert.equal(s.gateway_ip, '192.0.2.1')
        assert.deepEqual(s.allocation_pools, [{ start: '192.0.2.2', end: '192.0.2.254' }])
        assert.equal(s.enable_dhcp, true)
        assert.deepEqual(s.dns_nameservers, ['192.0.2.53'])
        const shown = await api.ok('GET', `/v2.0/networks/${net.id}`, undefined, 200)
        assert.deepEqual(shown.network.subnets, [s.id])
        const dhcp = await api.ok(
          'GET',
          `/v2.0/ports?network_id=${net.id}&device_owner=network:dhcp`,
          undefined,
          200,
        )
        assert.equal(dhcp.ports.length, 1)
        assert.equal(dhcp.ports[0].fixed_ips[0].ip_address, '192.0.2.2')
        const msg = await api.fails(
          'POST',
          '/v2.0/subnets',
          { subnet: { network_id: net.id, cidr: '192.0.2.128/25', ip_version: 4 } },
          400,
          'InvalidInput',
        )
        assert.match(msg, /overlaps with another subnet/)
        // Another network may reuse the range (overlapping IPs across networks are allowed).
        const other = await network()
        await subnet(other.id, '192.0.2.0/24')
      })

      it('refuses invalid CIDRs, pools and gateways in Neutron words', async () => {
        const net = await network()
        const bad = (attrs: Record<string, unknown>) => ({
          subnet: { network_id: net.id, ip_version: 4, ...attrs },
        })
        let msg = await api.fails(
          'POST',
          '/v2.0/subnets',
          bad({ cidr: '10.0.0.300/24' }),
          400,
          'HTTPBadRequest',
        )
        assert.equal(msg, "Invalid input for cidr. Reason: '10.0.0.300/24' is not a valid IP subnet.")
        msg = await api.fails('POST', '/v2.0/subnets', bad({ cidr: '192.0.2.1/24' }), 400, 'HTTPBadRequest')
        assert.match(msg, /'192.0.2.0\/24' is recommended/)
        await api.fails('POST', '/v2.0/subnets', bad({ cidr: '2001:db8::/64' }), 400, 'InvalidInput')
        await api.fails(
          'POST',
          '/v2.0/subnets',
          bad({ cidr: '192.0.2.0/24', allocation_pools: [{ start: '192.0.2.10', end: '198.51.100.5' }] }),
          409,
          'InvalidAllocationPool',
        )
        await api.fails(
          'POST',
          '/v2.0/subnets',
          bad({
            cidr: '192.0.2.0/24',
            gateway_ip: '192.0.2.5',
            allocation_pools: [{ start: '192.0.2.2', end: '192.0.2.9' }],
          }),
          409,
          'GatewayConflictWithAllocationPools',
        )
        await api.fails(
          'POST',
          '/v2.0/subnets',
          bad({ cidr: '192.0.2.0/24', gateway_ip: '192.0.2.0' }),
          400,
          'InvalidInput',
        )
        await api.fails(
          'POST',
          '/v2.0/subnets',
          { subnet: { network_id: net.id, cidr: '192.0.2.0/24' } },
          400,
          'HTTPBadRequest',
        )
        await api.fails(
          'POST',
          '/v2.0/subnets',
          { subnet: { network_id: UNKNOWN_ID, cidr: '192.0.2.0/24', ip_version: 4 } },
          404,
          'NetworkNotFound',
        )
        // An id that is no UUID is refused by the attribute map, as Neutron's type:uuid.
        await api.fails(
          'POST',
          '/v2.0/subnets',
          { subnet: { network_id: 'nope', cidr: '192.0.2.0/24', ip_version: 4 } },
          400,
          'HTTPBadRequest',
        )
      })

      it('supports IPv6, updates and refuses deleting a subnet in use', async () => {
        const net = await network()
        const v6 = await api.create('subnets', 'subnet', {
          network_id: net.id,
          cidr: '2001:db8::/64',
          ip_version: 6,
          enable_dhcp: false,
        })
        assert.equal(v6.gateway_ip, '2001:db8::1')
        const s = await subnet(net.id, '203.0.113.0/28', { enable_dhcp: false, gateway_ip: null })
        assert.equal(s.gateway_ip, null)
        const updated = await api.ok(
          'PUT',
          `/v2.0/subnets/${s.id}`,
          { subnet: { name: 'renamed', dns_nameservers: ['203.0.113.2'] } },
          200,
        )
        assert.equal(updated.subnet.name, 'renamed')
        await api.fails(
          'PUT',
          `/v2.0/subnets/${s.id}`,
          { subnet: { cidr: '10.0.0.0/8' } },
          400,
          'HTTPBadRequest',
        )
        const port = await api.create('ports', 'port', { network_id: net.id })
        assert.equal(port.fixed_ips.length, 2)
        await api.fails('DELETE', `/v2.0/subnets/${s.id}`, undefined, 409, 'SubnetInUse')
        await api.ok('DELETE', `/v2.0/ports/${port.id}`, undefined, 204)
        await api.ok('DELETE', `/v2.0/subnets/${s.id}`, undefined, 204)
        await api.fails('GET', `/v2.0/subnets/${s.id}`, undefined, 404, 'SubnetNotFound')
      })
    })

    describe('ports', () => {
      it('allocates from the pools until IpAddressGenerationFailure', async () => {
        const net = await network()
        await subnet(net.id, '192.0.2.0/29', { enable_dhcp: false })
        const ips: string[] = []
        for (let i = 0; i < 5; i++)
          ips.push((await api.create('ports', 'port', { network_id: net.id })).fixed_ips[0].ip_address)
        assert.deepEqual(ips, ['192.0.2.2', '192.0.2.3', '192.0.2.4', '192.0.2.5', '192.0.2.6'])
        const msg = await api.fails(
          'POST',
          '/v2.0/ports',
          { port: { network_id: net.id } },
          409,
          'IpAddressGenerationFailure',
        )
        assert.equal(msg, `No more IP addresses available on network ${net.id}.`)
      })

      it('takes requested addresses and MACs, refusing ones in use or outside the subnet', async () => {
        const net = await network()
        const s = await subnet(net.id, '198.51.100.0/24', { enable_dhcp: false })
        const p = await api.create('ports', 'port', {
          network_id: net.id,
          mac_address: 'fa:16:3e:00:00:01',
          fixed_ips: [{ ip_address: '198.51.100.77' }],
        })
        assert.deepEqual(p.fixed_ips, [{ subnet_id: s.id, ip_address: '198.51.100.77' }])
        assert.equal(p.mac_address, 'fa:16:3e:00:00:01')
        await api.fails(
          'POST',
          '/v2.0/ports',
          { port: { network_id: net.id, fixed_ips: [{ ip_address: '198.51.100.77' }] } },
          409,
          'IpAddressInUse',
        )
        await api.fails(
          'POST',
          '/v2.0/ports',
          { port: { network_id: net.id, mac_address: 'fa:16:3e:00:00:01' } },
          409,
          'MacAddressInUse',
        )
        await api.fails(
          'POST',
          '/v2.0/ports',
          { port: { network_id: net.id, fixed_ips: [{ subnet_id: s.id, ip_address: '192.0.2.5' }] } },
          400,
          'InvalidIpForSubnet',
        )
        await api.fails(
          'POST',
          '/v2.0/ports',
          { port: { network_id: net.id, fixed_ips: [{ ip_address: '192.0.2.5' }] } },
          400,
          'InvalidIpForNetwork',
        )
        await api.fails(
          'POST',
          '/v2.0/ports',
          { port: { network_id: net.id, mac_address: 'zz' } },
          400,
          'HTTPBadRequest',
        )
        const moved = await api.ok(
          'PUT',
          `/v2.0/ports/${p.id}`,
          { port: { fixed_ips: [{ ip_address: '198.51.100.78' }] } },
          200,
        )
        assert.equal(moved.port.fixed_ips[0].ip_address, '198.51.100.78')
        // The old address is free again.
        await api.create('ports', 'port', {
          network_id: net.id,
          fixed_ips: [{ ip_address: '198.51.100.77' }],
        })
      })

      it('puts new ports in the default group, binds to a host and guards port security', async () => {
        const net = await network()
        await subnet(net.id, '203.0.113.0/24', { enable_dhcp: false })
        const p = await api.create('ports', 'port', {
          network_id: net.id,
          device_id: 'vm-1',
          device_owner: 'compute:nova',
        })
        assert.equal(p.security_groups.length, 1)
        assert.equal(p.port_security_enabled, true)
        assert.equal(p['binding:vif_type'], 'unbound')
        assert.equal(p.status, 'DOWN')
        const bound = await api.ok(
          'PUT',
          `/v2.0/ports/${p.id}`,
          { port: { 'binding:host_id': 'host-1' } },
          200,
        )
        assert.equal(bound.port['binding:vif_type'], 'bridge')
        assert.equal(bound.port['binding:host_id'], 'host-1')
        await api.fails(
          'PUT',
          `/v2.0/ports/${p.id}`,
          { port: { port_security_enabled: false } },
          409,
          'PortSecurityPortHasSecurityGroup',
        )
        const open = await api.ok(
          'PUT',
          `/v2.0/ports/${p.id}`,
          { port: { port_security_enabled: false, security_groups: [] } },
          200,
        )
        assert.deepEqual(open.port.security_groups, [])
        await api.fails(
          'PUT',
          `/v2.0/ports/${p.id}`,
          { port: { allowed_address_pairs: [{ ip_address: '203.0.113.200' }] } },
          409,
          'AddressPairAndPortSecurityRequired',
        )
        const pairs = await api.create('ports', 'port', {
          network_id: net.id,
          allowed_address_pairs: [{ ip_address: '203.0.113.200' }],
        })
        assert.deepEqual(pairs.allowed_address_pairs, [{ ip_address: '203.0.113.200' }])
        const byDevice = await api.ok('GET', '/v2.0/ports?device_id=vm-1', undefined, 200)
        assert.equal(byDevice.ports.length, 1)
        const byIp = await api.ok(
          'GET',
          `/v2.0/ports?fixed_ips=ip_address%3D${p.fixed_ips[0].ip_address}`,
          undefined,
          200,
        )
        assert.equal(byIp.ports.length, 1)
        await api.fails('GET', '/v2.0/ports/nope', undefined, 404, 'PortNotFound')
        await api.fails('POST', '/v2.0/ports', { port: { network_id: UNKNOWN_ID } }, 404, 'NetworkNotFound')
        await api.fails('POST', '/v2.0/ports', { port: { network_id: 'nope' } }, 400, 'HTTPBadRequest')
      })
    })

    describe('security groups', () => {
      it('makes the default group with upstream rules on first use', async () => {
        const { security_groups: groups } = await api.ok('GET', '/v2.0/security-groups', undefined, 200)
        const def = groups.find((g: { name: string }) => g.name === 'default')
        assert.ok(def)
        const rules = def.security_group_rules as Record<string, unknown>[]
        assert.equal(rules.length, 4)
        const summary = rules
          .map(
            (r) =>
              `${r.direction}/${r.ethertype}/${r.remote_group_id === def.id ? 'self' : String(r.remote_group_id)}`,
          )
          .sort()
        assert.deepEqual(summary, [
          'egress/IPv4/null',
          'egress/IPv6/null',
          'ingress/IPv4/self',
          'ingress/IPv6/self',
        ])
        await api.fails(
          'POST',
          '/v2.0/security-groups',
          { security_group: { name: 'default' } },
          409,
          'SecurityGroupDefaultAlreadyExists',
        )
      })

      it('creates groups with egress rules and validates rules', async () => {
        const sg = await api.create('security-groups', 'security_group', { name: 'web', description: 'w' })
        assert.equal(sg.security_group_rules.length, 2)
        const rule = {
          security_group_id: sg.id,
          direction: 'ingress',
          protocol: 'tcp',
          port_range_min: 80,
          port_range_max: 80,
          remote_ip_prefix: '0.0.0.0/0',
        }
        const r = await api.create('security-group-rules', 'security_group_rule', rule)
        assert.equal(r.protocol, 'tcp')
        assert.equal(r.ethertype, 'IPv4')
        assert.equal(r.remote_ip_prefix, '0.0.0.0/0')
        let msg = await api.fails(
          'POST',
          '/v2.0/security-group-rules',
          { security_group_rule: rule },
          409,
          'SecurityGroupRuleExists',
        )
        assert.equal(msg, `Security group rule already exists. Rule id is ${r.id}.`)
        const post = (attrs: Record<string, unknown>) => ({
          security_group_rule: { security_group_id: sg.id, direction: 'ingress', ...attrs },
        })
        msg = await api.fails(
          'POST',
          '/v2.0/security-group-rules',
          post({ protocol: 'bogus' }),
          400,
          'SecurityGroupRuleInvalidProtocol',
        )
        assert.match(msg, /Security group rule protocol bogus not supported/)
        await api.fails(
          'POST',
          '/v2.0/security-group-rules',
          post({ protocol: 'tcp', port_range_min: 90, port_range_max: 80 }),
          400,
          'SecurityGroupInvalidPortRange',
        )
        await api.fails(
          'POST',
          '/v2.0/security-group-rules',
          post({ protocol: 'tcp', port_range_min: 0, port_range_max: 80 }),
          400,
          'SecurityGroupInvalidPortValue',
        )
        await api.fails(
          'POST',
          '/v2.0/security-group-rules',
          post({ port_range_min: 22, port_range_max: 22 }),
          400,
          'SecurityGroupProtocolRequiredWithPorts',
        )
        await api.fails(
          'POST',
          '/v2.0/security-group-rules',
          post({ remote_ip_prefix: '10.0.0.0/8', remote_group_id: sg.id }),
          400,
          'SecurityGroupRemoteGroupAndRemoteIpPrefix',
        )
        await api.fails(
          'POST',
          '/v2.0/security-group-rules',
          post({ ethertype: 'IPv6', remote_ip_prefix: '10.0.0.0/8' }),
          400,
          'SecurityGroupRuleParameterConflict',
        )
        await api.fails(
          'POST',
          '/v2.0/security-group-rules',
          post({ remote_ip_prefix: 'nonsense' }),
          400,
          'HTTPBadRequest',
        )
        await api.fails(
          'POST',
          '/v2.0/security-group-rules',
          post({ direction: 'sideways' }),
          400,
          'HTTPBadRequest',
        )
        await api.fails(
          'POST',
          '/v2.0/security-group-rules',
          { security_group_rule: { security_group_id: UNKNOWN_ID, direction: 'ingress' } },
          404,
          'SecurityGroupNotFound',
        )
        const icmp = await api.create('security-group-rules', 'security_group_rule', {
          security_group_id: sg.id,
          direction: 'ingress',
          protocol: 'icmp',
          port_range_min: 8,
          port_range_max: 0,
        })
        assert.equal(icmp.port_range_min, 8)
        const shown = await api.ok('GET', `/v2.0/security-group-rules/${r.id}`, undefined, 200)
        assert.equal(shown.security_group_rule.id, r.id)
        await api.ok('DELETE', `/v2.0/security-group-rules/${r.id}`, undefined, 204)
        await api.fails(
          'GET',
          `/v2.0/security-group-rules/${r.id}`,
          undefined,
          404,
          'SecurityGroupRuleNotFound',
        )
        const renamed = await api.ok(
          'PUT',
          `/v2.0/security-groups/${sg.id}`,
          { security_group: { name: 'web2' } },
          200,
        )
        assert.equal(renamed.security_group.name, 'web2')
      })

      it('refuses deleting a group in use and the default group for its project', async () => {
        const sg = await api.create('security-groups', 'security_group', { name: 'used' })
        const net = await network()
        await subnet(net.id, '192.0.2.0/24', { enable_dhcp: false })
        const port = await api.create('ports', 'port', { network_id: net.id, security_groups: [sg.id] })
        await api.fails('DELETE', `/v2.0/security-groups/${sg.id}`, undefined, 409, 'SecurityGroupInUse')
        await api.ok('DELETE', `/v2.0/ports/${port.id}`, undefined, 204)
        await api.ok('DELETE', `/v2.0/security-groups/${sg.id}`, undefined, 204)
        await api.fails('GET', `/v2.0/security-groups/${sg.id}`, undefined, 404, 'SecurityGroupNotFound')
        const member = await api.member(tc, 'project-sg')
        const { security_groups: groups } = await member.ok('GET', '/v2.0/security-groups', undefined, 200)
        assert.equal(groups.length, 1)
        await member.fails(
          'DELETE',
          `/v2.0/security-groups/${groups[0].id}`,
          undefined,
          409,
          'SecurityGroupCannotRemoveDefault',
        )
        await member.fails(
          'PUT',
          `/v2.0/security-groups/${groups[0].id}`,
          { security_group: { name: 'x' } },
          409,
          'SecurityGroupCannotUpdateDefault',
        )
      })
    })

    describe('routers and floating IPs', () => {
      it('deletes an external network with its unassociated floating IPs', async () => {
        const ext = await network({ name: 'ext-del', 'router:external': true })
        await subnet(ext.id, '192.0.2.0/24', { enable_dhcp: false })
        const fip = await api.create('floatingips', 'floatingip', { floating_network_id: ext.id })
        await api.ok('DELETE', `/v2.0/networks/${ext.id}`, undefined, 204)
        await api.fails('GET', `/v2.0/floatingips/${fip.id}`, undefined, 404, 'FloatingIPNotFound')
        const { ports } = await api.ok('GET', `/v2.0/ports?network_id=${ext.id}`, undefined, 200)
        assert.deepEqual(ports, [])
      })
      it('creates a router without a gateway from gateway info without network_id (as Tempest sends)', async () => {
        for (const info of [{}, { enable_snat: true }]) {
          const router = await api.create('routers', 'router', {
            name: 'r-nogw',
            external_gateway_info: info,
          })
          assert.equal(router.external_gateway_info, null)
          const updated = await api.ok(
            'PUT',
            `/v2.0/routers/${router.id}`,
            { router: { external_gateway_info: info } },
            200,
          )
          assert.equal(updated.router.external_gateway_info, null)
          await api.ok('DELETE', `/v2.0/routers/${router.id}`, undefined, 204)
        }
      })
      async function topology() {
        const ext = await network({
          'router:external': true,
          'provider:network_type': 'vlan',
          'provider:physical_network': 'public',
        })
        const extSubnet = await subnet(ext.id, '203.0.113.0/24', { enable_dhcp: false })
        const net = await network()
        const sub = await subnet(net.id, '192.0.2.0/24')
        return { ext, extSubnet, net, sub }
      }

      it('sets a gateway, adds and removes interfaces', async () => {
        const { ext, net, sub } = await topology()
        await api.fails(
          'POST',
          '/v2.0/routers',
          { router: { external_gateway_info: { network_id: net.id } } },
          400,
          'BadRequest',
        )
        const router = await api.create('routers', 'router', {
          name: 'r1',
          external_gateway_info: { network_id: ext.id },
        })
        assert.equal(router.status, 'ACTIVE')
        assert.equal(router.external_gateway_info.network_id, ext.id)
        assert.equal(router.external_gateway_info.enable_snat, true)
        assert.equal(router.external_gateway_info.external_fixed_ips[0].ip_address, '203.0.113.2')
        const added = await api.ok(
          'PUT',
          `/v2.0/routers/${router.id}/add_router_interface`,
          { subnet_id: sub.id },
          200,
        )
        assert.equal(added.id, router.id)
        assert.equal(added.subnet_id, sub.id)
        assert.deepEqual(added.subnet_ids, [sub.id])
        assert.equal(added.network_id, net.id)
        const port = await api.ok('GET', `/v2.0/ports/${added.port_id}`, undefined, 200)
        assert.equal(port.port.device_owner, 'network:router_interface')
        assert.equal(port.port.fixed_ips[0].ip_address, '192.0.2.1')
        await api.fails(
          'PUT',
          `/v2.0/routers/${router.id}/add_router_interface`,
          { subnet_id: sub.id },
          400,
          'BadRequest',
        )
        await api.fails('PUT', `/v2.0/routers/${router.id}/add_router_interface`, {}, 400, 'BadRequest')
        await api.fails('DELETE', `/v2.0/ports/${added.port_id}`, undefined, 409, 'ServicePortInUse')
        await api.fails('DELETE', `/v2.0/routers/${router.id}`, undefined, 409, 'RouterInUse')
        await api.fails('DELETE', `/v2.0/networks/${net.id}`, undefined, 409, 'NetworkInUse')
        const removed = await api.ok(
          'PUT',
          `/v2.0/routers/${router.id}/remove_router_interface`,
          { subnet_id: sub.id },
          200,
        )
        assert.equal(removed.port_id, added.port_id)
        await api.fails(
          'PUT',
          `/v2.0/routers/${router.id}/remove_router_interface`,
          { subnet_id: sub.id },
          404,
          'RouterInterfaceNotFoundForSubnet',
        )
        const cleared = await api.ok(
          'PUT',
          `/v2.0/routers/${router.id}`,
          { router: { external_gateway_info: {} } },
          200,
        )
        assert.equal(cleared.router.external_gateway_info, null)
        await api.ok('DELETE', `/v2.0/routers/${router.id}`, undefined, 204)
        await api.fails('GET', `/v2.0/routers/${router.id}`, undefined, 404, 'RouterNotFound')
      })

      it('allocates, associates, disassociates and releases floating IPs', async () => {
        const { ext, net, sub } = await topology()
        const vm = await api.create('ports', 'port', { network_id: net.id })
        await api.fails(
          'POST',
          '/v2.0/floatingips',
          { floatingip: { floating_network_id: net.id } },
          400,
          'BadRequest',
        )
        const fip = await api.create('floatingips', 'floatingip', { floating_network_id: ext.id })
        assert.equal(fip.status, 'DOWN')
        assert.equal(fip.port_id, null)
        assert.match(fip.floating_ip_address, /^203\.0\.113\./)
        const msg = await api.fails(
          'PUT',
          `/v2.0/floatingips/${fip.id}`,
          { floatingip: { port_id: vm.id } },
          404,
          'ExternalGatewayForFloatingIPNotFound',
        )
        assert.match(msg, /is not reachable from subnet/)
        const router = await api.create('routers', 'router', {
          external_gateway_info: { network_id: ext.id },
        })
        await api.ok('PUT', `/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: sub.id }, 200)
        const assoc = await api.ok(
          'PUT',
          `/v2.0/floatingips/${fip.id}`,
          { floatingip: { port_id: vm.id } },
          200,
        )
        assert.equal(assoc.floatingip.port_id, vm.id)
        assert.equal(assoc.floatingip.fixed_ip_address, vm.fixed_ips[0].ip_address)
        assert.equal(assoc.floatingip.router_id, router.id)
        assert.equal(assoc.floatingip.status, 'ACTIVE')
        assert.equal(assoc.floatingip.port_details.network_id, net.id)
        await api.fails(
          'POST',
          '/v2.0/floatingips',
          { floatingip: { floating_network_id: ext.id, port_id: vm.id } },
          409,
          'FloatingIPPortAlreadyAssociated',
        )
        await api.fails(
          'PUT',
          `/v2.0/routers/${router.id}/remove_router_interface`,
          { subnet_id: sub.id },
          409,
          'RouterInterfaceInUseByFloatingIP',
        )
        const byPort = await api.ok('GET', `/v2.0/floatingips?port_id=${vm.id}`, undefined, 200)
        assert.equal(byPort.floatingips.length, 1)
        const dis = await api.ok('PUT', `/v2.0/floatingips/${fip.id}`, { floatingip: { port_id: null } }, 200)
        assert.equal(dis.floatingip.port_id, null)
        assert.equal(dis.floatingip.status, 'DOWN')
        await api.ok('DELETE', `/v2.0/floatingips/${fip.id}`, undefined, 204)
        await api.fails('GET', `/v2.0/floatingips/${fip.id}`, undefined, 404, 'FloatingIPNotFound')
        const left = await api.ok('GET', `/v2.0/ports?device_id=${fip.id}`, undefined, 200)
        assert.deepEqual(left.ports, [])
      })
    })

    describe('quotas', () => {
      it('shows defaults, updates, enforces and resets', async () => {
        const project = 'quota-project'
        const shown = await api.ok('GET', `/v2.0/quotas/${project}`, undefined, 200)
        assert.equal(shown.quota.network, 100)
        assert.equal(shown.quota.port, 500)
        assert.equal(shown.quota.security_group_rule, 100)
        const defaults = await api.ok('GET', `/v2.0/quotas/${project}/default`, undefined, 200)
        assert.equal(defaults.quota.router, 10)
        const updated = await api.ok('PUT', `/v2.0/quotas/${project}`, { quota: { network: 1 } }, 200)
        assert.equal(updated.quota.network, 1)
        await api.fails('PUT', `/v2.0/quotas/${project}`, { quota: { network: 'x' } }, 400, 'HTTPBadRequest')
        const listed = await api.ok('GET', '/v2.0/quotas', undefined, 200)
        assert.ok(listed.quotas.some((q: { project_id: string }) => q.project_id === project))
        await api.create('networks', 'network', { project_id: project })
        const msg = await api.fails(
          'POST',
          '/v2.0/networks',
          { network: { project_id: project } },
          409,
          'OverQuota',
        )
        assert.equal(msg, "Quota exceeded for resources: ['network'].")
        const details = await api.ok('GET', `/v2.0/quotas/${project}/details.json`, undefined, 200)
        assert.deepEqual(details.quota.network, { limit: 1, used: 1, reserved: 0 })
        await api.ok('DELETE', `/v2.0/quotas/${project}`, undefined, 204)
        const reset = await api.ok('GET', `/v2.0/quotas/${project}`, undefined, 200)
        assert.equal(reset.quota.network, 100)
      })
    })

    describe('lists', () => {
      it('sorts, pages with links, filters and selects fields', async () => {
        const tag = `page-${Date.now()}`
        for (const n of ['c', 'a', 'b']) await network({ name: `${tag}-${n}` })
        const first = await api.ok(
          'GET',
          `/v2.0/networks?sort_key=name&sort_dir=asc&limit=2&name=${tag}-a&name=${tag}-b&name=${tag}-c`,
          undefined,
          200,
        )
        assert.deepEqual(
          first.networks.map((n: { name: string }) => n.name),
          [`${tag}-a`, `${tag}-b`],
        )
        const next = first.networks_links.find((l: { rel: string }) => l.rel === 'next')
        assert.ok(next)
        const url = new URL(next.href)
        const second = await api.ok('GET', `${url.pathname}${url.search}`, undefined, 200)
        assert.deepEqual(
          second.networks.map((n: { name: string }) => n.name),
          [`${tag}-c`],
        )
        assert.ok(second.networks_links.some((l: { rel: string }) => l.rel === 'previous'))
        const fields = await api.ok(
          'GET',
          `/v2.0/networks?name=${tag}-a&fields=id&fields=name`,
          undefined,
          200,
        )
        assert.deepEqual(Object.keys(fields.networks[0]).sort(), ['id', 'name'])
        await api.fails('GET', '/v2.0/networks?marker=nope&limit=1', undefined, 400, 'HTTPBadRequest')
        await api.fails('GET', '/v2.0/networks?sort_key=name&sort_dir=up', undefined, 400, 'HTTPBadRequest')
        const admin = await api.ok('GET', '/v2.0/networks?shared=false&limit=1', undefined, 200)
        assert.equal(admin.networks.length, 1)
      })
    })

    describe('remaining routes', () => {
      it('lists every collection, updates routers and refuses rule updates', async () => {
        for (const c of [
          'subnets',
          'ports',
          'security-groups',
          'security-group-rules',
          'routers',
          'floatingips',
        ]) {
          const body = await api.ok('GET', `/v2.0/${c}?limit=1`, undefined, 200)
          assert.ok(Array.isArray(body[c.replace(/-/g, '_')]), c)
        }
        const router = await api.create('routers', 'router', { name: 'plain' })
        assert.equal(router.external_gateway_info, null)
        const updated = await api.ok(
          'PUT',
          `/v2.0/routers/${router.id}`,
          {
            router: { name: 'renamed', routes: [{ destination: '203.0.113.0/24', nexthop: '192.0.2.254' }] },
          },
          200,
        )
        assert.equal(updated.router.name, 'renamed')
        assert.deepEqual(updated.router.routes, [{ destination: '203.0.113.0/24', nexthop: '192.0.2.254' }])
        await api.fails(
          'PUT',
          `/v2.0/routers/${router.id}`,
          { router: { routes: [{ destination: 'x', nexthop: 'y' }] } },
          400,
          'InvalidRoutes',
        )
        await api.fails(
          'PUT',
          `/v2.0/routers/${router.id}/remove_router_interface`,
          { port_id: UNKNOWN_ID },
          404,
          'RouterInterfaceNotFound',
        )
        await api.fails(
          'PUT',
          `/v2.0/routers/${router.id}/remove_router_interface`,
          { port_id: 'nope' },
          400,
          'BadRequest',
        )
        await api.ok('DELETE', `/v2.0/routers/${router.id}`, undefined, 204)
        const { security_group_rules: rules } = await api.ok(
          'GET',
          '/v2.0/security-group-rules',
          undefined,
          200,
        )
        await api.fails(
          'PUT',
          `/v2.0/security-group-rules/${rules[0].id}`,
          { security_group_rule: {} },
          400,
          'HTTPBadRequest',
        )
        const { quota } = await api.ok('GET', `/v2.0/quotas/${rules[0].project_id}/details`, undefined, 200)
        assert.equal(typeof quota.security_group_rule.used, 'number')
        await api.fails('GET', '/v2.0/floatingips/nope', undefined, 404, 'FloatingIPNotFound')
        await api.fails('DELETE', '/v2.0/routers/nope', undefined, 404, 'RouterNotFound')
        await api.fails('DELETE', '/v2.0/subnets/nope', undefined, 404, 'SubnetNotFound')
        await api.fails('DELETE', '/v2.0/security-groups/nope', undefined, 404, 'SecurityGroupNotFound')
      })
    })

    describe('policy', { skip: false }, () => {
      it('hides other projects, shows shared networks, keeps admin attributes to admins', async () => {
        const alice = await api.member(tc, 'alice')
        const bob = await api.member(tc, 'bob')
        const priv = await alice.create('networks', 'network', { name: 'alice-private' })
        const bobProject = (await bob.create('security-groups', 'security_group', { name: 'probe' }))
          .project_id
        assert.equal(priv['provider:network_type'], undefined)
        await bob.fails('GET', `/v2.0/networks/${priv.id}`, undefined, 404, 'NetworkNotFound')
        await bob.fails('DELETE', `/v2.0/networks/${priv.id}`, undefined, 404, 'NetworkNotFound')
        await bob.fails('POST', '/v2.0/ports', { port: { network_id: priv.id } }, 404, 'NetworkNotFound')
        await alice.fails('POST', '/v2.0/networks', { network: { shared: true } }, 403, 'PolicyNotAuthorized')
        await alice.fails(
          'POST',
          '/v2.0/networks',
          { network: { project_id: bobProject } },
          400,
          'HTTPBadRequest',
        )
        const shared = await api.create('networks', 'network', { name: 'shared', shared: true })
        const seen = await bob.ok('GET', '/v2.0/networks', undefined, 200)
        const ids = seen.networks.map((n: { id: string }) => n.id)
        assert.ok(ids.includes(shared.id))
        assert.ok(!ids.includes(priv.id))
        await bob.fails(
          'PUT',
          `/v2.0/networks/${shared.id}`,
          { network: { name: 'mine' } },
          404,
          'NetworkNotFound',
        )
        await bob.fails(
          'GET',
          `/v2.0/quotas/${priv.project_id as string}`,
          undefined,
          403,
          'PolicyNotAuthorized',
        )
        await bob.fails(
          'PUT',
          `/v2.0/quotas/${bobProject as string}`,
          { quota: { network: 5 } },
          403,
          'PolicyNotAuthorized',
        )
        const own = await bob.ok('GET', `/v2.0/quotas/${bobProject as string}`, undefined, 200)
        assert.equal(own.quota.network, 100)
      })
    })
  })
