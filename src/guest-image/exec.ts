import { spawn } from 'node:child_process'
import { NimbusError } from '../common/errors.ts'

/** Longest stdout/stderr kept from one host command; beyond it output is cut (commands here are chatty at most). */
const OUTPUT_MAX_BYTES = 4 * 1024 * 1024

/** A host command failed: non-zero exit, killed by its timeout, or could not start. */
export class HostCommandError extends NimbusError {
  override readonly name = 'HostCommandError'
}

export interface RunOptions {
  /** Every host command is bounded: it is killed (SIGKILL) when this elapses. */
  readonly timeoutMs: number
  readonly input?: string | Buffer
  readonly cwd?: string
  readonly env?: NodeJS.ProcessEnv
  /** Exit codes that are not failures (default: only 0). */
  readonly okCodes?: readonly number[]
}

export interface RunResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs `argv` without a shell (no quoting bugs), bounded by `timeoutMs`.
 * Throws HostCommandError naming the command and its stderr on failure.
 */
export function run(argv: readonly string[], opts: RunOptions): Promise<RunResult> {
  const [cmd, ...args] = argv
  if (!cmd) throw new Error('run: empty argv')
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    const out = collector()
    const err = collector()
    child.stdout.on('data', out.add)
    child.stderr.on('data', err.add)
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs)
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(new HostCommandError(`${cmd}: ${e.message}`, { argv: [...argv] }))
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const result = { code: code ?? -1, stdout: out.text(), stderr: err.text() }
      if (signal) {
        reject(failure(argv, `killed by ${signal} (timeout ${opts.timeoutMs} ms?)`, result))
      } else if (!(opts.okCodes ?? [0]).includes(result.code)) {
        reject(failure(argv, `exit ${result.code}`, result))
      } else {
        resolve(result)
      }
    })
    child.stdin.on('error', () => {})
    child.stdin.end(opts.input ?? '')
  })
}

function failure(argv: readonly string[], why: string, result: RunResult): HostCommandError {
  const tail = result.stderr.trim().split('\n').slice(-5).join(' | ')
  return new HostCommandError(`${argv.join(' ')}: ${why}${tail ? `: ${tail}` : ''}`, {
    argv: [...argv],
    code: result.code,
  })
}

function collector(): { add: (b: Buffer) => void; text: () => string } {
  const chunks: Buffer[] = []
  let size = 0
  return {
    add: (b: Buffer) => {
      if (size >= OUTPUT_MAX_BYTES) return
      chunks.push(b)
      size += b.length
    },
    text: () => Buffer.concat(chunks).toString('utf8'),
  }
}
