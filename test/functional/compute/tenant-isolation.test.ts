import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { signInstanceId } from '../../../src/metadata/signature.ts'
import { createNetwork, startComputeCloud, WAIT_TIMEOUT_MS, type Caller, type ComputeCloud } from './helpers.ts'

const SECRET = 'tenant-isolation-test-secret'

/**
 * Issue #17, finding 1: a port of another project whose `device_id` names a
 * server never becomes one of that server's NICs — not in os-interface,
 * not in the metadata's network_data.json, not after shelve/unshelve (which
 * re-runs the port allocation), and the server's delete leaves it alone.
 * The owner of the port cannot write another project's server id into
 * `device_id` in the first place (DeviceIDNotOwnedByTenant); the port in
 * these tests is made by the admin, as a port left from before that rule.
 */
describe('compute: a foreign port naming a server is not the server’s NIC', () => {
  let cloud: ComputeCloud
  let alice: Caller
  let bob: Caller
  let aliceNet: { networkId: string; subnetId: string }
  let bobNet: { networkId: string; subnetId: string }
  let serverId = ''
  let foreignPortId = ''

  async function neutron(caller: Caller, method: string, path: string, body?: unknown) {
    const res = await fetch(`${cloud.tc.url('network')}/v2.0${path}`, {
      method,
      headers: { 'x-auth-token': caller.token, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : undefined }
  }

  /** The server's network_data.json as the metadata proxy asks for it (signed instance id). */
  async function networkData(): Promise<any> {
    const url = cloud.tc.endpoint('metadata').url.replace(/\/$/, '')
    const res = await fetch(`${url}/openstack/latest/network_data.json`, {
      headers: {
        'x-instance-id': serverId,
        'x-tenant-id': alice.projectId,
        'x-instance-id-signature': signInstanceId(SECRET, serverId),
        'x-forwarded-for': '192.0.2.10',
      },
    })
    assert.equal(res.status, 200)
    return res.json()
  }

  /** Waits until no task runs on the server; returns it. */
  async function settled(id: string): Promise<any> {
    const deadline = Date.now() + WAIT_TIMEOUT_MS
    for (;;) {
      const res = await alice.nova('GET', `/servers/${id}`)
      assert.equal(res.status, 200)
      if (res.body.server['OS-EXT-STS:task_state'] === null) return res.body.server
      if (Date.now() > deadline) throw new Error(`server ${id} still busy`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  async function interfaces(): Promise<string[]> {
    const res = await alice.nova('GET', `/servers/${serverId}/os-interface`)
    assert.equal(res.status, 200)
    return res.body.interfaceAttachments.map((a: { port_id: string }) => a.port_id)
  }

  before(async () => {
    cloud = await startComputeCloud({
      hosts: 1,
      config: { 'metadata.metadata_proxy_shared_secret': SECRET, 'compute.shelved_offload_time': '0' },
    })
    alice = await cloud.newMember()
    bob = await cloud.newMember()
    aliceNet = await createNetwork(cloud, alice, 'alice-net', '192.0.2.0/24')
    bobNet = await createNetwork(cloud, bob, 'bob-net', '198.51.100.0/24')
    serverId = await alice.createServer({
      name: 'victim',
      imageRef: cloud.imageId,
      flavorRef: '1',
      networks: [{ uuid: aliceNet.networkId }],
    })
    assert.equal((await alice.waitStatus(serverId)).status, 'ACTIVE')
  })
  after(() => cloud?.stop())

  it('the owner of a port may not name another project’s server as its device (409)', async () => {
    const create = await neutron(bob, 'POST', '/ports', {
      port: { network_id: bobNet.networkId, device_id: serverId, device_owner: 'compute:nova' },
    })
    assert.equal(create.status, 409, JSON.stringify(create.body))
    assert.equal(create.body.NeutronError.type, 'DeviceIDNotOwnedByTenant')
    const own = await neutron(bob, 'POST', '/ports', { port: { network_id: bobNet.networkId } })
    assert.equal(own.status, 201)
    const update = await neutron(bob, 'PUT', `/ports/${own.body.port.id}`, {
      port: { device_id: serverId, device_owner: 'compute:nova' },
    })
    assert.equal(update.status, 409, JSON.stringify(update.body))
    assert.equal(update.body.NeutronError.type, 'DeviceIDNotOwnedByTenant')
    // Its own servers' ids, and ids naming nothing, stay free to use, as in Neutron.
    const free = await neutron(bob, 'PUT', `/ports/${own.body.port.id}`, { port: { device_id: 'anything' } })
    assert.equal(free.status, 200)
    await neutron(bob, 'DELETE', `/ports/${own.body.port.id}`)
  })

  it('os-interface and network_data.json list only the server’s own ports', async () => {
    const injected = await neutron(cloud.admin, 'POST', '/ports', {
      port: {
        network_id: bobNet.networkId,
        project_id: bob.projectId,
        device_id: serverId,
        device_owner: 'compute:nova',
      },
    })
    assert.equal(injected.status, 201, JSON.stringify(injected.body))
    foreignPortId = injected.body.port.id
    const ports = await interfaces()
    assert.equal(ports.length, 1)
    assert.notEqual(ports[0], foreignPortId)
    const shown = await alice.nova('GET', `/servers/${serverId}/os-interface/${foreignPortId}`)
    assert.equal(shown.status, 404)
    const data = await networkData()
    assert.deepEqual(
      data.networks.map((n: { network_id: string }) => n.network_id),
      [aliceNet.networkId],
    )
    assert.ok(!JSON.stringify(data).includes(foreignPortId))
  })

  it('after shelve and unshelve the server has no address on the other project’s network', async () => {
    assert.equal(
      (await alice.nova('POST', `/servers/${serverId}/action`, { shelve: null })).status,
      202,
    )
    assert.equal((await settled(serverId)).status, 'SHELVED_OFFLOADED')
    assert.equal(
      (await alice.nova('POST', `/servers/${serverId}/action`, { unshelve: null })).status,
      202,
    )
    const server = await settled(serverId)
    assert.equal(server.status, 'ACTIVE')
    assert.deepEqual(Object.keys(server.addresses), ['alice-net'])
    assert.equal((await interfaces()).length, 1)
    const port = (await neutron(cloud.admin, 'GET', `/ports/${foreignPortId}`)).body.port
    assert.equal(port['binding:host_id'], '', 'the foreign port was not bound to the server’s host')
    const data = await networkData()
    assert.ok(!JSON.stringify(data).includes(foreignPortId))
  })

  it('deleting the server leaves the other project’s port in place', async () => {
    await alice.deleteServer(serverId)
    const port = await neutron(cloud.admin, 'GET', `/ports/${foreignPortId}`)
    assert.equal(port.status, 200)
    assert.equal(port.body.port.project_id, bob.projectId)
  })
})
