import { readFileSync, statfsSync } from 'node:fs'
import { cpus, loadavg, networkInterfaces, totalmem } from 'node:os'

const GIB = 1024 ** 3

/** Real figures of this host for the resource tracker (Nova's libvirt host stats). */
export interface HostFacts {
  readonly vcpus: number
  readonly memoryMb: number
  readonly localGb: number
  readonly localGbFree: number
  readonly cpuModel: string
  readonly cpuVendor: string
  readonly hostIp: string
}

export function hostFacts(instancesPath: string): HostFacts {
  const fs = statfsSync(instancesPath)
  const cpu = cpus()[0]
  return {
    vcpus: cpus().length,
    memoryMb: Math.floor(totalmem() / 1024 / 1024),
    localGb: Math.floor((fs.blocks * fs.bsize) / GIB),
    localGbFree: Math.floor((fs.bavail * fs.bsize) / GIB),
    cpuModel: cpu?.model ?? 'unknown',
    cpuVendor: cpuVendor(),
    hostIp: firstIpv4(),
  }
}

function cpuVendor(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('vendor_id'))
    const id = line?.split(':')[1]?.trim() ?? ''
    return id === 'GenuineIntel' ? 'Intel' : id === 'AuthenticAMD' ? 'AMD' : id || 'unknown'
  } catch {
    return 'unknown'
  }
}

function firstIpv4(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  return '127.0.0.1'
}

/** `uptime`-style line from /proc (the hypervisors API's uptime field). */
export function hostUptime(): string {
  const seconds = Math.floor(Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]))
  const days = Math.floor(seconds / 86_400)
  const hours = Math.floor((seconds % 86_400) / 3_600)
  const minutes = Math.floor((seconds % 3_600) / 60)
  const up =
    days > 0
      ? `${days} days, ${hours}:${String(minutes).padStart(2, '0')}`
      : `${hours}:${String(minutes).padStart(2, '0')}`
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(', ')
  return ` ${new Date().toISOString().slice(11, 19)} up ${up},  0 users,  load average: ${load}`
}

/** `QEMU 7.2.22` -> 7002022 (Nova's integer version). */
export function versionNumber(text: string): number {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text)
  if (!m) return 0
  return Number(m[1]) * 1_000_000 + Number(m[2]) * 1_000 + Number(m[3] ?? 0)
}
