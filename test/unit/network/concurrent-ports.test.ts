import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { loadConfig } from '../../../src/common/config.ts'
import { migrateToLatest } from '../../../src/db/migrate.ts'
import { NetworkPlugin } from '../../../src/network/plugin.ts'
import { settingsFrom } from '../../../src/network/settings.ts'
import { DIALECTS, TEST_TIMEOUT_MS, useScratchDatabase } from '../db/backends.ts'

/**
 * Ports created at once on one network (a burst of builds) each get their
 * own address. On PostgreSQL a taken address used to abort the allocating
 * transaction ("current transaction is aborted"), and five conflicts in a
 * row were reported as "No more IP addresses available".
 */
const CONCURRENT_PORTS = 12
const ADMIN = { projectId: 'p-admin', isAdmin: true }

for (const dialect of DIALECTS) {
  describe(`network: concurrent port creation on ${dialect}`, { timeout: TEST_TIMEOUT_MS }, () => {
    const db = useScratchDatabase(dialect, async (d) => {
      await migrateToLatest(d)
    })

    it(`${CONCURRENT_PORTS} ports created at once on one network get distinct addresses`, async () => {
      const plugin = new NetworkPlugin(db(), settingsFrom(loadConfig({ env: {} })))
      const net = await plugin.core.createNetwork(ADMIN, { name: 'burst' })
      await plugin.core.createSubnet(ADMIN, { network_id: net.id, cidr: '192.0.2.0/24', ip_version: 4 })
      const ports = await Promise.all(
        Array.from({ length: CONCURRENT_PORTS }, (_, i) =>
          plugin.core.createPort(ADMIN, { network_id: net.id, name: `p${i}` }),
        ),
      )
      const addresses = ports.map((p) => (p.fixed_ips as { ip_address: string }[])[0]?.ip_address)
      assert.equal(new Set(addresses).size, CONCURRENT_PORTS, JSON.stringify(addresses))
      assert.ok(addresses.every((a) => a?.startsWith('192.0.2.')))
    })
  })
}
