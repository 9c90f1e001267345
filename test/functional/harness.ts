import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/common/config.ts'
import { ALL_SERVICES, Cloud } from '../../src/cmd/cloud.ts'
import { adminPassword } from '../../src/cmd/credentials.ts'
import type { Endpoint } from '../../src/service/service.ts'

/**
 * The functional test harness: the whole cloud in this process, with the
 * in-process transport, SQLite in a temporary directory and every API on a
 * free loopback port. `stop()` removes everything it made.
 */
export interface TestCloud {
  readonly cloud: Cloud
  readonly stateDir: string
  /** Base URL of an API by catalog type, without the version path: `http://127.0.0.1:PORT`. */
  url(type: string): string
  endpoint(type: string): Endpoint
  stop(): Promise<void>
}

export interface TestCloudOptions {
  readonly services?: readonly string[]
  /** Extra config as `section.key` -> value. */
  readonly config?: Readonly<Record<string, string>>
}

/** The admin password of every test cloud (user `admin`, project `admin`, domain `Default`). */
export const TEST_ADMIN_PASSWORD = 'test-admin-password'

export async function startTestCloud(opts: TestCloudOptions = {}): Promise<TestCloud> {
  const stateDir = mkdtempSync(join(tmpdir(), 'nimbus-test-'))
  const config = loadConfig({
    env: {},
    overrides: {
      'DEFAULT.state_dir': stateDir,
      'DEFAULT.log_level': process.env.NIMBUS_TEST_LOG_LEVEL ?? 'silent',
      'DEFAULT.transport_url': 'inproc://',
      'identity.admin_password': TEST_ADMIN_PASSWORD,
      // A low scrypt cost keeps user creation fast in tests; production keeps the default.
      'identity.password_hash_cost': '10',
      ...opts.config,
    },
  })
  let cloud: Cloud
  try {
    cloud = await Cloud.start(config, opts.services ?? ALL_SERVICES, { migrate: true, ephemeralPorts: true })
  } catch (err) {
    rmSync(stateDir, { recursive: true, force: true })
    throw err
  }
  try {
    // As `nimbus up` does once every API listens: admin user, roles, and the catalog of these ports.
    await cloud.bootstrapIdentity(adminPassword(config))
  } catch (err) {
    await cloud.stop().finally(() => rmSync(stateDir, { recursive: true, force: true }))
    throw err
  }
  const endpoint = (type: string): Endpoint => {
    const found = cloud.endpoints().find((e) => e.type === type)
    if (!found) throw new Error(`no ${type} endpoint in this test cloud`)
    return found
  }
  return {
    cloud,
    stateDir,
    endpoint,
    url: (type) => new URL(endpoint(type).url).origin,
    async stop() {
      try {
        await cloud.stop()
      } finally {
        rmSync(stateDir, { recursive: true, force: true })
      }
    },
  }
}
