import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/common/config.ts'
import { ALL_SERVICES, Cloud } from '../../src/cmd/cloud.ts'
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

export async function startTestCloud(opts: TestCloudOptions = {}): Promise<TestCloud> {
  const stateDir = mkdtempSync(join(tmpdir(), 'nimbus-test-'))
  const config = loadConfig({
    env: {},
    overrides: {
      'DEFAULT.state_dir': stateDir,
      'DEFAULT.log_level': process.env.NIMBUS_TEST_LOG_LEVEL ?? 'silent',
      'DEFAULT.transport_url': 'inproc://',
      'identity.admin_password': 'test-admin-password',
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
