import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createNetwork, startComputeCloud, type Caller, type ComputeCloud } from './helpers.ts'

/** Server show/list views against Nova's (the fields Tempest's servers tests check). */
describe('compute: server views', () => {
  let cloud: ComputeCloud
  let member: Caller

  before(async () => {
    cloud = await startComputeCloud({ hosts: 1 })
    member = await cloud.newMember()
  })
  after(() => cloud?.stop())

  it('leaves security_groups out once every group is removed (Nova _add_security_grps)', async () => {
    const net = await createNetwork(cloud, member, 'views-net', '198.51.100.0/24')
    const id = await member.createServer({
      name: 'views-sg',
      flavorRef: '1',
      imageRef: cloud.imageId,
      networks: [{ uuid: net.networkId }],
    })
    await member.waitStatus(id)
    const before = (await member.nova('GET', `/servers/${id}`)).body.server
    assert.deepEqual(before.security_groups, [{ name: 'default' }])
    const removed = await member.nova('POST', `/servers/${id}/action`, {
      removeSecurityGroup: { name: 'default' },
    })
    assert.equal(removed.status, 202)
    const shown = (await member.nova('GET', `/servers/${id}`)).body.server
    assert.equal('security_groups' in shown, false, JSON.stringify(shown))
    const listed = (await member.nova('GET', '/servers/detail')).body.servers.find(
      (s: { id: string }) => s.id === id,
    )
    assert.equal('security_groups' in listed, false)
    await member.deleteServer(id)
  })
})
