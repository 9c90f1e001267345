import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Reverter } from '../../reverter.ts'
import type { GuestDiagnostics } from '../diagnostics.ts'
import { PowerState } from '../../states.ts'
import {
  VirtDriverError,
  VirtInstanceExists,
  VirtInstanceNotFound,
  VirtInvalidState,
  type InstanceInfo,
  type NodeResources,
  type RebootType,
  type VirtNic,
  type RescueRequest,
  type FinishMigrationRequest,
  type SpawnRequest,
  type VirtDriver,
  type VirtInstance,
} from '../driver.ts'
import { configDriveFiles, configDriveRequired, type ConfigDriveFile } from '../config-drive.ts'

/**
 * The fake driver: every guest is a record in memory. It keeps every promise
 * of the contract (driver.ts) and is the executable spec the contract tests
 * run against. Tests and benchmarks can slow down or break any step
 * (`setDelay`, `injectFailure`) to exercise the compute manager's error
 * paths: a failed spawn step undoes the steps before it, as a real driver
 * must.
 */

/** The steps a test can slow down or break. `spawn:*` are the sub-steps of spawn, in order. */
export const FAKE_STEPS = [
  'spawn:image',
  'spawn:disk',
  'spawn:vifs',
  'spawn:define',
  'spawn:start',
  'destroy',
  'attach_interface',
  'detach_interface',
  'power_off',
  'power_on',
  'reboot',
  'pause',
  'unpause',
  'suspend',
  'resume',
  'snapshot',
  'migrate_disk',
  'finish_migration',
  'confirm_migration',
  'finish_revert_migration',
  'console',
  'rescue',
  'unrescue',
  'set_admin_password',
] as const
export type FakeStep = (typeof FAKE_STEPS)[number]

export interface FakeDriverOptions {
  /** The node name (hypervisor_hostname); default: the host name. */
  readonly nodename?: string | undefined
  readonly vcpus: number
  readonly memoryMb: number
  readonly localGb: number
  /** Attach a config drive to every guest (`[compute] force_config_drive`). */
  readonly forceConfigDrive?: boolean | undefined
  /** Delay of each step, in milliseconds (default none: every step completes at once). */
  readonly delaysMs?: Partial<Record<FakeStep, number>> | undefined
}

interface Failure {
  readonly message: string
  /** Failures left; undefined = every time. */
  remaining: number | undefined
}

interface FakeGuest {
  readonly uuid: string
  readonly internalId: string
  readonly instance: VirtInstance
  readonly imageId?: string | undefined
  powerState: number
  console: string[]
  /** The rescue image while rescued. */
  rescueImageId?: string | undefined
  adminPassword?: string | undefined
}

/** Hypervisor type and version the fake reports (Nova's fake reports `fake`, 1000). */
const FAKE_HYPERVISOR_TYPE = 'fake'
const FAKE_HYPERVISOR_VERSION = 1000
/**
 * What a fake guest prints while it boots: enough lines for clients that
 * ask for the last 10 (Tempest's console output test).
 */
const FAKE_BOOT_LOG: readonly string[] = [
  '[    0.000000] Linux version 6.1.0-fake (nimbus fake driver)',
  '[    0.000000] Command line: console=ttyS0 root=/dev/vda',
  '[    0.010000] Memory: fake',
  '[    0.200000] virtio_blk virtio1: [vda] disk attached',
  '[    0.300000] virtio_net virtio0 eth0: link up',
  '[    0.400000] EXT4-fs (vda): mounted filesystem',
  '[    0.500000] Run /init as init process',
  'Starting syslogd: OK',
  'Starting network: udhcpc: lease obtained',
  'Starting sshd: OK',
  'cloud-init: metadata fetched',
]

/** Console lines kept per guest, like a hypervisor's ring buffer. */
const CONSOLE_MAX_LINES = 1_000

export class FakeDriver implements VirtDriver {
  readonly name = 'fake'
  #options: FakeDriverOptions
  readonly #guests = new Map<string, FakeGuest>()
  /** Originals kept by migrateDiskAndPowerOff until the move is confirmed or reverted (Nova's `_resize` dir). */
  readonly #resized = new Map<string, FakeGuest>()
  /** The config drive files of each guest that has one (what libvirt writes into its ISO). */
  readonly #configDrives = new Map<string, ConfigDriveFile[]>()
  readonly #delays = new Map<FakeStep, number>()
  readonly #failures = new Map<FakeStep, Failure>()
  /** Disks and NICs spawn made but has not yet handed to a guest (must be empty after a failed spawn). */
  readonly #leftovers = new Set<string>()
  readonly #bootedAt = Date.now()
  /** The NICs plugged into each guest (spawn and interface attach/detach). */
  readonly #nics = new Map<string, VirtNic[]>()
  #host = ''

  constructor(options: FakeDriverOptions) {
    this.#options = options
    for (const [step, ms] of Object.entries(options.delaysMs ?? {})) this.setDelay(step as FakeStep, ms)
  }

  // ---- test controls ----

  /** Makes `step` take `ms` milliseconds (0 removes the delay). */
  setDelay(step: FakeStep, ms: number): void {
    if (ms > 0) this.#delays.set(step, ms)
    else this.#delays.delete(step)
  }

  /** Makes `step` fail with `message`, `times` times (default: until cleared). */
  injectFailure(step: FakeStep, message: string, times?: number): void {
    this.#failures.set(step, { message, remaining: times })
  }

  /** Changes the node's totals (the resource tracker sees them at its next update). */
  setCapacity(capacity: { vcpus?: number; memoryMb?: number; localGb?: number }): void {
    this.#options = { ...this.#options, ...capacity }
  }

  /** Removes every injected failure and delay. */
  clearFaults(): void {
    this.#failures.clear()
    this.#delays.clear()
  }

  /** Guests on this fake hypervisor (for tests). */
  get guestCount(): number {
    return this.#guests.size
  }

  /** The files of a guest's config drive; undefined when it has none. */
  configDriveOf(uuid: string): readonly ConfigDriveFile[] | undefined {
    return this.#configDrives.get(uuid)
  }

  /** Resources a failed spawn failed to release: always 0 if the contract holds. */
  get leakedResources(): number {
    return this.#leftovers.size
  }

  /** Sets a guest's power state behind the manager's back (to test the power-state sync). */
  setPowerState(uuid: string, powerState: number): void {
    const guest = this.#guests.get(uuid)
    if (guest) guest.powerState = powerState
  }

  // ---- the contract ----

  async initHost(host: string): Promise<void> {
    this.#host = host
  }

  async getAvailableNodes(): Promise<readonly string[]> {
    return [this.#nodename()]
  }

  async getAvailableResource(nodename: string): Promise<NodeResources> {
    if (nodename !== this.#nodename()) throw new VirtDriverError(`fake driver has no node ${nodename}`)
    let vcpusUsed = 0
    let memoryMbUsed = 0
    let localGbUsed = 0
    for (const g of this.#guests.values()) {
      vcpusUsed += g.instance.vcpus
      memoryMbUsed += g.instance.memoryMb
      localGbUsed += g.instance.rootGb + g.instance.ephemeralGb
    }
    return {
      hypervisorHostname: nodename,
      vcpus: this.#options.vcpus,
      memoryMb: this.#options.memoryMb,
      localGb: this.#options.localGb,
      vcpusUsed,
      memoryMbUsed,
      localGbUsed,
      diskAvailableLeast: this.#options.localGb - localGbUsed,
      hypervisorType: FAKE_HYPERVISOR_TYPE,
      hypervisorVersion: FAKE_HYPERVISOR_VERSION,
      cpuInfo: {
        arch: 'x86_64',
        model: 'fake',
        vendor: 'fake',
        topology: { sockets: 1, cores: 1, threads: 1 },
        features: [],
      },
      hostIp: '127.0.0.1',
      cpuArch: 'x86_64',
      supportedVmModes: ['hvm'],
    }
  }

  async spawn(request: SpawnRequest): Promise<void> {
    const { instance } = request
    if (this.#guests.has(instance.uuid))
      throw new VirtInstanceExists(`Instance ${instance.uuid} already exists.`)
    const revert = new Reverter()
    const timed = async (step: FakeStep) => {
      const started = Date.now()
      await this.#step(step)
      request.onStep?.(step, Date.now() - started)
    }
    try {
      await timed('spawn:image')
      await timed('spawn:disk')
      const disk = `disk:${instance.uuid}`
      this.#leftovers.add(disk)
      revert.add('remove disk', () => this.#leftovers.delete(disk))
      await timed('spawn:vifs')
      const vifs = `vifs:${instance.uuid}`
      this.#leftovers.add(vifs)
      revert.add('unplug vifs', () => this.#leftovers.delete(vifs))
      await timed('spawn:define')
      const guest: FakeGuest = {
        uuid: instance.uuid,
        internalId: randomUUID(),
        instance,
        imageId: request.image.id,
        powerState: PowerState.SHUTDOWN,
        console: [],
        rescueImageId: undefined,
        adminPassword: request.adminPassword,
      }
      this.#guests.set(instance.uuid, guest)
      revert.add('undefine guest', () => this.#guests.delete(instance.uuid))
      if (configDriveRequired(request, this.#options.forceConfigDrive ?? false)) {
        this.#configDrives.set(instance.uuid, configDriveFiles(request))
        revert.add('remove config drive', () => this.#configDrives.delete(instance.uuid))
      }
      await timed('spawn:start')
      guest.powerState = PowerState.RUNNING
      this.#log(
        guest,
        `Booting ${instance.hostname} from image ${request.image.id} with ${request.nics.length} NIC(s)`,
      )
      this.#nics.set(instance.uuid, [...request.nics])
      for (const line of FAKE_BOOT_LOG) this.#log(guest, line)
      for (const nic of request.nics)
        this.#log(guest, `eth: ${nic.macAddress} ${nic.address} (${nic.networkLabel})`)
      this.#log(guest, `${instance.hostname} login:`)
      this.#leftovers.delete(disk)
      this.#leftovers.delete(vifs)
      revert.success()
    } finally {
      await revert.fail()
    }
  }

  async destroy(instance: VirtInstance): Promise<void> {
    await this.#step('destroy')
    this.#guests.delete(instance.uuid)
    this.#nics.delete(instance.uuid)
    this.#configDrives.delete(instance.uuid)
  }

  async getInfo(instance: VirtInstance): Promise<InstanceInfo> {
    const guest = this.#guest(instance)
    return { powerState: guest.powerState, internalId: guest.internalId }
  }

  async listInstances(): Promise<readonly string[]> {
    return [...this.#guests.keys()]
  }

  async getConsoleOutput(instance: VirtInstance): Promise<string> {
    await this.#step('console')
    return `${this.#guest(instance).console.join('\n')}\n`
  }

  /**
   * Fixed counters as Nova's fake driver reports them (it names the driver
   * `libvirt`, the only way through Tempest's response schema); CPUs and
   * memory from the guest's flavor.
   */
  async getDiagnostics(instance: VirtInstance): Promise<GuestDiagnostics> {
    const guest = this.#guest(instance)
    return {
      driver: 'libvirt',
      hypervisor: FAKE_HYPERVISOR_TYPE,
      hypervisorOs: 'fake',
      cpus: Array.from({ length: guest.instance.vcpus }, (_, id) => ({ id, timeNs: 17_300_000_000 })),
      memory: { maximumMb: guest.instance.memoryMb, usedMb: 0 },
      disks: [
        {
          name: 'vda',
          readBytes: 262_144,
          readRequests: 112,
          writeBytes: 5_778_432,
          writeRequests: 488,
          errorsCount: 0,
        },
      ],
      nics: [
        {
          name: 'tap0',
          macAddress: '01:23:45:67:89:ab',
          rxOctets: 2_070_139,
          rxErrors: 0,
          rxDrop: 0,
          rxPackets: 26_701,
          txOctets: 140_208,
          txErrors: 0,
          txDrop: 0,
          txPackets: 662,
        },
      ],
    }
  }

  async powerOff(instance: VirtInstance): Promise<void> {
    const guest = this.#guest(instance)
    await this.#step('power_off')
    guest.powerState = PowerState.SHUTDOWN
  }

  async powerOn(instance: VirtInstance): Promise<void> {
    const guest = this.#guest(instance)
    await this.#step('power_on')
    guest.powerState = PowerState.RUNNING
  }

  async reboot(instance: VirtInstance, type: RebootType): Promise<void> {
    const guest = this.#guest(instance)
    await this.#step('reboot')
    this.#log(guest, `${type === 'HARD' ? 'Hard' : 'Soft'} reboot`)
    guest.powerState = PowerState.RUNNING
  }

  async pause(instance: VirtInstance): Promise<void> {
    await this.#transition(instance, 'pause', PowerState.RUNNING, PowerState.PAUSED)
  }

  async unpause(instance: VirtInstance): Promise<void> {
    await this.#transition(instance, 'unpause', PowerState.PAUSED, PowerState.RUNNING)
  }

  async suspend(instance: VirtInstance): Promise<void> {
    await this.#transition(instance, 'suspend', PowerState.RUNNING, PowerState.SUSPENDED)
  }

  async resume(instance: VirtInstance): Promise<void> {
    await this.#transition(instance, 'resume', PowerState.SUSPENDED, PowerState.RUNNING)
  }

  async snapshot(
    instance: VirtInstance,
    _imageId: string,
    upload: (data: AsyncIterable<Uint8Array>) => Promise<void>,
  ): Promise<void> {
    this.#guest(instance)
    await this.#step('snapshot')
    async function* disk(): AsyncIterable<Uint8Array> {
      yield new TextEncoder().encode(`fake disk of ${instance.uuid}\n`)
    }
    await upload(disk())
  }

  async attachInterface(instance: VirtInstance, nic: VirtNic): Promise<void> {
    const guest = this.#guest(instance)
    await this.#step('attach_interface')
    const nics = this.#nics.get(instance.uuid) ?? []
    if (!nics.some((n) => n.macAddress === nic.macAddress)) this.#nics.set(instance.uuid, [...nics, nic])
    this.#log(guest, `eth hot-plugged: ${nic.macAddress} ${nic.address} (${nic.networkLabel})`)
  }

  async detachInterface(instance: VirtInstance, nic: VirtNic): Promise<void> {
    const guest = this.#guests.get(instance.uuid)
    if (!guest) return
    await this.#step('detach_interface')
    const nics = this.#nics.get(instance.uuid) ?? []
    this.#nics.set(
      instance.uuid,
      nics.filter((n) => n.macAddress !== nic.macAddress),
    )
    this.#log(guest, `eth unplugged: ${nic.macAddress}`)
  }

  /** The NICs a guest has now (tests). */
  nicsOf(uuid: string): readonly VirtNic[] {
    return this.#nics.get(uuid) ?? []
  }

  async rescue(request: RescueRequest): Promise<void> {
    const guest = this.#guest(request.instance)
    await this.#step('rescue')
    guest.rescueImageId = request.image.id
    guest.powerState = PowerState.RUNNING
    this.#log(guest, `Rescue boot from image ${request.image.id}; own disk attached as the second disk`)
  }

  async unrescue(instance: VirtInstance): Promise<void> {
    const guest = this.#guest(instance)
    if (guest.rescueImageId === undefined)
      throw new VirtInvalidState(`Instance ${instance.uuid} is not rescued`)
    await this.#step('unrescue')
    guest.rescueImageId = undefined
    guest.powerState = PowerState.RUNNING
    this.#log(guest, 'Boot from own disk after rescue')
  }

  async setAdminPassword(instance: VirtInstance, password: string): Promise<void> {
    const guest = this.#guest(instance)
    if (guest.powerState !== PowerState.RUNNING)
      throw new VirtInvalidState(`Instance ${instance.uuid} is not running`)
    await this.#step('set_admin_password')
    guest.adminPassword = password
  }

  /** The rescue image a guest runs from, if rescued (tests). */
  rescueImageOf(uuid: string): string | undefined {
    return this.#guests.get(uuid)?.rescueImageId
  }

  /** The admin password the guest was last given (tests). */
  adminPasswordOf(uuid: string): string | undefined {
    return this.#guests.get(uuid)?.adminPassword
  }

  /** The image a guest was spawned from (tests: rebuild). */
  imageOf(uuid: string): string | undefined {
    return this.#guests.get(uuid)?.imageId
  }

  // ---- moves ----

  async migrateDiskAndPowerOff(instance: VirtInstance, _destHost: string): Promise<void> {
    const guest = this.#guest(instance)
    await this.#step('migrate_disk')
    guest.powerState = PowerState.SHUTDOWN
    this.#log(guest, 'Power down for migration')
    this.#resized.set(instance.uuid, guest)
    this.#guests.delete(instance.uuid)
  }

  async finishMigration(request: FinishMigrationRequest): Promise<void> {
    const { instance } = request
    if (this.#guests.has(instance.uuid))
      throw new VirtInstanceExists(`Instance ${instance.uuid} already exists.`)
    await this.#step('finish_migration')
    const guest = {
      uuid: instance.uuid,
      internalId: randomUUID(),
      instance,
      imageId: request.image.id,
      powerState: request.powerOn ? PowerState.RUNNING : PowerState.SHUTDOWN,
      console: [] as string[],
    } as FakeGuest
    this.#guests.set(instance.uuid, guest)
    this.#log(
      guest,
      `Migrated from ${request.sourceHost}: ${instance.vcpus} vcpu, ${instance.memoryMb} MB, ${instance.rootGb} GB`,
    )
  }

  async confirmMigration(instance: VirtInstance): Promise<void> {
    await this.#step('confirm_migration')
    this.#resized.delete(instance.uuid)
  }

  async finishRevertMigration(instance: VirtInstance, powerOn: boolean): Promise<void> {
    const original = this.#resized.get(instance.uuid)
    if (!original) throw new VirtInstanceNotFound(`No migrated original of instance ${instance.uuid} here.`)
    await this.#step('finish_revert_migration')
    this.#resized.delete(instance.uuid)
    original.powerState = powerOn ? PowerState.RUNNING : PowerState.SHUTDOWN
    this.#guests.set(instance.uuid, original)
    this.#log(original, 'Migration reverted')
  }

  /** Originals of moved guests still kept here (for tests): 0 once every move is confirmed or reverted. */
  get resizedCount(): number {
    return this.#resized.size
  }

  /** The guest's flavor as this hypervisor runs it (for tests). */
  guestFlavor(uuid: string): { vcpus: number; memoryMb: number; rootGb: number } | undefined {
    const g = this.#guests.get(uuid)
    return g && { vcpus: g.instance.vcpus, memoryMb: g.instance.memoryMb, rootGb: g.instance.rootGb }
  }

  async getHostUptime(): Promise<string> {
    const seconds = Math.floor((Date.now() - this.#bootedAt) / 1000)
    const time = new Date().toISOString().slice(11, 19)
    return ` ${time} up ${Math.floor(seconds / 60)} min,  0 users,  load average: 0.00, 0.00, 0.00`
  }

  async cleanupHost(): Promise<void> {
    this.#guests.clear()
  }

  // ---- internals ----

  #nodename(): string {
    return this.#options.nodename ?? this.#host
  }

  #guest(instance: VirtInstance): FakeGuest {
    const guest = this.#guests.get(instance.uuid)
    if (!guest) throw new VirtInstanceNotFound(`Instance ${instance.uuid} could not be found.`)
    return guest
  }

  async #transition(instance: VirtInstance, step: FakeStep, from: number, to: number): Promise<void> {
    const guest = this.#guest(instance)
    if (guest.powerState !== from) {
      throw new VirtInvalidState(
        `Instance ${instance.uuid} is in power state ${guest.powerState}, not ${from}`,
      )
    }
    await this.#step(step)
    guest.powerState = to
  }

  async #step(step: FakeStep): Promise<void> {
    const delay = this.#delays.get(step)
    if (delay) await sleep(delay)
    const failure = this.#failures.get(step)
    if (!failure) return
    if (failure.remaining !== undefined && --failure.remaining <= 0) this.#failures.delete(step)
    throw new VirtDriverError(failure.message, { step })
  }

  #log(guest: FakeGuest, line: string): void {
    guest.console.push(line)
    if (guest.console.length > CONSOLE_MAX_LINES)
      guest.console.splice(0, guest.console.length - CONSOLE_MAX_LINES)
  }
}
