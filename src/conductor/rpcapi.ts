import type { RequestContext } from '../common/context.ts'
import type { ImageMeta } from '../objects/image.ts'
import type {
  ComputeNodeReport,
  EventOp,
  FixedIp,
  Instance,
  InstanceUpdates,
  VifInfo,
} from '../compute/objects.ts'
import { RpcClient, type Transport } from '../rpc/index.ts'

/** The conductor's RPC topic (one shared queue: any conductor takes the work). */
export const CONDUCTOR_TOPIC = 'conductor'

/** Where a build may go, from the create request. */
export interface PlacementHints {
  readonly availabilityZone?: string | undefined
  readonly schedulerHints: Readonly<Record<string, string | readonly string[]>>
  /** `availability_zone=zone:host[:node]` (admin): skips the filters. */
  readonly forceHost?: string | undefined
  readonly forceNode?: string | undefined
  /** 2.74 `host` / `hypervisor_hostname` (admin): the filters still run. */
  readonly requestedHost?: string | undefined
  readonly requestedNode?: string | undefined
}

/** `instance_info_cache_update`: what the network service found for one instance. */
export interface InfoCacheUpdateArgs {
  readonly instanceUuid: string
  readonly networkInfo: readonly VifInfo[]
  /** The names of its ports' security groups; undefined leaves them as they are. */
  readonly securityGroups?: readonly string[] | undefined
}

/** An instance and its project. */
export interface InstanceProject {
  readonly uuid: string
  readonly projectId: string
}

/** What `build_instances` needs: the instances were recorded by the API, in BUILD/scheduling. */
export interface BuildRequest {
  readonly instanceUuids: readonly string[]
  readonly image: ImageMeta
  readonly placement: PlacementHints
  readonly adminPassword?: string | undefined
  /** 1 on the first try; each reschedule adds one. */
  readonly attempt: number
  /** Hosts a previous attempt failed on (reschedule). */
  readonly ignoreHosts: readonly string[]
  /** Why the previous attempt failed, for the fault when attempts run out. */
  readonly lastFailure?: string | undefined
}

/** `unshelve_instance`: the API recorded the action and set UNSHELVING. */
export interface UnshelveRequest {
  readonly instanceUuid: string
  /** The image endpoint (from the catalog) the host deletes the shelved image through. */
  readonly imageApiUrl: string
  /** 2.77 zone to schedule into; undefined: any. */
  readonly availabilityZone?: string | undefined
  /** 2.91 host (admin). */
  readonly host?: string | undefined
}

export interface InstanceUpdateArgs {
  readonly uuid: string
  readonly updates: InstanceUpdates
  readonly expectedTaskState?: readonly (string | null)[] | undefined
  readonly expectedVmState?: readonly string[] | undefined
}

export interface EventArgs {
  readonly instanceUuid: string
  readonly event: string
  readonly host: string | null
}

export interface EventFinishArgs {
  readonly instanceUuid: string
  readonly event: string
  readonly result: 'Success' | 'Error'
  readonly traceback?: string | null | undefined
  readonly details?: string | null | undefined
}

export interface FaultArgs {
  readonly instanceUuid: string
  readonly code: number
  readonly message: string
  readonly details?: string | null | undefined
  readonly host?: string | null | undefined
}

export interface ServiceRef {
  readonly host: string
  readonly binary: string
  readonly topic: string | null
}

export interface ServiceState {
  readonly id: number
  readonly uuid: string
  readonly disabled: boolean
  readonly forcedDown: boolean
  readonly reportCount: number
}

/**
 * A step transition of a host's work on an instance, done at once: the
 * event operations that happened since the last transition (each with its
 * time), a guarded instance update (if any), and the operations that follow
 * it (the next step's start). If the update is refused (the instance was
 * deleted or moved on), `next` is not applied and the refusal is thrown.
 */
export interface StepArgs {
  readonly instanceUuid: string
  readonly host: string | null
  readonly events?: readonly EventOp[] | undefined
  readonly update?: Omit<InstanceUpdateArgs, 'uuid'> | undefined
  readonly next?: readonly EventOp[] | undefined
}

/** A server build that ended on a host: whether it failed there (for the build failure weigher). */
export interface BuildResultArgs {
  readonly host: string
  readonly node: string
  readonly failed: boolean
}

/** Every fixed IP the network records hold for an instance (to unplug at delete). */
export type FixedIpList = readonly FixedIp[]

/**
 * Client side of the conductor. Two groups of methods, as in Nova:
 * the compute task API (orchestration: `build_instances`, cast) and the
 * object proxy compute hosts use instead of the database (all calls: the
 * host needs the outcome before its next step).
 */
export class ConductorRpcApi {
  readonly #client: RpcClient

  constructor(transport: Transport) {
    this.#client = new RpcClient(transport, { topic: CONDUCTOR_TOPIC })
  }

  // ---- compute task API ----

  /** cast: the API answers 202 without waiting for scheduling; reschedules cast it again. */
  buildInstances(ctx: RequestContext, request: BuildRequest): Promise<void> {
    return this.#client.cast(ctx, 'build_instances', request)
  }

  /** cast: unshelve answers 202; the conductor schedules an offloaded server, then its host spawns it. */
  unshelveInstance(ctx: RequestContext, request: UnshelveRequest): Promise<void> {
    return this.#client.cast(ctx, 'unshelve_instance', request)
  }

  // ---- object proxy for compute hosts (all calls) ----

  /** call: a guarded instance update (Nova's `instance.save(expected_task_state=...)`). */
  instanceUpdate(ctx: RequestContext, args: InstanceUpdateArgs): Promise<Instance> {
    return this.#client.call<Instance>(ctx, 'instance_update', args)
  }

  /** call: one instance (read_deleted when asked). */
  instanceGet(ctx: RequestContext, uuid: string, readDeleted = false): Promise<Instance> {
    return this.#client.call<Instance>(ctx, 'instance_get', { uuid, readDeleted })
  }

  /** call: instances allocated to a host (resource tracker start-up, power sync). */
  instancesOnHost(ctx: RequestContext, host: string): Promise<Instance[]> {
    return this.#client.call<Instance[]>(ctx, 'instances_on_host', { host })
  }

  /** call: marks an instance deleted once its host has destroyed it (with the delete's events). */
  instanceDestroy(ctx: RequestContext, uuid: string, events: readonly EventOp[] = []): Promise<Instance> {
    return this.#client.call<Instance>(ctx, 'instance_destroy', { uuid, events })
  }

  /**
   * call: one step transition (events and a guarded update in one
   * transaction); resolves with the updated instance, or null without an update.
   */
  instanceStep(ctx: RequestContext, args: StepArgs): Promise<Instance | null> {
    return this.#client.call<Instance | null>(ctx, 'instance_step', args)
  }

  /** call: records the start of a step of the current request's action. */
  actionEventStart(ctx: RequestContext, args: EventArgs): Promise<void> {
    return this.#client.call<void>(ctx, 'action_event_start', args)
  }

  /** call: records the end of a step, with its result (and why, on error). */
  actionEventFinish(ctx: RequestContext, args: EventFinishArgs): Promise<void> {
    return this.#client.call<void>(ctx, 'action_event_finish', args)
  }

  /** call: marks the current request's action on an instance finished. */
  actionFinish(ctx: RequestContext, instanceUuid: string): Promise<void> {
    return this.#client.call<void>(ctx, 'action_finish', { instanceUuid })
  }

  /** call: records why an instance failed (its `fault`). */
  instanceFaultCreate(ctx: RequestContext, args: FaultArgs): Promise<void> {
    return this.#client.call<void>(ctx, 'instance_fault_create', args)
  }

  // ---- the instance network info cache, for the network service (all calls) ----

  /** call: an instance's cached network info (Nova's instance_info_caches); empty without one. */
  infoCacheGet(ctx: RequestContext, instanceUuid: string): Promise<VifInfo[]> {
    return this.#client.call<VifInfo[]>(ctx, 'instance_info_cache_get', { instanceUuid })
  }

  /**
   * call: replaces an instance's network info with what the network service
   * found, and its `security_groups` with its ports' groups when given. The
   * network service answers the caller only after this: a server never
   * shows addresses older than its ports.
   */
  infoCacheUpdate(ctx: RequestContext, args: InfoCacheUpdateArgs): Promise<void> {
    return this.#client.call<void>(ctx, 'instance_info_cache_update', args)
  }

  /** call: the project of each live instance of `uuids` (a port's device id is whatever its owner wrote). */
  instanceProjects(ctx: RequestContext, uuids: readonly string[]): Promise<InstanceProject[]> {
    return this.#client.call<InstanceProject[]>(ctx, 'instance_projects', { uuids })
  }

  /** call: the resource tracker's report of one node. */
  computeNodeUpdate(ctx: RequestContext, report: ComputeNodeReport): Promise<void> {
    return this.#client.call<void>(ctx, 'compute_node_update', { report })
  }

  /** call: counts a failed (or resets after a successful) build on a node. */
  recordBuildResult(ctx: RequestContext, args: BuildResultArgs): Promise<void> {
    return this.#client.call<void>(ctx, 'record_build_result', args)
  }

  /** call: registers a service (host, binary) and returns its row. */
  serviceCreate(ctx: RequestContext, service: ServiceRef): Promise<ServiceState> {
    return this.#client.call<ServiceState>(ctx, 'service_create', service)
  }

  /** call: one heartbeat (Nova's servicegroup DB driver `report_state`). */
  serviceHeartbeat(ctx: RequestContext, service: ServiceRef): Promise<ServiceState> {
    return this.#client.call<ServiceState>(ctx, 'service_heartbeat', service)
  }
}
