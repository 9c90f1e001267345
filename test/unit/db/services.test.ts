import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { NotFound } from '../../../src/common/errors.ts'
import { migrateToLatest } from '../../../src/db/migrate.ts'
import {
  deleteService,
  getService,
  listServices,
  recordHeartbeat,
  registerService,
  setServiceDisabled,
  setServiceForcedDown,
} from '../../../src/db/services.ts'
import { DIALECTS, TEST_TIMEOUT_MS, useScratchDatabase } from './backends.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const PARALLEL_HEARTBEATS = 50

for (const dialect of DIALECTS) {
  describe(`services table on ${dialect}`, { timeout: TEST_TIMEOUT_MS }, () => {
    const db = useScratchDatabase(dialect, async (d) => {
      await migrateToLatest(d)
    })
    const k = () => db().kysely

    it('registers a service with defaults', async () => {
      const row = await registerService(k(), { host: 'node1', binary: 'nova-compute', topic: 'compute' })
      assert.equal(typeof row.id, 'number')
      assert.match(row.uuid, UUID)
      assert.deepEqual(
        { ...row, id: 0, uuid: '', created_at: '' },
        {
          id: 0,
          uuid: '',
          host: 'node1',
          binary: 'nova-compute',
          topic: 'compute',
          report_count: 0,
          disabled: false,
          disabled_reason: null,
          forced_down: false,
          last_seen_at: null,
          created_at: '',
          updated_at: null,
        },
      )
    })

    it('keeps the same row when a service registers again', async () => {
      const first = await getService(k(), { host: 'node1', binary: 'nova-compute' })
      await setServiceDisabled(k(), { id: first.id }, true, 'kept across restarts')
      const again = await registerService(k(), { host: 'node1', binary: 'nova-compute', topic: 'compute.v2' })
      assert.equal(again.id, first.id)
      assert.equal(again.uuid, first.uuid)
      assert.equal(again.topic, 'compute.v2')
      assert.equal(again.disabled, true)
      assert.equal(again.disabled_reason, 'kept across restarts')
      await setServiceDisabled(k(), { id: first.id }, false)
    })

    it('records heartbeats by id, uuid or host and binary', async () => {
      const s = await registerService(k(), { host: 'node2', binary: 'nova-compute', topic: 'compute' })
      await recordHeartbeat(k(), { id: s.id })
      await recordHeartbeat(k(), { uuid: s.uuid })
      const row = await recordHeartbeat(k(), { host: 'node2', binary: 'nova-compute' })
      assert.equal(row.report_count, 3)
      assert.ok(row.last_seen_at !== null && row.last_seen_at >= row.created_at)
      assert.equal(row.updated_at, row.last_seen_at)
    })

    it(`loses no update under ${PARALLEL_HEARTBEATS} parallel heartbeats`, async () => {
      const s = await registerService(k(), { host: 'busy', binary: 'nova-conductor', topic: 'conductor' })
      await Promise.all(Array.from({ length: PARALLEL_HEARTBEATS }, () => recordHeartbeat(k(), { id: s.id })))
      assert.equal((await getService(k(), { id: s.id })).report_count, PARALLEL_HEARTBEATS)
    })

    it('lists services, oldest first, filtered by host and binary', async () => {
      await registerService(k(), { host: 'node1', binary: 'nova-network', topic: null })
      const all = await listServices(k())
      assert.deepEqual(
        all.map((s) => s.id),
        [...all.map((s) => s.id)].sort((a, b) => a - b),
      )
      assert.deepEqual(
        (await listServices(k(), { host: 'node1' })).map((s) => s.binary),
        ['nova-compute', 'nova-network'],
      )
      assert.deepEqual(
        (await listServices(k(), { host: 'node1', binary: 'nova-network' })).map((s) => s.topic),
        [null],
      )
      assert.equal((await listServices(k(), { binary: 'nova-compute' })).length, 2)
    })

    it('disables with a reason and clears the reason on enable', async () => {
      const ref = { host: 'node2', binary: 'nova-compute' }
      const off = await setServiceDisabled(k(), ref, true, 'hardware check')
      assert.equal(off.disabled, true)
      assert.equal(off.disabled_reason, 'hardware check')
      const on = await setServiceDisabled(k(), ref, false, 'ignored')
      assert.equal(on.disabled, false)
      assert.equal(on.disabled_reason, null)
    })

    it('sets and clears forced_down', async () => {
      const ref = { host: 'node2', binary: 'nova-compute' }
      assert.equal((await setServiceForcedDown(k(), ref, true)).forced_down, true)
      assert.equal((await getService(k(), ref)).forced_down, true)
      assert.equal((await setServiceForcedDown(k(), ref, false)).forced_down, false)
    })

    it('deletes a service', async () => {
      const s = await registerService(k(), { host: 'gone', binary: 'nova-compute', topic: 'compute' })
      await deleteService(k(), { uuid: s.uuid })
      await assert.rejects(getService(k(), { id: s.id }), NotFound)
    })

    it('answers NotFound for a service that does not exist', async () => {
      const missing = { uuid: '00000000-0000-4000-8000-000000000000' }
      await assert.rejects(getService(k(), missing), NotFound)
      await assert.rejects(recordHeartbeat(k(), { id: 999_999 }), NotFound)
      await assert.rejects(setServiceDisabled(k(), { host: 'nope', binary: 'nova-compute' }, true), NotFound)
      await assert.rejects(setServiceForcedDown(k(), missing, true), NotFound)
      await assert.rejects(
        deleteService(k(), missing),
        /Service 00000000-0000-4000-8000-000000000000 could not be found/,
      )
    })
  })
}
