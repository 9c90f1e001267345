import { spawn } from 'node:child_process'
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { limits } from '../../../common/limits.ts'
import { logger } from '../../../common/log.ts'
import type { VirtType } from './domain-xml.ts'

const log = logger('virt.libvirt.accel')

const BOOT_SECTOR_BYTES = 512
const PROBE_MARKER = 'K'
const PROBE_POLL_MS = 100

/**
 * A boot sector that writes 'K' to COM1 and halts:
 *   mov dx, 0x3f8 / mov al, 'K' / out dx, al / hlt / jmp $-1
 */
function probeBootSector(): Buffer {
  const sector = Buffer.alloc(BOOT_SECTOR_BYTES)
  Buffer.from([0xba, 0xf8, 0x03, 0xb0, PROBE_MARKER.charCodeAt(0), 0xee, 0xf4, 0xeb, 0xfd]).copy(sector)
  sector[510] = 0x55
  sector[511] = 0xaa
  return sector
}

/**
 * Whether QEMU can really run a guest with KVM on this host. `/dev/kvm`
 * existing is not enough (on some hosts it answers ioctls, yet QEMU fails to
 * set MSRs with `-cpu host`), so this boots a one-sector guest with the CPU
 * model the driver would use and waits, bounded, for its serial output.
 */
export async function kvmUsable(): Promise<boolean> {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK)
  } catch {
    return false
  }
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-kvm-probe-'))
  try {
    writeFileSync(join(dir, 'boot.img'), probeBootSector())
    return await runProbe(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function runProbe(dir: string): Promise<boolean> {
  const serial = join(dir, 'serial.log')
  const child = spawn(
    'qemu-system-x86_64',
    [
      '-accel',
      'kvm',
      '-cpu',
      'host',
      '-m',
      '16',
      '-nodefaults',
      '-no-user-config',
      '-display',
      'none',
      '-drive',
      `file=${join(dir, 'boot.img')},format=raw,if=ide`,
      '-serial',
      `file:${serial}`,
    ],
    { stdio: 'ignore' },
  )
  return new Promise((resolve) => {
    const deadline = Date.now() + limits.libvirtKvmProbeTimeoutMs
    let done = false
    const finish = (ok: boolean) => {
      if (done) return
      done = true
      clearInterval(timer)
      child.kill('SIGKILL')
      resolve(ok)
    }
    const timer = setInterval(() => {
      if (readFileSafe(serial).includes(PROBE_MARKER)) finish(true)
      else if (Date.now() > deadline) finish(false)
    }, PROBE_POLL_MS)
    child.on('exit', () => {
      // QEMU exiting on its own (e.g. "failed to set MSR") means KVM is not usable.
      setTimeout(() => finish(readFileSafe(serial).includes(PROBE_MARKER)), PROBE_POLL_MS)
    })
    child.on('error', () => finish(false))
  })
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return ''
  }
}

/** Resolves `auto` by probing; logs the outcome once, because it decides every guest's speed. */
export async function chooseVirtType(wanted: 'auto' | VirtType): Promise<VirtType> {
  if (wanted !== 'auto') return wanted
  const kvm = await kvmUsable()
  log.info(
    { virtType: kvm ? 'kvm' : 'qemu' },
    kvm ? 'KVM runs guests: using it' : 'KVM not usable here: guests run under TCG (type=qemu)',
  )
  return kvm ? 'kvm' : 'qemu'
}
