import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { adminContext } from '../../../src/common/context.ts'
import type { ComputeHost } from '../../../src/compute/service.ts'
import type { FakeDriver } from '../../../src/compute/virt/fake/driver.ts'
import { NetworkRpcApi } from '../../../src/network/rpcapi.ts'
import {
  createNetwork,
  eventually,
  portsOf,
  startComputeCloud,
  type Caller,
  type ComputeCloud,
  type HttpResult,
} from './helpers.ts'

/**
 * Compute on Neutron ports: what server create asks for becomes real
 * ports bound to the build host; the API checks what Nova checks; ports go
 * away on delete and on every failure path; addresses come from the
 * instance's network info cache (fixed and floating); os-interface and the
 * security group proxy and actions.
 */

function fake(host: ComputeHost): FakeDriver {
  return host.driver as FakeDriver
}

describe('compute: networking on Neutron ports', () => {
  let cloud: ComputeCloud
  let member: Caller
  let net: { networkId: string; subnetId: string }

  /** A request to Neutron as `caller`. */
  async function neutron(caller: Caller, method: string, path: string, body?: unknown): Promise<HttpResult> {
    const res = await fetch(`${cloud.tc.url('network')}/v2.0${path}`, {
      method,
      headers: { 'x-auth-token': caller.token, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers }
  }

  async function create(caller: Caller, server: Record<string, unknown>, mv = '2.37'): Promise<HttpResult> {
    return caller.nova(
      'POST',
      '/servers',
      { server: { name: 'vm', imageRef: cloud.imageId, flavorRef: '1', ...server } },
      mv,
    )
  }

  async function boot(caller: Caller, server: Record<string, unknown>): Promise<any> {
    const res = await create(caller, server)
    assert.equal(res.status, 202, JSON.stringify(res.body))
    return caller.waitStatus(res.body.server.id, ['BUILD'], '2.3')
  }

  async function portOf(caller: Caller, serverId: string): Promise<any[]> {
    return (await neutron(caller, 'GET', `/ports?device_id=${serverId}`)).body.ports
  }

  before(async () => {
    cloud = await startComputeCloud({
      hosts: 2,
      config: { 'quota.instances': '-1', 'quota.cores': '-1', 'quota.ram': '-1' },
    })
    member = await cloud.newMember()
    net = await createNetwork(cloud, member, 'net1', '192.0.2.0/24')
  })
  after(() => cloud?.stop())

  describe('create', () => {
    it('boots on a network: a port bound to the host, addresses with MAC and type, ips routes', async () => {
      const server = await boot(member, { name: 'on-net1', networks: [{ uuid: net.networkId }] })
      assert.equal(server.status, 'ACTIVE')
      const [addr] = server.addresses.net1
      assert.match(addr.addr, /^192\.0\.2\./)
      assert.equal(addr.version, 4)
      assert.equal(addr['OS-EXT-IPS:type'], 'fixed')
      const [port] = await portOf(cloud.admin, server.id)
      assert.equal(port.network_id, net.networkId)
      assert.equal(port.mac_address, addr['OS-EXT-IPS-MAC:mac_addr'])
      assert.equal(port.fixed_ips[0].ip_address, addr.addr)
      assert.equal(port.device_owner, 'compute:nova')
      const asAdmin = (await cloud.admin.nova('GET', `/servers/${server.id}`, undefined, '2.3')).body.server
      assert.equal(port['binding:host_id'], asAdmin['OS-EXT-SRV-ATTR:host'])
      assert.equal(port.project_id, member.projectId)
      assert.equal(port.status, 'ACTIVE')
      const ips = await member.nova('GET', `/servers/${server.id}/ips`)
      assert.deepEqual(ips.body, { addresses: { net1: [{ version: 4, addr: addr.addr }] } })
      const one = await member.nova('GET', `/servers/${server.id}/ips/net1`)
      assert.deepEqual(one.body, { net1: [{ version: 4, addr: addr.addr }] })
      assert.equal((await member.nova('GET', `/servers/${server.id}/ips/other`)).status, 404)
      const filtered = await member.nova('GET', `/servers/detail?ip=${addr.addr.replaceAll('.', '\\.')}$`)
      assert.deepEqual(
        filtered.body.servers.map((s: { id: string }) => s.id),
        [server.id],
      )
      await member.deleteServer(server.id)
      assert.equal(await portsOf(cloud, server.id), 0, 'the port is deleted with the server')
    })

    it('takes a fixed IP on the network and a given port, which outlives the server unbound', async () => {
      const given = await neutron(member, 'POST', '/ports', {
        port: { network_id: net.networkId, name: 'mine' },
      })
      assert.equal(given.status, 201)
      const portId = given.body.port.id
      const server = await boot(member, {
        name: 'fixed-and-port',
        networks: [{ uuid: net.networkId, fixed_ip: '192.0.2.77' }, { port: portId }],
      })
      assert.equal(server.status, 'ACTIVE')
      assert.deepEqual(
        server.addresses.net1.map((a: { addr: string }) => a.addr),
        ['192.0.2.77', given.body.port.fixed_ips[0].ip_address],
      )
      assert.equal((await portOf(member, server.id)).length, 2)
      await member.deleteServer(server.id)
      const after = (await neutron(member, 'GET', `/ports/${portId}`)).body.port
      assert.equal(after.device_id, '')
      assert.equal(after.device_owner, '')
      assert.equal(await portsOf(cloud, server.id), 0)
      await neutron(member, 'DELETE', `/ports/${portId}`)
    })

    it('refuses what Nova refuses before a build, with its codes and messages', async () => {
      const missing = '9d5d3a55-5a8d-4b8a-a7a9-2c1c1b0b0c0d'
      const unknownNet = await create(member, { networks: [{ uuid: missing }] })
      assert.equal(unknownNet.status, 400)
      assert.equal(unknownNet.body.badRequest.message, `Network ${missing} could not be found.`)
      const unknownPort = await create(member, { networks: [{ port: missing }] })
      assert.equal(unknownPort.status, 400)
      assert.equal(unknownPort.body.badRequest.message, `Port id ${missing} could not be found.`)
      const holder = await boot(member, { name: 'holder', networks: [{ uuid: net.networkId }] })
      const [held] = await portOf(member, holder.id)
      const inUse = await create(member, { networks: [{ port: held.id }] })
      assert.equal(inUse.status, 409)
      assert.equal(inUse.body.conflictingRequest.message, `Port ${held.id} is still in use.`)
      const ipTaken = await create(member, {
        networks: [{ uuid: net.networkId, fixed_ip: held.fixed_ips[0].ip_address }],
      })
      assert.equal(ipTaken.status, 400)
      assert.match(ipTaken.body.badRequest.message, /is already in use on instance/)
      const outside = await create(member, { networks: [{ uuid: net.networkId, fixed_ip: '198.51.100.5' }] })
      assert.equal(outside.status, 400)
      const group = await create(member, { networks: 'auto', security_groups: [{ name: 'nope' }] })
      assert.equal(group.status, 400)
      assert.match(group.body.badRequest.message, /nope/)
      const many = await create(member, { networks: [{ port: held.id }], max_count: 2 })
      assert.equal(many.status, 400)
      await member.deleteServer(holder.id)
    })

    it('resolves auto to the only network; several are ambiguous (409), none is 400', async () => {
      const alone = await cloud.newMember()
      const none = await create(alone, { networks: 'auto' })
      assert.equal(none.status, 400)
      assert.equal(
        none.body.badRequest.message,
        `Unable to automatically allocate a network for project ${alone.projectId}`,
      )
      // Before 2.37 no `networks` means Nova's default: no NIC when the project has no network.
      const noNic = await create(alone, { name: 'no-nic' }, '2.1')
      assert.equal(noNic.status, 202)
      assert.deepEqual((await alone.waitStatus(noNic.body.server.id)).addresses, {})
      await alone.deleteServer(noNic.body.server.id)
      await createNetwork(cloud, alone, 'a', '198.51.100.0/24')
      const one = await boot(alone, { name: 'auto', networks: 'auto' })
      assert.ok(one.addresses.a)
      await alone.deleteServer(one.id)
      await createNetwork(cloud, alone, 'b', '203.0.113.0/24')
      const two = await create(alone, { networks: 'auto' })
      assert.equal(two.status, 409)
      assert.equal(
        two.body.conflictingRequest.message,
        'Multiple possible networks found, use a Network ID to be more specific.',
      )
    })
  })

  describe('no port is left after a failure', () => {
    it('failed spawn on every host (reschedules exhausted): ERROR and no port', async () => {
      const hosts = cloud.compute().hosts
      for (const h of hosts) fake(h).injectFailure('spawn:start', 'injected spawn failure')
      try {
        const server = await boot(member, { name: 'doomed', networks: [{ uuid: net.networkId }] })
        assert.equal(server.status, 'ERROR')
        assert.match(server.fault.message, /injected spawn failure/)
        assert.equal(await portsOf(cloud, server.id), 0)
        assert.deepEqual(server.addresses, {})
        await member.deleteServer(server.id)
      } finally {
        for (const h of hosts) fake(h).clearFaults()
      }
    })

    it('a given port is unbound, not deleted, when the build fails', async () => {
      const given = await neutron(member, 'POST', '/ports', { port: { network_id: net.networkId } })
      const hosts = cloud.compute().hosts
      for (const h of hosts) fake(h).injectFailure('spawn:define', 'no room')
      try {
        const server = await boot(member, { name: 'doomed-port', networks: [{ port: given.body.port.id }] })
        assert.equal(server.status, 'ERROR')
        const port = (await neutron(member, 'GET', `/ports/${given.body.port.id}`)).body.port
        assert.equal(port.device_id, '')
        assert.equal(port['binding:host_id'], undefined, 'binding is hidden from members')
        await member.deleteServer(server.id)
        assert.equal((await neutron(member, 'GET', `/ports/${given.body.port.id}`)).status, 200)
      } finally {
        for (const h of hosts) fake(h).clearFaults()
        await neutron(member, 'DELETE', `/ports/${given.body.port.id}`)
      }
    })

    it('NoValidHost: ERROR and no port', async () => {
      const flavor = await cloud.admin.nova('POST', '/flavors', {
        flavor: { name: 'enormous', ram: 10_000_000, vcpus: 1, disk: 1, id: 'enormous' },
      })
      assert.equal(flavor.status, 200)
      const server = await boot(member, {
        name: 'nohost',
        flavorRef: 'enormous',
        networks: [{ uuid: net.networkId }],
      })
      assert.equal(server.status, 'ERROR')
      assert.match(server.fault.message, /No valid host/)
      assert.equal(await portsOf(cloud, server.id), 0)
      await member.deleteServer(server.id)
    })

    it('a spawn that fails once is rescheduled: the second host owns the only port', async () => {
      const [first, second] = cloud.compute().hosts
      fake(first!).injectFailure('spawn:start', 'first host broken')
      fake(second!).injectFailure('spawn:start', 'second host broken', 1)
      try {
        const server = await boot(member, { name: 'retry', networks: [{ uuid: net.networkId }] })
        // One of the two hosts fails only once; the build ends where it succeeded.
        if (server.status === 'ACTIVE') {
          const ports = await portOf(cloud.admin, server.id)
          assert.equal(ports.length, 1)
          const host = (await cloud.admin.nova('GET', `/servers/${server.id}`, undefined, '2.3')).body.server[
            'OS-EXT-SRV-ATTR:host'
          ]
          assert.equal(ports[0]['binding:host_id'], host)
        } else {
          assert.equal(await portsOf(cloud, server.id), 0)
        }
        await member.deleteServer(server.id)
        assert.equal(await portsOf(cloud, server.id), 0)
      } finally {
        fake(first!).clearFaults()
        fake(second!).clearFaults()
      }
    })
  })

  describe('floating IPs', () => {
    it('a floating IP associated through Neutron shows as floating in addresses', async () => {
      const external = await createNetwork(cloud, cloud.admin, 'public', '203.0.113.0/24', {
        'router:external': true,
      })
      const router = await neutron(member, 'POST', '/routers', {
        router: { name: 'r1', external_gateway_info: { network_id: external.networkId } },
      })
      assert.equal(router.status, 201, JSON.stringify(router.body))
      const added = await neutron(member, 'PUT', `/routers/${router.body.router.id}/add_router_interface`, {
        subnet_id: net.subnetId,
      })
      assert.equal(added.status, 200, JSON.stringify(added.body))
      const server = await boot(member, { name: 'with-fip', networks: [{ uuid: net.networkId }] })
      const [port] = await portOf(member, server.id)
      const fip = await neutron(member, 'POST', '/floatingips', {
        floatingip: { floating_network_id: external.networkId, port_id: port.id },
      })
      assert.equal(fip.status, 201, JSON.stringify(fip.body))
      const address = fip.body.floatingip.floating_ip_address
      const shown = await eventually(async () => {
        const s = (await member.nova('GET', `/servers/${server.id}`)).body.server
        return s.addresses.net1.length === 2 ? s : undefined
      }, 'the floating IP in addresses')
      assert.deepEqual(
        shown.addresses.net1.map((a: any) => [a.addr, a['OS-EXT-IPS:type']]),
        [
          [port.fixed_ips[0].ip_address, 'fixed'],
          [address, 'floating'],
        ],
      )
      await neutron(member, 'PUT', `/floatingips/${fip.body.floatingip.id}`, {
        floatingip: { port_id: null },
      })
      await eventually(async () => {
        const s = (await member.nova('GET', `/servers/${server.id}`)).body.server
        return s.addresses.net1.length === 1 ? true : undefined
      }, 'the floating IP gone from addresses')
      // Nova's proxy: os-floating-ips and the addFloatingIp/removeFloatingIp actions (up to 2.43).
      const proxied = await member.nova('POST', '/os-floating-ips', { pool: 'public' })
      assert.equal(proxied.status, 200, JSON.stringify(proxied.body))
      const nfip = proxied.body.floating_ip
      assert.deepEqual(
        { ...nfip, id: undefined, ip: undefined },
        { id: undefined, ip: undefined, pool: 'public', fixed_ip: null, instance_id: null },
      )
      const poolsListed = await member.nova('GET', '/os-floating-ip-pools')
      assert.deepEqual(poolsListed.body, { floating_ip_pools: [{ name: 'public' }] })
      const listed = await member.nova('GET', '/os-floating-ips')
      assert.ok(listed.body.floating_ips.some((f: { id: string }) => f.id === nfip.id))
      const addFip = await member.nova('POST', `/servers/${server.id}/action`, {
        addFloatingIp: { address: nfip.ip },
      })
      assert.equal(addFip.status, 202, JSON.stringify(addFip.body))
      const shownFip = (await member.nova('GET', `/os-floating-ips/${nfip.id}`)).body.floating_ip
      assert.equal(shownFip.instance_id, server.id)
      assert.equal(shownFip.fixed_ip, port.fixed_ips[0].ip_address)
      await eventually(async () => {
        const a = (await member.nova('GET', `/servers/${server.id}`)).body.server.addresses.net1
        return a.some((x: any) => x.addr === nfip.ip && x['OS-EXT-IPS:type'] === 'floating')
          ? true
          : undefined
      }, 'the proxied floating IP in addresses')
      const again = await member.nova('POST', `/servers/${server.id}/action`, {
        removeFloatingIp: { address: address },
      })
      assert.equal(again.status, 409)
      assert.equal(
        again.body.conflictingRequest.message,
        `Floating IP ${address} is not associated with instance ${server.id}.`,
      )
      const removeFip = await member.nova('POST', `/servers/${server.id}/action`, {
        removeFloatingIp: { address: nfip.ip },
      })
      assert.equal(removeFip.status, 202)
      assert.equal(
        (await member.nova('GET', `/os-floating-ips/${nfip.id}`)).body.floating_ip.instance_id,
        null,
      )
      const late = await member.nova(
        'POST',
        `/servers/${server.id}/action`,
        { addFloatingIp: { address: nfip.ip } },
        '2.44',
      )
      assert.equal(late.status, 404)
      assert.equal((await member.nova('GET', '/os-floating-ips', undefined, '2.36')).status, 404)
      assert.equal((await member.nova('POST', '/os-floating-ips', { pool: 'nope' })).status, 404)
      assert.equal((await member.nova('GET', '/os-floating-ips/not-a-uuid')).status, 400)
      assert.equal((await member.nova('DELETE', `/os-floating-ips/${nfip.id}`)).status, 202)
      assert.equal((await member.nova('GET', `/os-floating-ips/${nfip.id}`)).status, 404)
      await member.deleteServer(server.id)
      await neutron(member, 'DELETE', `/floatingips/${fip.body.floatingip.id}`)
    })
  })

  describe('os-interface', () => {
    it('lists, attaches (network, port, fixed IP), shows and detaches interfaces', async () => {
      const server = await boot(member, { name: 'ifaces', networks: [{ uuid: net.networkId }] })
      const host = cloud.compute().hosts.find((h) => fake(h).nicsOf(server.id).length > 0)!
      const list = await member.nova('GET', `/servers/${server.id}/os-interface`)
      assert.equal(list.status, 200)
      assert.equal(list.body.interfaceAttachments.length, 1)
      const first = list.body.interfaceAttachments[0]
      assert.deepEqual(Object.keys(first).sort(), [
        'fixed_ips',
        'mac_addr',
        'net_id',
        'port_id',
        'port_state',
      ])
      assert.equal(first.net_id, net.networkId)

      const byNet = await member.nova(
        'POST',
        `/servers/${server.id}/os-interface`,
        { interfaceAttachment: { net_id: net.networkId, fixed_ips: [{ ip_address: '192.0.2.200' }] } },
        '2.70',
      )
      assert.equal(byNet.status, 200, JSON.stringify(byNet.body))
      assert.equal(byNet.body.interfaceAttachment.fixed_ips[0].ip_address, '192.0.2.200')
      assert.equal(byNet.body.interfaceAttachment.tag, null)
      const given = await neutron(member, 'POST', '/ports', { port: { network_id: net.networkId } })
      const byPort = await member.nova('POST', `/servers/${server.id}/os-interface`, {
        interfaceAttachment: { port_id: given.body.port.id },
      })
      assert.equal(byPort.status, 200, JSON.stringify(byPort.body))
      assert.equal(fake(host).nicsOf(server.id).length, 3)
      const shown = await member.nova('GET', `/servers/${server.id}/os-interface/${given.body.port.id}`)
      assert.equal(shown.body.interfaceAttachment.port_id, given.body.port.id)
      const addresses = (await member.nova('GET', `/servers/${server.id}`)).body.server.addresses.net1
      assert.equal(addresses.length, 3)

      const inUse = await member.nova('POST', `/servers/${server.id}/os-interface`, {
        interfaceAttachment: { port_id: given.body.port.id },
      })
      assert.equal(inUse.status, 409)
      const both = await member.nova('POST', `/servers/${server.id}/os-interface`, {
        interfaceAttachment: { port_id: given.body.port.id, net_id: net.networkId },
      })
      assert.equal(both.status, 400)
      const unknown = await member.nova('POST', `/servers/${server.id}/os-interface`, {
        interfaceAttachment: { net_id: '9d5d3a55-5a8d-4b8a-a7a9-2c1c1b0b0c0d' },
      })
      assert.equal(unknown.status, 404)

      const detachNet = await member.nova(
        'DELETE',
        `/servers/${server.id}/os-interface/${byNet.body.interfaceAttachment.port_id}`,
      )
      assert.equal(detachNet.status, 202)
      const detachPort = await member.nova(
        'DELETE',
        `/servers/${server.id}/os-interface/${given.body.port.id}`,
      )
      assert.equal(detachPort.status, 202)
      await eventually(
        async () => ((await portOf(member, server.id)).length === 1 ? true : undefined),
        'detached ports',
      )
      assert.equal(
        (await neutron(member, 'GET', `/ports/${byNet.body.interfaceAttachment.port_id}`)).status,
        404,
      )
      assert.equal((await neutron(member, 'GET', `/ports/${given.body.port.id}`)).body.port.device_id, '')
      assert.equal(fake(host).nicsOf(server.id).length, 1)
      await eventually(async () => {
        const a = (await member.nova('GET', `/servers/${server.id}`)).body.server.addresses.net1
        return a.length === 1 ? true : undefined
      }, 'addresses after detach')
      const gone = await member.nova('DELETE', `/servers/${server.id}/os-interface/${given.body.port.id}`)
      assert.equal(gone.status, 404)
      const missing = await member.nova('GET', `/servers/${server.id}/os-interface/${given.body.port.id}`)
      assert.equal(missing.status, 404)
      await member.deleteServer(server.id)
      await neutron(member, 'DELETE', `/ports/${given.body.port.id}`)
    })

    it('an interface attached to a server created without networks is found again by allocate_for_instance', async () => {
      const id = await member.createServer({ name: 'late-nic', imageRef: cloud.imageId, flavorRef: '1' })
      await member.waitStatus(id)
      const attached = await member.nova('POST', `/servers/${id}/os-interface`, {
        interfaceAttachment: { net_id: net.networkId },
      })
      assert.equal(attached.status, 200, JSON.stringify(attached.body))
      const other = cloud.compute().hosts.find((h) => fake(h).nicsOf(id).length === 0)!
      // What a rebuild or a move does on the (new) host: the ports come back, bound there.
      const vifs = await new NetworkRpcApi(cloud.tc.cloud.transport).allocateForInstance(adminContext(), {
        instanceUuid: id,
        projectId: member.projectId,
        host: other.host,
        requestedNetworks: 'none',
      })
      assert.deepEqual(
        vifs.map((v) => v.portId),
        [attached.body.interfaceAttachment.port_id],
      )
      const [port] = await portOf(cloud.admin, id)
      assert.equal(port['binding:host_id'], other.host)
      await member.deleteServer(id)
      assert.equal(await portsOf(cloud, id), 0)
    })

    it('refuses an attach to a server in ERROR (409) and answers 500 when the plug fails', async () => {
      const hosts = cloud.compute().hosts
      for (const h of hosts) fake(h).injectFailure('spawn:start', 'broken')
      const failed = await boot(member, { name: 'in-error', networks: [{ uuid: net.networkId }] })
      for (const h of hosts) fake(h).clearFaults()
      assert.equal(failed.status, 'ERROR')
      const refused = await member.nova('POST', `/servers/${failed.id}/os-interface`, {
        interfaceAttachment: { net_id: net.networkId },
      })
      assert.equal(refused.status, 409)
      assert.equal(
        refused.body.conflictingRequest.message,
        `Cannot 'attach_interface' instance ${failed.id} while it is in vm_state error`,
      )
      await member.deleteServer(failed.id)
      const server = await boot(member, { name: 'plug-fails', networks: [{ uuid: net.networkId }] })
      for (const h of hosts) fake(h).injectFailure('attach_interface', 'no PCI slot')
      try {
        const res = await member.nova('POST', `/servers/${server.id}/os-interface`, {
          interfaceAttachment: { net_id: net.networkId },
        })
        assert.equal(res.status, 500)
        assert.equal(res.body.computeFault.message, `Failed to attach network adapter device to ${server.id}`)
        assert.equal((await portOf(member, server.id)).length, 1, 'the new port is released again')
      } finally {
        for (const h of hosts) fake(h).clearFaults()
      }
      await member.deleteServer(server.id)
    })
  })

  describe('os-networks', () => {
    it("lists and shows the caller's networks in Nova's format; gone after 2.35", async () => {
      const list = await member.nova('GET', '/os-networks')
      assert.equal(list.status, 200)
      const mine = list.body.networks.find((n: { id: string }) => n.id === net.networkId)
      assert.equal(mine.label, 'net1')
      assert.equal(mine.cidr, null)
      assert.equal('project_id' in mine, false, 'admin fields are for admins')
      const shown = await member.nova('GET', `/os-networks/${net.networkId}`)
      assert.equal(shown.body.network.label, 'net1')
      const missing = await member.nova('GET', '/os-networks/9d5d3a55-5a8d-4b8a-a7a9-2c1c1b0b0c0d')
      assert.equal(missing.status, 404)
      assert.equal(missing.body.itemNotFound.message, 'Network not found')
      assert.equal((await member.nova('GET', '/os-networks', undefined, '2.36')).status, 404)
    })

    it('os-tenant-networks lists and shows them as Nova does (cidr "None"); gone after 2.35', async () => {
      const list = await member.nova('GET', '/os-tenant-networks')
      assert.equal(list.status, 200, JSON.stringify(list.body))
      const mine = list.body.networks.find((n: { id: string }) => n.id === net.networkId)
      assert.deepEqual(mine, { id: net.networkId, cidr: 'None', label: 'net1' })
      const shown = await member.nova('GET', `/os-tenant-networks/${net.networkId}`)
      assert.equal(shown.status, 200)
      assert.deepEqual(shown.body, { network: { id: net.networkId, cidr: 'None', label: 'net1' } })
      const missing = await member.nova('GET', '/os-tenant-networks/9d5d3a55-5a8d-4b8a-a7a9-2c1c1b0b0c0d')
      assert.equal(missing.status, 404)
      assert.equal(missing.body.itemNotFound.message, 'Network not found')
      assert.equal((await member.nova('GET', '/os-tenant-networks', undefined, '2.36')).status, 404)
    })
  })

  describe('os-multinic', () => {
    it('addFixedIp puts a second address of the network on the port, removeFixedIp takes it off; gone from 2.44', async () => {
      const server = await boot(member, { name: 'multinic', networks: [{ uuid: net.networkId }] })
      const addrs = async () => {
        const res = await member.nova('GET', `/servers/${server.id}/ips`)
        return ((res.body.addresses.net1 ?? []) as { addr: string }[]).map((a) => a.addr).sort()
      }
      const waitCount = async (n: number) => {
        const deadline = Date.now() + 2_000
        while ((await addrs()).length !== n && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 20))
        return addrs()
      }
      const before = await addrs()
      assert.equal(before.length, 1)
      const add = await member.nova(
        'POST',
        `/servers/${server.id}/action`,
        { addFixedIp: { networkId: net.networkId } },
        '2.43',
      )
      assert.equal(add.status, 202, JSON.stringify(add.body))
      const two = await waitCount(2)
      assert.equal(two.length, 2, two.join(' '))
      const added = two.find((a) => !before.includes(a))!
      const [port] = await portOf(member, server.id)
      assert.equal(port.fixed_ips.length, 2)
      const remove = await member.nova(
        'POST',
        `/servers/${server.id}/action`,
        { removeFixedIp: { address: added } },
        '2.43',
      )
      assert.equal(remove.status, 202)
      assert.deepEqual(await waitCount(1), before)
      const bad = await member.nova('POST', `/servers/${server.id}/action`, { addFixedIp: {} }, '2.43')
      assert.equal(bad.status, 400)
      const gone = await member.nova(
        'POST',
        `/servers/${server.id}/action`,
        { addFixedIp: { networkId: net.networkId } },
        '2.44',
      )
      assert.equal(gone.status, 404)
      await member.deleteServer(server.id)
    })
  })

  describe('security groups', () => {
    it("a server's security_groups are its ports' groups: none without port security, the new ones after a port update", async () => {
      const open = await createNetwork(cloud, member, 'no-sec', '198.51.100.0/24', {
        port_security_enabled: false,
      })
      const bare = await boot(member, {
        name: 'bare',
        networks: [{ uuid: open.networkId }],
        security_groups: [],
      })
      assert.equal(bare.status, 'ACTIVE')
      const [port] = await portOf(member, bare.id)
      assert.deepEqual(port.security_groups, [])
      const shown = await member.nova('GET', `/servers/${bare.id}`)
      assert.equal(
        'security_groups' in shown.body.server,
        false,
        JSON.stringify(shown.body.server.security_groups),
      )
      await member.deleteServer(bare.id)
      const server = await boot(member, { name: 'moved', networks: [{ uuid: net.networkId }] })
      const group = await neutron(member, 'POST', '/security-groups', {
        security_group: { name: 'icmp-only' },
      })
      assert.equal(group.status, 201)
      const [p] = await portOf(member, server.id)
      const updated = await neutron(member, 'PUT', `/ports/${p.id}`, {
        port: { security_groups: [group.body.security_group.id] },
      })
      assert.equal(updated.status, 200)
      // Neutron's network-changed reaches compute right after the update (not within the request).
      const deadline = Date.now() + 2_000
      let after = await member.nova('GET', `/servers/${server.id}`)
      while (after.body.server.security_groups?.[0]?.name !== 'icmp-only' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20))
        after = await member.nova('GET', `/servers/${server.id}`)
      }
      assert.deepEqual(after.body.server.security_groups, [{ name: 'icmp-only' }])
      await member.deleteServer(server.id)
      const deleted = await neutron(member, 'DELETE', `/security-groups/${group.body.security_group.id}`)
      assert.equal(deleted.status, 204)
    })

    it('the create response echoes the requested security_groups, an empty list too (default when none)', async () => {
      const none = await create(member, { networks: [{ uuid: net.networkId }], security_groups: [] })
      assert.equal(none.status, 202, JSON.stringify(none.body))
      assert.deepEqual(none.body.server.security_groups, [])
      const unset = await create(member, { networks: [{ uuid: net.networkId }] })
      assert.equal(unset.status, 202, JSON.stringify(unset.body))
      assert.deepEqual(unset.body.server.security_groups, [{ name: 'default' }])
      for (const id of [none.body.server.id, unset.body.server.id]) {
        await member.waitStatus(id, ['BUILD'], '2.3')
        await member.deleteServer(id)
      }
    })

    it('os-security-groups CRUD and rules in Nova format; gone after 2.35', async () => {
      const created = await member.nova('POST', '/os-security-groups', {
        security_group: { name: 'web', description: 'web servers' },
      })
      assert.equal(created.status, 200)
      const group = created.body.security_group
      assert.deepEqual(
        { name: group.name, description: group.description, tenant_id: group.tenant_id, rules: group.rules },
        { name: 'web', description: 'web servers', tenant_id: member.projectId, rules: [] },
      )
      const rule = await member.nova('POST', '/os-security-group-rules', {
        security_group_rule: {
          parent_group_id: group.id,
          ip_protocol: 'tcp',
          from_port: 80,
          to_port: 80,
          cidr: '198.51.100.0/24',
        },
      })
      assert.equal(rule.status, 200, JSON.stringify(rule.body))
      assert.deepEqual(
        { ...rule.body.security_group_rule, id: undefined },
        {
          id: undefined,
          parent_group_id: group.id,
          ip_protocol: 'tcp',
          from_port: 80,
          to_port: 80,
          group: {},
          ip_range: { cidr: '198.51.100.0/24' },
        },
      )
      const dup = await member.nova('POST', '/os-security-group-rules', {
        security_group_rule: {
          parent_group_id: group.id,
          ip_protocol: 'tcp',
          from_port: 80,
          to_port: 80,
          cidr: '198.51.100.0/24',
        },
      })
      assert.equal(dup.status, 400)
      const badPorts = await member.nova('POST', '/os-security-group-rules', {
        security_group_rule: { parent_group_id: group.id, ip_protocol: 'tcp', from_port: 90, to_port: 80 },
      })
      assert.equal(badPorts.status, 400)
      assert.equal(
        badPorts.body.badRequest.message,
        'Invalid port range 90:80. Former value cannot be greater than the later',
      )
      const neutronRules = (
        await neutron(member, 'GET', `/security-group-rules?security_group_id=${group.id}`)
      ).body.security_group_rules
      assert.ok(neutronRules.some((r: any) => r.direction === 'ingress' && r.port_range_min === 80))
      const shown = await member.nova('GET', `/os-security-groups/${group.id}`)
      assert.equal(shown.body.security_group.rules.length, 1)
      const list = await member.nova('GET', '/os-security-groups')
      assert.deepEqual(
        list.body.security_groups.map((g: { name: string }) => g.name),
        ['default', 'web'],
      )
      const updated = await member.nova('PUT', `/os-security-groups/${group.id}`, {
        security_group: { name: 'web2', description: 'renamed' },
      })
      assert.equal(updated.body.security_group.name, 'web2')
      assert.equal(
        (await member.nova('DELETE', `/os-security-group-rules/${rule.body.security_group_rule.id}`)).status,
        202,
      )
      assert.equal((await member.nova('GET', '/os-security-groups/not-a-uuid')).status, 400)
      assert.equal((await member.nova('DELETE', '/os-security-groups')).status, 404)
      const peer = (
        await member.nova('POST', '/os-security-groups', {
          security_group: { name: 'peer', description: '' },
        })
      ).body.security_group
      const fromPeer = await member.nova('POST', '/os-security-group-rules', {
        security_group_rule: {
          parent_group_id: group.id,
          ip_protocol: 'tcp',
          from_port: 22,
          to_port: 22,
          group_id: peer.id,
        },
      })
      assert.equal(fromPeer.status, 200, JSON.stringify(fromPeer.body))
      assert.deepEqual(fromPeer.body.security_group_rule.group, { name: 'peer', tenant_id: member.projectId })
      // Deleting a group other groups' rules name takes those rules with it, as Neutron.
      assert.equal((await member.nova('DELETE', `/os-security-groups/${peer.id}`)).status, 202)
      const withoutPeer = (await member.nova('GET', `/os-security-groups/${group.id}`)).body.security_group
      assert.equal(withoutPeer.rules.length, 0)
      assert.equal((await member.nova('GET', '/os-security-groups', undefined, '2.36')).status, 404)
      assert.equal((await member.nova('DELETE', `/os-security-groups/${group.id}`)).status, 202)
      assert.equal((await member.nova('GET', `/os-security-groups/${group.id}`)).status, 404)
    })

    it('create with groups puts them on the ports; add/removeSecurityGroup change every port', async () => {
      const web = (
        await member.nova('POST', '/os-security-groups', { security_group: { name: 'web', description: '' } })
      ).body.security_group
      const db = (
        await member.nova('POST', '/os-security-groups', { security_group: { name: 'db', description: '' } })
      ).body.security_group
      const server = await boot(member, {
        name: 'grouped',
        networks: [{ uuid: net.networkId }, { uuid: net.networkId }],
        security_groups: [{ name: 'web' }],
      })
      assert.equal(server.status, 'ACTIVE')
      const groupsOfPorts = async () =>
        (await portOf(member, server.id)).map((p) => [...p.security_groups].sort())
      assert.deepEqual(await groupsOfPorts(), [[web.id], [web.id]])
      const add = await member.nova('POST', `/servers/${server.id}/action`, {
        addSecurityGroup: { name: 'db' },
      })
      assert.equal(add.status, 202)
      assert.deepEqual(await groupsOfPorts(), [[db.id, web.id].sort(), [db.id, web.id].sort()])
      const view = (await member.nova('GET', `/servers/${server.id}`)).body.server
      assert.deepEqual(view.security_groups, [{ name: 'db' }, { name: 'web' }])
      const listed = await member.nova('GET', `/servers/${server.id}/os-security-groups`)
      assert.deepEqual(
        listed.body.security_groups.map((g: { name: string }) => g.name),
        ['db', 'web'],
      )
      const remove = await member.nova('POST', `/servers/${server.id}/action`, {
        removeSecurityGroup: { name: 'web' },
      })
      assert.equal(remove.status, 202)
      assert.deepEqual(await groupsOfPorts(), [[db.id], [db.id]])
      const notThere = await member.nova('POST', `/servers/${server.id}/action`, {
        removeSecurityGroup: { name: 'web' },
      })
      assert.equal(notThere.status, 404)
      assert.equal(
        notThere.body.itemNotFound.message,
        `Security group web not associated with the instance ${server.id}`,
      )
      const unknown = await member.nova('POST', `/servers/${server.id}/action`, {
        addSecurityGroup: { name: 'nope' },
      })
      assert.equal(unknown.status, 404)
      const empty = await member.nova('POST', `/servers/${server.id}/action`, {
        addSecurityGroup: { name: ' ' },
      })
      assert.equal(empty.status, 400)
      const noPorts = await member.createServer({ name: 'bare', imageRef: cloud.imageId, flavorRef: '1' })
      await member.waitStatus(noPorts)
      const nothing = await member.nova('POST', `/servers/${noPorts}/action`, {
        addSecurityGroup: { name: 'db' },
      })
      assert.equal(nothing.status, 404)
      await member.deleteServer(noPorts)
      await member.deleteServer(server.id)
      assert.equal(await portsOf(cloud, server.id), 0)
    })
  })
})
