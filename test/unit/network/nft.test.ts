import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { renderRuleset, renderTeardown, ruleMatch } from '../../../src/network/dataplane/nft.ts'
import { natRuleset } from '../../../src/network/dataplane/router.ts'
import { buildPlan, type RulePlan } from '../../../src/network/dataplane/state.ts'
import type { Doc } from '../../../src/network/store.ts'

const rule = (r: Partial<RulePlan>): RulePlan => ({
  id: 'r',
  direction: 'ingress',
  ethertype: 'IPv4',
  protocol: null,
  portMin: null,
  portMax: null,
  remotePrefix: null,
  remoteGroup: null,
  ...r,
})

const doc = (d: Record<string, unknown>) => ({ project_id: 'p', ...d }) as Doc

describe('nft rendering', () => {
  it('turns security group rules into matches', () => {
    assert.equal(
      ruleMatch(rule({ protocol: 'tcp', portMin: 22, portMax: 22 })),
      'meta nfproto ipv4 meta l4proto 6 th dport 22',
    )
    assert.equal(
      ruleMatch(rule({ protocol: 'udp', portMin: 1000, portMax: 2000, remotePrefix: '198.51.100.0/24' })),
      'meta nfproto ipv4 meta l4proto 17 th dport 1000-2000 ip saddr 198.51.100.0/24',
    )
    assert.equal(
      ruleMatch(rule({ protocol: 'icmp', portMin: 8, portMax: 0 })),
      'meta nfproto ipv4 meta l4proto icmp icmp type 8 icmp code 0',
    )
    assert.equal(
      ruleMatch(rule({ ethertype: 'IPv6', protocol: 'ipv6-icmp' })),
      'meta nfproto ipv6 meta l4proto ipv6-icmp',
    )
    assert.equal(ruleMatch(rule({ direction: 'egress', remotePrefix: '0.0.0.0/0' })), 'meta nfproto ipv4')
    assert.match(ruleMatch(rule({ remoteGroup: 'g-1' })), /ip saddr @sg_g1_v4$/)
  })

  it('plans only this host’s ports and renders anti-spoofing sets and per-group chains', () => {
    const ports = [
      doc({
        id: 'a1',
        network_id: 'n',
        mac_address: 'fa:16:3e:00:00:01',
        fixed_ips: [{ subnet_id: 's', ip_address: '192.0.2.5' }],
        'binding:host_id': 'h1',
        device_owner: 'compute:nova',
        port_security_enabled: true,
        security_groups: ['g'],
        allowed_address_pairs: [{ ip_address: '192.0.2.128/25' }],
      }),
      doc({
        id: 'b1',
        network_id: 'n',
        mac_address: 'fa:16:3e:00:00:02',
        fixed_ips: [{ subnet_id: 's', ip_address: '192.0.2.6' }],
        'binding:host_id': 'h2',
        device_owner: 'compute:nova',
        port_security_enabled: true,
        security_groups: ['g'],
      }),
    ]
    const plan = buildPlan(
      {
        networks: [
          doc({
            id: 'n',
            'provider:network_type': 'vlan',
            'provider:physical_network': 'physnet1',
            'provider:segmentation_id': 1000,
            mtu: 1500,
          }),
        ],
        subnets: [doc({ id: 's', network_id: 'n', cidr: '192.0.2.0/24', enable_dhcp: false })],
        ports,
        groups: [doc({ id: 'g' })],
        rules: [
          doc({
            id: 'r1',
            security_group_id: 'g',
            direction: 'ingress',
            ethertype: 'IPv4',
            remote_group_id: 'g',
          }),
        ],
        routers: [],
        fips: [],
      },
      { host: 'h1', networkNode: false },
    )
    assert.deepEqual(
      plan.ports.map((p) => p.id),
      ['a1'],
    )
    // The remote group holds members on every host.
    assert.deepEqual([...plan.remoteGroups.get('g')!].sort(), ['192.0.2.128/25', '192.0.2.5', '192.0.2.6'])
    const script = renderRuleset('t', plan)
    assert.match(script, /elements = \{ "tapa1" \. fa:16:3e:00:00:01 \}/)
    assert.match(script, /"tapa1" \. 192\.0\.2\.5, "tapa1" \. 192\.0\.2\.128\/25/)
    assert.match(script, /chain sg_g_ingress \{\n\s+meta nfproto ipv4 ip saddr @sg_g_v4 accept comment "r1"/)
    assert.match(script, /chain ingress_1 \{\n\s+jump sg_g_ingress\n\s+drop/)
    assert.ok(script.startsWith(renderTeardown('t')))
  })

  it('a network node serves only the routers its L3 agent hosts (or never scheduled) and that are up', () => {
    const snapshot = {
      networks: [],
      subnets: [],
      ports: [],
      groups: [],
      rules: [],
      routers: [
        doc({ id: 'here', external_gateway_info: null }),
        doc({ id: 'moved', external_gateway_info: null }),
      ],
      fips: [],
    }
    const all = buildPlan(snapshot, { host: 'h1', networkNode: true })
    assert.deepEqual(
      all.routers.map((r) => r.id),
      ['here', 'moved'],
    )
    const some = buildPlan(snapshot, { host: 'h1', networkNode: true, routersElsewhere: new Set(['moved']) })
    assert.deepEqual(
      some.routers.map((r) => r.id),
      ['here'],
    )
    const down = buildPlan(
      { ...snapshot, routers: [doc({ id: 'here', external_gateway_info: null, admin_state_up: false })] },
      { host: 'h1', networkNode: true },
    )
    assert.deepEqual(down.routers, [])
  })

  it('renders a router’s NAT: floating IPs both ways, SNAT for the rest, metadata redirect', () => {
    const nat = natRuleset({
      id: 'r',
      interfaces: [{ portId: 'i1', networkId: 'n', mac: 'fa:16:3e:00:00:03', addresses: ['192.0.2.1/24'] }],
      gateway: {
        portId: 'g1',
        networkId: 'e',
        mac: 'fa:16:3e:00:00:04',
        addresses: ['203.0.113.2/24'],
        nexthop: '203.0.113.1',
      },
      snat: true,
      internalCidrs: ['192.0.2.0/24'],
      floatingIps: [{ floating: '203.0.113.10', fixed: '192.0.2.5' }],
    })
    assert.match(nat, /ip daddr 203\.0\.113\.10 dnat to 192\.0\.2\.5/)
    assert.match(nat, /ip saddr 192\.0\.2\.5 oifname "qg-g1" snat to 203\.0\.113\.10/)
    assert.match(nat, /ip saddr \{ 192\.0\.2\.0\/24 \} oifname "qg-g1" snat to 203\.0\.113\.2/)
    assert.match(nat, /ip daddr 169\.254\.169\.254 tcp dport 80 redirect to :9697/)
  })
})
