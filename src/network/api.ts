import type { RequestContext } from '../common/context.ts'
import { callerOf, SYSTEM, type Caller } from './authz.ts'
import { conflict, invalid } from './errors.ts'
import { ipVersionOf } from './ipam.ts'
import type { NetworkPlugin } from './plugin.ts'
import type { Doc } from './store.ts'
import { tapName, bridgeName } from './dataplane/names.ts'

/**
 * The in-process network API for compute (Nova's `network.neutron.API`):
 * real Neutron ports created, bound to the build host and filtered by the
 * data plane. The compute manager calls it through the network RPC
 * server (`allocate_for_instance` is a `call`), so errors arrive typed.
 */

/** One NIC the server create asked for (compute's `NetworkRequest`). */
export interface NicRequest {
  readonly networkId?: string | undefined
  readonly portId?: string | undefined
  /** A fixed IP wanted on that network. */
  readonly address?: string | undefined
  /** A MAC the compute API generated; Neutron's own is used when absent. */
  readonly macAddress?: string | undefined
}

export interface AllocateRequest {
  readonly instanceUuid: string
  /** The project the ports belong to; default: the caller's. */
  readonly projectId?: string | undefined
  /** The host the instance is built on: the ports' `binding:host_id`. */
  readonly host: string
  /** `auto`: the project's only network; `none`: no NIC; else one NIC per entry. */
  readonly requestedNetworks: 'auto' | 'none' | readonly NicRequest[]
  /** Security group names or ids; default: the project's `default` group. */
  readonly securityGroups?: readonly string[] | undefined
  /** Neutron's `device_owner` for the ports: `compute:<availability zone>`. */
  readonly availabilityZone?: string | undefined
}

/** A plugged NIC, as Nova's network info cache describes it. */
export interface Vif {
  readonly portId: string
  readonly networkId: string
  readonly networkLabel: string
  readonly macAddress: string
  readonly fixedIps: readonly {
    readonly address: string
    readonly version: 4 | 6
    readonly subnetId: string
  }[]
  /** The guest interface name compute must create (`tap` + port id head). */
  readonly devname: string
  /** The Linux bridge the tap goes on (`binding:vif_type` is `bridge`). */
  readonly bridge: string
  readonly mtu: number
  /** The port existed before the build (a `port` NIC): deallocate unbinds it instead of deleting. */
  readonly preserveOnDelete: boolean
}

/** Compute's `FixedIp` record shape, for the records its API shows as `addresses`. */
export interface FixedIpRecord {
  readonly networkId: string
  readonly networkLabel: string
  readonly address: string
  readonly macAddress: string
  readonly version: 4 | 6
}

const DEFAULT_AVAILABILITY_ZONE = 'nova'

export class NetworkApi {
  readonly #plugin: NetworkPlugin

  constructor(plugin: NetworkPlugin) {
    this.#plugin = plugin
  }

  /**
   * Creates (or adopts) one port per requested NIC, bound to `host` with
   * `device_id` = the instance. Idempotent: an instance that already has
   * ports gets them back. On failure the ports made by this call are
   * deleted before the error is rethrown.
   */
  async allocateForInstance(ctx: RequestContext, req: AllocateRequest): Promise<Vif[]> {
    const caller = this.#caller(ctx, req.projectId)
    const existing = await this.#plugin.core.listPorts(SYSTEM, { device_id: req.instanceUuid })
    if (existing.length) return Promise.all(existing.map((p) => this.#vif(p, false)))
    const nics = await this.#nics(caller, req.requestedNetworks)
    const groups = await this.#groups(caller, req.securityGroups)
    const owner = `compute:${req.availabilityZone ?? DEFAULT_AVAILABILITY_ZONE}`
    const made: string[] = []
    const vifs: Vif[] = []
    try {
      for (const nic of nics) {
        const binding = { device_id: req.instanceUuid, device_owner: owner, 'binding:host_id': req.host }
        if (nic.portId) {
          const port = await this.#plugin.core.getPort(caller, nic.portId)
          if (port.device_id) {
            throw conflict('PortInUse', `Port ${nic.portId} is still in use.`)
          }
          vifs.push(await this.#vif(await this.#plugin.core.updatePort(SYSTEM, nic.portId, binding), true))
          continue
        }
        const port = await this.#plugin.core.createPort(caller, {
          network_id: nic.networkId,
          ...binding,
          ...(nic.address ? { fixed_ips: [{ ip_address: nic.address }] } : {}),
          ...(nic.macAddress ? { mac_address: nic.macAddress } : {}),
          ...(groups ? { security_groups: groups } : {}),
          project_id: caller.projectId,
        })
        made.push(port.id)
        vifs.push(await this.#vif(port, false))
      }
      return vifs
    } catch (err) {
      for (const id of made) await this.#plugin.core.deletePort(SYSTEM, id).catch(() => undefined)
      throw err
    }
  }

  /**
   * Deletes the instance's ports, except the ones listed as preserved
   * (pre-existing `port` NICs), which are unbound and kept. Succeeds if
   * there is nothing left to do.
   */
  async deallocateForInstance(
    ctx: RequestContext,
    instanceUuid: string,
    preserve: readonly string[] = [],
  ): Promise<void> {
    void ctx
    const ports = await this.#plugin.core.listPorts(SYSTEM, { device_id: instanceUuid })
    for (const p of ports) {
      if (preserve.includes(p.id)) {
        await this.#plugin.core.updatePort(SYSTEM, p.id, {
          device_id: '',
          device_owner: '',
          'binding:host_id': '',
        })
      } else {
        await this.#plugin.core.deletePort(SYSTEM, p.id)
      }
    }
  }

  /** The instance's NICs as they are now. */
  async listPortsForInstance(ctx: RequestContext, instanceUuid: string): Promise<Vif[]> {
    void ctx
    const ports = await this.#plugin.core.listPorts(SYSTEM, { device_id: instanceUuid })
    return Promise.all(ports.map((p) => this.#vif(p, false)))
  }

  /** Compute's address records for a set of VIFs. */
  static fixedIps(vifs: readonly Vif[]): FixedIpRecord[] {
    return vifs.flatMap((v) =>
      v.fixedIps.map((ip) => ({
        networkId: v.networkId,
        networkLabel: v.networkLabel,
        address: ip.address,
        macAddress: v.macAddress,
        version: ip.version,
      })),
    )
  }

  #caller(ctx: RequestContext, projectId: string | undefined): Caller {
    const caller = callerOf(ctx)
    if (projectId && projectId !== caller.projectId) return { projectId, isAdmin: caller.isAdmin }
    return caller
  }

  /** Resolves `auto` to the project's only usable network, as Nova does without auto-allocation. */
  async #nics(caller: Caller, requested: AllocateRequest['requestedNetworks']): Promise<NicRequest[]> {
    if (requested === 'none') return []
    if (requested !== 'auto') {
      return requested.map((n) => (n.networkId || n.portId ? n : { ...n, networkId: undefined }))
    }
    const usable = (await this.#plugin.core.listNetworks(caller)).filter((n) => n['router:external'] !== true)
    const own = usable.filter((n) => n.project_id === caller.projectId)
    const candidates = own.length ? own : usable.filter((n) => n.shared === true)
    if (candidates.length === 0) return []
    if (candidates.length > 1) {
      throw conflict(
        'NetworkAmbiguous',
        'Multiple possible networks found, use a Network ID to be more specific.',
      )
    }
    return [{ networkId: candidates[0]!.id }]
  }

  /** Group names (or ids) to ids within the project, as Nova resolves them. */
  async #groups(caller: Caller, names: readonly string[] | undefined): Promise<string[] | undefined> {
    if (!names || names.length === 0) return undefined
    const groups = await this.#plugin.securityGroups.list(caller)
    return names.map((name) => {
      const byId = groups.find((g) => g.id === name)
      const byName = groups.filter((g) => g.name === name && g.project_id === caller.projectId)
      if (byId) return byId.id
      if (byName.length === 1) return byName[0]!.id
      if (byName.length > 1)
        throw conflict(
          'NoUniqueMatch',
          `Multiple security groups found matching '${name}'. Use an ID to be more specific.`,
        )
      throw invalid('SecurityGroupNotFound', `Security group ${name} not found.`)
    })
  }

  async #vif(port: Doc, preserve: boolean): Promise<Vif> {
    const net = await this.#plugin.store.get('networks', port.network_id as string)
    const fixed = port.fixed_ips as { subnet_id: string; ip_address: string }[]
    return {
      portId: port.id,
      networkId: port.network_id as string,
      networkLabel: (net?.name as string | undefined) ?? '',
      macAddress: port.mac_address as string,
      fixedIps: fixed.map((f) => ({
        address: f.ip_address,
        version: ipVersionOf(f.ip_address) ?? 4,
        subnetId: f.subnet_id,
      })),
      devname: tapName(port.id),
      bridge: bridgeName(port.network_id as string),
      mtu: (net?.mtu as number | undefined) ?? 1500,
      preserveOnDelete: preserve,
    }
  }
}
