import { createHash } from 'node:crypto'
import type { RequestContext } from '../common/context.ts'
import type { FixedIp, RequestedNetworks } from '../compute/objects.ts'
import { RpcClient, type Transport } from '../rpc/index.ts'

/**
 * The default network's id: derived from its name, so the API, the
 * network manager and every process agree on it without a lookup.
 */
export function defaultNetworkId(label: string): string {
  const h = createHash('sha1').update(`nimbus-default-network:${label}`).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`
}

/** The network manager's RPC topic. */
export const NETWORK_TOPIC = 'network'

export interface AllocateArgs {
  readonly instanceUuid: string
  readonly projectId: string
  /** The host the instance is being built on (the port's binding host). */
  readonly host: string
  readonly requestedNetworks: RequestedNetworks
}

/**
 * Client side of the network manager (Nova's network API as the compute
 * host uses it). Records only for now: a fixed IP from the default
 * network's range and a MAC per NIC.
 */
export class NetworkRpcApi {
  readonly #client: RpcClient

  constructor(transport: Transport) {
    this.#client = new RpcClient(transport, { topic: NETWORK_TOPIC })
  }

  /** call: the compute host needs the fixed IPs and MACs to plug the NICs. Idempotent per instance. */
  allocateForInstance(ctx: RequestContext, args: AllocateArgs): Promise<FixedIp[]> {
    return this.#client.call<FixedIp[]>(ctx, 'allocate_for_instance', args)
  }

  /** call: the caller must know the addresses are free before it reports the instance gone. Idempotent. */
  deallocateForInstance(ctx: RequestContext, instanceUuid: string): Promise<void> {
    return this.#client.call<void>(ctx, 'deallocate_for_instance', { instanceUuid })
  }
}
