import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createScratchDatabase, DIALECTS, type ScratchDatabase } from '../../unit/db/backends.ts'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { Neutron } from './client.ts'

/** Creates fired at once: far more than the limit, so that a check outside the insert's transaction over-admits. */
const CONCURRENT_CREATES = 20
const NETWORK_LIMIT = 3
const PORT_LIMIT = 4

/**
 * Issue #17 finding 8: the network quota holds under concurrent creates.
 * The check runs inside the transaction that inserts, under the project's
 * quota lock (PostgreSQL advisory lock; SQLite's write lock), so requests
 * racing each other each count the others' rows.
 */
for (const dialect of DIALECTS)
  describe(`network quota under concurrent creates (${dialect})`, () => {
    let tc: TestCloud
    let admin: Neutron
    let member: Neutron
    let projectId: string
    let scratch: ScratchDatabase | undefined

    before(async () => {
      scratch = dialect === 'postgres' ? await createScratchDatabase('postgres') : undefined
      tc = await startTestCloud(scratch ? { config: { 'database.connection': scratch.url } } : {})
      admin = await Neutron.connect(tc)
      member = await admin.member(tc, `quota-race-${dialect}`)
      projectId = (await member.create('security-groups', 'security_group', { name: 'probe' })).project_id
      await admin.ok(
        'PUT',
        `/v2.0/quotas/${projectId}`,
        { quota: { network: NETWORK_LIMIT, port: PORT_LIMIT } },
        200,
      )
    })
    after(async () => {
      await tc?.stop()
      await scratch?.drop()
    })

    /** Fires `n` requests at once; returns their statuses. */
    async function race(n: number, request: (i: number) => Promise<{ status: number }>): Promise<number[]> {
      return (await Promise.all(Array.from({ length: n }, (_, i) => request(i)))).map((r) => r.status)
    }

    it(`admits exactly ${NETWORK_LIMIT} of ${CONCURRENT_CREATES} concurrent network creates`, async () => {
      const statuses = await race(CONCURRENT_CREATES, (i) =>
        member.req('POST', '/v2.0/networks', { network: { name: `race-${i}` } }),
      )
      assert.equal(statuses.filter((s) => s === 201).length, NETWORK_LIMIT, JSON.stringify(statuses))
      assert.equal(statuses.filter((s) => s === 409).length, CONCURRENT_CREATES - NETWORK_LIMIT)
      const { networks } = await member.ok('GET', '/v2.0/networks', undefined, 200)
      const own = networks.filter((n: { project_id: string }) => n.project_id === projectId)
      assert.equal(own.length, NETWORK_LIMIT)
    })

    it(`admits exactly ${PORT_LIMIT} of ${CONCURRENT_CREATES} concurrent port creates`, async () => {
      const { networks } = await member.ok('GET', '/v2.0/networks', undefined, 200)
      const net = networks.find((n: { project_id: string }) => n.project_id === projectId)
      const statuses = await race(CONCURRENT_CREATES, () =>
        member.req('POST', '/v2.0/ports', { port: { network_id: net.id } }),
      )
      assert.equal(statuses.filter((s) => s === 201).length, PORT_LIMIT, JSON.stringify(statuses))
      const { quota } = await member.ok('GET', `/v2.0/quotas/${projectId}/details`, undefined, 200)
      assert.equal(quota.port.used, PORT_LIMIT)
    })
  })
