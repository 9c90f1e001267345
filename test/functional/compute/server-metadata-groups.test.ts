import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startComputeCloud, type Caller, type ComputeCloud } from './helpers.ts'

describe('compute: server metadata and server groups', () => {
  let cloud: ComputeCloud
  let admin: Caller
  let member: Caller

  before(async () => {
    cloud = await startComputeCloud({ hosts: 2 })
    admin = cloud.admin
    member = await cloud.newMember()
  })
  after(() => cloud?.stop())

  const boot = async (
    caller: Caller,
    server: Record<string, unknown>,
    body: Record<string, unknown> = {},
  ) => {
    const res = await caller.nova(
      'POST',
      '/servers',
      { server: { networks: 'none', flavorRef: '1', imageRef: cloud.imageId, ...server }, ...body },
      '2.37',
    )
    assert.equal(res.status, 202, JSON.stringify(res.body))
    return caller.waitStatus(res.body.server.id as string, ['BUILD'], '2.71')
  }

  it('lists, merges, replaces, shows, sets and deletes metadata items', async () => {
    const server = await boot(member, { name: 'meta', metadata: { a: '1', b: '2' } })
    const path = `/servers/${server.id}/metadata`
    assert.deepEqual((await member.nova('GET', path)).body, { metadata: { a: '1', b: '2' } })
    const merged = await member.nova('POST', path, { metadata: { b: '3', c: '4' } })
    assert.equal(merged.status, 200)
    assert.deepEqual(merged.body, { metadata: { a: '1', b: '3', c: '4' } })
    const replaced = await member.nova('PUT', path, { metadata: { x: 'y' } })
    assert.deepEqual(replaced.body, { metadata: { x: 'y' } })
    assert.deepEqual((await member.nova('GET', `${path}/x`)).body, { meta: { x: 'y' } })
    const missing = await member.nova('GET', `${path}/nope`)
    assert.equal(missing.status, 404)
    assert.equal(missing.body.itemNotFound.message, 'Metadata item was not found')
    const one = await member.nova('PUT', `${path}/k`, { meta: { k: 'v' } })
    assert.equal(one.status, 200)
    assert.deepEqual(one.body, { meta: { k: 'v' } })
    const mismatch = await member.nova('PUT', `${path}/k`, { meta: { other: 'v' } })
    assert.equal(mismatch.status, 400)
    assert.equal(mismatch.body.badRequest.message, 'Request body and URI mismatch')
    const two = await member.nova('PUT', `${path}/k`, { meta: { k: 'v', l: 'w' } })
    assert.equal(two.status, 400)
    const long = await member.nova('POST', path, { metadata: { k: 'v'.repeat(256) } })
    assert.equal(long.status, 400)
    assert.equal((await member.nova('DELETE', `${path}/k`)).status, 204)
    assert.equal((await member.nova('DELETE', `${path}/k`)).status, 404)
    assert.deepEqual((await member.nova('GET', path)).body, { metadata: { x: 'y' } })
    const shown = await member.nova('GET', `/servers/${server.id}`)
    assert.deepEqual(shown.body.server.metadata, { x: 'y' })
    // Other projects' servers do not exist for a member.
    const other = await cloud.newMember()
    assert.equal((await other.nova('GET', path)).status, 404)
    assert.equal((await other.nova('POST', path, { metadata: { a: 'b' } })).status, 404)
  })

  it('refuses over the metadata_items quota (403), on a locked server (409) and outside settled states (409)', async () => {
    const caller = await cloud.newMember()
    const server = await boot(caller, { name: 'meta-limits' })
    const path = `/servers/${server.id}/metadata`
    const q = await admin.nova('PUT', `/os-quota-sets/${caller.projectId}`, {
      quota_set: { metadata_items: 2 },
    })
    assert.equal(q.status, 200)
    assert.equal((await caller.nova('POST', path, { metadata: { a: '1', b: '2' } })).status, 200)
    const over = await caller.nova('POST', path, { metadata: { c: '3' } })
    assert.equal(over.status, 403)
    assert.equal(over.body.forbidden.message, 'Maximum number of metadata items exceeds 2')
    assert.equal((await caller.nova('PUT', `${path}/c`, { meta: { c: '3' } })).status, 403)
    // Replacing keeps within the limit.
    assert.equal((await caller.nova('PUT', path, { metadata: { c: '3' } })).status, 200)

    assert.equal((await caller.nova('POST', `/servers/${server.id}/action`, { lock: null })).status, 202)
    const locked = await caller.nova('POST', path, { metadata: { d: '4' } })
    assert.equal(locked.status, 409)
    assert.equal(locked.body.conflictingRequest.message, `Instance ${server.id} is locked`)
    assert.equal((await caller.nova('DELETE', `${path}/c`)).status, 409)
    // An admin may change a locked server's metadata.
    assert.equal((await admin.nova('POST', path, { metadata: { d: '4' } })).status, 200)
    assert.equal((await caller.nova('POST', `/servers/${server.id}/action`, { unlock: null })).status, 202)

    const reset = await admin.nova('POST', `/servers/${server.id}/action`, {
      'os-resetState': { state: 'error' },
    })
    assert.equal(reset.status, 202)
    const refused = await caller.nova('POST', path, { metadata: { e: '5' } })
    assert.equal(refused.status, 409)
    assert.equal(
      refused.body.conflictingRequest.message,
      `Cannot 'update metadata' instance ${server.id} while it is in vm_state error`,
    )
    const del = await caller.nova('DELETE', `${path}/c`)
    assert.equal(del.status, 409)
    assert.match(del.body.conflictingRequest.message, /^Cannot 'delete metadata' instance .* vm_state error$/)
    // Reads stay allowed.
    assert.deepEqual((await caller.nova('GET', path)).body.metadata, { c: '3', d: '4' })
  })

  it('creates groups with the bodies of 2.1, 2.15 and 2.64 and shows them per microversion', async () => {
    const legacy = await member.nova('POST', '/os-server-groups', {
      server_group: { name: 'g1', policies: ['affinity'] },
    })
    assert.equal(legacy.status, 200)
    assert.deepEqual(Object.keys(legacy.body.server_group).sort(), [
      'id',
      'members',
      'metadata',
      'name',
      'policies',
    ])
    assert.deepEqual(legacy.body.server_group.policies, ['affinity'])
    assert.deepEqual(legacy.body.server_group.metadata, {})
    const soft21 = await member.nova('POST', '/os-server-groups', {
      server_group: { name: 'g', policies: ['soft-affinity'] },
    })
    assert.equal(soft21.status, 400)
    const soft = await member.nova(
      'POST',
      '/os-server-groups',
      { server_group: { name: 'g2', policies: ['soft-anti-affinity'] } },
      '2.15',
    )
    assert.equal(soft.status, 200)
    assert.equal(soft.body.server_group.project_id, member.projectId)
    assert.equal(soft.body.server_group.user_id, member.userId)
    const v264 = await member.nova(
      'POST',
      '/os-server-groups',
      { server_group: { name: 'g3', policy: 'anti-affinity', rules: { max_server_per_host: 2 } } },
      '2.64',
    )
    assert.equal(v264.status, 200)
    assert.equal(v264.body.server_group.policy, 'anti-affinity')
    assert.deepEqual(v264.body.server_group.rules, { max_server_per_host: 2 })
    assert.equal(v264.body.server_group.policies, undefined)
    const badRules = await member.nova(
      'POST',
      '/os-server-groups',
      { server_group: { name: 'g4', policy: 'affinity', rules: { max_server_per_host: 2 } } },
      '2.64',
    )
    assert.equal(badRules.status, 400)
    assert.equal(badRules.body.badRequest.message, 'Only anti-affinity policy supports rules.')
    const oldBody264 = await member.nova(
      'POST',
      '/os-server-groups',
      { server_group: { name: 'g5', policies: ['affinity'] } },
      '2.64',
    )
    assert.equal(oldBody264.status, 400)

    const id = v264.body.server_group.id
    const shown = await member.nova('GET', `/os-server-groups/${id}`, undefined, '2.13')
    assert.deepEqual(shown.body.server_group.policies, ['anti-affinity'])
    assert.equal(shown.body.server_group.rules, undefined)
    const list = await member.nova('GET', '/os-server-groups?limit=2&offset=1')
    assert.deepEqual(
      list.body.server_groups.map((g: { name: string }) => g.name),
      ['g2', 'g3'],
    )
    // Another project neither lists nor reads them; an admin lists them with all_projects.
    const other = await cloud.newMember()
    assert.deepEqual((await other.nova('GET', '/os-server-groups')).body.server_groups, [])
    assert.equal((await other.nova('GET', `/os-server-groups/${id}`)).status, 403)
    assert.equal((await other.nova('DELETE', `/os-server-groups/${id}`)).status, 403)
    const mine = (await admin.nova('GET', '/os-server-groups')).body.server_groups
    assert.equal(
      mine.some((g: { id: string }) => g.id === id),
      false,
    )
    const all = (await admin.nova('GET', '/os-server-groups?all_projects=True')).body.server_groups
    assert.equal(
      all.some((g: { id: string }) => g.id === id),
      true,
    )
    assert.equal((await member.nova('DELETE', `/os-server-groups/${id}`)).status, 204)
    const gone = await member.nova('GET', `/os-server-groups/${id}`)
    assert.equal(gone.status, 404)
    assert.equal(gone.body.itemNotFound.message, `Instance group ${id} could not be found.`)
  })

  it('places anti-affinity members on different hosts, refuses a third, and shows 2.71 server_groups', async () => {
    const caller = await cloud.newMember()
    const group = (
      await caller.nova('POST', '/os-server-groups', {
        server_group: { name: 'anti', policies: ['anti-affinity'] },
      })
    ).body.server_group
    const hint = { 'os:scheduler_hints': { group: group.id } }
    const a = await boot(caller, { name: 'anti-a' }, hint)
    const b = await boot(caller, { name: 'anti-b' }, hint)
    assert.equal(a.status, 'ACTIVE')
    assert.equal(b.status, 'ACTIVE')
    assert.deepEqual(a.server_groups, [group.id])
    const hostOf = async (id: string) =>
      (await admin.nova('GET', `/servers/${id}`)).body.server['OS-EXT-SRV-ATTR:host'] as string
    assert.notEqual(await hostOf(a.id), await hostOf(b.id))
    const members = (await caller.nova('GET', `/os-server-groups/${group.id}`)).body.server_group.members
    assert.deepEqual([...members].sort(), [a.id, b.id].sort())
    const c = await boot(caller, { name: 'anti-c' }, hint)
    assert.equal(c.status, 'ERROR')
    assert.match(c.fault.message, /ServerGroupAntiAffinityFilter rejected 2 of 2 hosts/)
    // A deleted server leaves its group.
    await caller.deleteServer(c.id)
    const after = (await caller.nova('GET', `/os-server-groups/${group.id}`)).body.server_group.members
    assert.deepEqual([...after].sort(), [a.id, b.id].sort())
    const before271 = await caller.nova('GET', `/servers/${a.id}`, undefined, '2.70')
    assert.equal(before271.body.server.server_groups, undefined)
    const unknown = await caller.nova(
      'POST',
      '/servers',
      {
        server: { name: 'x', networks: 'none', flavorRef: '1', imageRef: cloud.imageId },
        'os:scheduler_hints': { group: '5d3a3a4f-6a49-4d0e-9bd1-0d2b1cbd7f6e' },
      },
      '2.37',
    )
    assert.equal(unknown.status, 400)
    assert.equal(
      unknown.body.badRequest.message,
      'Instance group 5d3a3a4f-6a49-4d0e-9bd1-0d2b1cbd7f6e could not be found.',
    )
  })

  it('keeps affinity members together and honours max_server_per_host (2.64)', async () => {
    const caller = await cloud.newMember()
    const aff = (
      await caller.nova('POST', '/os-server-groups', {
        server_group: { name: 'aff', policies: ['affinity'] },
      })
    ).body.server_group
    const x = await boot(caller, { name: 'aff-x' }, { 'os:scheduler_hints': { group: aff.id } })
    const y = await boot(caller, { name: 'aff-y' }, { 'os:scheduler_hints': { group: aff.id } })
    const hostOf = async (id: string) =>
      (await admin.nova('GET', `/servers/${id}`)).body.server['OS-EXT-SRV-ATTR:host'] as string
    assert.equal(await hostOf(x.id), await hostOf(y.id))
    await caller.deleteServer(x.id)
    await caller.deleteServer(y.id)

    const two = (
      await caller.nova(
        'POST',
        '/os-server-groups',
        { server_group: { name: 'two', policy: 'anti-affinity', rules: { max_server_per_host: 2 } } },
        '2.64',
      )
    ).body.server_group
    const multi = await caller.nova(
      'POST',
      '/servers',
      {
        server: { name: 'm', networks: 'none', flavorRef: '1', imageRef: cloud.imageId, min_count: 4 },
        'os:scheduler_hints': { group: two.id },
      },
      '2.37',
    )
    assert.equal(multi.status, 202)
    const listed = (await caller.nova('GET', '/servers?name=^m-')).body.servers as { id: string }[]
    assert.equal(listed.length, 4)
    const hosts = new Map<string, number>()
    for (const s of listed) {
      const shown = await caller.waitStatus(s.id)
      assert.equal(shown.status, 'ACTIVE')
      const h = await hostOf(s.id)
      hosts.set(h, (hosts.get(h) ?? 0) + 1)
    }
    assert.deepEqual([...hosts.values()], [2, 2])
  })

  it('weighs soft-affinity members onto one host and counts groups in quota usage and limits', async () => {
    const caller = await cloud.newMember()
    const soft = (
      await caller.nova(
        'POST',
        '/os-server-groups',
        { server_group: { name: 'soft', policy: 'soft-affinity' } },
        '2.64',
      )
    ).body.server_group
    const hint = { 'os:scheduler_hints': { group: soft.id } }
    const hostOf = async (id: string) =>
      (await admin.nova('GET', `/servers/${id}`)).body.server['OS-EXT-SRV-ATTR:host'] as string
    const first = await boot(caller, { name: 'soft-1' }, hint)
    const second = await boot(caller, { name: 'soft-2' }, hint)
    // The RAM weigher alone would spread them; the soft-affinity weigher keeps them together.
    assert.equal(await hostOf(first.id), await hostOf(second.id))
    const detail = await caller.nova('GET', `/os-quota-sets/${caller.projectId}/detail`)
    assert.equal(detail.body.quota_set.server_groups.in_use, 1)
    const limits = await caller.nova('GET', '/limits')
    assert.equal(limits.body.limits.absolute.totalServerGroupsUsed, 1)
    await caller.deleteServer(first.id)
    await caller.deleteServer(second.id)
  })

  it('enforces the server_groups and server_group_members quotas (403)', async () => {
    const caller = await cloud.newMember()
    await admin.nova('PUT', `/os-quota-sets/${caller.projectId}`, {
      quota_set: { server_groups: 1, server_group_members: 1 },
    })
    const g = await caller.nova('POST', '/os-server-groups', {
      server_group: { name: 'q1', policies: ['affinity'] },
    })
    assert.equal(g.status, 200)
    const over = await caller.nova('POST', '/os-server-groups', {
      server_group: { name: 'q2', policies: ['affinity'] },
    })
    assert.equal(over.status, 403)
    assert.equal(over.body.forbidden.message, 'Quota exceeded, too many server groups.')
    const hint = { 'os:scheduler_hints': { group: g.body.server_group.id } }
    await boot(caller, { name: 'q-a' }, hint)
    const res = await caller.nova(
      'POST',
      '/servers',
      { server: { name: 'q-b', networks: 'none', flavorRef: '1', imageRef: cloud.imageId }, ...hint },
      '2.37',
    )
    assert.equal(res.status, 403)
    assert.equal(res.body.forbidden.message, 'Quota exceeded, too many servers in group')
  })
})
