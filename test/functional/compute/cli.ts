import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { TEST_ADMIN_PASSWORD } from '../harness.ts'
import type { ComputeCloud } from './helpers.ts'

/**
 * Debian's `openstack` CLI (python3-openstackclient 6.0) as the compute
 * suites drive it: the admin of the test cloud, configured only through
 * OS_* variables as a user would. Without the CLI on PATH a call fails the
 * test: the suites are the compatibility check.
 */

const run = promisify(execFile)
/** One CLI call: Python start-up, auth, a few requests (and `--wait` polls every 5 s). */
export const CLI_TIMEOUT_MS = 120_000

export interface OpenstackCli {
  /** Runs `openstack ARGS` (with `OS_COMPUTE_API_VERSION` when given); its stdout, or the test fails with its stderr. */
  cli(args: readonly string[], computeApiVersion?: string): Promise<string>
  /** The same with `-f json`, parsed. */
  json(args: readonly string[], computeApiVersion?: string): Promise<any>
}

/** The CLI against the cloud `cloudOf()` returns (read at each call: suites start their cloud in `before`). */
export function openstackCli(cloudOf: () => ComputeCloud): OpenstackCli {
  const env = (computeApiVersion?: string): NodeJS.ProcessEnv => {
    const cloud = cloudOf()
    return {
      PATH: process.env.PATH,
      HOME: cloud.tc.stateDir,
      OS_AUTH_URL: cloud.tc.endpoint('identity').url,
      OS_USERNAME: 'admin',
      OS_PASSWORD: TEST_ADMIN_PASSWORD,
      OS_PROJECT_NAME: 'admin',
      OS_USER_DOMAIN_NAME: 'Default',
      OS_PROJECT_DOMAIN_NAME: 'Default',
      OS_IDENTITY_API_VERSION: '3',
      OS_REGION_NAME: 'RegionOne',
      OS_INTERFACE: 'public',
      ...(computeApiVersion ? { OS_COMPUTE_API_VERSION: computeApiVersion } : {}),
    }
  }
  const cli = async (args: readonly string[], computeApiVersion?: string): Promise<string> => {
    try {
      const { stdout } = await run('openstack', [...args], {
        env: env(computeApiVersion),
        timeout: CLI_TIMEOUT_MS,
      })
      return stdout
    } catch (err) {
      const e = err as { code?: string; stderr?: string; message: string }
      if (e.code === 'ENOENT') {
        assert.fail(
          'the `openstack` CLI is not on PATH: install python3-openstackclient (apt-get install python3-openstackclient)',
        )
      }
      assert.fail(`openstack ${args.join(' ')} failed: ${e.stderr || e.message}`)
    }
  }
  const json = async (args: readonly string[], computeApiVersion?: string): Promise<any> =>
    JSON.parse(await cli([...args, '-f', 'json'], computeApiVersion))
  return { cli, json }
}
