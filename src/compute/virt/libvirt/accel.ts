import { randomUUID } from 'node:crypto'
import {
  accessSync,
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { limits } from '../../../common/limits.ts'
import { logger } from '../../../common/log.ts'
import { DebCache, extractDeb } from '../../../guest-image/debs.ts'
import { buildDomainXml, cpuXml, DEFAULT_MACHINE_TYPE, type VirtType } from './domain-xml.ts'
import { LONG_MODE_MARKER, PROBE_KERNEL_CMDLINE, probeInitramfs, REAL_MODE_MARKER } from './probe-guest.ts'
import type { Virsh } from './virsh.ts'

const log = logger('virt.libvirt.accel')

/** Where libvirt's system instance has QEMU write each domain's log (stderr included). */
export const QEMU_LOG_DIR = '/var/log/libvirt/qemu'
/** Transient probe domains are named `nimbus_kvm_probe_<pid>_<random>`; never `nimbus-`, the instances' prefix. */
const PROBE_DOMAIN_PREFIX = 'nimbus_kvm_probe_'
const PROBE_MEMORY_MB = 256
const PROBE_POLL_MS = 100
/** Longest QEMU log line kept in a reason (a register dump follows the error; the line is what matters). */
const REASON_LINE_MAX_CHARS = 300
const CHOICE_FILE = 'choice.json'
const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id'

/**
 * What QEMU says when KVM cannot run a guest: an internal error (the guest
 * pauses: "KVM internal error. Suberror: 1" / "emulation failure"), an MSR
 * or CPUID the host's KVM refuses at start, or KVM failing to start at all.
 */
const KVM_FAILURE_PATTERN =
  /KVM internal error|emulation failure|failed to set MSR|kvm_buf_set_msrs|KVM: entry failed|kvm run failed|kvm_init_vcpu failed|failed to initialize kvm|Could not access KVM kernel module/i

/** How the accelerator came to be chosen. */
export type AcceleratorSource = 'config' | 'probe' | 'cache' | 'fallback'

/** What the probe guest showed under KVM. */
export interface ProbeObservation {
  /** The guest kernel booted (its Debian package), '' when none could be staged. */
  readonly kernel: string
  readonly elapsedMs: number
  /** The kernel's real-mode setup code printed REAL_MODE_MARKER. */
  readonly realModeMarker: boolean
  /** The probe's /init printed LONG_MODE_MARKER (userspace in long mode). */
  readonly longModeMarker: boolean
  /** QEMU's own words when it refused to start or the guest died under KVM (a QEMU log line). */
  readonly kvmError?: string | undefined
  /** The probe could not run at all (no /dev/kvm, no kernel, libvirt refused for another reason). */
  readonly unavailable?: string | undefined
  /** The guest was still running, without the long-mode marker, when the probe's time ran out. */
  readonly timedOut: boolean
}

/** The accelerator this host gives guests, and why: in the start log and in os-hypervisors. */
export interface AcceleratorChoice {
  readonly virtType: VirtType
  readonly source: AcceleratorSource
  readonly reason: string
  /** The CPU model and machine type probed: those of the guests' domain XML. */
  readonly cpuMode: string
  readonly machineType: string
  readonly probe?: ProbeObservation | undefined
  readonly decidedAt: string
}

/**
 * The decision, from what the probe saw. KVM only when the guest kernel
 * went all the way: its real-mode setup code printed (as SeaBIOS and
 * syslinux run in real mode before every guest kernel) and its userspace
 * printed in long mode. Half of it (real mode without long mode, the hang
 * or emulation failure of a half-working KVM; or long mode without the
 * real-mode marker, a boot that is not what guests do) is TCG.
 */
export function decideAccelerator(obs: ProbeObservation): { virtType: VirtType; reason: string } {
  const took = `${obs.elapsedMs} ms`
  if (obs.unavailable) return { virtType: 'qemu', reason: `KVM probe could not run: ${obs.unavailable}` }
  if (obs.kvmError)
    return {
      virtType: 'qemu',
      reason: `guest kernel ${obs.kernel} failed under KVM after ${took}: ${obs.kvmError}`,
    }
  if (obs.realModeMarker && obs.longModeMarker)
    return {
      virtType: 'kvm',
      reason: `guest kernel ${obs.kernel} reached userspace in long mode under KVM in ${took}`,
    }
  if (obs.realModeMarker)
    return {
      virtType: 'qemu',
      reason: `guest kernel ${obs.kernel} printed in real mode but never reached long mode under KVM (${obs.timedOut ? `still running after ${took}` : `stopped after ${took}`}): KVM half-works here`,
    }
  if (obs.longModeMarker)
    return {
      virtType: 'qemu',
      reason: `guest kernel ${obs.kernel} reached long mode without its real-mode marker under KVM (${took}): not the boot guests make, not trusted`,
    }
  return {
    virtType: 'qemu',
    reason: `guest kernel ${obs.kernel} printed nothing under KVM within ${took}`,
  }
}

/**
 * The first line of `text` in which QEMU reports a KVM failure, trimmed;
 * undefined if none. Lines are split at newlines and at ` | `, which joins
 * a failed command's stderr lines in its error message.
 */
export function kvmFailureLine(text: string): string | undefined {
  const line = text.split(/\n| \| /).find((l) => KVM_FAILURE_PATTERN.test(l))
  return line?.trim().slice(0, REASON_LINE_MAX_CHARS)
}

/** libvirt's line at the head of each start in a domain's QEMU log ("... starting up libvirt version: ..."). */
const QEMU_LOG_START_PATTERN = /^.*: starting up libvirt version/m

/** The part of a domain's QEMU log written since its last start (the log keeps every start of a persistent domain). */
export function lastStartOf(logText: string): string {
  let from = 0
  for (const m of logText.matchAll(new RegExp(QEMU_LOG_START_PATTERN.source, 'gm'))) from = m.index ?? from
  return logText.slice(from)
}

/** The end of a domain's QEMU log ('' if there is none). */
export function qemuLogTail(domain: string, logDir: string = QEMU_LOG_DIR): string {
  try {
    const text = readFileSync(join(logDir, `${domain}.log`))
    return text.subarray(Math.max(0, text.length - limits.libvirtQemuLogTailBytes)).toString('utf8')
  } catch {
    return ''
  }
}

export interface AcceleratorOptions {
  readonly wanted: 'auto' | VirtType
  readonly virsh: Virsh
  /** Cache of Debian packages the guest image is built from (the probe boots that kernel). */
  readonly debCacheDir: string
  /** A directory libvirt-qemu can read (under the instances path): the probe's kernel and initramfs go there. */
  readonly probeDir: string
  /** The QEMU/libvirt version, part of what a cached decision depends on. */
  readonly hypervisorVersion: number
}

/**
 * Resolves the accelerator: a forced `kvm`/`qemu` as configured; `auto`
 * from this host boot's cached decision when nothing it depends on changed
 * (boot, kernel, QEMU, CPU model, machine type), else by probing. A
 * fallback recorded during this boot (a guest died under KVM) is cached
 * like a probe, so a restarted service does not try KVM again.
 */
export async function chooseAccelerator(opts: AcceleratorOptions): Promise<AcceleratorChoice> {
  const cpuMode = cpuModeOf('kvm')
  const machineType = DEFAULT_MACHINE_TYPE
  const now = () => new Date().toISOString()
  if (opts.wanted !== 'auto') {
    return {
      virtType: opts.wanted,
      source: 'config',
      reason: `[libvirt] virt_type = ${opts.wanted}`,
      cpuMode: cpuModeOf(opts.wanted),
      machineType,
      decidedAt: now(),
    }
  }
  let kernel: StagedKernel | undefined
  let kernelError: string | undefined
  try {
    kernel = await stageProbeKernel(opts.debCacheDir)
  } catch (err) {
    kernelError = `no guest kernel to boot (${err instanceof Error ? err.message : String(err)})`
  }
  const key = cacheKey(kernel?.name ?? '', opts.hypervisorVersion, cpuMode, machineType)
  const cached = kernel ? readCachedChoice(opts.debCacheDir, key) : undefined
  if (cached)
    return {
      ...cached,
      source: 'cache',
      reason: `${cached.reason} (decided ${cached.decidedAt}, this host boot)`,
    }
  const probe = kernel
    ? await runKvmProbe({ virsh: opts.virsh, dir: opts.probeDir, kernel })
    : { ...EMPTY_OBSERVATION, unavailable: kernelError }
  const decision = decideAccelerator(probe)
  const choice: AcceleratorChoice = {
    ...decision,
    source: 'probe',
    cpuMode,
    machineType,
    probe,
    decidedAt: now(),
  }
  if (kernel) writeCachedChoice(opts.debCacheDir, key, choice)
  return choice
}

/** Records a decision made after start-up (the fallback), so a restart during this host boot keeps it. */
export function recordFallback(
  debCacheDir: string,
  hypervisorVersion: number,
  choice: AcceleratorChoice,
): void {
  const kernel = choice.probe?.kernel
  if (!kernel) return
  writeCachedChoice(
    debCacheDir,
    cacheKey(kernel, hypervisorVersion, cpuModeOf('kvm'), DEFAULT_MACHINE_TYPE),
    choice,
  )
}

const EMPTY_OBSERVATION: ProbeObservation = {
  kernel: '',
  elapsedMs: 0,
  realModeMarker: false,
  longModeMarker: false,
  timedOut: false,
}

/** The `<cpu mode=...>` the domain XML gives guests under `virtType`. */
export function cpuModeOf(virtType: VirtType): string {
  return /mode='([^']+)'/.exec(cpuXml(virtType))?.[1] ?? ''
}

// ---- the cache (per host boot) ----

interface CacheKey {
  readonly bootId: string
  readonly kernel: string
  readonly hypervisorVersion: number
  readonly cpuMode: string
  readonly machineType: string
}

function cacheKey(kernel: string, hypervisorVersion: number, cpuMode: string, machineType: string): CacheKey {
  let bootId = ''
  try {
    bootId = readFileSync(BOOT_ID_FILE, 'utf8').trim()
  } catch {
    // No boot id: the key never matches a file, so every start probes.
  }
  return { bootId, kernel, hypervisorVersion, cpuMode, machineType }
}

function probeStateDir(debCacheDir: string): string {
  return join(debCacheDir, '..', 'kvm-probe')
}

function readCachedChoice(debCacheDir: string, key: CacheKey): AcceleratorChoice | undefined {
  if (!key.bootId) return undefined
  try {
    const saved = JSON.parse(readFileSync(join(probeStateDir(debCacheDir), CHOICE_FILE), 'utf8')) as {
      key: CacheKey
      choice: AcceleratorChoice
    }
    const same = (Object.keys(key) as (keyof CacheKey)[]).every((k) => saved.key?.[k] === key[k])
    return same && (saved.choice.virtType === 'kvm' || saved.choice.virtType === 'qemu')
      ? saved.choice
      : undefined
  } catch {
    return undefined
  }
}

function writeCachedChoice(debCacheDir: string, key: CacheKey, choice: AcceleratorChoice): void {
  if (!key.bootId) return
  try {
    const dir = probeStateDir(debCacheDir)
    mkdirSync(dir, { recursive: true })
    const tmp = join(dir, `${CHOICE_FILE}.${process.pid}.tmp`)
    writeFileSync(tmp, JSON.stringify({ key, choice }, null, 2))
    renameSync(tmp, join(dir, CHOICE_FILE))
  } catch (err) {
    log.warn({ err }, 'could not cache the accelerator decision; the next start probes again')
  }
}

// ---- the guest kernel ----

export interface StagedKernel {
  /** The Debian package (linux-image-<version>-cloud-amd64). */
  readonly name: string
  readonly path: string
}

/**
 * The guest image's kernel (the same package `nimbus image build` resolves,
 * from the same .deb cache), its vmlinuz unpacked once next to that cache.
 */
export async function stageProbeKernel(debCacheDir: string): Promise<StagedKernel> {
  const debs = new DebCache(debCacheDir)
  const name = await debs.kernelPackage()
  const dir = probeStateDir(debCacheDir)
  const path = join(dir, `vmlinuz-${name}`)
  if (existsSync(path)) return { name, path }
  const deb = (await debs.fetch([name])).get(name)!
  mkdirSync(dir, { recursive: true })
  const work = mkdtempSync(join(dir, '.unpack-'))
  try {
    await extractDeb(deb, work)
    const vmlinuz = readdirSync(join(work, 'boot')).find((f) => f.startsWith('vmlinuz-'))
    if (!vmlinuz) throw new Error(`${deb} has no boot/vmlinuz-*`)
    copyFileSync(join(work, 'boot', vmlinuz), `${path}.${process.pid}.tmp`)
    renameSync(`${path}.${process.pid}.tmp`, path)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
  return { name, path }
}

// ---- the probe ----

export interface ProbeRun {
  readonly virsh: Virsh
  /** Readable by libvirt-qemu; the kernel and initramfs are copied here for the run. */
  readonly dir: string
  readonly kernel: StagedKernel
  readonly timeoutMs?: number
  readonly qemuLogDir?: string
  /**
   * `kvm` (default) for the probe. `qemu` boots the same probe guest under
   * TCG: the check that the probe guest itself prints both markers, so a
   * probe without them is KVM's fault, not the probe's.
   */
  readonly virtType?: VirtType
}

/**
 * Boots the guest kernel in a transient libvirt domain made by the same
 * buildDomainXml as every guest (type='kvm', the same CPU model and
 * machine type; direct kernel boot with the probe's initramfs instead of a
 * disk) and watches its serial console, its state and its QEMU log until
 * the long-mode marker shows, the guest stops, or the time runs out.
 * Leaves no domain and no file behind.
 */
export async function runKvmProbe(run: ProbeRun): Promise<ProbeObservation> {
  const started = Date.now()
  const base = { kernel: run.kernel.name, realModeMarker: false, longModeMarker: false, timedOut: false }
  const elapsed = () => Date.now() - started
  const virtType = run.virtType ?? 'kvm'
  try {
    if (virtType === 'kvm') accessSync('/dev/kvm', constants.R_OK | constants.W_OK)
  } catch {
    return { ...base, elapsedMs: elapsed(), unavailable: '/dev/kvm is missing or not usable' }
  }
  await removeStaleProbes(run.virsh, run.dir)
  const name = `${PROBE_DOMAIN_PREFIX}${process.pid}_${randomUUID().slice(0, 8)}`
  const dir = join(run.dir, name)
  const logDir = run.qemuLogDir ?? QEMU_LOG_DIR
  mkdirSync(dir, { recursive: true, mode: 0o755 })
  const consoleLog = join(dir, 'console.log')
  try {
    copyFileSync(run.kernel.path, join(dir, 'vmlinuz'))
    writeFileSync(join(dir, 'initrd'), probeInitramfs())
    const xml = buildDomainXml({
      name,
      uuid: randomUUID(),
      title: 'Nimbus KVM probe',
      virtType,
      memoryMb: PROBE_MEMORY_MB,
      vcpus: 1,
      disks: [],
      nics: [],
      consoleLog,
      imageProperties: {},
      imageId: 'kvm-probe',
      flavorSummary: `1 vcpu, ${PROBE_MEMORY_MB} MB, KVM probe`,
      directBoot: {
        kernel: join(dir, 'vmlinuz'),
        initrd: join(dir, 'initrd'),
        cmdline: PROBE_KERNEL_CMDLINE,
      },
    })
    writeFileSync(join(dir, 'domain.xml'), xml)
    try {
      await run.virsh.exec(['create', join(dir, 'domain.xml')])
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      const kvmError = kvmFailureLine(message) ?? kvmFailureLine(qemuLogTail(name, logDir))
      if (kvmError) return { ...base, elapsedMs: elapsed(), kvmError }
      return {
        ...base,
        elapsedMs: elapsed(),
        unavailable: `libvirt did not start the probe domain: ${message}`,
      }
    }
    return await watchProbe(run, name, consoleLog, logDir, started)
  } finally {
    await run.virsh.execIdempotent(['destroy', name]).catch(() => {})
    rmSync(dir, { recursive: true, force: true })
    rmSync(join(logDir, `${name}.log`), { force: true })
    removeIfEmpty(run.dir)
  }
}

async function watchProbe(
  run: ProbeRun,
  name: string,
  consoleLog: string,
  logDir: string,
  started: number,
): Promise<ProbeObservation> {
  const deadline = started + (run.timeoutMs ?? limits.libvirtKvmProbeTimeoutMs)
  const observe = (extra: Partial<ProbeObservation>): ProbeObservation => {
    const text = readText(consoleLog)
    return {
      kernel: run.kernel.name,
      elapsedMs: Date.now() - started,
      realModeMarker: text.includes(REAL_MODE_MARKER),
      longModeMarker: text.includes(LONG_MODE_MARKER),
      timedOut: false,
      ...extra,
    }
  }
  for (;;) {
    const now = observe({})
    if (now.longModeMarker) return now
    let state = ''
    try {
      state = (await run.virsh.exec(['domstate', '--reason', name])).trim()
    } catch {
      state = 'gone'
    }
    if (!state.startsWith('running')) {
      const line = kvmFailureLine(qemuLogTail(name, logDir))
      return observe({ kvmError: line ?? `the probe guest stopped: ${state}` })
    }
    if (Date.now() >= deadline) return observe({ timedOut: true })
    await sleep(PROBE_POLL_MS)
  }
}

/** Probe domains and files of processes that died mid-probe (a killed service); a live process's probe is left alone. */
async function removeStaleProbes(virsh: Virsh, dir: string): Promise<void> {
  const stale = (name: string) => {
    if (!name.startsWith(PROBE_DOMAIN_PREFIX)) return false
    const pid = Number(name.slice(PROBE_DOMAIN_PREFIX.length).split('_')[0])
    return !(Number.isInteger(pid) && pid > 0 && processAlive(pid))
  }
  for (const name of await virsh.listAll().catch(() => [])) {
    if (!stale(name)) continue
    log.info({ domain: name }, 'removing a KVM probe domain left by a process that is gone')
    await virsh.execIdempotent(['destroy', name]).catch(() => {})
  }
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    if (stale(name)) rmSync(join(dir, name), { recursive: true, force: true })
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Removes a directory that is empty; one still in use (another process's probe) stays. */
function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir)
  } catch {
    // not empty, or gone already
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return ''
  }
}
