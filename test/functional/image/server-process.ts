import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'

/** The image server (image-server.ts) in a child process, and what the parent measures of it. */

const SERVER_SCRIPT = resolve(import.meta.dirname, 'image-server.ts')
/** Bound on the child starting identity and image. */
const START_TIMEOUT_MS = 60_000
/** Bound on the child stopping before it is killed. */
const STOP_TIMEOUT_MS = 30_000

export interface ServerProcess {
  readonly imageUrl: string
  readonly identityUrl: string
  readonly token: string
  readonly stateDir: string
  readonly pid: number
  /** Resident memory now, in bytes (VmRSS). */
  rssBytes(): number
  /** Peak resident memory since the last resetPeak(), in bytes (VmHWM). */
  peakRssBytes(): number
  /** Restarts the peak measure (Linux: `5` into /proc/PID/clear_refs). */
  resetPeak(): void
  stop(): Promise<void>
}

export async function startServerProcess(maxImageSizeBytes?: number): Promise<ServerProcess> {
  const args = ['--import', 'tsx', SERVER_SCRIPT, ...(maxImageSizeBytes ? [String(maxImageSizeBytes)] : [])]
  const child = spawn(process.execPath, args, {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, NIMBUS_LOG_LEVEL: 'silent' },
  })
  const info = await firstLine(child)
  const status = (field: string): number => {
    const line = readFileSync(`/proc/${info.pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${field}:`))
    return Number(/(\d+)\s*kB/.exec(line ?? '')?.[1] ?? NaN) * 1024
  }
  return {
    ...info,
    rssBytes: () => status('VmRSS'),
    peakRssBytes: () => status('VmHWM'),
    resetPeak: () => writeFileSync(`/proc/${info.pid}/clear_refs`, '5'),
    stop: () => stopChild(child),
  }
}

function firstLine(
  child: ChildProcess,
): Promise<Omit<ServerProcess, 'rssBytes' | 'peakRssBytes' | 'resetPeak' | 'stop'>> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`the image server did not start in ${START_TIMEOUT_MS} ms`))
    }, START_TIMEOUT_MS)
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer)
      resolvePromise(JSON.parse(line))
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`the image server exited with ${code}`))
    })
  })
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve()
  return new Promise((resolvePromise) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
    child.once('exit', () => {
      clearTimeout(kill)
      resolvePromise()
    })
    child.stdin!.end()
  })
}
