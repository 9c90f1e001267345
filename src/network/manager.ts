import type { RequestContext } from '../common/context.ts'
import { logger } from '../common/log.ts'
import { networkInfoOf, saveNetworkInfo, setInstanceSecurityGroups } from '../compute/db/info-caches.ts'
import type { Database } from '../db/index.ts'
import { RpcServer, type Transport } from '../rpc/index.ts'
import type { Vif } from './api.ts'
import type { NetworkPlugin } from './plugin.ts'
import {
  NETWORK_TOPIC,
  type AllocateArgs,
  type AllocatePortArgs,
  type DeallocateArgs,
  type DeallocatePortArgs,
  type InactivePortsArgs,
} from './rpcapi.ts'

const log = logger('network.manager')

/**
 * The network service's RPC side for compute (Nova's network API as a
 * service): allocates and releases instances' Neutron ports through the
 * plugin's `NetworkApi`, and keeps each instance's network info cache
 * (Nova's instance_info_caches) in step: written on every allocation,
 * attach and detach, and when a floating IP of one of its ports changes.
 * Any network service process may serve the `network` topic: all state is
 * in the database.
 */
export class NetworkManager {
  readonly #db: Database
  readonly #plugin: NetworkPlugin

  constructor(db: Database, plugin: NetworkPlugin) {
    this.#db = db
    this.#plugin = plugin
  }

  endpoints(): Record<string, (ctx: RequestContext, args: any) => Promise<unknown>> {
    return {
      allocate_for_instance: (ctx, a: AllocateArgs) => this.allocateForInstance(ctx, a),
      deallocate_for_instance: (ctx, a: DeallocateArgs) => this.deallocateForInstance(ctx, a),
      allocate_port_for_instance: (ctx, a: AllocatePortArgs) => this.allocatePortForInstance(ctx, a),
      deallocate_port_for_instance: (ctx, a: DeallocatePortArgs) => this.deallocatePortForInstance(ctx, a),
      inactive_ports: (_ctx, a: InactivePortsArgs) => this.inactivePorts(a),
    }
  }

  /** Ports for each requested NIC (none for `none`), bound to the build host; the cache follows. */
  async allocateForInstance(ctx: RequestContext, args: AllocateArgs): Promise<Vif[]> {
    // `none` makes nothing: one indexed read unless the instance got ports later (interface attach),
    // which a rebuild or a move must find, rebound to its new host.
    if (args.requestedNetworks === 'none' && !(await this.#plugin.api.hasPorts(args.instanceUuid))) return []
    const previous = await this.#cached(args.instanceUuid)
    const preserved = [...portIdsOf(args.requestedNetworks), ...preservedOf(previous)]
    const vifs = await this.#plugin.api.allocateForInstance(
      ctx,
      {
        instanceUuid: args.instanceUuid,
        projectId: args.projectId,
        host: args.host,
        requestedNetworks: args.requestedNetworks,
        securityGroups: args.securityGroups,
        availabilityZone: args.availabilityZone ?? undefined,
      },
      preserved,
    )
    await saveNetworkInfo(this.#db.kysely, args.instanceUuid, withTags(vifs, args.requestedNetworks))
    if (vifs.length) await this.#recordGroups(args.instanceUuid)
    log.debug(
      { instance: args.instanceUuid, ports: vifs.map((v) => v.portId), host: args.host },
      'ports allocated',
    )
    return vifs
  }

  /** The ports of `portIds` not ACTIVE (or gone). */
  async inactivePorts(args: InactivePortsArgs): Promise<string[]> {
    const inactive: string[] = []
    for (const id of args.portIds) {
      const port = await this.#plugin.store.get('ports', id)
      if (port?.status !== 'ACTIVE') inactive.push(id)
    }
    return inactive
  }

  /** Deletes the instance's ports, unbinding the ones it was given; the cache empties. Idempotent. */
  async deallocateForInstance(ctx: RequestContext, args: DeallocateArgs): Promise<void> {
    // One indexed read when there is nothing to release (every delete of a server without ports).
    if (!(await this.#plugin.api.hasPorts(args.instanceUuid))) return
    const previous = await this.#cached(args.instanceUuid)
    const preserve = [...(args.preserve ?? []), ...preservedOf(previous)]
    const released = await this.#plugin.api.deallocateForInstance(ctx, args.instanceUuid, preserve)
    await saveNetworkInfo(this.#db.kysely, args.instanceUuid, [])
    log.debug({ instance: args.instanceUuid, released }, 'ports released')
  }

  /** One more port for an instance (interface attach); returns its VIF, the cache gains it. */
  async allocatePortForInstance(ctx: RequestContext, args: AllocatePortArgs): Promise<Vif> {
    const vif = await this.#plugin.api.allocatePortForInstance(ctx, {
      instanceUuid: args.instanceUuid,
      projectId: args.projectId,
      host: args.host,
      availabilityZone: args.availabilityZone ?? undefined,
      nic: args.nic,
    })
    await this.refresh(args.instanceUuid, [vif])
    return vif
  }

  /** Releases one port of an instance (interface detach); the cache loses it. */
  async deallocatePortForInstance(ctx: RequestContext, args: DeallocatePortArgs): Promise<void> {
    void ctx
    const previous = await this.#cached(args.instanceUuid)
    const preserve = previous.find((v) => v.portId === args.portId)?.preserveOnDelete ?? false
    await this.#plugin.api.deallocatePortForInstance(args.instanceUuid, args.portId, preserve)
    await this.refresh(args.instanceUuid)
  }

  /** Rebuilds an instance's cache from Neutron (after a floating IP change, attach, detach). */
  async refresh(instanceUuid: string, extra: readonly Vif[] = []): Promise<Vif[]> {
    const previous = [...(await this.#cached(instanceUuid)), ...extra]
    const vifs = await this.#plugin.api.networkInfo(instanceUuid, previous)
    await saveNetworkInfo(this.#db.kysely, instanceUuid, vifs)
    if (vifs.length) await this.#recordGroups(instanceUuid)
    return vifs
  }

  /**
   * The server's `security_groups` are its ports' groups, as Nova reads
   * them from Neutron: none on a network without port security, the new
   * ones after a port update.
   */
  async #recordGroups(instanceUuid: string): Promise<void> {
    const groups = await this.#plugin.api.instanceSecurityGroups(instanceUuid)
    await setInstanceSecurityGroups(
      this.#db.kysely,
      instanceUuid,
      groups.map((g) => g.name as string),
    )
  }

  /** Refreshes the caches of the instances owning these ports (Neutron's network-changed event). */
  async portsChanged(portIds: readonly string[]): Promise<void> {
    for (const uuid of await this.#plugin.api.instancesOfPorts(portIds)) await this.refresh(uuid)
  }

  async #cached(instanceUuid: string): Promise<Vif[]> {
    return (await networkInfoOf(this.#db.kysely, [instanceUuid])).get(instanceUuid) ?? []
  }
}

function portIdsOf(requested: AllocateArgs['requestedNetworks']): string[] {
  if (requested === 'auto' || requested === 'none') return []
  return requested.flatMap((n) => (n.portId ? [n.portId] : []))
}

function preservedOf(vifs: readonly Vif[]): string[] {
  return vifs.filter((v) => v.preserveOnDelete).map((v) => v.portId)
}

/** The create's device tags on the NICs they name (by port, else by network in order). */
function withTags(vifs: readonly Vif[], requested: AllocateArgs['requestedNetworks']): Vif[] {
  if (requested === 'auto' || requested === 'none') return [...vifs]
  return vifs.map((v, i) => {
    const nic = requested.find((n) => n.portId === v.portId) ?? requested[i]
    return nic?.tag ? { ...v, tag: nic.tag } : v
  })
}

/** The `network` topic's RPC server, run by the network service. */
export function networkRpcServer(transport: Transport, host: string, manager: NetworkManager): RpcServer {
  return new RpcServer(transport, { topic: NETWORK_TOPIC, server: host }, manager.endpoints())
}
