import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startComputeCloud, type Caller, type ComputeCloud } from './helpers.ts'

/** Nova's frozen extension list, as novaclient and Tempest's test_extensions read it. */
describe('compute: /extensions', () => {
  let cloud: ComputeCloud
  let member: Caller

  before(async () => {
    cloud = await startComputeCloud({ hosts: 1 })
    member = await cloud.newMember()
  })
  after(() => cloud?.stop())

  it('lists Nova v2.1 extensions to any user and shows one by alias', async () => {
    const list = await member.nova('GET', '/extensions')
    assert.equal(list.status, 200)
    const exts = list.body.extensions as Record<string, unknown>[]
    assert.equal(exts.length, 99)
    assert.ok(exts.some((e) => e.name === 'Hosts' && e.alias === 'os-hosts'))
    for (const e of exts) {
      assert.deepEqual(Object.keys(e).sort(), [
        'alias',
        'description',
        'links',
        'name',
        'namespace',
        'updated',
      ])
    }
    const one = await member.nova('GET', '/extensions/os-consoles')
    assert.equal(one.status, 200)
    assert.deepEqual(one.body, {
      extension: {
        alias: 'os-consoles',
        description: 'Interactive Console support.',
        links: [],
        name: 'Consoles',
        namespace: 'http://docs.openstack.org/compute/ext/fake_xml',
        updated: '2014-12-03T00:00:00Z',
      },
    })
    const missing = await member.nova('GET', '/extensions/os-nope')
    assert.equal(missing.status, 404)
    assert.equal(missing.body.itemNotFound.code, 404)
  })
})
