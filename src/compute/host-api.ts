import type { ComputeConfig } from '../common/config.ts'
import { limits } from '../common/limits.ts'
import type { Database } from '../db/index.ts'
import { listServices, type ServiceRow } from '../db/services.ts'
import { hostAvailabilityZones } from './db/aggregates.ts'
import { getComputeNode, listComputeNodes, pageComputeNodes } from './db/compute-nodes.ts'
import { instancesOnHost } from './db/instances.ts'
import type { ComputeNode, Instance } from './objects.ts'

/**
 * Nova's HostAPI and servicegroup: services with their up/down state and
 * zone, compute nodes, availability zones, and a server's host status.
 */

/** Nova's binary names, as os-services shows them. */
export const Binary = {
  COMPUTE: 'nova-compute',
  CONDUCTOR: 'nova-conductor',
  SCHEDULER: 'nova-scheduler',
  NETWORK: 'nova-network',
  API: 'nova-osapi_compute',
} as const

/** Services the os-services and AZ APIs leave out (Nova's api_services). */
const API_BINARIES: ReadonlySet<string> = new Set([Binary.API, 'nova-metadata'])

/** Nova's HostStatus values (2.16 `host_status`). */
export const HostStatus = {
  UP: 'UP',
  DOWN: 'DOWN',
  MAINTENANCE: 'MAINTENANCE',
  UNKNOWN: 'UNKNOWN',
  NONE: '',
} as const

export interface ServiceView extends ServiceRow {
  readonly up: boolean
  readonly zone: string
}

export class HostApi {
  readonly #db: Database
  readonly #config: ComputeConfig
  #computeServices: { readonly atMs: number; readonly byHost: Promise<Map<string, ServiceView>> } | undefined

  constructor(db: Database, config: ComputeConfig) {
    this.#db = db
    this.#config = config
  }

  /** Nova's servicegroup DB driver: up when the last heartbeat is recent and not forced down. */
  isUp(service: ServiceRow, nowMs = Date.now()): boolean {
    if (service.forced_down) return false
    const last = service.last_seen_at ?? service.updated_at ?? service.created_at
    return nowMs - Date.parse(last) <= this.#config.serviceDownTimeS * 1000
  }

  /**
   * The zone a service is in: a compute host in its aggregates' zone (or
   * the default zone), the other services in the internal one.
   */
  zoneOf(service: ServiceRow, aggregateZones?: ReadonlyMap<string, string>): string {
    return service.binary === Binary.COMPUTE
      ? (aggregateZones?.get(service.host) ?? this.#config.defaultAvailabilityZone)
      : this.#config.internalServiceAvailabilityZone
  }

  /** Every service but the API ones, with state and zone; optionally filtered. */
  async services(
    filter: { host?: string | undefined; binary?: string | undefined } = {},
  ): Promise<ServiceView[]> {
    const now = Date.now()
    const rows = await listServices(this.#db.kysely, filter)
    const zones = await hostAvailabilityZones(this.#db.kysely)
    return rows
      .filter((s) => !API_BINARIES.has(s.binary))
      .map((s) => ({ ...s, up: this.isUp(s, now), zone: this.zoneOf(s, zones) }))
  }

  /** The nova-compute service of `host`, if registered. */
  async computeService(host: string): Promise<ServiceView | undefined> {
    return (await this.services({ host, binary: Binary.COMPUTE }))[0]
  }

  /** Compute services by host, reused for `limits.computeServiceListCacheMs` (server views, delete routing). */
  recentComputeServices(): Promise<Map<string, ServiceView>> {
    const now = Date.now()
    if (!this.#computeServices || now - this.#computeServices.atMs > limits.computeServiceListCacheMs) {
      const byHost = this.services({ binary: Binary.COMPUTE }).then(
        (list) => new Map(list.map((s) => [s.host, s])),
      )
      this.#computeServices = { atMs: now, byHost }
      byHost.catch(() => (this.#computeServices = undefined))
    }
    return this.#computeServices.byHost
  }

  /** `host_status` of each instance (2.16), from its host's compute service. */
  async hostStatuses(instances: readonly Instance[]): Promise<Map<string, string>> {
    const computes = await this.recentComputeServices()
    const out = new Map<string, string>()
    for (const i of instances) out.set(i.uuid, hostStatusOf(i, computes.get(i.host ?? '')))
    return out
  }

  /**
   * Available zones (with at least one enabled compute service) and zones
   * whose every compute service is disabled, as Nova's
   * `get_availability_zones` reports them. The internal zone is included.
   */
  async availabilityZones(): Promise<{ available: string[]; unavailable: string[] }> {
    const services = await this.services()
    const available = new Set<string>()
    const disabled = new Set<string>()
    for (const s of services) {
      if (s.disabled) disabled.add(s.zone)
      else available.add(s.zone)
    }
    return {
      available: [...available].sort(),
      unavailable: [...disabled].filter((z) => !available.has(z)).sort(),
    }
  }

  async computeNodes(): Promise<ComputeNode[]> {
    return listComputeNodes(this.#db.kysely)
  }

  async pageComputeNodes(limit: number | undefined, marker: string | undefined, markerIsUuid: boolean) {
    return pageComputeNodes(this.#db.kysely, { limit, marker, markerIsUuid })
  }

  async computeNode(id: string, byUuid: boolean): Promise<ComputeNode> {
    return getComputeNode(this.#db.kysely, id, byUuid)
  }

  async instancesOnHost(host: string): Promise<Instance[]> {
    return instancesOnHost(this.#db.kysely, host)
  }
}

function hostStatusOf(instance: Instance, service: ServiceView | undefined): string {
  if (!instance.host || !service) return HostStatus.NONE
  if (service.forced_down) return HostStatus.DOWN
  if (service.disabled) return HostStatus.MAINTENANCE
  return service.up ? HostStatus.UP : HostStatus.UNKNOWN
}
