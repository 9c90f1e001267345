import type { RequestContext } from '../common/context.ts'
import { RpcClient, type Transport } from '../rpc/index.ts'
import type { DecisionRecord, RequestSpec } from './types.ts'

/** The scheduler's RPC topic (one shared queue: any scheduler answers). */
export const SCHEDULER_TOPIC = 'scheduler'

/** One chosen destination: the host's queue name and the hypervisor node on it. */
export interface Destination {
  readonly host: string
  readonly node: string
  /** The host's availability zone (its aggregates' zone or the default), for a server that asked for none. */
  readonly zone?: string | undefined
}

/** A host (and node) the request asked for: admin-forced or 2.74's requested destination. */
export interface DestinationRequest {
  readonly host?: string | undefined
  readonly node?: string | undefined
  /** The zone an instance gets when it asked for none (recorded with its host). */
  readonly defaultZone?: string | undefined
  /**
   * A resize or cold migration: the chosen host is recorded on this
   * migration (the instance keeps its host until the move finishes).
   */
  readonly migrationUuid?: string | undefined
}

export interface SelectDestinationsResult {
  /** One destination per `spec.instanceUuids`, in that order. */
  readonly destinations: readonly Destination[]
  readonly record: DecisionRecord
}

/**
 * Client side of the scheduler (Nova's SchedulerAPI / query client). The
 * scheduler also allocates what it picks (it records the host on each
 * instance), so two concurrent requests never pick the same last slot.
 */
export class SchedulerRpcApi {
  readonly #client: RpcClient

  constructor(transport: Transport) {
    this.#client = new RpcClient(transport, { topic: SCHEDULER_TOPIC })
  }

  /**
   * call: the conductor needs the hosts back. Rejects with NoValidHost
   * (message with each rejecting filter's numbers, `detail.decisionRecord`).
   */
  selectDestinations(
    ctx: RequestContext,
    spec: RequestSpec,
    destination: DestinationRequest = {},
  ): Promise<SelectDestinationsResult> {
    return this.#client.call<SelectDestinationsResult>(ctx, 'select_destinations', { spec, destination })
  }
}
