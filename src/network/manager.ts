import type { Config } from '../common/config.ts'
import type { RequestContext } from '../common/context.ts'
import { Conflict, Invalid, NimbusError, registerErrorClass } from '../common/errors.ts'
import { logger } from '../common/log.ts'
import {
  fixedIpsOf,
  insertAllocation,
  releaseAllocations,
  usedAddresses,
} from '../compute/db/network-allocations.ts'
import type { FixedIp, NetworkRequest } from '../compute/objects.ts'
import type { Database } from '../db/index.ts'
import { RpcServer } from '../rpc/index.ts'
import type { Runtime } from '../service/runtime.ts'
import type { Service } from '../service/service.ts'
import { defaultNetworkId, NETWORK_TOPIC, type AllocateArgs } from './rpcapi.ts'

const log = logger('network.manager')

/**
 * The network manager as compute uses it until the networking issue wires
 * compute to Neutron ports: records only. Each NIC of an instance gets a
 * fixed IP from the default network's range (`[compute] fixed_range`) and
 * the MAC the compute API chose; nothing is plugged. Allocation is
 * idempotent per instance and released on delete and on every build
 * failure.
 */

/** The range has no free address left (Nova's NoMoreFixedIps). */
export class NoMoreFixedIps extends NimbusError {
  override readonly status: number = 409
}
registerErrorClass(NoMoreFixedIps)

/** Times an allocation retries after losing a race for an address. */
const ALLOCATE_RETRIES_MAX = 8

interface Ipv4Range {
  readonly first: number
  readonly last: number
}

export class NetworkManager {
  readonly #db: Database
  readonly #label: string
  readonly #networkId: string
  readonly #range: Ipv4Range

  constructor(db: Database, config: Config) {
    this.#db = db
    this.#label = config.compute.defaultNetworkLabel
    this.#networkId = defaultNetworkId(this.#label)
    this.#range = hostRange(config.compute.fixedRange)
  }

  endpoints(): Record<string, (ctx: RequestContext, args: any) => Promise<unknown>> {
    return {
      allocate_for_instance: (ctx, a: AllocateArgs) => this.allocateForInstance(a),
      deallocate_for_instance: (ctx, a: { instanceUuid: string }) =>
        this.deallocateForInstance(a.instanceUuid),
    }
  }

  /** Fixed IPs for each requested NIC (none for `none`); the existing ones if already allocated. */
  async allocateForInstance(args: AllocateArgs): Promise<FixedIp[]> {
    if (args.requestedNetworks === 'none') return []
    const existing = (await fixedIpsOf(this.#db.kysely, [args.instanceUuid])).get(args.instanceUuid) ?? []
    if (existing.length > 0) return existing
    const nics: readonly NetworkRequest[] = args.requestedNetworks === 'auto' ? [{}] : args.requestedNetworks
    const out: FixedIp[] = []
    try {
      for (const nic of nics) out.push(await this.#allocateOne(args.instanceUuid, nic))
    } catch (err) {
      await releaseAllocations(this.#db.kysely, args.instanceUuid)
      throw err
    }
    log.debug({ instance: args.instanceUuid, addresses: out.map((ip) => ip.address) }, 'fixed IPs allocated')
    return out
  }

  async deallocateForInstance(instanceUuid: string): Promise<void> {
    const released = await releaseAllocations(this.#db.kysely, instanceUuid)
    if (released) log.debug({ instance: instanceUuid, released }, 'fixed IPs released')
  }

  async #allocateOne(instanceUuid: string, nic: NetworkRequest): Promise<FixedIp> {
    if (nic.networkId !== undefined && nic.networkId !== this.#networkId) {
      throw new Invalid(`Network ${nic.networkId} could not be found.`)
    }
    for (let attempt = 0; attempt < ALLOCATE_RETRIES_MAX; attempt++) {
      const address = nic.address ?? (await this.#freeAddress())
      if (nic.address !== undefined) this.#checkInRange(nic.address)
      try {
        return await insertAllocation(this.#db.kysely, {
          instanceUuid,
          networkId: this.#networkId,
          networkLabel: this.#label,
          address,
          macAddress: nic.macAddress ?? randomMacAddress(),
          version: 4,
        })
      } catch (err) {
        if (!(err instanceof Conflict)) throw err
        if (nic.address !== undefined) {
          throw new Conflict(`Fixed IP address ${nic.address} is already in use on instance.`)
        }
        // Another allocation took this address first: pick again.
      }
    }
    throw new NoMoreFixedIps(`No fixed IP addresses available for network: ${this.#networkId}`)
  }

  async #freeAddress(): Promise<string> {
    const used = await usedAddresses(this.#db.kysely, this.#networkId)
    for (let n = this.#range.first; n <= this.#range.last; n++) {
      const address = ipv4ToString(n)
      if (!used.has(address)) return address
    }
    throw new NoMoreFixedIps(`No fixed IP addresses available for network: ${this.#networkId}`)
  }

  #checkInRange(address: string): void {
    const n = ipv4ToNumber(address)
    if (n === undefined || n < this.#range.first || n > this.#range.last) {
      throw new Invalid(`Fixed IP address ${address} is not valid on network ${this.#networkId}.`)
    }
  }
}

/** The addresses guests may get: the range minus network, gateway (.1) and broadcast addresses. */
export function hostRange(cidr: string): Ipv4Range {
  const [addr, bitsText] = cidr.split('/') as [string, string | undefined]
  const base = ipv4ToNumber(addr)
  const bits = Number(bitsText)
  if (base === undefined || !Number.isInteger(bits) || bits < 8 || bits > 29) {
    throw new Invalid(`fixed_range ${cidr} is not an IPv4 CIDR between /8 and /29`)
  }
  const size = 2 ** (32 - bits)
  const network = base - (base % size)
  return { first: network + 2, last: network + size - 2 }
}

function ipv4ToNumber(address: string): number | undefined {
  const parts = address.split('.')
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0)
}

function ipv4ToString(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.')
}

function randomMacAddress(): string {
  const byte = () =>
    Math.floor(Math.random() * 256)
      .toString(16)
      .padStart(2, '0')
  return `fa:16:3e:${byte()}:${byte()}:${byte()}`
}

/** The network manager's RPC side: one `network` queue any manager may serve. */
class NetworkRpcService implements Service {
  readonly name = 'network-rpc'
  readonly #server: RpcServer

  constructor(rt: Runtime) {
    const manager = new NetworkManager(rt.db, rt.config)
    this.#server = new RpcServer(
      rt.transport,
      { topic: NETWORK_TOPIC, server: rt.config.host },
      manager.endpoints(),
    )
  }

  async start(): Promise<void> {
    await this.#server.start()
  }

  async stop(): Promise<void> {
    await this.#server.stop()
  }
}

export function createNetworkRpcService(rt: Runtime): Service {
  return new NetworkRpcService(rt)
}
