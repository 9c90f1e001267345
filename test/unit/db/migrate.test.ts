import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { openDatabase } from '../../../src/db/index.ts'
import { migrateToLatest, migrationStatus } from '../../../src/db/migrate.ts'
import { MIGRATIONS } from '../../../src/db/migrations/index.ts'
import { listServices } from '../../../src/db/services.ts'
import { DIALECTS, TEST_TIMEOUT_MS, useScratchDatabase } from './backends.ts'

const NAMES = Object.keys(MIGRATIONS)

for (const dialect of DIALECTS) {
  describe(`migrations on ${dialect}`, { timeout: TEST_TIMEOUT_MS }, () => {
    const db = useScratchDatabase(dialect)

    it('are named in order and start with the services table', () => {
      assert.equal(NAMES[0], '0001-services')
      assert.deepEqual([...NAMES].sort(), NAMES)
    })

    it('are all pending on an empty database', async () => {
      const status = await migrationStatus(db())
      assert.deepEqual(
        status.map((m) => [m.name, m.executedAt]),
        NAMES.map((n) => [n, undefined]),
      )
    })

    it('migrate to latest, applying each one once', async () => {
      assert.deepEqual(await migrateToLatest(db()), NAMES)
      assert.deepEqual(await listServices(db().kysely), [])
    })

    it('do nothing when run again', async () => {
      assert.deepEqual(await migrateToLatest(db()), [])
    })

    it('report every one as applied, with the time', async () => {
      const status = await migrationStatus(db())
      assert.deepEqual(
        status.map((m) => m.name),
        NAMES,
      )
      for (const m of status) assert.ok(m.executedAt instanceof Date, m.name)
    })

    if (dialect === 'postgres') {
      describe('run by two processes at once', () => {
        const fresh = useScratchDatabase(dialect)

        it('apply each migration exactly once', async () => {
          const other = await openDatabase(fresh().url)
          try {
            const [a, b] = await Promise.all([migrateToLatest(fresh()), migrateToLatest(other)])
            assert.deepEqual([...a, ...b].sort(), NAMES)
          } finally {
            await other.close()
          }
        })
      })
    }
  })
}
