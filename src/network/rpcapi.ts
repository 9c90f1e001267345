import type { RequestContext } from '../common/context.ts'
import type { RequestedNetworks, VifInfo } from '../compute/objects.ts'
import { RpcClient, type Transport } from '../rpc/index.ts'
import type { NicRequest } from './api.ts'

/** The network service's RPC topic for compute (served by manager.ts in every network service). */
export const NETWORK_TOPIC = 'network'

export interface AllocateArgs {
  readonly instanceUuid: string
  readonly projectId: string
  /** The host the instance is being built on (the port's binding host). */
  readonly host: string
  readonly requestedNetworks: RequestedNetworks
  /** Security group names or ids from the create; the project's `default` when empty. */
  readonly securityGroups?: readonly string[] | undefined
  /** The instance's zone (`device_owner` is `compute:<zone>`). */
  readonly availabilityZone?: string | null | undefined
}

export interface DeallocateArgs {
  readonly instanceUuid: string
  /** The instance's project: only its ports with the instance's device id are released. */
  readonly projectId: string
  /** Ports the instance was given (`port` NICs): unbound, never deleted. */
  readonly preserve?: readonly string[] | undefined
}

export interface AllocatePortArgs {
  readonly instanceUuid: string
  readonly projectId: string
  readonly host: string
  readonly availabilityZone?: string | null | undefined
  readonly nic: NicRequest
}

export interface InactivePortsArgs {
  readonly portIds: readonly string[]
}

export interface DeallocatePortArgs {
  readonly instanceUuid: string
  readonly projectId: string
  readonly portId: string
}

/**
 * Client side of the network service for compute (Nova's network API as
 * the compute host and the conductor use it). Every method is a call: the
 * caller needs the ports (or their release) before its next step.
 */
export class NetworkRpcApi {
  readonly #client: RpcClient

  constructor(transport: Transport) {
    this.#client = new RpcClient(transport, { topic: NETWORK_TOPIC })
  }

  /** call: the compute host needs the ports (MACs, taps, bridges) to plug the NICs. Idempotent per instance. */
  allocateForInstance(ctx: RequestContext, args: AllocateArgs): Promise<VifInfo[]> {
    return this.#client.call<VifInfo[]>(ctx, 'allocate_for_instance', args)
  }

  /** call: the caller must know the ports are gone before it reports the instance gone. Idempotent. */
  deallocateForInstance(ctx: RequestContext, args: DeallocateArgs): Promise<void> {
    return this.#client.call<void>(ctx, 'deallocate_for_instance', args)
  }

  /** call: an interface attach plugs the port it gets back. */
  allocatePortForInstance(ctx: RequestContext, args: AllocatePortArgs): Promise<VifInfo> {
    return this.#client.call<VifInfo>(ctx, 'allocate_port_for_instance', args)
  }

  /**
   * call: which of these ports are not ACTIVE yet (missing ones included).
   * Compute polls it between creating a guest paused and starting it: the
   * data plane marks a port ACTIVE once its tap is on the bridge and its
   * filters are loaded (Nova waits for Neutron's network-vif-plugged).
   */
  inactivePorts(ctx: RequestContext, args: InactivePortsArgs): Promise<string[]> {
    return this.#client.call<string[]>(ctx, 'inactive_ports', args)
  }

  /** call: an interface detach releases the port after unplugging it. */
  deallocatePortForInstance(ctx: RequestContext, args: DeallocatePortArgs): Promise<void> {
    return this.#client.call<void>(ctx, 'deallocate_port_for_instance', args)
  }
}
