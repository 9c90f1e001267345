import type { RequestContext } from '../common/context.ts'
import { logger } from '../common/log.ts'
import { adminContext } from '../common/context.ts'
import type { ConductorRpcApi } from '../conductor/rpcapi.ts'
import { RpcServer, type Transport } from '../rpc/index.ts'
import type { InstanceRef, Vif } from './api.ts'
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
 * Compute's instance network info cache (Nova's instance_info_caches), as
 * the network service may reach it: through the conductor, which owns
 * compute's tables. The network service never opens them.
 */
export type InfoCaches = Pick<ConductorRpcApi, 'infoCacheGet' | 'infoCacheUpdate' | 'instanceProjects'>

/**
 * The network service's RPC side for compute (Nova's network API as a
 * service): allocates and releases instances' Neutron ports through the
 * plugin's `NetworkApi`, and tells compute what it found, so the
 * conductor keeps each instance's network info cache in step: on every
 * allocation, attach and detach, and when a floating IP of one of its
 * ports changes (Neutron's network-changed). Any network service process
 * may serve the `network` topic: its state is in its own tables.
 */
export class NetworkManager {
  readonly #plugin: NetworkPlugin
  readonly #caches: InfoCaches

  constructor(plugin: NetworkPlugin, caches: InfoCaches) {
    this.#plugin = plugin
    this.#caches = caches
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
    const instance = { uuid: args.instanceUuid, projectId: args.projectId }
    if (args.requestedNetworks === 'none' && !(await this.#plugin.api.hasPorts(instance))) return []
    const previous = await this.#caches.infoCacheGet(ctx, args.instanceUuid)
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
    await this.#caches.infoCacheUpdate(ctx, {
      instanceUuid: args.instanceUuid,
      networkInfo: withTags(vifs, args.requestedNetworks),
      securityGroups: vifs.length ? await this.#groupNames(instance) : undefined,
    })
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
    const instance = { uuid: args.instanceUuid, projectId: args.projectId }
    if (!(await this.#plugin.api.hasPorts(instance))) return
    const previous = await this.#caches.infoCacheGet(ctx, args.instanceUuid)
    const preserve = [...(args.preserve ?? []), ...preservedOf(previous)]
    const released = await this.#plugin.api.deallocateForInstance(ctx, instance, preserve)
    await this.#caches.infoCacheUpdate(ctx, { instanceUuid: args.instanceUuid, networkInfo: [] })
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
    await this.refresh(ctx, { uuid: args.instanceUuid, projectId: args.projectId }, [vif])
    return vif
  }

  /** Releases one port of an instance (interface detach); the cache loses it. */
  async deallocatePortForInstance(ctx: RequestContext, args: DeallocatePortArgs): Promise<void> {
    const previous = await this.#caches.infoCacheGet(ctx, args.instanceUuid)
    const preserve = previous.find((v) => v.portId === args.portId)?.preserveOnDelete ?? false
    const instance = { uuid: args.instanceUuid, projectId: args.projectId }
    await this.#plugin.api.deallocatePortForInstance(instance, args.portId, preserve)
    await this.refresh(ctx, instance)
  }

  /** Rebuilds an instance's cache from Neutron (after a floating IP change, attach, detach). */
  async refresh(ctx: RequestContext, instance: InstanceRef, extra: readonly Vif[] = []): Promise<Vif[]> {
    const previous = [...(await this.#caches.infoCacheGet(ctx, instance.uuid)), ...extra]
    const vifs = await this.#plugin.api.networkInfo(instance, previous)
    await this.#caches.infoCacheUpdate(ctx, {
      instanceUuid: instance.uuid,
      networkInfo: vifs,
      securityGroups: vifs.length ? await this.#groupNames(instance) : undefined,
    })
    return vifs
  }

  /**
   * The server's `security_groups` are its ports' groups, as Nova reads
   * them from Neutron: none on a network without port security, the new
   * ones after a port update.
   */
  async #groupNames(instance: InstanceRef): Promise<string[]> {
    const groups = await this.#plugin.api.instanceSecurityGroups(instance)
    return groups.map((g) => g.name as string)
  }

  /**
   * Refreshes the caches of the instances owning these ports (Neutron's
   * network-changed event). The project comes from the instance record,
   * never from the port: a port's device id is whatever its owner wrote.
   */
  async portsChanged(portIds: readonly string[]): Promise<void> {
    const uuids = await this.#plugin.api.instancesOfPorts(portIds)
    if (uuids.length === 0) return
    const ctx = adminContext()
    for (const instance of await this.#caches.instanceProjects(ctx, uuids)) {
      await this.refresh(ctx, instance)
    }
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
