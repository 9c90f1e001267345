import type { RequestContext } from '../common/context.ts'
import type { BuildRequest } from '../conductor/rpcapi.ts'
import { RpcClient, type Transport } from '../rpc/index.ts'
import type { InstanceDiagnostics } from './diagnostics.ts'
import type { ImageMeta } from '../objects/image.ts'
import type { ExternalEvent, Instance, VifInfo } from './objects.ts'
import type { RebootType } from './virt/driver.ts'

/** Compute hosts' RPC topic: each host consumes `compute.<host>`. */
export const COMPUTE_TOPIC = 'compute'

export interface BuildAndRunArgs {
  readonly instance: Instance
  readonly image: ImageMeta
  /** The hypervisor node the scheduler chose on this host. */
  readonly node: string
  /** The build as the conductor received it, to reschedule from. */
  readonly request: BuildRequest
}

/** What an interface attach asks for: a network (optionally a fixed IP on it), a port, or neither. */
export interface InterfaceRequest {
  readonly networkId?: string | undefined
  readonly portId?: string | undefined
  readonly address?: string | undefined
  readonly tag?: string | undefined
}

/** The four power actions with one RPC method each (`<action>_instance`). */
export type PowerAction = 'pause' | 'unpause' | 'suspend' | 'resume'

/** `rescue_instance`: the image to boot (the rescue image, or the instance's own). */
export interface RescueArgs {
  readonly image: ImageMeta
  readonly adminPassword: string
}

export interface RebuildArgs {
  readonly image: ImageMeta
  readonly adminPassword: string
  readonly preserveEphemeral: boolean
}

/** Where the host uploads a snapshot: the queued image and the image endpoint from the catalog. */
export interface SnapshotArgs {
  readonly imageId: string
  readonly imageApiUrl: string
}

export interface BackupArgs extends SnapshotArgs {
  readonly backupType: string
  readonly rotation: number
}

export interface ShelveArgs extends SnapshotArgs {
  /** `[compute] shelved_offload_time` is 0: offload at once. */
  readonly offload: boolean
}

export interface UnshelveArgs {
  readonly instance: Instance
  /** The node the scheduler chose; undefined for a SHELVED instance still on its host. */
  readonly node?: string | undefined
  /** The shelved snapshot to spawn from (offloaded instances). */
  readonly image?: ImageMeta | undefined
  readonly imageApiUrl: string
}

/**
 * Client side of a compute host (Nova's ComputeAPI rpcapi). Every method
 * goes to one host's own queue; the comment on each says whether it casts
 * or calls, and why.
 */
export class ComputeRpcApi {
  readonly #client: RpcClient

  constructor(transport: Transport) {
    this.#client = new RpcClient(transport, { topic: COMPUTE_TOPIC })
  }

  /** cast: the conductor does not wait for the build; the host reports through the conductor. */
  buildAndRunInstance(ctx: RequestContext, host: string, args: BuildAndRunArgs): Promise<void> {
    return this.#client.prepare({ server: host }).cast(ctx, 'build_and_run_instance', args)
  }

  /** cast: the API answers 204 at once; the host destroys the guest, frees what it held and marks it deleted. */
  terminateInstance(ctx: RequestContext, instance: Instance): Promise<void> {
    return this.#client.prepare({ server: instance.host! }).cast(ctx, 'terminate_instance', { instance })
  }

  // ---- server actions (issue #6): casts unless the API needs the outcome ----

  /** cast: the API answers 202; the host records compute_reboot_instance. */
  rebootInstance(ctx: RequestContext, instance: Instance, rebootType: RebootType): Promise<void> {
    return this.#toHost(instance).cast(ctx, 'reboot_instance', { instance, rebootType })
  }

  /** cast: os-stop answers 202; the host powers the guest off (POWERING_OFF -> STOPPED). */
  stopInstance(ctx: RequestContext, instance: Instance): Promise<void> {
    return this.#toHost(instance).cast(ctx, 'stop_instance', { instance })
  }

  /** cast: os-start answers 202; the host powers the guest on (POWERING_ON -> ACTIVE). */
  startInstance(ctx: RequestContext, instance: Instance): Promise<void> {
    return this.#toHost(instance).cast(ctx, 'start_instance', { instance })
  }

  /** cast: pause/unpause/suspend/resume answer 202 (method: `pause_instance` ...). */
  powerAction(ctx: RequestContext, instance: Instance, action: PowerAction): Promise<void> {
    return this.#toHost(instance).cast(ctx, `${action}_instance`, { instance })
  }

  /** cast: rescue answers 200 with the password at once; the host boots the rescue image. */
  rescueInstance(ctx: RequestContext, instance: Instance, args: RescueArgs): Promise<void> {
    return this.#toHost(instance).cast(ctx, 'rescue_instance', { instance, ...args })
  }

  /** cast: unrescue answers 202. */
  unrescueInstance(ctx: RequestContext, instance: Instance): Promise<void> {
    return this.#toHost(instance).cast(ctx, 'unrescue_instance', { instance })
  }

  /** cast: rebuild answers 202 with the server; the host respawns it from the new image. */
  rebuildInstance(ctx: RequestContext, instance: Instance, args: RebuildArgs): Promise<void> {
    return this.#toHost(instance).cast(ctx, 'rebuild_instance', { instance, ...args })
  }

  /** cast: createImage answers with the queued image; the host uploads the disk into it. */
  snapshotInstance(ctx: RequestContext, instance: Instance, args: SnapshotArgs): Promise<void> {
    return this.#toHost(instance).cast(ctx, 'snapshot_instance', { instance, ...args })
  }

  /** cast: as snapshot, then the host deletes backups beyond `rotation`. */
  backupInstance(ctx: RequestContext, instance: Instance, args: BackupArgs): Promise<void> {
    return this.#toHost(instance).cast(ctx, 'backup_instance', { instance, ...args })
  }

  /** cast: shelve answers 202; the host snapshots, powers off (and offloads when configured to). */
  shelveInstance(ctx: RequestContext, instance: Instance, args: ShelveArgs): Promise<void> {
    return this.#toHost(instance).cast(ctx, 'shelve_instance', { instance, ...args })
  }

  /** cast: shelveOffload answers 202; the host destroys the guest and frees its claim. */
  shelveOffloadInstance(ctx: RequestContext, instance: Instance): Promise<void> {
    return this.#toHost(instance).cast(ctx, 'shelve_offload_instance', { instance })
  }

  /** cast (from the conductor, after scheduling): the host claims and spawns from the shelved image. */
  unshelveInstance(ctx: RequestContext, host: string, args: UnshelveArgs): Promise<void> {
    return this.#client.prepare({ server: host }).cast(ctx, 'unshelve_instance', args)
  }

  /** call: changePassword reports the driver's refusal (409/501) to the caller. */
  setAdminPassword(ctx: RequestContext, instance: Instance, password: string): Promise<void> {
    return this.#toHost(instance).call<void>(ctx, 'set_admin_password', { instance, password })
  }

  /** call: the API needs the text back; `tailLength` keeps the last lines (null: all). */
  getConsoleLog(ctx: RequestContext, instance: Instance, tailLength: number | null): Promise<string> {
    return this.#toHost(instance).call<string>(ctx, 'get_console_log', { instance, tailLength })
  }

  #toHost(instance: Instance) {
    return this.#client.prepare({ server: instance.host! })
  }

  /** cast: whoever reported the events (Neutron) does not wait for the host to act on them. */
  externalInstanceEvent(
    ctx: RequestContext,
    host: string,
    instances: readonly Instance[],
    events: readonly ExternalEvent[],
  ): Promise<void> {
    return this.#client.prepare({ server: host }).cast(ctx, 'external_instance_event', { instances, events })
  }

  /** call: the API answers with the attached interface, so it waits for the port and the plug. */
  attachInterface(ctx: RequestContext, instance: Instance, nic: InterfaceRequest): Promise<VifInfo> {
    return this.#client
      .prepare({ server: instance.host! })
      .call<VifInfo>(ctx, 'attach_interface', { instance, nic })
  }

  /** cast: the API answers 202 at once (Nova's detach_interface); the host unplugs, then releases the port. */
  detachInterface(ctx: RequestContext, instance: Instance, vif: VifInfo): Promise<void> {
    return this.#client.prepare({ server: instance.host! }).cast(ctx, 'detach_interface', { instance, vif })
  }

  /** call: the API needs the text back. */
  getConsoleOutput(ctx: RequestContext, instance: Instance): Promise<string> {
    return this.#client
      .prepare({ server: instance.host! })
      .call<string>(ctx, 'get_console_output', { instance })
  }

  /** call: the hypervisors API shows the host's uptime (bounded wait: a sick host must not hang the API). */
  getHostUptime(ctx: RequestContext, host: string, timeoutMs?: number): Promise<string> {
    return this.#client.prepare({ server: host, timeoutMs }).call<string>(ctx, 'get_host_uptime', {})
  }

  /** call: the diagnostics API needs the numbers back (bounded wait, as for uptime). */
  getInstanceDiagnostics(
    ctx: RequestContext,
    instance: Instance,
    timeoutMs?: number,
  ): Promise<InstanceDiagnostics> {
    return this.#client
      .prepare({ server: instance.host!, timeoutMs })
      .call<InstanceDiagnostics>(ctx, 'get_instance_diagnostics', { instance })
  }
}
