import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, before, describe, it } from 'node:test'
import yaml from 'js-yaml'
import { OsClient } from '../../support/os-client.ts'

const ROOT = resolve(import.meta.dirname, '../../..')
const UP_TIMEOUT_MS = 60_000
const API_SERVICES = ['identity', 'compute', 'image', 'network', 'metadata'] as const

function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolvePromise(port))
    })
  })
}

/**
 * `nimbus up` without `--fake-hosts` takes the number of fake compute
 * hosts from `[compute] fake_hosts` (here NIMBUS_COMPUTE__FAKE_HOSTS), as
 * docs/compute.md says; the flag's default used to override it with 1.
 */
describe('compute: nimbus up runs [compute] fake_hosts fake compute hosts', () => {
  let dir: string
  let child: ChildProcess | undefined
  let admin: OsClient

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nimbus-up-hosts-'))
    const env: Record<string, string> = {}
    for (const s of API_SERVICES) env[`NIMBUS_${s.toUpperCase()}__PORT`] = String(await freePort())
    const cloudsYaml = join(dir, 'clouds.yaml')
    child = spawn(
      process.execPath,
      [join(ROOT, 'bin/nimbus.js'), 'up', '--state-dir', join(dir, 'state'), '--clouds-yaml', cloudsYaml],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...env, NIMBUS_COMPUTE__FAKE_HOSTS: '2', NIMBUS_DEFAULT__LOG_LEVEL: 'warn' },
      },
    )
    let output = ''
    await new Promise<void>((resolveUp, reject) => {
      const timer = setTimeout(() => reject(new Error(`nimbus up timed out:\n${output}`)), UP_TIMEOUT_MS)
      const collect = (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes('Nimbus is up.')) {
          clearTimeout(timer)
          resolveUp()
        }
      }
      child!.stdout!.on('data', collect)
      child!.stderr!.on('data', collect)
      child!.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`nimbus up exited with ${code}:\n${output}`))
      })
    })
    const c = (yaml.load(readFileSync(cloudsYaml, 'utf8')) as { clouds: Record<string, any> }).clouds.nimbus
    admin = await OsClient.login({
      authUrl: c.auth.auth_url,
      username: c.auth.username,
      password: c.auth.password,
      projectName: c.auth.project_name,
      userDomainName: c.auth.user_domain_name,
      projectDomainName: c.auth.project_domain_name,
    })
  })

  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r))
      child.kill('SIGTERM')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  })

  it('lists two hypervisors and two nova-compute services', async () => {
    const hypervisors = await admin.request('compute', 'GET', '/os-hypervisors', undefined, { expect: [200] })
    assert.equal(hypervisors.body.hypervisors.length, 2)
    const services = await admin.request('compute', 'GET', '/os-services?binary=nova-compute', undefined, {
      expect: [200],
    })
    const hosts = (services.body.services as { host: string }[]).map((s) => s.host).sort()
    assert.equal(hosts.length, 2)
    assert.match(hosts[0]!, /-1$/)
    assert.match(hosts[1]!, /-2$/)
  })
})
