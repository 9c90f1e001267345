import type { RequestContext } from '../common/context.ts'
import type { BuildRequest } from '../conductor/rpcapi.ts'
import { RpcClient, type Transport } from '../rpc/index.ts'
import type { InstanceDiagnostics } from './diagnostics.ts'
import type { ImageMeta } from './image.ts'
import type { ExternalEvent, Instance, VifInfo } from './objects.ts'

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
