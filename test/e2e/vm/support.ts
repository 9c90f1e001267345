/**
 * Helpers for tests and the bench that boot real guests: the guest image
 * (built once into the state dir), a network namespace with a tap, dnsmasq and
 * a metadata server on 169.254.169.254, and plain qemu-system-x86_64 under
 * TCG. Everything started here is stopped by pid, and every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import {
  appendFileSync,
  createReadStream,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_STATE_DIR } from '../../../src/common/config.ts'
import type { VirtImage, VirtInstance } from '../../../src/compute/virt/driver.ts'
import { LibvirtDriver } from '../../../src/compute/virt/libvirt/driver.ts'
import { run } from '../../../src/guest-image/exec.ts'
import { buildGuestImage, guestImageCurrent } from '../../../src/guest-image/build.ts'
import { debCacheDir, defaultGuestImagePath } from '../../../src/guest-image/command.ts'

export const QEMU_MEMORY_MB = 256
/** Time a guest may take from qemu start to the serial banner under TCG (measured ~6 s). */
export const BANNER_TIMEOUT_MS = 60_000
/** Time the image build may take with a warm .deb cache (~15 s) or a cold one. */
export const IMAGE_BUILD_TIMEOUT_MS = 300_000
const PROCESS_EXIT_WAIT_MS = 5_000
const POLL_INTERVAL_MS = 100
const COMMAND_TIMEOUT_MS = 10_000

/** The documentation network the guest gets (RFC 5737). */
export const GUEST_NET = { gateway: '192.0.2.1', guest: '192.0.2.10', prefix: 24 } as const
export const GUEST_MAC = '52:54:00:c0:00:0a'
const METADATA_ADDRESS = '169.254.169.254'

/** The built guest image: $NIMBUS_GUEST_IMAGE, else the state dir's, (re)built there when missing or stale. */
export async function guestImage(): Promise<string> {
  const given = process.env.NIMBUS_GUEST_IMAGE
  if (given) return given
  const stateDir = process.env.NIMBUS_DEFAULT__STATE_DIR ?? DEFAULT_STATE_DIR
  const path = defaultGuestImagePath(stateDir)
  // Rebuilt when missing or built by an older recipe (guest scripts changed since).
  if (!guestImageCurrent(path)) await buildGuestImage({ output: path, cacheDir: debCacheDir(stateDir) })
  return path
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

export async function createOverlay(base: string, path: string): Promise<void> {
  await run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', path], {
    timeoutMs: COMMAND_TIMEOUT_MS,
  })
}

/** Polls `check` until it returns a value or `timeoutMs` passes (then throws with `what`). */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => T | undefined | Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS))
  }
}

export function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return ''
  }
}

/** Kills a child we started (by its pid) and waits, bounded, for it to go. */
export async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), PROCESS_EXIT_WAIT_MS))
  if ((await Promise.race([exited, timer])) === 'timeout') {
    child.kill('SIGKILL')
    await Promise.race([exited, new Promise((r) => setTimeout(r, PROCESS_EXIT_WAIT_MS))])
  }
}

export interface QemuOptions {
  readonly disk: string
  readonly serialLog: string
  /** Run inside this namespace with a tap NIC; without it the guest has no NIC (-nic none). */
  readonly netns?: GuestNetwork
  /** Guest memory (default QEMU_MEMORY_MB) and vCPUs (default 1). */
  readonly memoryMb?: number
  readonly vcpus?: number
}

/** Starts qemu-system-x86_64 under TCG with the disk on virtio and the serial console to a file. */
export function startQemu(opts: QemuOptions): ChildProcess {
  const args = [
    '-machine',
    'pc,accel=tcg',
    '-m',
    String(opts.memoryMb ?? QEMU_MEMORY_MB),
    '-smp',
    String(opts.vcpus ?? 1),
    // Under TCG, 'max' offers RDRAND, so the guest's RNG is ready at once and
    // dropbear's host key takes no entropy wait (~6 s less to SSH).
    '-cpu',
    'max',
    '-device',
    'virtio-rng-pci',
    '-display',
    'none',
    '-monitor',
    'none',
    '-no-user-config',
    '-nodefaults',
    '-drive',
    `file=${opts.disk},if=virtio,format=qcow2`,
    '-serial',
    `file:${opts.serialLog}`,
  ]
  if (opts.netns) {
    args.push('-netdev', `tap,id=n0,ifname=${opts.netns.tap},script=no,downscript=no`)
    args.push('-device', `virtio-net-pci,netdev=n0,mac=${GUEST_MAC}`)
    return spawn('ip', ['netns', 'exec', opts.netns.name, 'qemu-system-x86_64', ...args], { stdio: 'ignore' })
  }
  args.push('-nic', 'none')
  return spawn('qemu-system-x86_64', args, { stdio: 'ignore' })
}

let namespaceCounter = 0

export interface GuestNetworkOptions {
  readonly hostname: string
  readonly publicKey?: string
  readonly userData?: string
  /**
   * Wire the namespace to this bridge of the root namespace with a veth pair
   * (for libvirt guests, whose taps libvirt puts on that bridge) instead of a
   * tap inside the namespace. No address is ever set on the root side.
   */
  readonly uplinkBridge?: string
}

/**
 * A network namespace with the guests' gateway (192.0.2.1/24), dnsmasq giving
 * the guest 192.0.2.10 by its MAC, and an HTTP server on 169.254.169.254:80
 * serving OpenStack metadata. The guest reaches it through its default gateway.
 */
export class GuestNetwork {
  readonly name: string
  /** The namespace's interface facing the guest: a tap for plain qemu, or the veth peer of the uplink. */
  readonly tap: string
  readonly #hostVeth: string | undefined
  readonly #dir: string
  #children: ChildProcess[] = []

  private constructor(name: string, dir: string, uplink: boolean) {
    this.name = name
    const id = `${process.pid % 100_000}${namespaceCounter}`
    this.tap = uplink ? `nvg${id}` : 'tap-nimbus0'
    this.#hostVeth = uplink ? `nvh${id}` : undefined
    this.#dir = dir
  }

  static async create(opts: GuestNetworkOptions): Promise<GuestNetwork> {
    const net = new GuestNetwork(
      `nimbus-vmtest-${process.pid}-${namespaceCounter++}`,
      tempDir('nimbus-vmnet-'),
      opts.uplinkBridge !== undefined,
    )
    try {
      await net.#setUp(opts)
      return net
    } catch (err) {
      await net.destroy()
      throw err
    }
  }

  async #ip(...args: string[]): Promise<void> {
    await run(['ip', ...args], { timeoutMs: COMMAND_TIMEOUT_MS })
  }

  async #setUp(opts: GuestNetworkOptions): Promise<void> {
    await this.#ip('netns', 'add', this.name)
    await this.#ip('-n', this.name, 'link', 'set', 'lo', 'up')
    await this.#ip('-n', this.name, 'addr', 'add', `${METADATA_ADDRESS}/32`, 'dev', 'lo')
    if (opts.uplinkBridge && this.#hostVeth) {
      await this.#ip('link', 'add', this.#hostVeth, 'type', 'veth', 'peer', 'name', this.tap)
      disableIpv6(this.#hostVeth)
      await this.#ip('link', 'set', this.#hostVeth, 'master', opts.uplinkBridge, 'up')
      await this.#ip('link', 'set', this.tap, 'netns', this.name)
    } else {
      await this.#ip('-n', this.name, 'tuntap', 'add', 'dev', this.tap, 'mode', 'tap')
    }
    await this.#ip(
      '-n',
      this.name,
      'addr',
      'add',
      `${GUEST_NET.gateway}/${GUEST_NET.prefix}`,
      'dev',
      this.tap,
    )
    await this.#ip('-n', this.name, 'link', 'set', this.tap, 'up')
    this.#writeMetadata(opts)
    this.#children.push(this.#startDnsmasq(), this.#startMetadataServer())
  }

  #writeMetadata(m: GuestNetworkOptions): void {
    const root = join(this.#dir, 'md')
    mkdirSync(join(root, 'openstack', 'latest'), { recursive: true })
    const doc = {
      uuid: '00000000-0000-4000-8000-000000000001',
      name: m.hostname,
      hostname: `${m.hostname}.novalocal`,
      public_keys: m.publicKey ? { default: `${m.publicKey.trim()}\n` } : {},
    }
    writeFileSync(join(root, 'openstack', 'latest', 'meta_data.json'), JSON.stringify(doc))
    if (m.userData) writeFileSync(join(root, 'openstack', 'latest', 'user_data'), m.userData)
  }

  #startDnsmasq(): ChildProcess {
    return spawn(
      'ip',
      [
        'netns',
        'exec',
        this.name,
        'dnsmasq',
        '--keep-in-foreground',
        '--conf-file=/dev/null',
        '--no-resolv',
        '--no-hosts',
        `--interface=${this.tap}`,
        '--bind-interfaces',
        `--pid-file=${join(this.#dir, 'dnsmasq.pid')}`,
        `--dhcp-leasefile=${join(this.#dir, 'leases')}`,
        `--dhcp-range=${GUEST_NET.guest},static,255.255.255.0,1h`,
        `--dhcp-host=${GUEST_MAC},${GUEST_NET.guest}`,
        `--dhcp-option=3,${GUEST_NET.gateway}`,
      ],
      { stdio: 'ignore' },
    )
  }

  #startMetadataServer(): ChildProcess {
    const script = `
      const http = require('node:http'); const fs = require('node:fs'); const path = require('node:path')
      const root = process.argv[1]
      http.createServer((req, res) => {
        const file = path.join(root, path.normalize(req.url.split('?')[0]))
        fs.readFile(file, (err, body) => { if (err) { res.statusCode = 404; res.end() } else res.end(body) })
      }).listen(80, '${METADATA_ADDRESS}')`
    return spawn('ip', ['netns', 'exec', this.name, process.execPath, '-e', script, join(this.#dir, 'md')], {
      stdio: 'ignore',
    })
  }

  /** True when a TCP connection to `host:port` inside the namespace succeeds. */
  async tcpOpen(host: string, port: number): Promise<boolean> {
    const probe = `const s=require('node:net').connect(${port},'${host}');s.setTimeout(1000);s.on('connect',()=>process.exit(0));s.on('error',()=>process.exit(1));s.on('timeout',()=>process.exit(1))`
    const r = await run(['ip', 'netns', 'exec', this.name, process.execPath, '-e', probe], {
      timeoutMs: COMMAND_TIMEOUT_MS,
      okCodes: [0, 1],
    })
    return r.code === 0
  }

  /** Runs `ssh` inside the namespace with a key; returns stdout. */
  async ssh(key: string, user: string, command: string): Promise<string> {
    const r = await run(
      [
        'ip',
        'netns',
        'exec',
        this.name,
        'ssh',
        '-i',
        key,
        '-o',
        'StrictHostKeyChecking=no',
        '-o',
        'UserKnownHostsFile=/dev/null',
        '-o',
        'ConnectTimeout=10',
        '-o',
        'BatchMode=yes',
        '-o',
        'LogLevel=ERROR',
        `${user}@${GUEST_NET.guest}`,
        command,
      ],
      { timeoutMs: COMMAND_TIMEOUT_MS * 3 },
    )
    return r.stdout
  }

  /** Stops what it started (by pid) and deletes the namespace (which removes the tap). */
  async destroy(): Promise<void> {
    for (const child of this.#children) await stopProcess(child)
    this.#children = []
    await run(['ip', 'netns', 'del', this.name], { timeoutMs: COMMAND_TIMEOUT_MS, okCodes: [0, 1] })
    // Deleting the namespace deletes the peer, and with it the root-side veth; this covers a half-done setup.
    if (this.#hostVeth)
      await run(['ip', 'link', 'del', this.#hostVeth], { timeoutMs: COMMAND_TIMEOUT_MS, okCodes: [0, 1] })
    rmSync(this.#dir, { recursive: true, force: true })
  }
}

/** An ed25519 key pair for SSH into the guest. */
export async function makeKeyPair(dir: string): Promise<{ privateKey: string; publicKey: string }> {
  const privateKey = join(dir, 'id_ed25519')
  await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'nimbus-test', '-f', privateKey], {
    timeoutMs: COMMAND_TIMEOUT_MS,
  })
  return { privateKey, publicKey: readFileSync(`${privateKey}.pub`, 'utf8') }
}

/** Link-local IPv6 is an address too: root-namespace test interfaces get none. */
function disableIpv6(ifname: string): void {
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${ifname}/disable_ipv6`, '1')
  } catch {
    // IPv6 disabled host-wide: nothing to do
  }
}

/**
 * A Linux bridge in the root namespace for libvirt's taps, with no address
 * (IPv6 off too): tests never add addresses or routes to the root namespace.
 */
export async function createTestBridge(name: string): Promise<void> {
  await run(['ip', 'link', 'add', 'name', name, 'type', 'bridge'], { timeoutMs: COMMAND_TIMEOUT_MS })
  disableIpv6(name)
  await run(['ip', 'link', 'set', name, 'up'], { timeoutMs: COMMAND_TIMEOUT_MS })
}

export async function deleteLink(name: string): Promise<void> {
  await run(['ip', 'link', 'del', name], { timeoutMs: COMMAND_TIMEOUT_MS, okCodes: [0, 1] })
}

/** A guest with no NIC for the single-domain driver tests (rescue, resize): its boots are seen on the console. */
export function consoleOnlyInstance(hostname: string): VirtInstance {
  const uuid = randomUUID()
  return {
    uuid,
    name: `instance-${uuid.slice(0, 8)}`,
    hostname,
    memoryMb: QEMU_MEMORY_MB,
    vcpus: 1,
    rootGb: 1,
    ephemeralGb: 0,
    swapMb: 0,
    imageRef: 'nimbus-guest',
  }
}

/** A libvirt driver on qemu:///system whose every image is the guest image (built if missing), host initialised. */
export async function guestImageDriver(
  instancesPath: string,
  host: string,
  imageId: string,
): Promise<{ driver: LibvirtDriver; image: VirtImage }> {
  const path = await guestImage()
  const driver = new LibvirtDriver({
    uri: 'qemu:///system',
    virtType: 'auto',
    instancesPath,
    images: { open: async () => ({ stream: createReadStream(path), checksum: null }) },
  })
  await driver.initHost(host)
  return { driver, image: { id: imageId, diskFormat: 'qcow2', sizeBytes: 0, properties: {} } }
}

/** How often the simulated KVM failure looks for the guest's domain. */
const SABOTEUR_POLL_MS = 50
/** What QEMU writes to a domain's log when KVM cannot emulate an instruction (the 2026-12-07 host). */
const EMULATION_FAILURE_LOG = 'KVM internal error. Suberror: 1\nemulation failure\n'

/**
 * Watches for the first running domain that `match`es; if it runs under
 * KVM, does to it what a KVM emulation failure does: QEMU stops the guest
 * (libvirt then shows "paused (unknown)") and its error is in the domain's
 * QEMU log. On a host whose QEMU cannot start a guest under KVM at all, it
 * never acts: the failure there is real. `stop` says which happened.
 */
export function simulateKvmEmulationFailure(match: (domain: string, xml: string) => boolean): {
  stop: () => Promise<string>
} {
  const uri = 'qemu:///system'
  const virsh = (args: readonly string[]) =>
    run(['virsh', '-q', '-c', uri, ...args], { timeoutMs: COMMAND_TIMEOUT_MS, okCodes: [0, 1] })
  let done = false
  let acted = false
  const loop = (async () => {
    while (!done) {
      for (const name of (await virsh(['list', '--name'])).stdout.split('\n').map((l) => l.trim())) {
        if (!name) continue
        const xml = (await virsh(['dumpxml', name])).stdout
        if (!match(name, xml)) continue
        if (xml.includes("<domain type='kvm'")) {
          // Held paused for its ports (spawn's vif wait): it must be running, as a failing guest is.
          if ((await virsh(['domstate', name])).stdout.trim() !== 'running') continue
          await virsh(['qemu-monitor-command', '--hmp', name, 'stop'])
          appendFileSync(join('/var/log/libvirt/qemu', `${name}.log`), EMULATION_FAILURE_LOG)
          acted = true
        }
        return
      }
      await new Promise((r) => setTimeout(r, SABOTEUR_POLL_MS))
    }
  })()
  return {
    stop: async () => {
      done = true
      await loop
      return acted ? 'simulated (KVM started the guest here)' : 'real (QEMU refused the guest under KVM here)'
    },
  }
}
