/**
 * The virt driver contract (Nova's `nova/virt/driver.py`): what a compute
 * host asks of its hypervisor. The compute manager is written against this
 * interface only; `fake/` implements it in memory and is the executable
 * spec (test/unit/compute/virt-driver.test.ts runs the same contract tests
 * over every driver), `libvirt/` implements it with real guests.
 *
 * Drivers never touch the database (lint enforces it) and never import one
 * another. Every method is async; every failure is a typed error
 * (`VirtDriverError` or a subclass) whose message says what failed.
 */
import { Conflict, NimbusError, NotFound, NotImplemented, registerErrorClass } from '../../common/errors.ts'
import type { GuestDiagnostics } from './diagnostics.ts'
import type { MetadataSource } from '../../metadata/tree.ts'

/** What the driver needs to know about the instance it acts on. */
export interface VirtInstance {
  readonly uuid: string
  readonly name: string
  readonly hostname: string
  readonly memoryMb: number
  readonly vcpus: number
  readonly rootGb: number
  readonly ephemeralGb: number
  readonly swapMb: number
  readonly imageRef: string
  readonly userData?: string | null | undefined
  readonly keyData?: string | null | undefined
  readonly metadata?: Readonly<Record<string, string>> | undefined
}

/** The image being booted, as the image service described it. */
export interface VirtImage {
  readonly id: string
  readonly name?: string | undefined
  readonly diskFormat?: string | undefined
  readonly containerFormat?: string | undefined
  readonly sizeBytes: number
  readonly properties: Readonly<Record<string, string>>
  /** md5 hex of the data (Glance's `checksum`): a driver that copies the image checks its copy against it. */
  readonly checksum?: string | undefined
  /** Glance's multihash (`os_hash_algo`, `os_hash_value`), checked instead of md5 when given. */
  readonly osHashAlgo?: string | undefined
  readonly osHashValue?: string | undefined
}

/** One virtual NIC to plug: a Neutron port of the instance. */
export interface VirtNic {
  readonly networkId: string
  readonly networkLabel: string
  readonly macAddress: string
  /** The port's first fixed IP ('' when it has none). */
  readonly address: string
  readonly version: 4 | 6
  /** The Neutron port. */
  readonly portId?: string | undefined
  /** The host-side tap the data plane expects (`tap` + port id head, Nova's name). */
  readonly devname?: string | undefined
  /** The Linux bridge of the port's network. */
  readonly bridge?: string | undefined
  readonly mtu?: number | undefined
}

export interface SpawnRequest {
  readonly instance: VirtInstance
  readonly image: VirtImage
  readonly nics: readonly VirtNic[]
  readonly adminPassword?: string | undefined
  /** Attach a config drive with the metadata (the instance's `config_drive`). */
  readonly configDrive: boolean
  /** What the config drive holds (the metadata trees' source); drivers fall back to what the request carries. */
  readonly metadata?: MetadataSource | undefined
  /**
   * Resolves once the network has wired every NIC (Nova's
   * network-vif-plugged events); rejects when it does not in time. A driver
   * whose guests have real NICs creates the guest paused with its
   * interfaces, awaits this, then lets it run, so the guest's first DHCP
   * request finds its port filtered and on the bridge.
   */
  readonly vifsPlugged?: (() => Promise<void>) | undefined
  /**
   * Called as each of the driver's own spawn steps ends (`spawn:image`,
   * `spawn:disk`, `spawn:define`, `spawn:start`, `spawn:running`, ...) with
   * how long it took: the build records them in its `compute_spawn` event's
   * details, so an operator sees where the time went. Never throws back.
   */
  readonly onStep?: ((step: string, elapsedMs: number) => void) | undefined
}

/** `rescue`: what to boot instead of the instance's own disk. */
export interface RescueRequest {
  readonly instance: VirtInstance
  /** The rescue image (the instance's own image unless the caller named another). */
  readonly image: VirtImage
  readonly nics: readonly VirtNic[]
  readonly adminPassword?: string | undefined
}

/** `finish_migration`: the moved guest to create on the destination. */
export interface FinishMigrationRequest {
  /** With the new flavor's sizes. */
  readonly instance: VirtInstance
  readonly image: VirtImage
  /** The source host (the same as this one for a resize on one host); the guest keeps its NICs. */
  readonly sourceHost: string
  /** Start the guest (it was running before the move). */
  readonly powerOn: boolean
}

/** `get_info`: the hypervisor's view of one instance. */

export interface InstanceInfo {
  /** A power state from states.ts (`PowerState`). */
  readonly powerState: number
  /** Hypervisor-specific id (libvirt domain name, fake id). */
  readonly internalId: string
}

/** What a node offers and uses, from the hypervisor's point of view (resource tracker input). */
export interface NodeResources {
  readonly hypervisorHostname: string
  readonly vcpus: number
  readonly memoryMb: number
  readonly localGb: number
  /** Used as the hypervisor sees it (guests it runs), not as claims count it. */
  readonly vcpusUsed: number
  readonly memoryMbUsed: number
  readonly localGbUsed: number
  readonly diskAvailableLeast: number
  readonly hypervisorType: string
  readonly hypervisorVersion: number
  readonly cpuInfo: Readonly<Record<string, unknown>>
  readonly hostIp: string
  /** `hw_vm_mode` values and architecture the node supports (ImagePropertiesFilter). */
  readonly cpuArch: string
  readonly supportedVmModes: readonly string[]
}

export type RebootType = 'SOFT' | 'HARD'

/** An operation failed inside the driver; `detail.step` names the driver step. */
export class VirtDriverError extends NimbusError {
  override readonly status: number = 500
}
registerErrorClass(VirtDriverError)

/** The hypervisor knows no such instance (Nova's InstanceNotFound from the driver). */
export class VirtInstanceNotFound extends NotFound {}
registerErrorClass(VirtInstanceNotFound)

/** The instance already exists on this hypervisor. */
export class VirtInstanceExists extends Conflict {}
registerErrorClass(VirtInstanceExists)

/** The instance is not in a power state the operation accepts. */
export class VirtInvalidState extends Conflict {}
registerErrorClass(VirtInvalidState)

/** The driver (or its guests) cannot do this operation (Nova's NotImplementedError from a driver). */
export class VirtNotSupported extends NotImplemented {}
registerErrorClass(VirtNotSupported)

/** The node cannot hold the instance (the hypervisor refused it for lack of resources). */
export class VirtInsufficientResources extends VirtDriverError {}
registerErrorClass(VirtInsufficientResources)

export interface VirtDriver {
  /** Driver name for logs and the hypervisor list, e.g. `fake`, `libvirt`. */
  readonly name: string

  /** Prepares the driver for this host (connect to the hypervisor, find orphans). Called once at start. */
  initHost(host: string): Promise<void>

  /** The node names this driver manages (one for every driver but ironic). */
  getAvailableNodes(): Promise<readonly string[]>

  /** Totals and hypervisor-side usage of a node, for the resource tracker. */
  getAvailableResource(nodename: string): Promise<NodeResources>

  /**
   * Creates and starts a guest and resolves once it runs (power state
   * RUNNING). Promise: on failure it leaves nothing behind: no domain, no
   * disk, no plugged NIC; the caller may retry the same instance on another
   * host. Rejects with VirtInstanceExists if the uuid is already here.
   */
  spawn(request: SpawnRequest): Promise<void>

  /**
   * Stops the guest and removes everything spawn made. Promise: succeeds if
   * the guest is already gone (destroy is idempotent), so a cleanup after a
   * half-done spawn or a retried delete never fails for that reason.
   */
  destroy(instance: VirtInstance): Promise<void>

  /** The hypervisor's view of a guest; VirtInstanceNotFound if it is not here. */
  getInfo(instance: VirtInstance): Promise<InstanceInfo>

  /** Uuids of the guests on this host, running or not (power-state sync, orphan cleanup). */
  listInstances(): Promise<readonly string[]>

  /** The guest's console log (the tail the hypervisor keeps); VirtInstanceNotFound if not here. */
  /**
   * Diagnostics of a running guest (Nova's `get_instance_diagnostics`, the
   * 2.48 standard form). Optional: without it the API answers 501.
   */
  getDiagnostics?(instance: VirtInstance): Promise<GuestDiagnostics>

  getConsoleOutput(instance: VirtInstance): Promise<string>

  /** Stops a running guest (clean shutdown first, bounded by `timeoutMs`); no-op if already off. */
  powerOff(instance: VirtInstance, timeoutMs?: number): Promise<void>

  /** Starts a stopped guest; no-op if already running. */
  powerOn(instance: VirtInstance): Promise<void>

  /** Reboots: SOFT asks the guest, HARD resets it. Resolves when it runs again. */
  reboot(instance: VirtInstance, type: RebootType): Promise<void>

  /** Pauses a running guest (keeps it in memory); VirtInvalidState unless running. */
  pause(instance: VirtInstance): Promise<void>

  /** Resumes a paused guest; VirtInvalidState unless paused. */
  unpause(instance: VirtInstance): Promise<void>

  /** Saves a running guest's memory to disk and stops it; VirtInvalidState unless running. */
  suspend(instance: VirtInstance): Promise<void>

  /** Restores a suspended guest; VirtInvalidState unless suspended. */
  resume(instance: VirtInstance): Promise<void>

  /**
   * Copies the guest's root disk as a new image and returns its bytes'
   * sink's outcome. Promise: the guest's state is unchanged afterwards
   * whatever the outcome.
   */
  snapshot(
    instance: VirtInstance,
    imageId: string,
    upload: (data: AsyncIterable<Uint8Array>) => Promise<void>,
  ): Promise<void>

  /**
   * Hot-plugs one more NIC into the guest (os-interface attach), as spawn
   * plugs its NICs. VirtInstanceNotFound if the guest is not here; on
   * failure nothing of the NIC is left.
   */
  attachInterface(instance: VirtInstance, nic: VirtNic): Promise<void>

  /** Unplugs a NIC (os-interface detach); succeeds if the guest does not have it. */
  detachInterface(instance: VirtInstance, nic: VirtNic): Promise<void>

  /**
   * Boots the guest from the rescue image with its own root disk attached
   * as the second disk (Nova's libvirt rescue), keeping what is needed to
   * undo it. Resolves once the rescue guest runs. VirtInstanceNotFound if
   * the guest is not here.
   */
  rescue(request: RescueRequest): Promise<void>

  /** Ends a rescue: the guest boots from its own disk again; the rescue disk is removed. */
  unrescue(instance: VirtInstance): Promise<void>

  /**
   * Sets the guest's admin password through the hypervisor's guest agent;
   * VirtNotSupported when the driver or guest cannot (Nova: 501 / 409).
   */
  setAdminPassword(instance: VirtInstance, password: string): Promise<void>

  // ---- moves (resize, cold migration): Nova's driver methods of the same names ----

  /**
   * Source host of a resize or cold migration: powers the guest off and
   * hands its disk towards `destHost`, keeping the original so a revert
   * can restore it. The guest is no longer listed as running here.
   * VirtInstanceNotFound if the guest is not here.
   */
  migrateDiskAndPowerOff(instance: VirtInstance, destHost: string): Promise<void>

  /**
   * Destination host: creates the guest from the migrated disk with the
   * instance's (new) flavor, grown to its root size, and starts it when
   * `powerOn`. Promise: on failure it leaves nothing behind here.
   */
  finishMigration(request: FinishMigrationRequest): Promise<void>

  /** Source host, after a confirm: removes the original guest and disk. Succeeds if already gone. */
  confirmMigration(instance: VirtInstance): Promise<void>

  /**
   * Source host, after a revert (the destination has destroyed its copy):
   * restores the original guest with the old flavor, started when `powerOn`.
   */
  finishRevertMigration(instance: VirtInstance, powerOn: boolean): Promise<void>

  /** Seconds since the hypervisor host booted (the hypervisors API `uptime`). */
  getHostUptime(): Promise<string>

  /** Releases what initHost took (connections, timers). Idempotent. */
  cleanupHost(): Promise<void>
}
