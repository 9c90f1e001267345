import { spawn } from 'node:child_process'
import { NimbusError, registerErrorClass } from '../../common/errors.ts'

/** A host command failed: which one, its exit code and what it said. */
export class CommandFailed extends NimbusError {
  override readonly status: number = 500
}
registerErrorClass(CommandFailed)

/** Longest a single ip/nft/sysctl command may run before it is killed. */
export const COMMAND_TIMEOUT_MS = 10_000
/** Output kept from a failing command for the error message. */
const STDERR_KEPT_CHARS = 2_000

export interface RunOptions {
  readonly input?: string
  readonly timeoutMs?: number
  /** Exit codes (besides 0) that are not failures. */
  readonly okCodes?: readonly number[]
}

export interface RunResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** What runs the data plane's host commands (ip, nft, dnsmasq, sysctl). */
export type CommandRunner = (cmd: string, args: readonly string[], opts: RunOptions) => Promise<RunResult>

let runner: CommandRunner = spawnCommand

/** Runs a command without a shell; throws CommandFailed on a non-zero exit or timeout. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return runner(cmd, args, opts)
}

/**
 * Replaces what runs host commands (unit tests give a fake that records
 * the commands and fails chosen ones); returns the function restoring the
 * previous runner.
 */
export function setCommandRunner(next: CommandRunner): () => void {
  const previous = runner
  runner = next
  return () => {
    runner = previous
  }
}

function spawnCommand(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? COMMAND_TIMEOUT_MS)
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(new CommandFailed(`${cmd}: ${err.message}`, { cmd, args }))
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const exit = code ?? -1
      if (exit === 0 || opts.okCodes?.includes(exit)) return resolve({ code: exit, stdout, stderr })
      const why = signal ? `killed by ${signal}` : `exit ${exit}`
      reject(
        new CommandFailed(`${cmd} ${args.join(' ')}: ${why}: ${stderr.slice(0, STDERR_KEPT_CHARS).trim()}`, {
          cmd,
          args,
          code: exit,
        }),
      )
    })
    if (child.stdin) {
      // A command that exits without reading its input must not crash us with EPIPE.
      child.stdin.on('error', () => undefined)
      child.stdin.end(opts.input)
    }
  })
}

/**
 * The network namespace a data plane works in: the host's own (`undefined`,
 * production) or a namespace standing in for a hypervisor host (tests).
 * Every command the data plane runs goes through here.
 */
export class HostNs {
  readonly netns: string | undefined

  constructor(netns?: string) {
    this.netns = netns || undefined
  }

  /** `ip` in this namespace. */
  ip(...args: string[]): Promise<RunResult> {
    return run('ip', this.netns ? ['-n', this.netns, ...args] : args)
  }

  /** `ip` whose failure is expected sometimes (the object is already gone). */
  async ipQuiet(...args: string[]): Promise<boolean> {
    try {
      await this.ip(...args)
      return true
    } catch {
      return false
    }
  }

  /**
   * Keeps the host's IP stack off a bridge port (a tap, the host end of a
   * DHCP or router veth): no IPv6 link-local address for it in this
   * namespace, as Neutron's linuxbridge agent disables IPv6 on what it
   * plugs. An address already made (libvirt brings taps up first) is removed.
   */
  async silenceIpv6(ifname: string): Promise<void> {
    await this.ipQuiet('link', 'set', ifname, 'addrgenmode', 'none')
    await this.ipQuiet('-6', 'addr', 'flush', 'dev', ifname, 'scope', 'link')
  }

  /** Runs a command inside this namespace. */
  exec(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    if (!this.netns) return run(cmd, args, opts)
    return run('ip', ['netns', 'exec', this.netns, cmd, ...args], opts)
  }

  /** Loads an nft script atomically. */
  nft(script: string): Promise<RunResult> {
    return this.exec('nft', ['-f', '-'], { input: script })
  }

  /** Checks an nft script without applying anything (`nft -c`): throws CommandFailed if refused. */
  nftCheck(script: string): Promise<RunResult> {
    return this.exec('nft', ['-c', '-f', '-'], { input: script })
  }
}

/** Runs a command in another named namespace. */
export function inNs(
  netns: string,
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  return run('ip', ['netns', 'exec', netns, cmd, ...args], opts)
}

export async function listNetns(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list'])
  return stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean)
}
