import {
  copyFileSync,
  createReadStream,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  closeSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { limits } from '../../../common/limits.ts'
import { logger } from '../../../common/log.ts'
import { run } from '../../../guest-image/exec.ts'
import { Reverter } from '../../reverter.ts'
import { makeGuestDir, qemuGroupId } from './guest-dirs.ts'
import { POWER_STATE_NAMES, PowerState } from '../../states.ts'
import {
  VirtDriverError,
  VirtInstanceExists,
  VirtInstanceNotFound,
  VirtInvalidState,
  VirtNotSupported,
  type InstanceInfo,
  type NodeResources,
  type RebootType,
  type RescueRequest,
  type FinishMigrationRequest,
  type SpawnRequest,
  type VirtDriver,
  type VirtInstance,
  type VirtNic,
} from '../driver.ts'
import {
  buildConfigDriveIso,
  CONFIG_DRIVE_FILE,
  configDriveFiles,
  configDriveRequired,
} from '../config-drive.ts'
import { DEFAULT_STATE_DIR } from '../../../common/config.ts'
import { debCacheDir } from '../../../guest-image/command.ts'
import {
  chooseAccelerator,
  cpuModeOf,
  kvmFailureLine,
  lastStartOf,
  qemuLogTail,
  recordFallback,
  type AcceleratorChoice,
} from './accel.ts'
import {
  buildDomainXml,
  diskBus,
  nicXml,
  type DomainDisk,
  type DomainNic,
  type VirtType,
} from './domain-xml.ts'
import { hostFacts, hostUptime, versionNumber } from './host.ts'
import {
  createBlank,
  createOverlay,
  diskVirtualSizeBytes,
  ImageCache,
  type ImageSource,
} from './image-cache.ts'
import { toPowerState, Virsh } from './virsh.ts'
import { diagnosticsFromStats, parseDomiflist, parseDomstats } from './diagnostics.ts'
import type { GuestDiagnostics } from '../diagnostics.ts'

const log = logger('virt.libvirt')

/** Domains Nimbus owns are named `nimbus-<instance uuid>`; others on the host are left alone. */
const DOMAIN_PREFIX = 'nimbus-'
/** Suffix of the instance dir a resize keeps until it is confirmed or reverted (as Nova's libvirt driver). */
const RESIZE_SUFFIX = '_resize'
const GIB = 1024 ** 3
const MIB = 1024 ** 2
/** How often a spawn looks for a NIC's bridge while the network agent makes it. */
const BRIDGE_POLL_INTERVAL_MS = 50
/** Neutron's linuxbridge agent names a network's bridge `brq` + the first 11 characters of its id. */
const BRIDGE_PREFIX = 'brq'
const BRIDGE_ID_CHARS = 11
/** Where, under the instances path, the KVM probe puts its kernel and initramfs (libvirt-qemu must read them). */
const KVM_PROBE_DIR = '_kvm_probe'

/**
 * QEMU stopped a guest under KVM with an error of KVM's own (an emulation
 * failure, an MSR it refused): not the guest's fault, and not this
 * instance's. The spawn retries the guest under TCG; it never leaves here.
 */
class KvmGuestFailure extends VirtDriverError {
  constructor(
    readonly qemuLogLine: string,
    domstate: string,
  ) {
    super(`the guest failed under KVM (${domstate}): ${qemuLogLine}`, { step: 'spawn:kvm' })
  }
}

export interface LibvirtDriverOptions {
  /** libvirt URI, e.g. qemu:///system. */
  readonly uri: string
  /** `auto` probes KVM at initHost (never assumed); `qemu` = TCG. */
  readonly virtType: 'auto' | VirtType
  /** Instance dirs (disk, console log, domain.xml) and `_base`; must be reachable by libvirt-qemu. */
  readonly instancesPath: string
  /** Where base images come from (the image service). */
  readonly images: ImageSource
  /** The Linux bridge a NIC's tap goes on; the contract's VirtNic does not carry it. */
  readonly bridgeFor?: (nic: VirtNic) => string
  /** Node name; default the host name given to initHost. */
  readonly nodename?: string
  /** Attach a config drive to every guest (`[compute] force_config_drive`). */
  readonly forceConfigDrive?: boolean | undefined
  /** The guest image's .deb cache, whose kernel the KVM probe boots (default: the default state dir's). */
  readonly debCacheDir?: string | undefined
}

/** Base cache folder inside instances_path (Nova's `_base`). */
const BASE_DIR = '_base'

/**
 * The image ids the instances under `instancesPath` are built on, read from
 * the `<nimbus:image id=…/>` of every domain XML in their folders (a rescue
 * keeps both its own and the saved one). undefined when an instance folder
 * has no domain XML yet (a spawn in progress): then no one can tell.
 */
export function imagesInUse(instancesPath: string): ReadonlySet<string> | undefined {
  const ids = new Set<string>()
  if (!existsSync(instancesPath)) return ids
  for (const entry of readdirSync(instancesPath, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name === BASE_DIR) continue
    const dir = join(instancesPath, entry.name)
    const xmls = readdirSync(dir).filter((n) => n.includes('.xml'))
    if (xmls.length === 0) return undefined
    for (const name of xmls) {
      for (const m of readFileSync(join(dir, name), 'utf8').matchAll(/<nimbus:image id='([^']*)'/g)) {
        ids.add(unescapeXml(m[1]!))
      }
    }
  }
  return ids
}

/** The five XML entities domain-xml.ts escapes. */
function unescapeXml(s: string): string {
  return s
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&apos;', "'")
    .replaceAll('&amp;', '&')
}

/** Neutron linuxbridge naming, the default when no bridgeFor is given. */
export function defaultBridgeName(nic: VirtNic): string {
  return `${BRIDGE_PREFIX}${nic.networkId.slice(0, BRIDGE_ID_CHARS)}`
}

/** `tap` + the MAC's 12 hex digits: unique per port and exactly IFNAMSIZ-1 (15) characters. */
export function tapName(mac: string): string {
  return `tap${mac.toLowerCase().replaceAll(':', '')}`
}

/**
 * The libvirt driver: each instance is a libvirt domain (QEMU, KVM when the
 * start-up probe shows it works, TCG otherwise) with a qcow2 overlay on a
 * per-host base image cache, one tap per port on its network's bridge, and
 * its serial console logged to a file by virtlogd.
 */
export class LibvirtDriver implements VirtDriver {
  readonly name = 'libvirt'
  readonly #options: LibvirtDriverOptions
  readonly #virsh: Virsh
  readonly #cache: ImageCache
  #virtType: VirtType = 'qemu'
  #accelerator: AcceleratorChoice | undefined
  #host = ''
  #hypervisorVersion = 0

  constructor(options: LibvirtDriverOptions) {
    this.#options = options
    this.#virsh = new Virsh(options.uri)
    this.#cache = new ImageCache(join(options.instancesPath, BASE_DIR), options.images, {
      inUse: async () => imagesInUse(options.instancesPath),
    })
  }

  /** The accelerator guests get now: chosen at initHost, `qemu` for good once a guest failed under KVM. */
  get virtType(): VirtType {
    return this.#virtType
  }

  /** How the accelerator was chosen (probe result, kernel, time taken), or undefined before initHost. */
  get accelerator(): AcceleratorChoice | undefined {
    return this.#accelerator
  }

  /** Directory of one instance's files. */
  instanceDir(uuid: string): string {
    return join(this.#options.instancesPath, uuid)
  }

  domainName(uuid: string): string {
    return `${DOMAIN_PREFIX}${uuid}`
  }

  async initHost(host: string): Promise<void> {
    this.#host = host
    makeGuestDir(this.#cache.dir, qemuGroupId())
    const version = await this.#virsh.exec(['version'])
    this.#hypervisorVersion = versionNumber(/Running hypervisor:\s*\S+\s+(\S+)/.exec(version)?.[1] ?? '')
    const probeDir = join(this.#options.instancesPath, KVM_PROBE_DIR)
    const choice = await chooseAccelerator({
      wanted: this.#options.virtType,
      virsh: this.#virsh,
      debCacheDir: this.#debCacheDir(),
      probeDir,
      hypervisorVersion: this.#hypervisorVersion,
    })
    this.#accelerator = choice
    this.#virtType = choice.virtType
    log.info(
      {
        uri: this.#options.uri,
        host,
        virtType: choice.virtType,
        source: choice.source,
        reason: choice.reason,
        kernel: choice.probe?.kernel,
        probeMs: choice.probe?.elapsedMs,
        cpuMode: cpuModeOf(choice.virtType),
        machineType: choice.machineType,
      },
      choice.virtType === 'kvm'
        ? `libvirt driver ready: guests run under KVM (${choice.reason})`
        : `libvirt driver ready: guests run under TCG, type=qemu (${choice.reason})`,
    )
  }

  async getAvailableNodes(): Promise<readonly string[]> {
    return [this.#nodename()]
  }

  async getAvailableResource(nodename: string): Promise<NodeResources> {
    if (nodename !== this.#nodename()) throw new VirtDriverError(`libvirt driver has no node ${nodename}`)
    const facts = hostFacts(this.#options.instancesPath)
    const used = await this.#usedByGuests()
    return {
      hypervisorHostname: nodename,
      vcpus: facts.vcpus,
      memoryMb: facts.memoryMb,
      localGb: facts.localGb,
      vcpusUsed: used.vcpus,
      memoryMbUsed: used.memoryMb,
      localGbUsed: facts.localGb - facts.localGbFree,
      diskAvailableLeast: facts.localGbFree,
      hypervisorType: 'QEMU',
      hypervisorVersion: this.#hypervisorVersion,
      cpuInfo: {
        arch: 'x86_64',
        model: facts.cpuModel,
        vendor: facts.cpuVendor,
        topology: { sockets: 1, cores: facts.vcpus, threads: 1 },
        features: [],
        virt_type: this.#virtType,
        // Nimbus's own: why this accelerator (os-hypervisors shows it, see routes/hosts.ts).
        ...(this.#accelerator ? { 'nimbus:accelerator': acceleratorView(this.#accelerator) } : {}),
      },
      hostIp: facts.hostIp,
      cpuArch: 'x86_64',
      supportedVmModes: ['hvm'],
    }
  }

  /**
   * Builds the guest; when it fails under KVM with KVM's own error, the host
   * switches to TCG for good and the same guest is built again, here, under
   * TCG: the build does not fail and is not rescheduled for it.
   */
  async spawn(request: SpawnRequest): Promise<void> {
    try {
      await this.#spawnOnce(request)
    } catch (err) {
      if (!(err instanceof KvmGuestFailure)) throw err
      this.#fallBackToTcg(this.domainName(request.instance.uuid), err.qemuLogLine)
      log.info({ instance: request.instance.uuid }, 'building the guest again under TCG')
      await this.#spawnOnce(request)
    }
  }

  async #spawnOnce(request: SpawnRequest): Promise<void> {
    const { instance } = request
    const domain = this.domainName(instance.uuid)
    if (await this.#virsh.exists(domain))
      throw new VirtInstanceExists(`Instance ${instance.uuid} already exists.`)
    const nics = await this.#domainNics(request.nics)
    const revert = new Reverter()
    const timed = <T>(step: string, fn: () => Promise<T>): Promise<T> =>
      this.#step(step, async () => {
        const started = Date.now()
        const result = await fn()
        request.onStep?.(step, Date.now() - started)
        return result
      })
    try {
      const base = await timed('spawn:image', () => this.#cache.get(request.image))
      const dir = this.instanceDir(instance.uuid)
      makeGuestDir(dir, qemuGroupId())
      revert.add('remove instance dir', () => rmSync(dir, { recursive: true, force: true }))
      const disks = await timed('spawn:disk', () => this.#createDisks(request, base, dir))
      const configDrive = configDriveRequired(request, this.#options.forceConfigDrive ?? false)
        ? join(dir, CONFIG_DRIVE_FILE)
        : undefined
      if (configDrive) await buildConfigDriveIso(configDriveFiles(request), configDrive)
      const xml = buildDomainXml({
        name: domain,
        uuid: instance.uuid,
        title: instance.hostname,
        virtType: this.#virtType,
        memoryMb: instance.memoryMb,
        vcpus: instance.vcpus,
        disks,
        nics,
        consoleLog: join(dir, 'console.log'),
        imageProperties: request.image.properties,
        imageId: request.image.id,
        flavorSummary: `${instance.vcpus} vcpu, ${instance.memoryMb} MB, ${instance.rootGb} GB`,
        configDrive,
      })
      writeFileSync(join(dir, 'domain.xml'), xml)
      // Undo first: a define or start that times out on our side may still complete in libvirtd.
      revert.add('undefine domain', () => this.#virsh.execIdempotent(['undefine', '--managed-save', domain]))
      await timed('spawn:define', () => this.#virsh.exec(['define', join(dir, 'domain.xml')]))
      revert.add('destroy domain', () => this.#virsh.execIdempotent(['destroy', domain]))
      // With NICs, the guest is created paused until the network has wired its taps (Nova's vif-plugged wait).
      const vifsPlugged = nics.length > 0 ? request.vifsPlugged : undefined
      await this.#kvmChecked(domain, () =>
        timed('spawn:start', () =>
          this.#virsh.exec(vifsPlugged ? ['start', '--paused', domain] : ['start', domain]),
        ),
      )
      if (vifsPlugged) {
        await timed('spawn:vifs-plugged', vifsPlugged)
        await this.#kvmChecked(domain, () =>
          timed('spawn:resume', () => this.#virsh.exec(['resume', domain])),
        )
      }
      const booting = Date.now()
      await this.#waitForBoot(instance)
      request.onStep?.('spawn:running', Date.now() - booting)
      revert.success()
      log.info({ instance: instance.uuid, domain, virtType: this.#virtType }, 'spawned')
    } finally {
      await revert.fail()
    }
  }

  async destroy(instance: VirtInstance): Promise<void> {
    const domain = this.domainName(instance.uuid)
    await this.#virsh.execIdempotent(['destroy', domain])
    await this.#virsh.execIdempotent(['undefine', '--managed-save', domain])
    rmSync(this.instanceDir(instance.uuid), { recursive: true, force: true })
  }

  /** The guest's power state; a guest found stopped by a KVM error switches the host to TCG (defence in depth). */
  async getInfo(instance: VirtInstance): Promise<InstanceInfo> {
    const domain = this.domainName(instance.uuid)
    const state = await this.#virsh.domstate(domain)
    const powerState = toPowerState(state)
    if (this.#virtType === 'kvm' && powerState !== PowerState.RUNNING) {
      const line = this.#kvmFailureOf(domain)
      if (line) this.#fallBackToTcg(domain, line)
    }
    return { powerState, internalId: domain }
  }

  async listInstances(): Promise<readonly string[]> {
    const names = await this.#virsh.listAll()
    return names.filter((n) => n.startsWith(DOMAIN_PREFIX)).map((n) => n.slice(DOMAIN_PREFIX.length))
  }

  /**
   * The serial console log; `length` keeps only the last `length` lines (the
   * API's os-getConsoleOutput `length`). Reads at most libvirtConsoleMaxBytes
   * from the end of the file.
   */
  /** `virsh domstats` and `virsh domiflist` of the guest's domain. */
  async getDiagnostics(instance: VirtInstance): Promise<GuestDiagnostics> {
    const domain = this.domainName(instance.uuid)
    const stats = parseDomstats(await this.#virsh.exec(['domstats', domain]))
    const macs = parseDomiflist(await this.#virsh.exec(['domiflist', domain]))
    return diagnosticsFromStats(stats, macs, this.#virtType)
  }

  async getConsoleOutput(instance: VirtInstance, length?: number): Promise<string> {
    await this.#virsh.powerState(this.domainName(instance.uuid))
    const text = readTail(join(this.instanceDir(instance.uuid), 'console.log'), limits.libvirtConsoleMaxBytes)
    if (length === undefined) return text
    const lines = text.split('\n')
    if (lines.at(-1) === '') lines.pop()
    return lines.length === 0 || length <= 0 ? '' : `${lines.slice(-length).join('\n')}\n`
  }

  async powerOff(instance: VirtInstance, timeoutMs: number = limits.libvirtShutdownTimeoutMs): Promise<void> {
    const domain = this.domainName(instance.uuid)
    const state = await this.#virsh.powerState(domain)
    if (state === PowerState.SHUTDOWN) return
    if (state === PowerState.SUSPENDED) {
      // Off from suspended: drop the saved memory, as Nova does.
      await this.#virsh.exec(['managedsave-remove', domain])
      return
    }
    if (state === PowerState.RUNNING && timeoutMs > 0 && (await this.#cleanShutdown(instance, timeoutMs)))
      return
    await this.#virsh.execIdempotent(['destroy', domain])
    await this.#waitForState(instance, PowerState.SHUTDOWN, limits.libvirtCommandTimeoutMs)
  }

  async powerOn(instance: VirtInstance): Promise<void> {
    const domain = this.domainName(instance.uuid)
    const state = await this.#virsh.powerState(domain)
    if (state === PowerState.RUNNING) return
    if (state === PowerState.PAUSED) await this.#virsh.exec(['resume', domain])
    else await this.#virsh.exec(['start', domain])
    await this.#waitForState(instance, PowerState.RUNNING, limits.libvirtSpawnTimeoutMs)
  }

  /**
   * SOFT: ACPI shutdown, wait (bounded) for the guest to stop, start it again;
   * a guest that ignores ACPI gets a HARD reboot, as in Nova. HARD: destroy
   * and start. Either way it resolves once the domain runs again.
   */
  async reboot(instance: VirtInstance, type: RebootType): Promise<void> {
    const domain = this.domainName(instance.uuid)
    const state = await this.#virsh.powerState(domain)
    const soft = type === 'SOFT' && state === PowerState.RUNNING
    if (!(soft && (await this.#cleanShutdown(instance, limits.libvirtShutdownTimeoutMs)))) {
      if (soft) log.warn({ instance: instance.uuid }, 'soft reboot timed out: rebooting hard')
      await this.#virsh.execIdempotent(['destroy', domain])
      await this.#waitForState(
        instance,
        [PowerState.SHUTDOWN, PowerState.SUSPENDED],
        limits.libvirtCommandTimeoutMs,
      )
      if ((await this.#virsh.powerState(domain)) === PowerState.SUSPENDED) {
        await this.#virsh.exec(['managedsave-remove', domain])
      }
    }
    await this.#virsh.exec(['start', domain])
    await this.#waitForState(instance, PowerState.RUNNING, limits.libvirtSpawnTimeoutMs)
  }

  async pause(instance: VirtInstance): Promise<void> {
    await this.#transition(instance, PowerState.RUNNING, ['suspend'], PowerState.PAUSED)
  }

  async unpause(instance: VirtInstance): Promise<void> {
    await this.#transition(instance, PowerState.PAUSED, ['resume'], PowerState.RUNNING)
  }

  /** Nova's libvirt suspend: a managed save (memory to disk, domain off). */
  async suspend(instance: VirtInstance): Promise<void> {
    await this.#transition(instance, PowerState.RUNNING, ['managedsave', '--running'], PowerState.SUSPENDED)
  }

  async resume(instance: VirtInstance): Promise<void> {
    await this.#transition(instance, PowerState.SUSPENDED, ['start'], PowerState.RUNNING)
  }

  /**
   * Pauses a running guest so its disk is consistent, copies the root disk
   * (overlay + base) into one qcow2, restores the guest's state whatever
   * happens, then streams the copy to `upload`.
   */
  async snapshot(
    instance: VirtInstance,
    imageId: string,
    upload: (data: AsyncIterable<Uint8Array>) => Promise<void>,
  ): Promise<void> {
    const domain = this.domainName(instance.uuid)
    const state = await this.#virsh.powerState(domain)
    const dir = this.instanceDir(instance.uuid)
    const out = join(dir, `snapshot-${imageId}.qcow2`)
    try {
      if (state === PowerState.RUNNING) await this.#virsh.exec(['suspend', domain])
      try {
        // -U: QEMU holds the image lock while the guest exists; the guest is paused, so reading is safe.
        await run(['qemu-img', 'convert', '-U', '-f', 'qcow2', '-O', 'qcow2', join(dir, 'disk'), out], {
          timeoutMs: limits.guestImageCommandTimeoutMs,
        })
      } finally {
        if (state === PowerState.RUNNING) await this.#virsh.exec(['resume', domain])
      }
      await upload(createReadStream(out))
    } finally {
      rmSync(out, { force: true })
    }
  }

  // ---- moves: on one host only (allow_resize_to_same_host); no disk transfer between hosts yet ----

  /** Powers off and keeps the instance dir as `<dir>_resize` (Nova's libvirt layout) for a revert. */
  async migrateDiskAndPowerOff(instance: VirtInstance, destHost: string): Promise<void> {
    if (destHost !== this.#host) {
      throw new VirtDriverError(
        `moving a guest to another host (${destHost}) is not supported by the libvirt driver yet`,
        { step: 'migrate_disk' },
      )
    }
    await this.powerOff(instance)
    const dir = this.instanceDir(instance.uuid)
    const kept = `${dir}${RESIZE_SUFFIX}`
    rmSync(kept, { recursive: true, force: true })
    await this.#step('migrate_disk', () =>
      run(['cp', '-a', '--sparse=always', dir, kept], { timeoutMs: limits.guestImageCommandTimeoutMs }),
    )
  }

  /**
   * Grows the root overlay to the new flavor's size (qemu-img resize; never
   * shrinks) and redefines the domain with the new vCPUs and memory (the
   * saved domain XML with those two elements changed: disks and NICs stay).
   */
  async finishMigration(request: FinishMigrationRequest): Promise<void> {
    const { instance } = request
    const dir = this.instanceDir(instance.uuid)
    const disk = join(dir, 'disk')
    // The overlay has a backing file (the cached base): not `inspect`, which refuses that in images.
    const virtualSizeBytes = await diskVirtualSizeBytes(disk)
    const want = instance.rootGb * GIB
    if (want > virtualSizeBytes) {
      await this.#step('finish_migration:disk', () =>
        run(['qemu-img', 'resize', disk, String(want)], { timeoutMs: limits.guestImageCommandTimeoutMs }),
      )
    }
    const xml = readFileSync(join(dir, 'domain.xml'), 'utf8')
      .replace(/<memory unit='MiB'>\d+<\/memory>/, `<memory unit='MiB'>${instance.memoryMb}</memory>`)
      .replace(/<vcpu>\d+<\/vcpu>/, `<vcpu>${instance.vcpus}</vcpu>`)
    writeFileSync(join(dir, 'domain.xml'), xml)
    await this.#step('finish_migration:define', () => this.#virsh.exec(['define', join(dir, 'domain.xml')]))
    if (request.powerOn) await this.powerOn(instance)
  }

  async confirmMigration(instance: VirtInstance): Promise<void> {
    rmSync(`${this.instanceDir(instance.uuid)}${RESIZE_SUFFIX}`, { recursive: true, force: true })
  }

  /** Puts `<dir>_resize` back and redefines the domain from its saved XML (the old flavor). */
  async finishRevertMigration(instance: VirtInstance, powerOn: boolean): Promise<void> {
    const dir = this.instanceDir(instance.uuid)
    const kept = `${dir}${RESIZE_SUFFIX}`
    if (!existsSync(kept))
      throw new VirtInstanceNotFound(`No migrated original of instance ${instance.uuid} here.`)
    const domain = this.domainName(instance.uuid)
    await this.#virsh.execIdempotent(['destroy', domain])
    rmSync(dir, { recursive: true, force: true })
    renameSync(kept, dir)
    await this.#step('finish_revert_migration', () => this.#virsh.exec(['define', join(dir, 'domain.xml')]))
    if (powerOn) await this.powerOn(instance)
  }

  /**
   * `virsh attach-device` of the NIC's `<interface>` (the element spawn
   * writes), into the persistent definition and, when the guest runs, live.
   */
  async attachInterface(instance: VirtInstance, nic: VirtNic): Promise<void> {
    const domain = this.domainName(instance.uuid)
    const state = await this.#virsh.powerState(domain)
    const [domainNic] = await this.#domainNics([nic])
    const file = join(this.instanceDir(instance.uuid), `interface-${nic.macAddress.replaceAll(':', '')}.xml`)
    writeFileSync(file, nicXml(domainNic!, 'virtio'))
    const live = state === PowerState.RUNNING || state === PowerState.PAUSED ? ['--live'] : []
    await this.#step('attach_interface', () =>
      this.#virsh.exec(['attach-device', domain, file, '--config', ...live]),
    )
  }

  /** `virsh detach-device` of the same element; succeeds if the domain does not have the NIC. */
  async detachInterface(instance: VirtInstance, nic: VirtNic): Promise<void> {
    const domain = this.domainName(instance.uuid)
    let xml: string
    try {
      xml = await this.#virsh.exec(['dumpxml', domain])
    } catch {
      return
    }
    if (!xml.includes(`<mac address='${nic.macAddress.toLowerCase()}'/>`)) return
    const state = await this.#virsh.powerState(domain)
    const file = join(this.instanceDir(instance.uuid), `interface-${nic.macAddress.replaceAll(':', '')}.xml`)
    const domainNic: DomainNic = {
      macAddress: nic.macAddress,
      bridge: this.#options.bridgeFor?.(nic) ?? nic.bridge ?? defaultBridgeName(nic),
      tap: nic.devname ?? tapName(nic.macAddress),
    }
    writeFileSync(file, nicXml(domainNic, 'virtio'))
    const live = state === PowerState.RUNNING || state === PowerState.PAUSED ? ['--live'] : []
    await this.#step('detach_interface', () =>
      this.#virsh.exec(['detach-device', domain, file, '--config', ...live]),
    )
    rmSync(file, { force: true })
  }

  async getHostUptime(): Promise<string> {
    return hostUptime()
  }

  async cleanupHost(): Promise<void> {
    // virsh holds no connection between calls: nothing to release.
  }

  // ---- rescue (Nova's libvirt layout: disk.rescue first, the own disk second) ----

  /**
   * Keeps the domain's XML as `unrescue.xml`, makes `disk.rescue` (an
   * overlay on the rescue image), and boots a domain with the rescue disk
   * first and the instance's own root disk second.
   */
  async rescue(request: RescueRequest): Promise<void> {
    const { instance } = request
    const domain = this.domainName(instance.uuid)
    const dir = this.instanceDir(instance.uuid)
    await this.#virsh.powerState(domain)
    const base = await this.#step('rescue:image', () => this.#cache.get(request.image))
    const { prefix } = diskBus(request.image.properties)
    const rescueDisk = join(dir, 'disk.rescue')
    await this.#step('rescue:disk', () => createOverlay(base, rescueDisk, instance.rootGb * GIB))
    const xml = buildDomainXml({
      name: domain,
      uuid: instance.uuid,
      title: instance.hostname,
      virtType: this.#virtType,
      memoryMb: instance.memoryMb,
      vcpus: instance.vcpus,
      disks: [
        { path: rescueDisk, target: `${prefix}a` },
        { path: join(dir, 'disk'), target: `${prefix}b` },
      ],
      nics: await this.#domainNics(request.nics),
      consoleLog: join(dir, 'console.log'),
      imageProperties: request.image.properties,
      imageId: request.image.id,
      flavorSummary: `${instance.vcpus} vcpu, ${instance.memoryMb} MB, ${instance.rootGb} GB (rescue)`,
    })
    const saved = join(dir, 'unrescue.xml')
    if (!existsSync(saved)) copyFileSync(join(dir, 'domain.xml'), saved)
    writeFileSync(join(dir, 'rescue.xml'), xml)
    await this.#virsh.execIdempotent(['destroy', domain])
    await this.#step('rescue:define', () => this.#virsh.exec(['define', join(dir, 'rescue.xml')]))
    await this.#step('rescue:start', () => this.#virsh.exec(['start', domain]))
    await this.#waitForState(instance, PowerState.RUNNING, limits.libvirtSpawnTimeoutMs)
  }

  /** Boots the saved domain again and removes the rescue disk. */
  async unrescue(instance: VirtInstance): Promise<void> {
    const domain = this.domainName(instance.uuid)
    const dir = this.instanceDir(instance.uuid)
    const saved = join(dir, 'unrescue.xml')
    if (!existsSync(saved)) throw new VirtInvalidState(`Instance ${instance.uuid} is not rescued`)
    await this.#virsh.execIdempotent(['destroy', domain])
    await this.#step('unrescue:define', () => this.#virsh.exec(['define', saved]))
    copyFileSync(saved, join(dir, 'domain.xml'))
    rmSync(saved, { force: true })
    rmSync(join(dir, 'disk.rescue'), { force: true })
    rmSync(join(dir, 'rescue.xml'), { force: true })
    await this.#step('unrescue:start', () => this.#virsh.exec(['start', domain]))
    await this.#waitForState(instance, PowerState.RUNNING, limits.libvirtSpawnTimeoutMs)
  }

  /** Nimbus's guest image runs no guest agent, so the password cannot be set (Nova: 501). */
  async setAdminPassword(instance: VirtInstance, _password: string): Promise<void> {
    throw new VirtNotSupported(`set_admin_password is not implemented by this driver or guest instance.`, {
      instance: instance.uuid,
    })
  }

  // ---- internals ----

  #nodename(): string {
    return this.#options.nodename ?? this.#host
  }

  #debCacheDir(): string {
    return this.#options.debCacheDir ?? debCacheDir(DEFAULT_STATE_DIR)
  }

  /** The QEMU log line of a KVM failure since the domain's last start, if any. */
  #kvmFailureOf(domain: string): string | undefined {
    return kvmFailureLine(lastStartOf(qemuLogTail(domain)))
  }

  /** Runs a start/resume; under KVM, a failure QEMU blames on KVM becomes a KvmGuestFailure. */
  async #kvmChecked<T>(domain: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      if (this.#virtType !== 'kvm') throw err
      const line =
        kvmFailureLine(err instanceof Error ? err.message : String(err)) ?? this.#kvmFailureOf(domain)
      if (line) throw new KvmGuestFailure(line, 'did not start')
      throw err
    }
  }

  /**
   * Waits (libvirtSpawnTimeoutMs) for the started guest to run. Under KVM it
   * then keeps watching it for libvirtKvmFailureWatchMs: a guest that KVM
   * cannot run pauses within its first seconds with an internal error in
   * the QEMU log ("paused (unknown)"), and it must not be left that way.
   */
  async #waitForBoot(instance: VirtInstance): Promise<void> {
    const domain = this.domainName(instance.uuid)
    const deadline = Date.now() + limits.libvirtSpawnTimeoutMs
    let runningSince: number | undefined
    let state = ''
    for (;;) {
      state = await this.#virsh.domstate(domain)
      const power = toPowerState(state)
      if (this.#virtType === 'kvm' && power !== PowerState.RUNNING) {
        const line = this.#kvmFailureOf(domain)
        if (line) throw new KvmGuestFailure(line, state)
      }
      if (power === PowerState.RUNNING) {
        if (this.#virtType !== 'kvm') return
        runningSince ??= Date.now()
        if (Date.now() - runningSince >= limits.libvirtKvmFailureWatchMs) return
      }
      if (Date.now() >= deadline) break
      await sleep(limits.libvirtPollIntervalMs)
    }
    throw new VirtDriverError(
      `instance ${instance.uuid} did not reach running within ${limits.libvirtSpawnTimeoutMs} ms (it is ${state})`,
      { step: 'wait' },
    )
  }

  /** KVM failed a guest: TCG from now on, logged once at WARNING with QEMU's line, kept for this host boot. */
  #fallBackToTcg(domain: string, qemuLogLine: string): void {
    if (this.#virtType !== 'kvm') return
    this.#virtType = 'qemu'
    const previous = this.#accelerator
    this.#accelerator = {
      virtType: 'qemu',
      source: 'fallback',
      reason: `guest ${domain} failed under KVM: ${qemuLogLine}; guests run under TCG from now on${previous ? ` (KVM had been chosen: ${previous.reason})` : ''}`,
      cpuMode: previous?.cpuMode ?? cpuModeOf('kvm'),
      machineType: previous?.machineType ?? 'pc',
      probe: previous?.probe,
      decidedAt: new Date().toISOString(),
    }
    log.warn(
      { domain, qemuLog: qemuLogLine, host: this.#host },
      'KVM failed a guest: this host switches to TCG (type=qemu) for good',
    )
    recordFallback(this.#debCacheDir(), this.#hypervisorVersion, this.#accelerator)
  }

  async #step<T>(step: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      if (err instanceof VirtDriverError)
        throw new VirtDriverError(`${step}: ${err.message}`, { ...err.detail, step })
      throw err
    }
  }

  /**
   * The NICs' taps and bridges. A port bound a moment ago may not have its
   * bridge yet (the host's network agent makes it on its next sync, started
   * by the binding): wait for it a bounded time, checked before anything is
   * created, since libvirt would fail late, at start.
   */
  async #domainNics(nics: readonly VirtNic[]): Promise<DomainNic[]> {
    const out: DomainNic[] = []
    for (const nic of nics) {
      const bridge = this.#options.bridgeFor?.(nic) ?? nic.bridge ?? defaultBridgeName(nic)
      const deadline = Date.now() + limits.libvirtBridgeWaitMs
      while (!existsSync(`/sys/class/net/${bridge}/bridge`)) {
        if (Date.now() >= deadline)
          throw new VirtDriverError(
            `bridge ${bridge} of network ${nic.networkId} does not exist on this host (waited ${limits.libvirtBridgeWaitMs} ms)`,
            { step: 'spawn:vifs' },
          )
        await sleep(BRIDGE_POLL_INTERVAL_MS)
      }
      out.push({ macAddress: nic.macAddress, bridge, tap: nic.devname ?? tapName(nic.macAddress) })
    }
    return out
  }

  async #createDisks(
    request: SpawnRequest,
    base: Awaited<ReturnType<ImageCache['get']>>,
    dir: string,
  ): Promise<DomainDisk[]> {
    const { instance, image } = request
    const { prefix } = diskBus(image.properties)
    const disks: DomainDisk[] = [{ path: join(dir, 'disk'), target: `${prefix}a` }]
    await createOverlay(base, join(dir, 'disk'), instance.rootGb * GIB)
    if (instance.ephemeralGb > 0) {
      disks.push({
        path: join(dir, 'disk.eph0'),
        target: `${prefix}${String.fromCharCode(97 + disks.length)}`,
      })
      await createBlank(join(dir, 'disk.eph0'), instance.ephemeralGb * GIB)
    }
    if (instance.swapMb > 0) {
      disks.push({
        path: join(dir, 'disk.swap'),
        target: `${prefix}${String.fromCharCode(97 + disks.length)}`,
      })
      await createBlank(join(dir, 'disk.swap'), instance.swapMb * MIB)
    }
    return disks
  }

  async #transition(
    instance: VirtInstance,
    from: number,
    args: readonly string[],
    to: number,
  ): Promise<void> {
    const domain = this.domainName(instance.uuid)
    const state = await this.#virsh.powerState(domain)
    if (state !== from) {
      throw new VirtInvalidState(
        `Instance ${instance.uuid} is ${POWER_STATE_NAMES[state] ?? state}, not ${POWER_STATE_NAMES[from] ?? from}`,
      )
    }
    await this.#virsh.exec([...args, domain])
    await this.#waitForState(instance, to, limits.libvirtSpawnTimeoutMs)
  }

  /** ACPI shutdown, then wait for SHUTDOWN; false if the guest did not stop within `timeoutMs`. */
  async #cleanShutdown(instance: VirtInstance, timeoutMs: number): Promise<boolean> {
    await this.#virsh.execIdempotent(['shutdown', this.domainName(instance.uuid)])
    try {
      await this.#waitForState(instance, PowerState.SHUTDOWN, timeoutMs)
      return true
    } catch (err) {
      if (err instanceof VirtDriverError && err.detail.step === 'wait') return false
      throw err
    }
  }

  /** Polls the power state every libvirtPollIntervalMs (Nova: 0.5 s) until it is one of `wanted`. */
  async #waitForState(
    instance: VirtInstance,
    wanted: number | readonly number[],
    timeoutMs: number,
  ): Promise<void> {
    const states = typeof wanted === 'number' ? [wanted] : wanted
    const deadline = Date.now() + timeoutMs
    let state: number = PowerState.NOSTATE
    for (;;) {
      state = await this.#virsh.powerState(this.domainName(instance.uuid))
      if (states.includes(state)) return
      if (Date.now() >= deadline) break
      await sleep(limits.libvirtPollIntervalMs)
    }
    throw new VirtDriverError(
      `instance ${instance.uuid} did not reach ${states.map((s) => POWER_STATE_NAMES[s]).join('/')} within ${timeoutMs} ms (it is ${POWER_STATE_NAMES[state] ?? state})`,
      { step: 'wait' },
    )
  }

  /** vCPUs and memory of the Nimbus domains that are running (what the hypervisor really holds). */
  async #usedByGuests(): Promise<{ vcpus: number; memoryMb: number }> {
    let vcpus = 0
    let memoryMb = 0
    for (const uuid of await this.listInstances()) {
      try {
        const info = await this.#virsh.exec(['dominfo', this.domainName(uuid)])
        if (!/^State:\s+running/m.test(info) && !/^State:\s+paused/m.test(info)) continue
        vcpus += Number(/^CPU\(s\):\s+(\d+)/m.exec(info)?.[1] ?? 0)
        memoryMb += Math.floor(Number(/^Used memory:\s+(\d+) KiB/m.exec(info)?.[1] ?? 0) / 1024)
      } catch (err) {
        if (!(err instanceof VirtInstanceNotFound)) throw err
      }
    }
    return { vcpus, memoryMb }
  }
}

/** The accelerator as os-hypervisors shows it (`nimbus:accelerator`): snake_case, as the API's other fields. */
export function acceleratorView(choice: AcceleratorChoice): Record<string, unknown> {
  const probe = choice.probe
  return {
    virt_type: choice.virtType,
    source: choice.source,
    reason: choice.reason,
    cpu_mode: cpuModeOf(choice.virtType),
    machine_type: choice.machineType,
    decided_at: choice.decidedAt,
    probe: probe
      ? {
          kernel: probe.kernel,
          elapsed_ms: probe.elapsedMs,
          real_mode_marker: probe.realModeMarker,
          long_mode_marker: probe.longModeMarker,
          timed_out: probe.timedOut,
          kvm_error: probe.kvmError ?? null,
          unavailable: probe.unavailable ?? null,
        }
      : null,
  }
}

/** The last `maxBytes` of a file ('' if it does not exist yet: the guest has not written). */
function readTail(path: string, maxBytes: number): string {
  let size: number
  try {
    size = statSync(path).size
  } catch {
    return ''
  }
  const length = Math.min(size, maxBytes)
  const buf = Buffer.alloc(length)
  const fd = openSync(path, 'r')
  try {
    readSync(fd, buf, 0, length, size - length)
  } finally {
    closeSync(fd)
  }
  return buf.toString('utf8')
}
