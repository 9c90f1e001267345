import type { RequestContext } from '../common/context.ts'
import { Conflict, Invalid, NotFound } from '../common/errors.ts'
import type { VifInfo } from '../compute/objects.ts'
import { callerOf, SYSTEM, type Caller } from './authz.ts'
import { canonicalIp, cidrContains, ipVersionOf, parseCidr } from './ipam.ts'
import type { NetworkPlugin } from './plugin.ts'
import type { Doc } from './store.ts'
import { tapName, bridgeName } from './dataplane/names.ts'

/**
 * The network API for compute (Nova's `network.neutron.API`): real Neutron
 * ports created, bound to the build host and filtered by the data plane.
 * Compute hosts reach it through the network RPC server (manager.ts:
 * `allocate_for_instance` is a `call`, so errors arrive typed); the compute
 * API uses it in-process for what Nova validates before a build (networks,
 * ports, fixed IPs, security groups) and for the security group proxy.
 *
 * Errors are Nova's (the compute API renders them): the messages and
 * statuses Nova's API answers for the same condition.
 */

/** One NIC the server create (or an interface attach) asked for (compute's `NetworkRequest`). */
export interface NicRequest {
  readonly networkId?: string | undefined
  readonly portId?: string | undefined
  /** A fixed IP wanted on that network. */
  readonly address?: string | undefined
  /** A MAC the compute API generated; Neutron's own is used when absent. */
  readonly macAddress?: string | undefined
  /** The device tag (2.32). */
  readonly tag?: string | undefined
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

/**
 * The instance a port lookup is for. Ports are matched by `device_id` AND
 * the instance's project, as Nova lists them (`tenant_id` and `device_id`):
 * any project may write any `device_id` on its own port, so `device_id`
 * alone would let another project's port join this instance.
 */
export interface InstanceRef {
  readonly uuid: string
  readonly projectId: string
}

/** A plugged NIC, as Nova's network info cache describes it. */
export type Vif = VifInfo

/** Compute's `FixedIp` record shape, for the records its API shows as `addresses`. */
export interface FixedIpRecord {
  readonly networkId: string
  readonly networkLabel: string
  readonly address: string
  readonly macAddress: string
  readonly version: 4 | 6
}

const DEFAULT_AVAILABILITY_ZONE = 'nova'
/** The port owner prefix of instances' ports (Nova sets `compute:<zone>`). */
export const COMPUTE_DEVICE_OWNER_PREFIX = 'compute:'

export class NetworkApi {
  readonly #plugin: NetworkPlugin

  constructor(plugin: NetworkPlugin) {
    this.#plugin = plugin
  }

  /** The Neutron plugin behind this API (the compute API's security group proxy uses its groups). */
  get plugin(): NetworkPlugin {
    return this.#plugin
  }

  /**
   * Creates (or adopts) one port per requested NIC, bound to `host` with
   * `device_id` = the instance. Idempotent: an instance that already has
   * ports gets them back (rebound to `host` if they were bound elsewhere).
   * On failure the ports made by this call are deleted and adopted ones
   * unbound before the error is rethrown.
   */
  async allocateForInstance(
    ctx: RequestContext,
    req: AllocateRequest,
    preserved: readonly string[] = [],
  ): Promise<Vif[]> {
    const caller = this.#caller(ctx, req.projectId)
    const existing = await this.#portsOf({ uuid: req.instanceUuid, projectId: caller.projectId })
    if (existing.length) {
      const rebound = await Promise.all(
        existing.map((p) =>
          p['binding:host_id'] === req.host
            ? p
            : this.#plugin.core.updatePort(SYSTEM, p.id, { 'binding:host_id': req.host }),
        ),
      )
      return this.#vifs(rebound, (p) => preserved.includes(p.id))
    }
    const nics = await this.#nics(caller, req.requestedNetworks)
    const groups = await this.#groups(caller, req.securityGroups)
    const made: string[] = []
    const adopted: string[] = []
    const vifs: Vif[] = []
    try {
      for (const nic of nics) {
        const port = await this.#bindNic(caller, req, nic, groups)
        ;(nic.portId ? adopted : made).push(port.id)
        vifs.push(await this.#vif(port, nic.portId !== undefined, nic.tag))
      }
      return vifs
    } catch (err) {
      for (const id of made) await this.#plugin.core.deletePort(SYSTEM, id).catch(() => undefined)
      for (const id of adopted) await this.#unbind(id).catch(() => undefined)
      throw err
    }
  }

  /** One more NIC for a built instance (os-interface attach): a new port on a network, or a given port. */
  async allocatePortForInstance(
    ctx: RequestContext,
    req: Omit<AllocateRequest, 'requestedNetworks'> & { readonly nic: NicRequest },
  ): Promise<Vif> {
    const caller = this.#caller(ctx, req.projectId)
    let nic = req.nic
    if (!nic.networkId && !nic.portId) {
      const [auto] = await this.#nics(caller, 'auto')
      if (!auto) {
        throw new Invalid(
          `No specific network was requested and none are available for project '${caller.projectId}'.`,
        )
      }
      nic = { ...nic, networkId: auto.networkId }
    }
    if (nic.portId) await this.#usablePort(caller, nic.portId, true)
    else await this.#usableNetwork(caller, nic.networkId!, nic.address, true)
    const port = await this.#bindNic(caller, req, nic, undefined)
    return this.#vif(port, nic.portId !== undefined, nic.tag)
  }

  /**
   * Deletes the instance's ports, except the ones listed as preserved
   * (pre-existing `port` NICs), which are unbound and kept. Succeeds if
   * there is nothing left to do; returns how many ports it released.
   */
  async deallocateForInstance(
    ctx: RequestContext,
    instance: InstanceRef,
    preserve: readonly string[] = [],
  ): Promise<number> {
    void ctx
    const ports = await this.#portsOf(instance)
    for (const p of ports) {
      if (preserve.includes(p.id)) await this.#unbind(p.id)
      else await this.#plugin.core.deletePort(SYSTEM, p.id)
    }
    return ports.length
  }

  /** Releases one port of an instance (os-interface detach): deleted, or unbound when preserved. */
  async deallocatePortForInstance(instance: InstanceRef, portId: string, preserve: boolean): Promise<void> {
    const port = await this.#plugin.store.get('ports', portId)
    if (!port || !isPortOf(port, instance)) return
    if (preserve) await this.#unbind(portId)
    else await this.#plugin.core.deletePort(SYSTEM, portId)
  }

  /** The instance's NICs as they are now. */
  async listPortsForInstance(ctx: RequestContext, instance: InstanceRef): Promise<Vif[]> {
    void ctx
    return this.networkInfo(instance)
  }

  /**
   * The instance's network info as Neutron has it now (ports, fixed IPs,
   * associated floating IPs), keeping the compute-side facts of `previous`
   * (preserve-on-delete, tags) for ports it already knew.
   */
  async networkInfo(instance: InstanceRef, previous: readonly Vif[] = []): Promise<Vif[]> {
    const ports = await this.#portsOf(instance)
    const known = new Map(previous.map((v) => [v.portId, v]))
    const vifs = await this.#vifs(ports, (p) => known.get(p.id)?.preserveOnDelete ?? false)
    return vifs.map((v) => ({ ...v, tag: known.get(v.portId)?.tag ?? v.tag ?? null }))
  }

  /**
   * Instances (device ids of compute-owned ports) among these ports. A
   * device id is only a claim: callers match it against the instance's
   * project (`InstanceRef`) before they read the instance's ports.
   */
  async instancesOfPorts(portIds: readonly string[]): Promise<string[]> {
    if (portIds.length === 0) return []
    const ports = await this.#plugin.store.list('ports', { id: portIds })
    return [
      ...new Set(
        ports
          .filter((p) => String(p.device_owner ?? '').startsWith(COMPUTE_DEVICE_OWNER_PREFIX) && p.device_id)
          .map((p) => p.device_id as string),
      ),
    ]
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

  // ---- what the compute API checks before a build (Nova's validate_networks) ----

  /**
   * Nova's `validate_networks` and `_check_requested_secgroups`: the
   * requested networks exist and have subnets, ports exist and are free,
   * fixed IPs are free, `auto` finds exactly one network (or none, then the
   * server has no NIC, as Nova without auto-allocation), and the security
   * groups exist in the project. Returns the requests with the ports'
   * networks filled in.
   */
  async validateNetworks(
    ctx: RequestContext,
    requested: 'auto' | 'none' | readonly NicRequest[] | undefined,
    securityGroups: readonly string[],
  ): Promise<void> {
    const caller = callerOf(ctx)
    if (securityGroups.length) await this.#groups(caller, securityGroups)
    if (requested === 'none') return
    if (requested === undefined || requested === 'auto' || requested.length === 0) {
      const nics = await this.#nics(caller, 'auto')
      if (nics.length === 0 && requested === 'auto') {
        throw new Invalid(`Unable to automatically allocate a network for project ${caller.projectId}`)
      }
      return
    }
    for (const nic of requested) {
      if (nic.portId) await this.#usablePort(caller, nic.portId, false)
      else if (nic.networkId) await this.#usableNetwork(caller, nic.networkId, nic.address, false)
    }
  }

  /** What Nova checks before an interface attach: the port or network exists and is usable (404/409). */
  async checkAttachable(
    ctx: RequestContext,
    nic: { networkId?: string | undefined; portId?: string | undefined; address?: string | undefined },
  ): Promise<void> {
    const caller = callerOf(ctx)
    if (nic.portId) await this.#usablePort(caller, nic.portId, true)
    else if (nic.networkId) await this.#usableNetwork(caller, nic.networkId, nic.address, true)
  }

  /** Whether any port is bound to the instance (one indexed read). */
  async hasPorts(instance: InstanceRef): Promise<boolean> {
    return (await this.#portsOf(instance)).length > 0
  }

  /** The instance's ports as Neutron shows them (os-interface list). */
  async portsOfInstance(instance: InstanceRef): Promise<Doc[]> {
    return this.#portsOf(instance)
  }

  /** The ports of the instance: its `device_id` on ports of its own project (one indexed read). */
  #portsOf(instance: InstanceRef): Promise<Doc[]> {
    return this.#plugin.store.list('ports', { device_id: instance.uuid, project_id: instance.projectId })
  }

  /** A port the caller may see; Nova's PortNotFound (404) otherwise. */
  async portForCaller(ctx: RequestContext, portId: string): Promise<Doc> {
    try {
      return await this.#plugin.core.getPort(callerOf(ctx), portId)
    } catch (err) {
      if (err instanceof NotFound) throw new NotFound(`Port id ${portId} could not be found.`)
      throw err
    }
  }

  /** The network an interface attach or a create names: visible, with a subnet, address free and valid. */
  async #usableNetwork(caller: Caller, networkId: string, address: string | undefined, attach: boolean) {
    const net = await this.#plugin.store.get('networks', networkId)
    const visible =
      net !== undefined && (caller.isAdmin || net.project_id === caller.projectId || net.shared === true)
    if (!visible) throw new (attach ? NotFound : Invalid)(`Network ${networkId} could not be found.`)
    const subnets = await this.#plugin.store.list('subnets', { network_id: networkId })
    if (subnets.length === 0) {
      throw new Invalid(`Network ${networkId} requires a subnet in order to boot instances on.`)
    }
    if (address === undefined) return
    if (canonicalIp(address) === undefined) throw new Invalid(`Invalid fixed IP address (${address})`)
    const inSubnet = subnets.some((s) => {
      const cidr = parseCidr(s.cidr as string)
      return cidr !== undefined && cidrContains(cidr, address)
    })
    if (!inSubnet) {
      throw new Invalid(
        `Fixed IP address ${address} is not valid on network ${networkId}: it is in no subnet.`,
      )
    }
    const taken = await this.#plugin.core.listPorts(SYSTEM, { network_id: networkId })
    const holder = taken.find((p) =>
      (p.fixed_ips as { ip_address: string }[]).some((f) => f.ip_address === address),
    )
    if (holder) {
      // Nova's create answers FixedIpAlreadyInUse with 400, its interface attach with 409.
      throw new (attach ? Conflict : Invalid)(
        `Fixed IP address ${address} is already in use on instance ${(holder.device_id as string) || ''}.`,
      )
    }
  }

  async #usablePort(caller: Caller, portId: string, attach: boolean): Promise<Doc> {
    let port: Doc
    try {
      port = await this.#plugin.core.getPort(caller, portId)
    } catch (err) {
      if (err instanceof NotFound) {
        throw new (attach ? NotFound : Invalid)(`Port id ${portId} could not be found.`)
      }
      throw err
    }
    if (port.device_id) throw new Conflict(`Port ${portId} is still in use.`)
    if ((port.fixed_ips as unknown[]).length === 0) {
      throw new Invalid(`Port ${portId} requires a FixedIP in order to be used.`)
    }
    return port
  }

  // ---- security groups of an instance ----

  /** The groups of the instance's ports (Nova's get_instance_security_groups, detailed). */
  async instanceSecurityGroups(instance: InstanceRef): Promise<Doc[]> {
    const ports = await this.#portsOf(instance)
    const ids = [...new Set(ports.flatMap((p) => p.security_groups as string[]))]
    const groups = await Promise.all(ids.map((id) => this.#plugin.store.get('security_groups', id)))
    return groups.filter((g): g is Doc => g !== undefined)
  }

  /** Nova's add_to_instance: the group goes on every port of the instance. */
  async addSecurityGroup(ctx: RequestContext, instance: InstanceRef, name: string): Promise<void> {
    const caller = callerOf(ctx)
    const groupId = await this.#groupForAction(caller, name)
    const ports = await this.#instancePorts(instance)
    for (const port of ports) {
      if (port.port_security_enabled === false || (port.fixed_ips as unknown[]).length === 0) {
        throw new Invalid(
          'Network requires port_security_enabled and subnet associated in order to apply security groups.',
        )
      }
    }
    for (const port of ports) {
      const groups = port.security_groups as string[]
      if (groups.includes(groupId)) continue
      await this.#plugin.core.updatePort(SYSTEM, port.id, { security_groups: [...groups, groupId] })
    }
  }

  /** Nova's remove_from_instance: 404 unless some port had the group. */
  async removeSecurityGroup(ctx: RequestContext, instance: InstanceRef, name: string): Promise<void> {
    const caller = callerOf(ctx)
    const groupId = await this.#groupForAction(caller, name)
    const ports = await this.#instancePorts(instance)
    let found = false
    for (const port of ports) {
      const groups = port.security_groups as string[]
      if (!groups.includes(groupId)) continue
      await this.#plugin.core.updatePort(SYSTEM, port.id, {
        security_groups: groups.filter((g) => g !== groupId),
      })
      found = true
    }
    if (!found) {
      throw new NotFound(`Security group ${name} not associated with the instance ${instance.uuid}`)
    }
  }

  async #groupForAction(caller: Caller, name: string): Promise<string> {
    try {
      const [id] = (await this.#groups(caller, [name]))!
      return id!
    } catch (err) {
      if (err instanceof Invalid) {
        throw new NotFound(`Security group ${name} is not found for project ${caller.projectId}`)
      }
      throw err
    }
  }

  async #instancePorts(instance: InstanceRef): Promise<Doc[]> {
    const ports = await this.#portsOf(instance)
    if (ports.length === 0) {
      throw new NotFound(`instance_id ${instance.uuid} could not be found as device id on any ports`)
    }
    return ports
  }

  // ---- helpers ----

  /**
   * Creates the NIC's port (or adopts the given one) bound to the build
   * host. The port is made with the project's rights (the network must be
   * visible to the caller) plus the admin-only binding, as Nova's admin
   * client sets `binding:host_id`.
   */
  async #bindNic(
    caller: Caller,
    req: Omit<AllocateRequest, 'requestedNetworks'>,
    nic: NicRequest,
    groups: readonly string[] | undefined,
  ): Promise<Doc> {
    const owner = `${COMPUTE_DEVICE_OWNER_PREFIX}${req.availabilityZone ?? DEFAULT_AVAILABILITY_ZONE}`
    const binding = { device_id: req.instanceUuid, device_owner: owner, 'binding:host_id': req.host }
    if (nic.portId) {
      const port = await this.#plugin.core.getPort(caller, nic.portId)
      if (port.device_id && !isPortOf(port, { uuid: req.instanceUuid, projectId: caller.projectId })) {
        throw new Conflict(`Port ${nic.portId} is still in use.`)
      }
      // Nova's PortNotUsable: a port of another project (visible to the owner of its network) would
      // not be the instance's port, since ports are listed by the instance's project.
      if (port.project_id !== caller.projectId) {
        throw new Invalid(`Port ${nic.portId} not usable for instance ${req.instanceUuid}.`)
      }
      return this.#plugin.core.updatePort(SYSTEM, nic.portId, binding)
    }
    const net = await this.#plugin.store.get('networks', nic.networkId ?? '')
    const visible =
      net !== undefined && (caller.isAdmin || net.project_id === caller.projectId || net.shared === true)
    if (!visible) throw new NotFound(`Network ${nic.networkId ?? ''} could not be found.`)
    return this.#plugin.core.createPort(
      { projectId: caller.projectId, isAdmin: true, requestId: caller.requestId },
      {
        network_id: nic.networkId,
        ...binding,
        ...(nic.address ? { fixed_ips: [{ ip_address: nic.address }] } : {}),
        ...(nic.macAddress ? { mac_address: nic.macAddress } : {}),
        ...(groups ? { security_groups: groups } : {}),
        project_id: caller.projectId,
      },
    )
  }

  async #unbind(portId: string): Promise<void> {
    await this.#plugin.core.updatePort(SYSTEM, portId, {
      device_id: '',
      device_owner: '',
      'binding:host_id': '',
    })
  }

  #caller(ctx: RequestContext, projectId: string | undefined): Caller {
    const caller = callerOf(ctx)
    if (projectId && projectId !== caller.projectId) return { projectId, isAdmin: caller.isAdmin }
    return caller
  }

  /**
   * Resolves `auto` to the project's only usable network, or else the only
   * shared one, as Nova does without auto-allocation; none: no NIC; several:
   * 409 NetworkAmbiguous.
   */
  async #nics(caller: Caller, requested: AllocateRequest['requestedNetworks']): Promise<NicRequest[]> {
    if (requested === 'none') return []
    if (requested !== 'auto') return [...requested]
    const nets = (await this.#plugin.store.list('networks')).filter((n) => n['router:external'] !== true)
    const own = nets.filter((n) => n.project_id === caller.projectId && n.shared !== true)
    const candidates = own.length ? own : nets.filter((n) => n.shared === true)
    if (candidates.length === 0) return []
    if (candidates.length > 1) {
      throw new Conflict('Multiple possible networks found, use a Network ID to be more specific.')
    }
    return [{ networkId: candidates[0]!.id }]
  }

  /** Group names (or ids) to ids within the project, as Nova resolves them (400 when unknown). */
  async #groups(caller: Caller, names: readonly string[] | undefined): Promise<string[] | undefined> {
    if (!names || names.length === 0) return undefined
    const groups = await this.#plugin.securityGroups.list(caller)
    return names.map((name) => {
      const byId = groups.find((g) => g.id === name)
      const byName = groups.filter((g) => g.name === name && g.project_id === caller.projectId)
      if (byId) return byId.id
      if (byName.length === 1) return byName[0]!.id
      if (byName.length > 1) {
        throw new Conflict(
          `Multiple security_group matches found for name '${name}', use an ID to be more specific.`,
        )
      }
      throw new Invalid(`Unable to find security_group with name or id '${name}'`)
    })
  }

  async #vifs(ports: readonly Doc[], preserve: (p: Doc) => boolean): Promise<Vif[]> {
    return Promise.all(ports.map((p) => this.#vif(p, preserve(p))))
  }

  async #vif(port: Doc, preserve: boolean, tag?: string): Promise<Vif> {
    const [net, floating] = await Promise.all([
      this.#plugin.store.get('networks', port.network_id as string),
      this.#plugin.store.list('floating_ips', { port_id: port.id }),
    ])
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
        floatingIps: floating
          .filter((fip) => fip.fixed_ip_address === f.ip_address)
          .map((fip) => fip.floating_ip_address as string),
      })),
      devname: tapName(port.id),
      bridge: bridgeName(port.network_id as string),
      mtu: (net?.mtu as number | undefined) ?? 1500,
      preserveOnDelete: preserve,
      tag: tag ?? null,
    }
  }
}

/** Whether the port belongs to the instance: its device id, in the instance's project. */
function isPortOf(port: Doc, instance: InstanceRef): boolean {
  return port.device_id === instance.uuid && port.project_id === instance.projectId
}
