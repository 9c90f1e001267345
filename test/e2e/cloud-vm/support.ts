/**
 * Namespaces for the whole-cloud VM test. Real VMs' taps live in the root
 * namespace (libvirtd makes them there), so the data plane runs there too:
 * its bridges (`nb-...`, no addresses) and nft tables are in the root
 * namespace. Everything else the test needs — a "guest" namespace on a
 * tenant network (a veth whose root end is named like a port's tap) and an
 * "outside" namespace on the external bridge — is in namespaces it makes and
 * removes. No address or route is ever added to the root namespace (IPv6 is
 * turned off on the root ends of the veths).
 */
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { run } from '../../../src/network/dataplane/exec.ts'

const COMMAND_TIMEOUT_MS = 15_000

function disableIpv6(ifname: string): void {
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${ifname}/disable_ipv6`, '1')
  } catch {
    // IPv6 off host-wide: nothing to do.
  }
}

export class RootTopology {
  readonly prefix = `ncv${randomBytes(2).toString('hex')}`
  readonly #namespaces: string[] = []
  readonly #links: string[] = []

  async #addNs(name: string): Promise<string> {
    const ns = `${this.prefix}-${name}`
    await run('ip', ['netns', 'add', ns])
    this.#namespaces.push(ns)
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
    return ns
  }

  /** A namespace whose eth0 is the peer of `tap` (root namespace), as a guest's NIC would be. */
  async guest(name: string, tap: string, mac: string, cidrAddr: string, gateway: string): Promise<string> {
    const ns = await this.#addNs(name)
    await run('ip', ['link', 'add', tap, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
    this.#links.push(tap)
    disableIpv6(tap)
    await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'address', mac, 'up'])
    await run('ip', ['-n', ns, 'addr', 'add', cidrAddr, 'dev', 'eth0'])
    await run('ip', ['-n', ns, 'route', 'add', 'default', 'via', gateway])
    return ns
  }

  /** A namespace plugged into `bridge` (root namespace) through a veth. */
  async external(name: string, bridge: string, cidrAddr: string): Promise<string> {
    const ns = await this.#addNs(name)
    const veth = `${this.prefix}x`
    await run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
    this.#links.push(veth)
    disableIpv6(veth)
    await run('ip', ['link', 'set', veth, 'master', bridge, 'up'])
    await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up'])
    await run('ip', ['-n', ns, 'addr', 'add', cidrAddr, 'dev', 'eth0'])
    return ns
  }

  /** Runs a command in a namespace; resolves with its output, rejects on failure or timeout. */
  async exec(ns: string, argv: readonly string[], timeoutMs = COMMAND_TIMEOUT_MS): Promise<string> {
    const { stdout } = await run('ip', ['netns', 'exec', ns, ...argv], { timeoutMs })
    return stdout
  }

  /** Deletes every namespace and root-side link it made (a namespace's deletion takes its veth peer along). */
  async destroy(): Promise<void> {
    for (const ns of this.#namespaces.reverse())
      await run('ip', ['netns', 'del', ns], { okCodes: [1] }).catch(() => undefined)
    for (const link of this.#links)
      await run('ip', ['link', 'del', link], { okCodes: [1] }).catch(() => undefined)
  }
}

/** True when a network interface exists in the root namespace. */
export async function linkExists(name: string): Promise<boolean> {
  return run('ip', ['link', 'show', name], { timeoutMs: COMMAND_TIMEOUT_MS }).then(
    () => true,
    () => false,
  )
}

const VIRSH_TIMEOUT_MS = 30_000

/** Destroys and undefines the `nimbus-*` domains whose disks are under `instancesPath` (a run that stopped half-way). */
export async function destroyGuestsUnder(instancesPath: string): Promise<string[]> {
  const virsh = (args: readonly string[]) =>
    run('virsh', ['-c', 'qemu:///system', ...args], { timeoutMs: VIRSH_TIMEOUT_MS })
  const { stdout } = await virsh(['list', '--all', '--name']).catch(() => ({ stdout: '' }))
  const destroyed: string[] = []
  for (const name of stdout.split('\n').map((l) => l.trim())) {
    if (!name.startsWith('nimbus-')) continue
    const { stdout: disks } = await virsh(['domblklist', name]).catch(() => ({ stdout: '' }))
    if (!disks.includes(`${instancesPath}/`)) continue
    await virsh(['destroy', name]).catch(() => undefined)
    await virsh(['undefine', '--managed-save', name]).catch(() => undefined)
    destroyed.push(name)
  }
  return destroyed
}
