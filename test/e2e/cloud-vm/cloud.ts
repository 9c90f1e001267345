/**
 * The whole cloud with real VMs, for the cloud-vm e2e test and `npm run
 * bench:vm`: every service in this process, the libvirt driver (TCG here),
 * the data plane in the root namespace (libvirtd makes the taps there), the
 * metadata service behind the signed relay, and a tenant network `net1`
 * (192.0.2.0/24, DHCP) routed to an external network `public`
 * (203.0.113.0/24). A "probe" namespace with a real port on net1 is where
 * SSH goes from. `stop()` removes all of it.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ensureGuestAssets, GUEST_IMAGE_NAME } from '../../../src/cmd/guest-assets.ts'
import { tapName } from '../../../src/network/dataplane/names.ts'
import type { NetworkService } from '../../../src/network/service.ts'
import { startTestCloud, TEST_ADMIN_PASSWORD, type TestCloud } from '../../functional/harness.ts'
import { Neutron } from '../../functional/network/client.ts'
import { guestImage, makeKeyPair, tempDir, waitFor } from '../vm/support.ts'
import { destroyGuestsUnder, RootTopology } from './support.ts'

export const VM_HOST = 'cvm-host'
/** Its own nft tables: another VM cloud on the machine (a concurrent test file) must not replace them. */
const NFT_TABLE = `nimbuscvm${process.pid}`
const SECRET = 'cloud-vm-test-secret'
const CLI_TIMEOUT_MS = 240_000
/** create -> SSH answers: TCG boot (~15 s idle, ~25 s under load) plus DHCP and metadata. */
export const SSH_READY_TIMEOUT_MS = 180_000
const SSH_ATTEMPT_TIMEOUT_MS = 20_000
const PORT_ACTIVE_TIMEOUT_MS = 10_000
export const NET = { cidr: '192.0.2.0/24', gateway: '192.0.2.1', probe: '192.0.2.250' } as const
export const EXT = { cidr: '203.0.113.0/24', gateway: '203.0.113.1' } as const
const execFileAsync = promisify(execFile)

export class VmCloud {
  /** `extraConfig`: options on top of the VM cloud's (e.g. `libvirt.virt_type`). */
  constructor(private readonly extraConfig: Readonly<Record<string, string>> = {}) {}

  readonly topo = new RootTopology()
  readonly instancesPath = `/var/lib/nimbus/test-cloud-vm-${process.pid}`
  readonly keysDir = tempDir('nimbus-cloud-vm-keys-')
  tc!: TestCloud
  api!: Neutron
  keys!: { privateKey: string; publicKey: string }
  probe = ''
  token = ''
  readonly ids: Record<string, any> = {}
  /** Message of the last failed SSH attempt (for failure messages). */
  lastSshError = ''

  async start(): Promise<void> {
    const image = await guestImage()
    this.keys = await makeKeyPair(this.keysDir)
    this.tc = await startTestCloud({
      config: {
        'DEFAULT.host': VM_HOST,
        'compute.virt_driver': 'libvirt',
        'libvirt.instances_path': this.instancesPath,
        'network.dataplane': 'true',
        'network.nft_table': NFT_TABLE,
        'metadata.metadata_proxy_shared_secret': SECRET,
        ...this.extraConfig,
      },
    })
    // The metadata service listens on a free port in tests: point the relay at it.
    this.agent()!.metadataUrl = this.tc.endpoint('metadata').url
    const assets = await ensureGuestAssets(this.tc.cloud.config, this.tc.cloud.db, { imageFile: image })
    this.ids.imageId = assets.imageId
    this.ids.flavorId = assets.flavorId
    this.api = await Neutron.connect(this.tc)
    this.token = this.api.token!
    await this.#network()
  }

  agent() {
    return this.tc?.cloud.service<NetworkService>('network').agent
  }

  async #network(): Promise<void> {
    const { api, ids } = this
    ids.net = await api.create('networks', 'network', { name: 'net1' })
    ids.sub = await api.create('subnets', 'subnet', {
      network_id: ids.net.id,
      cidr: NET.cidr,
      ip_version: 4,
      gateway_ip: NET.gateway,
      allocation_pools: [{ start: '192.0.2.10', end: '192.0.2.200' }],
    })
    ids.ext = await api.create('networks', 'network', {
      name: 'public',
      'router:external': true,
      'provider:network_type': 'flat',
      'provider:physical_network': 'public',
    })
    await api.create('subnets', 'subnet', {
      network_id: ids.ext.id,
      cidr: EXT.cidr,
      ip_version: 4,
      gateway_ip: EXT.gateway,
      enable_dhcp: false,
    })
    ids.router = await api.create('routers', 'router', {
      name: 'r1',
      external_gateway_info: { network_id: ids.ext.id },
    })
    await api.ok('PUT', `/v2.0/routers/${ids.router.id}/add_router_interface`, { subnet_id: ids.sub.id }, 200)
    // SSH from anywhere (the default group already lets its members in).
    const project = ids.net.project_id as string
    const groups = await api.ok('GET', '/v2.0/security-groups?name=default', undefined, 200)
    const group = groups.security_groups.find((g: any) => g.project_id === project)
    ids.group = group
    await api.create('security-group-rules', 'security_group_rule', {
      security_group_id: group.id,
      direction: 'ingress',
      protocol: 'tcp',
      port_range_min: 22,
      port_range_max: 22,
      remote_ip_prefix: '0.0.0.0/0',
    })
    // The probe: a namespace with a real port on net1, bound to this host.
    const p = await api.create('ports', 'port', {
      network_id: ids.net.id,
      fixed_ips: [{ subnet_id: ids.sub.id, ip_address: NET.probe }],
      security_groups: [group.id],
    })
    ids.probePort = p
    this.probe = await this.topo.guest('probe', tapName(p.id), p.mac_address, `${NET.probe}/24`, NET.gateway)
    await api.ok(
      'PUT',
      `/v2.0/ports/${p.id}`,
      { port: { 'binding:host_id': VM_HOST, device_owner: 'compute:nova', device_id: 'cloud-vm-probe' } },
      200,
    )
    await waitFor('probe port ACTIVE', PORT_ACTIVE_TIMEOUT_MS, async () => {
      const port = (await api.ok('GET', `/v2.0/ports/${p.id}`, undefined, 200)).port
      return port.status === 'ACTIVE' ? true : undefined
    })
  }

  /** Debian's `openstack` CLI as the admin, configured only through OS_* variables. */
  async cli(args: readonly string[]): Promise<string> {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: this.tc.stateDir,
      OS_AUTH_URL: this.tc.endpoint('identity').url,
      OS_USERNAME: 'admin',
      OS_PASSWORD: TEST_ADMIN_PASSWORD,
      OS_PROJECT_NAME: 'admin',
      OS_USER_DOMAIN_NAME: 'Default',
      OS_PROJECT_DOMAIN_NAME: 'Default',
      OS_IDENTITY_API_VERSION: '3',
      OS_REGION_NAME: 'RegionOne',
      OS_INTERFACE: 'public',
    }
    try {
      const { stdout } = await execFileAsync('openstack', [...args], { env, timeout: CLI_TIMEOUT_MS })
      return stdout
    } catch (err) {
      const e = err as { stderr?: string; message: string }
      assert.fail(`openstack ${args.join(' ')} failed: ${e.stderr || e.message}`)
    }
  }

  async json(args: readonly string[]): Promise<any> {
    return JSON.parse(await this.cli([...args, '-f', 'json']))
  }

  /** `openstack server create --image IMAGE --flavor m1.tiny --key-name k --network net1 [extra] NAME --wait`. */
  async createServer(name: string, opts: { image?: string; extra?: readonly string[] } = {}): Promise<any> {
    const image = opts.image ?? GUEST_IMAGE_NAME
    const base = ['server', 'create', '--image', image, '--flavor', 'm1.tiny', '--key-name', 'k']
    return this.json([...base, '--network', 'net1', ...(opts.extra ?? []), name, '--wait'])
  }

  /** A compute API call with the admin token. */
  async compute(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.tc.url('compute')}/v2.1${path}`, {
      method,
      headers: {
        'x-auth-token': this.token,
        'content-type': 'application/json',
        accept: 'application/json',
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : undefined }
  }

  /** `ssh -i k nimbus@<ip> <command>` from a namespace; undefined when it fails. */
  async ssh(ns: string, ip: string, command: string): Promise<string | undefined> {
    try {
      return await this.topo.exec(
        ns,
        [
          'ssh',
          '-i',
          this.keys.privateKey,
          '-o',
          'StrictHostKeyChecking=no',
          '-o',
          'UserKnownHostsFile=/dev/null',
          '-o',
          'BatchMode=yes',
          '-o',
          'ConnectTimeout=5',
          '-o',
          'LogLevel=ERROR',
          `nimbus@${ip}`,
          command,
        ],
        SSH_ATTEMPT_TIMEOUT_MS,
      )
    } catch (err) {
      this.lastSshError = (err as Error).message
      return undefined
    }
  }

  /** Polls `ssh ... hostname` until it prints `expected`; fails with the console's tail. */
  async waitForSsh(ns: string, ip: string, expected: string, uuid?: string): Promise<string> {
    try {
      return await waitFor(`ssh nimbus@${ip} from ${ns}`, SSH_READY_TIMEOUT_MS, async () => {
        const out = await this.ssh(ns, ip, 'hostname')
        return out?.trim() === expected ? out.trim() : undefined
      })
    } catch (err) {
      assert.fail(`${(err as Error).message}: ${this.lastSshError}\n${uuid ? this.consoleTail(uuid) : ''}`)
    }
  }

  /** The end of a guest's serial console, for failure messages. */
  consoleTail(uuid: string): string {
    try {
      return readFileSync(join(this.instancesPath, uuid, 'console.log'), 'utf8').slice(-3000)
    } catch {
      return '(no console log)'
    }
  }

  /**
   * Deletes the servers named, then any guest still defined on this test's
   * instances path (a run that failed half-way), the data plane, the cloud,
   * the namespaces and the files.
   */
  async stop(servers: readonly string[] = []): Promise<void> {
    try {
      for (const id of servers) await this.cli(['server', 'delete', '--wait', id]).catch(() => undefined)
      await destroyGuestsUnder(this.instancesPath)
      await this.agent()?.teardown()
    } finally {
      await this.tc?.stop()
      await this.topo.destroy()
      rmSync(this.instancesPath, { recursive: true, force: true })
      rmSync(this.keysDir, { recursive: true, force: true })
    }
  }
}
