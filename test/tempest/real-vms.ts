/**
 * Tempest against real VMs (`npm run tempest -- --real-vms`, root): the
 * cloud runs the libvirt driver and the network data plane in the root
 * namespace (libvirtd makes the guests' taps there), and Tempest runs in a
 * namespace of its own that stands where an operator's external router
 * would: its `eth0` holds the external network's gateway (203.0.113.1),
 * and the other end of that veth is the physical interface of physnet
 * `public` (`[network] physical_interface_mappings = public:<veth>`), which
 * the data plane puts on the external network's bridge. Tempest reaches
 * floating IPs on-link, and the APIs through unix-socket relays
 * (ns-forward.ts). No address or route is ever added to the root namespace.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, rmSync } from 'node:fs'
import net from 'node:net'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { run } from '../../src/network/dataplane/exec.ts'
import { relay } from './relay.ts'

const ROOT = resolve(import.meta.dirname, '../..')
const COMMAND_TIMEOUT_MS = 30_000
const FORWARDER_READY_TIMEOUT_MS = 30_000

/** The external network as Tempest's namespace sees it (documentation range). */
export const EXTERNAL = {
  cidr: '203.0.113.0/24',
  gateway: '203.0.113.1',
  poolStart: '203.0.113.10',
  poolEnd: '203.0.113.200',
  physnet: 'public',
} as const

export class TempestNamespace {
  readonly #suffix = randomBytes(2).toString('hex')
  /** The namespace Tempest runs in. */
  readonly ns = `nimbus-tempest-${this.#suffix}`
  /** Root-namespace end of the veth: physnet `public`'s interface. */
  readonly uplink = `ntx${this.#suffix}`
  readonly sockDir: string
  readonly #servers: net.Server[] = []
  #forwarder: ChildProcess | undefined
  #created = false

  constructor(workDir: string) {
    this.sockDir = join(workDir, 'api-sockets')
  }

  async create(): Promise<void> {
    await run('ip', ['netns', 'add', this.ns], { timeoutMs: COMMAND_TIMEOUT_MS })
    this.#created = true
    const inNs = (args: string[]) => run('ip', ['-n', this.ns, ...args], { timeoutMs: COMMAND_TIMEOUT_MS })
    await inNs(['link', 'set', 'lo', 'up'])
    await run('ip', ['link', 'add', this.uplink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.ns])
    // The host takes no part in the external network: no IPv6 link-local on its end.
    await run('ip', ['link', 'set', this.uplink, 'addrgenmode', 'none'])
    await run('ip', ['link', 'set', this.uplink, 'up'])
    await inNs(['addr', 'add', `${EXTERNAL.gateway}/24`, 'dev', 'eth0'])
    await inNs(['link', 'set', 'eth0', 'up'])
  }

  /** Makes 127.0.0.1:<port> inside the namespace reach 127.0.0.1:<port> of the root namespace, for each port. */
  async forward(ports: readonly number[]): Promise<void> {
    mkdirSync(this.sockDir, { recursive: true, mode: 0o700 })
    for (const port of ports) {
      const server = net.createServer((inner) => relay(inner, net.connect(port, '127.0.0.1')))
      const path = join(this.sockDir, `${port}.sock`)
      rmSync(path, { force: true })
      await new Promise<void>((ok, fail) => server.once('error', fail).listen(path, ok))
      this.#servers.push(server)
    }
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        this.ns,
        process.execPath,
        '--import',
        'tsx',
        join(ROOT, 'test/tempest/ns-forward.ts'),
        this.sockDir,
        ...ports.map(String),
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    )
    this.#forwarder = child
    await new Promise<void>((ok, fail) => {
      const timer = setTimeout(
        () => fail(new Error('the namespace forwarder did not start')),
        FORWARDER_READY_TIMEOUT_MS,
      )
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line === 'ready') {
          clearTimeout(timer)
          ok()
        }
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        fail(new Error(`the namespace forwarder exited with ${code}`))
      })
    })
  }

  /** argv run inside the namespace. */
  wrap(argv: readonly string[]): string[] {
    return ['ip', 'netns', 'exec', this.ns, ...argv]
  }

  async destroy(): Promise<void> {
    this.#forwarder?.kill('SIGTERM')
    for (const server of this.#servers) server.close()
    rmSync(this.sockDir, { recursive: true, force: true })
    if (this.#created) await run('ip', ['netns', 'del', this.ns], { okCodes: [1] }).catch(() => undefined)
    await run('ip', ['link', 'del', this.uplink], { okCodes: [1] }).catch(() => undefined)
  }
}

/** The `nimbus up` environment of a real-VM cloud wired to `ns`. */
export function realVmEnv(ns: TempestNamespace, instancesPath: string): Record<string, string> {
  return {
    NIMBUS_COMPUTE__VIRT_DRIVER: 'libvirt',
    NIMBUS_NETWORK__DATAPLANE: 'true',
    NIMBUS_NETWORK__PHYSICAL_INTERFACE_MAPPINGS: `${EXTERNAL.physnet}:${ns.uplink}`,
    NIMBUS_NETWORK__NFT_TABLE: `nimbustempest${ns.uplink.slice(3)}`,
    NIMBUS_LIBVIRT__INSTANCES_PATH: instancesPath,
    NIMBUS_METADATA__METADATA_PROXY_SHARED_SECRET: randomBytes(16).toString('hex'),
  }
}
