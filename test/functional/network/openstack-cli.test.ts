import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'

/**
 * Debian's python3-openstackclient against the network API, unchanged:
 * what an operator types. This must fail, not skip, where the CLI is
 * missing (CI installs python3-openstackclient).
 */
interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

describe('openstack CLI against the network API', () => {
  let tc: TestCloud
  let env: NodeJS.ProcessEnv

  before(async () => {
    tc = await startTestCloud()
    env = {
      ...process.env,
      OS_AUTH_URL: `${tc.url('identity')}/v3`,
      OS_USERNAME: 'admin',
      OS_PASSWORD: 'test-admin-password',
      OS_PROJECT_NAME: 'admin',
      OS_USER_DOMAIN_NAME: 'Default',
      OS_PROJECT_DOMAIN_NAME: 'Default',
      OS_IDENTITY_API_VERSION: '3',
      OS_INTERFACE: 'public',
    }
  })
  after(async () => tc?.stop())

  /** Runs `openstack ...` without blocking the event loop (the cloud runs in this process). */
  function cli(...args: string[]): Promise<CliResult> {
    return new Promise((resolve, reject) => {
      execFile('openstack', args, { env, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
        if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
          return reject(
            new Error('the openstack CLI is not installed (Debian package python3-openstackclient)'),
          )
        }
        resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr })
      })
    })
  }

  async function ok(...args: string[]): Promise<string> {
    const r = await cli(...args)
    assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.stderr}`)
    return r.stdout
  }

  async function json(...args: string[]): Promise<any> {
    return JSON.parse(await ok(...args, '-f', 'json'))
  }

  it('creates a network, subnet, port and security group rules', async () => {
    const net = await json('network', 'create', 'net1')
    assert.equal(net.name, 'net1')
    assert.equal(net['provider:network_type'], 'vlan')
    const subnet = await json(
      'subnet',
      'create',
      '--network',
      'net1',
      '--subnet-range',
      '192.0.2.0/24',
      'sub1',
    )
    assert.equal(subnet.gateway_ip, '192.0.2.1')
    const port = await json(
      'port',
      'create',
      '--network',
      'net1',
      '--fixed-ip',
      'subnet=sub1,ip-address=192.0.2.50',
      'p1',
    )
    assert.equal(port.fixed_ips[0].ip_address, '192.0.2.50')
    const list = await json('network', 'list')
    assert.ok(list.some((n: { Name: string }) => n.Name === 'net1'))
    await json('security', 'group', 'create', 'web')
    const rule = await json(
      'security',
      'group',
      'rule',
      'create',
      '--protocol',
      'tcp',
      '--dst-port',
      '80',
      '--remote-ip',
      '0.0.0.0/0',
      'web',
    )
    assert.equal(rule.port_range_min, 80)
    const rules = await json('security', 'group', 'rule', 'list', 'web')
    assert.equal(rules.length, 3)
  })

  it('sets a router gateway, adds a subnet and moves a floating IP', async () => {
    await ok(
      'network',
      'create',
      '--external',
      '--provider-network-type',
      'flat',
      '--provider-physical-network',
      'public',
      'ext',
    )
    await ok(
      'subnet',
      'create',
      '--network',
      'ext',
      '--subnet-range',
      '203.0.113.0/24',
      '--no-dhcp',
      'extsub',
    )
    await ok('router', 'create', 'r1')
    await ok('router', 'set', '--external-gateway', 'ext', 'r1')
    await ok('router', 'add', 'subnet', 'r1', 'sub1')
    const router = await json('router', 'show', 'r1')
    assert.equal(router.external_gateway_info.network_id.length, 36)
    assert.equal(router.interfaces_info[0].ip_address, '192.0.2.1')
    const fip = await json('floating', 'ip', 'create', 'ext')
    assert.match(fip.floating_ip_address, /^203\.0\.113\./)
    await ok('floating', 'ip', 'set', '--port', 'p1', fip.floating_ip_address)
    const shown = await json('floating', 'ip', 'show', fip.floating_ip_address)
    assert.equal(shown.fixed_ip_address, '192.0.2.50')
    await ok('floating', 'ip', 'unset', '--port', fip.floating_ip_address)
    await ok('floating', 'ip', 'delete', fip.floating_ip_address)
  })

  it('reports Neutron errors the way the CLI shows them', async () => {
    const missing = await cli('network', 'show', 'nope')
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /No Network found for nope/)
    const inUse = await cli('network', 'delete', 'net1')
    assert.equal(inUse.code, 1)
    assert.match(inUse.stderr, /ports still in use on the network/)
  })

  it('tears everything down', async () => {
    await ok('router', 'remove', 'subnet', 'r1', 'sub1')
    await ok('router', 'unset', '--external-gateway', 'r1')
    await ok('router', 'delete', 'r1')
    await ok('port', 'delete', 'p1')
    await ok('security', 'group', 'delete', 'web')
    await ok('network', 'delete', 'net1', 'ext')
    const left = await json('network', 'list')
    assert.deepEqual(left, [])
  })
})
