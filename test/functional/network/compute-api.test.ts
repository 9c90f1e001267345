import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { adminContext } from '../../../src/common/context.ts'
import { NetworkApi } from '../../../src/network/api.ts'
import type { NetworkService } from '../../../src/network/service.ts'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { Neutron } from './client.ts'

/** The in-process API compute uses: real ports, bound, visible through the Neutron API. */
describe('network API for compute', () => {
  let tc: TestCloud
  let api: Neutron
  let compute: NetworkApi
  let netId: string
  let projectId: string

  before(async () => {
    tc = await startTestCloud()
    api = await Neutron.connect(tc)
    compute = tc.cloud.service<NetworkService>('network').plugin.api
    const net = await api.create('networks', 'network', { name: 'private' })
    await api.create('subnets', 'subnet', {
      network_id: net.id,
      cidr: '192.0.2.0/28',
      ip_version: 4,
      enable_dhcp: false,
    })
    netId = net.id
    projectId = net.project_id
  })
  after(async () => tc?.stop())

  const ctx = () => ({ ...adminContext(), projectId })

  it('allocates a bound port per NIC, idempotently, and deallocates', async () => {
    const vifs = await compute.allocateForInstance(ctx(), {
      instanceUuid: 'inst-1',
      host: 'compute-1',
      requestedNetworks: [{ networkId: netId, address: '192.0.2.9' }],
    })
    assert.equal(vifs.length, 1)
    assert.equal(vifs[0]!.fixedIps[0]!.address, '192.0.2.9')
    assert.equal(vifs[0]!.devname, `tap${vifs[0]!.portId.slice(0, 11)}`)
    const { port } = await api.ok('GET', `/v2.0/ports/${vifs[0]!.portId}`, undefined, 200)
    assert.equal(port.device_id, 'inst-1')
    assert.equal(port.device_owner, 'compute:nova')
    assert.equal(port['binding:host_id'], 'compute-1')
    assert.equal(port.security_groups.length, 1)
    const again = await compute.allocateForInstance(ctx(), {
      instanceUuid: 'inst-1',
      host: 'compute-1',
      requestedNetworks: 'auto',
    })
    assert.deepEqual(
      again.map((v) => v.portId),
      [vifs[0]!.portId],
    )
    assert.deepEqual(
      NetworkApi.fixedIps(vifs).map((f) => f.address),
      ['192.0.2.9'],
    )
    assert.equal((await compute.listPortsForInstance(ctx(), { uuid: 'inst-1', projectId })).length, 1)
    await compute.deallocateForInstance(ctx(), { uuid: 'inst-1', projectId })
    assert.deepEqual(await compute.listPortsForInstance(ctx(), { uuid: 'inst-1', projectId }), [])
  })

  it('picks the only network for auto, adopts given ports and keeps them on deallocate', async () => {
    const [auto] = await compute.allocateForInstance(ctx(), {
      instanceUuid: 'inst-2',
      host: 'h',
      requestedNetworks: 'auto',
    })
    assert.equal(auto!.networkId, netId)
    const mine = await api.create('ports', 'port', { network_id: netId, project_id: projectId })
    const [adopted] = await compute.allocateForInstance(ctx(), {
      instanceUuid: 'inst-3',
      host: 'h',
      requestedNetworks: [{ portId: mine.id }],
    })
    assert.equal(adopted!.preserveOnDelete, true)
    await compute.deallocateForInstance(ctx(), { uuid: 'inst-3', projectId }, [mine.id])
    const { port } = await api.ok('GET', `/v2.0/ports/${mine.id}`, undefined, 200)
    assert.equal(port.device_id, '')
    assert.deepEqual(
      await compute.allocateForInstance(ctx(), {
        instanceUuid: 'inst-4',
        host: 'h',
        requestedNetworks: 'none',
      }),
      [],
    )
  })

  it('fails cleanly when the network is out of addresses, leaving no port behind', async () => {
    const before = (await api.ok('GET', `/v2.0/ports?network_id=${netId}`, undefined, 200)).ports.length
    const nics = Array.from({ length: 20 }, () => ({ networkId: netId }))
    await assert.rejects(
      compute.allocateForInstance(ctx(), { instanceUuid: 'inst-5', host: 'h', requestedNetworks: nics }),
      (err: Error & { detail?: { type?: string } }) => err.detail?.type === 'IpAddressGenerationFailure',
    )
    const after = (await api.ok('GET', `/v2.0/ports?network_id=${netId}`, undefined, 200)).ports.length
    assert.equal(after, before)
  })
})
