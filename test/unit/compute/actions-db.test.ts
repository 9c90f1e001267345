import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import {
  getAction,
  listEvents,
  recordEvents,
  startAction,
  timeOrderedId,
} from '../../../src/compute/db/actions.ts'
import { insertInstance } from '../../../src/compute/db/instances.ts'
import type { Database } from '../../../src/db/index.ts'
import { migrateToLatest } from '../../../src/db/migrate.ts'
import { DIALECTS, TEST_TIMEOUT_MS, useScratchDatabase } from '../db/backends.ts'

const REQUEST = 'req-actions-test'

async function newInstance(db: Database): Promise<string> {
  const uuid = randomUUID()
  await insertInstance(db.kysely, {
    uuid,
    displayName: 'a',
    displayDescription: null,
    hostname: 'a',
    projectId: 'p',
    userId: 'u',
    imageRef: 'i',
    flavor: {
      id: 1,
      flavorid: '1',
      name: 'f',
      memoryMb: 64,
      vcpus: 1,
      rootGb: 1,
      ephemeralGb: 0,
      swapMb: 0,
      rxtxFactor: 1,
      isPublic: true,
      disabled: false,
      description: null,
      extraSpecs: {},
    },
    vmState: 'building',
    taskState: 'scheduling',
    powerState: 0,
    availabilityZone: null,
    keyName: null,
    keyData: null,
    userData: null,
    metadata: {},
    systemMetadata: {},
    configDrive: '',
    reservationId: 'r-1',
    launchIndex: 0,
    accessIpV4: null,
    accessIpV6: null,
    autoDiskConfig: false,
    rootDeviceName: null,
    kernelId: '',
    ramdiskId: '',
    securityGroups: [],
    requestedNetworks: 'none',
    createdAt: new Date().toISOString(),
  })
  await startAction(db.kysely, {
    instanceUuid: uuid,
    action: 'create',
    requestId: REQUEST,
    userId: 'u',
    projectId: 'p',
  })
  return uuid
}

async function events(db: Database, uuid: string) {
  const action = await getAction(db.kysely, uuid, REQUEST)
  assert.ok(action)
  return listEvents(db.kysely, action.id)
}

for (const dialect of DIALECTS) {
  describe(`instance action events on ${dialect}`, { timeout: TEST_TIMEOUT_MS }, () => {
    const db = useScratchDatabase(dialect, (d) => migrateToLatest(d).then(() => undefined))

    it('records a batch of starts, and finishes in order, in the order given', async () => {
      const uuid = await newInstance(db())
      const at = (ms: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, 0, ms)).toISOString()
      await recordEvents(db().kysely, {
        instanceUuid: uuid,
        requestId: REQUEST,
        host: 'h1',
        ops: [
          { op: 'start', event: 'build', at: at(1) },
          { op: 'start', event: 'claim', at: at(2) },
          { op: 'finish', event: 'claim', result: 'Success', at: at(3) },
          { op: 'start', event: 'network', at: at(4) },
          { op: 'start', event: 'image', at: at(5) },
        ],
      })
      const rows = await events(db(), uuid)
      assert.deepEqual(
        rows.map((e) => [e.event, e.startTime, e.finishTime, e.result, e.host]),
        [
          ['build', at(1), null, null, 'h1'],
          ['claim', at(2), at(3), 'Success', 'h1'],
          ['network', at(4), null, null, 'h1'],
          ['image', at(5), null, null, 'h1'],
        ],
      )
    })

    it('finishes the open event started before the finish, not one started after it', async () => {
      const uuid = await newInstance(db())
      await recordEvents(db().kysely, {
        instanceUuid: uuid,
        requestId: REQUEST,
        host: null,
        ops: [{ op: 'start', event: 'retry' }],
      })
      await recordEvents(db().kysely, {
        instanceUuid: uuid,
        requestId: REQUEST,
        host: null,
        ops: [
          { op: 'finish', event: 'retry', result: 'Error', details: 'first try failed' },
          { op: 'start', event: 'retry' },
        ],
      })
      const rows = await events(db(), uuid)
      assert.deepEqual(
        rows.map((e) => [e.event, e.result, e.details, e.finishTime === null]),
        [
          ['retry', 'Error', 'first try failed', false],
          ['retry', null, null, true],
        ],
      )
      const action = await getAction(db().kysely, uuid, REQUEST)
      assert.equal(action?.message, 'Error', 'a failed event marks its action Error')
    })

    it('marks the action Error when a step started and failed in the same batch', async () => {
      const uuid = await newInstance(db())
      await recordEvents(db().kysely, {
        instanceUuid: uuid,
        requestId: REQUEST,
        host: 'h1',
        ops: [
          { op: 'start', event: 'spawn' },
          { op: 'finish', event: 'spawn', result: 'Error', traceback: 'tb' },
          { op: 'start', event: 'cleanup' },
        ],
      })
      const rows = await events(db(), uuid)
      assert.deepEqual(
        rows.map((e) => [e.event, e.result, e.traceback]),
        [
          ['spawn', 'Error', 'tb'],
          ['cleanup', null, null],
        ],
      )
      assert.equal((await getAction(db().kysely, uuid, REQUEST))?.message, 'Error')
    })
  })
}

describe('timeOrderedId', () => {
  it('is a version 7 uuid with the variant bits, sorting in creation order', () => {
    const ids = Array.from({ length: 2000 }, () => timeOrderedId())
    for (const id of ids)
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    assert.deepEqual([...ids].sort(), ids)
    assert.equal(new Set(ids).size, ids.length)
  })
})
