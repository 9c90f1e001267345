import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { startTestCloud, TEST_ADMIN_PASSWORD, type TestCloud } from '../harness.ts'

/**
 * Debian's real `openstack` CLI (python3-openstackclient 6.0) against the
 * test cloud, configured only through OS_* variables as a user would.
 * Without the CLI on PATH the suite fails: it is the compatibility check.
 */
const run = promisify(execFile)
/** One CLI call: Python start-up and a couple of requests. */
const CLI_TIMEOUT_MS = 60_000
const SUITE_TIMEOUT_MS = 600_000

interface Creds {
  readonly username: string
  readonly password: string
  readonly project: string
}

describe('openstack CLI against the identity service', { timeout: SUITE_TIMEOUT_MS }, () => {
  let tc: TestCloud
  const admin: Creds = { username: 'admin', password: TEST_ADMIN_PASSWORD, project: 'admin' }

  async function cli(args: readonly string[], as: Creds = admin): Promise<string> {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: tc.stateDir,
      OS_AUTH_URL: tc.endpoint('identity').url,
      OS_USERNAME: as.username,
      OS_PASSWORD: as.password,
      OS_PROJECT_NAME: as.project,
      OS_USER_DOMAIN_NAME: 'Default',
      OS_PROJECT_DOMAIN_NAME: 'Default',
      OS_IDENTITY_API_VERSION: '3',
      OS_REGION_NAME: 'RegionOne',
      OS_INTERFACE: 'public',
    }
    try {
      const { stdout } = await run('openstack', [...args], { env, timeout: CLI_TIMEOUT_MS })
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

  const json = async (args: readonly string[], as?: Creds): Promise<any> =>
    JSON.parse(await cli([...args, '-f', 'json'], as))

  before(async () => {
    tc = await startTestCloud()
  })
  after(() => tc?.stop())

  it('token issue', async () => {
    const t = await json(['token', 'issue'])
    assert.match(t.id, /^gAAAAA/)
    assert.match(t.user_id, /^[0-9a-f]{32}$/)
    assert.match(t.project_id, /^[0-9a-f]{32}$/)
    assert.ok(Date.parse(t.expires.replace('+0000', 'Z')) > Date.now())
  })

  it('project create, user create --password, role add, role assignment list --names', async () => {
    const project = await json(['project', 'create', '--description', 'CLI project', 'cli-demo'])
    assert.equal(project.name, 'cli-demo')
    assert.equal(project.domain_id, 'default')
    assert.equal(project.enabled, true)
    const user = await json(['user', 'create', '--password', 'cli-secret', 'cli-alice'])
    assert.equal(user.name, 'cli-alice')
    assert.equal(user.password, undefined)
    await cli(['role', 'add', '--project', 'cli-demo', '--user', 'cli-alice', 'member'])
    const assignments = await json(['role', 'assignment', 'list', '--names'])
    assert.ok(
      assignments.some(
        (a: any) => a.Role === 'member' && a.User === 'cli-alice@Default' && a.Project === 'cli-demo@Default',
      ),
      JSON.stringify(assignments),
    )
    assert.ok(
      assignments.some((a: any) => a.Role === 'admin' && a.User === 'admin@Default' && a.System === 'all'),
    )
  })

  it('catalog list and endpoint list show every running API', async () => {
    const catalog = await json(['catalog', 'list'])
    const types = catalog.map((s: any) => s.Type).sort()
    assert.deepEqual(types, ['compute', 'identity', 'image', 'network'])
    const compute = catalog.find((s: any) => s.Type === 'compute')
    assert.equal(compute.Name, 'nova')
    assert.ok(
      compute.Endpoints.some((e: any) => e.interface === 'public' && e.url === tc.endpoint('compute').url),
    )
    const endpoints = await json(['endpoint', 'list'])
    assert.equal(endpoints.length, 12)
    const identity = endpoints.filter((e: any) => e['Service Type'] === 'identity')
    assert.deepEqual(identity.map((e: any) => e.Interface).sort(), ['admin', 'internal', 'public'])
    for (const e of identity) {
      assert.equal(e.URL, tc.endpoint('identity').url)
      assert.equal(e.Region, 'RegionOne')
      assert.equal(e.Enabled, true)
    }
  })

  it('ec2 credentials create and list', async () => {
    const cred = await json(['ec2', 'credentials', 'create'])
    assert.match(cred.access, /^[0-9a-f]{32}$/)
    assert.match(cred.secret, /^[0-9a-f]{32}$/)
    assert.match(cred.project_id, /^[0-9a-f]{32}$/)
    const list = await json(['ec2', 'credentials', 'list'])
    assert.ok(list.some((c: any) => c.Access === cred.access && c.Secret === cred.secret))
  })

  it('application credential create, then log in with it', async () => {
    const cred = await json([
      'application',
      'credential',
      'create',
      '--description',
      'for CI',
      'cli-app-cred',
    ])
    assert.equal(cred.name, 'cli-app-cred')
    assert.equal(cred.unrestricted, false)
    assert.ok(cred.secret.length >= 32)
    assert.match(cred.roles, /admin/)
    const env = {
      PATH: process.env.PATH,
      HOME: tc.stateDir,
      OS_AUTH_URL: tc.endpoint('identity').url,
      OS_AUTH_TYPE: 'v3applicationcredential',
      OS_APPLICATION_CREDENTIAL_ID: cred.id,
      OS_APPLICATION_CREDENTIAL_SECRET: cred.secret,
      OS_IDENTITY_API_VERSION: '3',
    }
    const { stdout } = await run('openstack', ['token', 'issue', '-f', 'json'], {
      env,
      timeout: CLI_TIMEOUT_MS,
    })
    const token = JSON.parse(stdout)
    assert.equal(token.project_id, (await json(['project', 'show', 'admin'])).id)
  })

  it("as a member, project list shows only the member's projects", async () => {
    await json(['project', 'create', 'cli-other'])
    const alice: Creds = { username: 'cli-alice', password: 'cli-secret', project: 'cli-demo' }
    const mine = await json(['project', 'list'], alice)
    assert.deepEqual(
      mine.map((p: any) => p.Name),
      ['cli-demo'],
    )
    const all = await json(['project', 'list'])
    assert.ok(all.length >= 4, JSON.stringify(all))
  })
})
