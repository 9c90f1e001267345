import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { run } from '../../../src/network/dataplane/exec.ts'

/**
 * Test topology in network namespaces this test creates and removes: a
 * namespace standing in for the hypervisor host (the data plane's bridges
 * and nft tables live there), one namespace per guest with a veth whose
 * host end is the guest's `tap...` (as a VM's tap would be), and an
 * "external host" namespace on the external bridge. Nothing is added to
 * the root namespace.
 */
const PROBE = fileURLToPath(new URL('./probe.mjs', import.meta.url))
/** A connection attempt that should succeed gets this long. */
export const CONNECT_TIMEOUT_MS = 1_500
/** ...and one that should fail is declared failed after this long. */
export const BLOCKED_TIMEOUT_MS = 700

export class Topology {
  readonly prefix = `nbt${randomBytes(3).toString('hex')}`
  readonly hostNs = `${this.prefix}-host`
  readonly #namespaces: string[] = []
  readonly #servers: ChildProcess[] = []

  async create(): Promise<void> {
    await this.#addNs(this.hostNs)
    await run('ip', ['-n', this.hostNs, 'link', 'set', 'lo', 'up'])
  }

  async #addNs(name: string): Promise<void> {
    await run('ip', ['netns', 'add', name])
    this.#namespaces.push(name)
  }

  /** A guest: a namespace whose eth0 is the peer of `tap` in the host namespace. */
  async guest(name: string, tap: string, mac: string, cidrAddr: string, gateway?: string): Promise<string> {
    const ns = `${this.prefix}-${name}`
    await this.#addNs(ns)
    await run('ip', [
      '-n',
      this.hostNs,
      'link',
      'add',
      tap,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      ns,
    ])
    await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'address', mac, 'up'])
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
    await run('ip', ['-n', ns, 'addr', 'add', cidrAddr, 'dev', 'eth0'])
    if (gateway) await run('ip', ['-n', ns, 'route', 'add', 'default', 'via', gateway])
    return ns
  }

  /** An external host: a namespace plugged into a bridge of the host namespace. */
  async external(name: string, bridge: string, cidrAddr: string): Promise<string> {
    const ns = `${this.prefix}-${name}`
    await this.#addNs(ns)
    const veth = `${this.prefix}x`
    await run('ip', [
      '-n',
      this.hostNs,
      'link',
      'add',
      veth,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      ns,
    ])
    await run('ip', ['-n', this.hostNs, 'link', 'set', veth, 'master', bridge, 'up'])
    await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up'])
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
    await run('ip', ['-n', ns, 'addr', 'add', cidrAddr, 'dev', 'eth0'])
    return ns
  }

  /** A TCP server in `ns` answering "ok"; resolves once it listens. */
  listen(ns: string, port: number): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, PROBE, 'listen', String(port)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    this.#servers.push(child)
    return new Promise((resolve, reject) => {
      child.stdout!.once('data', () => resolve())
      child.once('exit', (code) => reject(new Error(`listener in ${ns} exited ${code}`)))
    })
  }

  /** True if a TCP connection from `ns` to host:port gets its answer in time. */
  async connects(
    ns: string,
    host: string,
    port: number,
    timeoutMs = CONNECT_TIMEOUT_MS,
    source?: string,
  ): Promise<boolean> {
    const args = [
      process.execPath,
      PROBE,
      'connect',
      host,
      String(port),
      String(timeoutMs),
      ...(source ? [source] : []),
    ]
    try {
      await run('ip', ['netns', 'exec', ns, ...args], { timeoutMs: timeoutMs + 5_000 })
      return true
    } catch {
      return false
    }
  }

  /** An HTTP GET from `ns`: `<status> <body>`, or undefined when nothing answered. */
  async get(ns: string, url: string, timeoutMs = CONNECT_TIMEOUT_MS): Promise<string | undefined> {
    try {
      const { stdout } = await run(
        'ip',
        ['netns', 'exec', ns, process.execPath, PROBE, 'get', url, String(timeoutMs)],
        {
          timeoutMs: timeoutMs + 5_000,
        },
      )
      return stdout.trim()
    } catch {
      return undefined
    }
  }

  /** Polls `check` until it holds or `timeoutMs` passes; returns the time it took. */
  async until(check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
    const start = Date.now()
    for (;;) {
      if (await check()) return Date.now() - start
      if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`)
      await new Promise((r) => setTimeout(r, 25))
    }
  }

  /** Kills the servers it started (by pid) and deletes every namespace it made. */
  async destroy(): Promise<void> {
    for (const s of this.#servers) if (s.exitCode === null && s.pid) process.kill(s.pid, 'SIGKILL')
    for (const ns of this.#namespaces.reverse())
      await run('ip', ['netns', 'del', ns], { okCodes: [1] }).catch(() => undefined)
  }
}

/** Names of every network namespace on the machine. */
export async function netnsList(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list'])
  return stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean)
    .sort()
}

/** Pids of dnsmasq processes whose command line mentions `dir`. */
export async function dnsmasqPids(dir: string): Promise<number[]> {
  return pidsMentioning(dir, 'dnsmasq')
}

/** Pids of processes whose command line mentions `dir` (and starts with `exe` if given). */
export async function pidsMentioning(dir: string, exe = ''): Promise<number[]> {
  const { readdirSync, readFileSync } = await import('node:fs')
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8')
      if (cmd.startsWith(exe) && cmd.includes(dir)) out.push(Number(entry))
    } catch {
      // The process ended meanwhile.
    }
  }
  return out
}
