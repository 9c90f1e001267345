import type { RequestContext } from '../common/context.ts'
import { CONDUCTOR_TOPIC, type FaultArgs, type InstanceUpdateArgs } from '../conductor/rpcapi.ts'
import type { ExcludedHost } from '../scheduler/types.ts'
import { RpcClient, type Transport } from '../rpc/index.ts'
import type { ImageMeta } from '../objects/image.ts'
import type { Migration, MigrationUpdates } from './migration.ts'
import type { EventOp, FlavorSnapshot, Instance } from './objects.ts'
import { COMPUTE_TOPIC } from './rpcapi.ts'

/**
 * The RPC methods of moves (resize, cold migration, evacuation), on the
 * conductor and on compute hosts. Nova's names; every host step is a cast
 * (the API answered already; each host reports through the conductor), the
 * hosts' database access is a call.
 */

/** `migrate_server`: what the API recorded and the conductor needs to schedule the move. */
export interface MigrateServerArgs {
  readonly instanceUuid: string
  readonly migrationUuid: string
  readonly newFlavor: FlavorSnapshot
  /** Hosts where an earlier attempt of this move failed (its claim did not fit). */
  readonly ignoreHosts: readonly string[]
  /** Hosts left out with a reason: the server's own host unless the move may stay there. */
  readonly excludedHosts?: readonly ExcludedHost[] | undefined
  /** 2.56 `host` of a cold migration: the scheduler checks it but may pick no other. */
  readonly requestedHost?: string | undefined
  /** 1 on the first try; a destination whose claim fails sends the move back with one more. */
  readonly attempt?: number | undefined
  /** Why the previous destination refused (for the fault when attempts run out). */
  readonly lastFailure?: string | undefined
}

/** `rebuild_instance` of an evacuation. */
export interface EvacuateArgs {
  readonly instanceUuid: string
  readonly migrationUuid: string
  /** A host the admin named. */
  readonly host?: string | undefined
  /** The named host is taken without the scheduler (before 2.29, or `force`). */
  readonly force: boolean
  readonly adminPassword?: string | undefined
  /** The vm_state before the evacuation: a stopped server comes back stopped. */
  readonly originalVmState: string
}

/** One step of a move, as one conductor call (and one transaction). */
export interface MoveStepArgs {
  readonly instanceUuid: string
  readonly host: string | null
  readonly events?: readonly EventOp[] | undefined
  readonly update?: Omit<InstanceUpdateArgs, 'uuid'> | undefined
  /** The flavor the instance has from now on (finish_resize, revert). */
  readonly flavor?: FlavorSnapshot | undefined
  readonly migration?:
    | {
        readonly uuid: string
        readonly updates: MigrationUpdates
        readonly expectedStatus?: readonly string[]
      }
    | undefined
  readonly fault?: Omit<FaultArgs, 'instanceUuid'> | undefined
  /** Marks the request's action finished. */
  readonly finishAction?: boolean | undefined
}

/** What each host step of a move gets. */
export interface MoveArgs {
  readonly instance: Instance
  readonly migration: Migration
  readonly image?: ImageMeta | undefined
  /** The conductor's request, for `prep_resize` to reschedule from. */
  readonly request?: MigrateServerArgs | undefined
}

export interface RebuildArgs extends MoveArgs {
  readonly adminPassword?: string | undefined
  readonly originalVmState: string
}

/** Client side of the conductor's move methods. */
export class ConductorMoveRpcApi {
  readonly #client: RpcClient

  constructor(transport: Transport) {
    this.#client = new RpcClient(transport, { topic: CONDUCTOR_TOPIC })
  }

  /** cast: the API answers 202 at once; the conductor schedules and starts the move. */
  migrateServer(ctx: RequestContext, args: MigrateServerArgs): Promise<void> {
    return this.#client.cast(ctx, 'migrate_server', args)
  }

  /** cast: the API answers at once; the conductor picks a host and has it rebuild the server. */
  evacuate(ctx: RequestContext, args: EvacuateArgs): Promise<void> {
    return this.#client.cast(ctx, 'rebuild_instance', args)
  }

  /** call: evacuations away from `host` not yet cleaned up there, with each server's current host. */
  evacuationsFromHost(
    ctx: RequestContext,
    host: string,
  ): Promise<{ migration: Migration; instanceHost: string | null }[]> {
    return this.#client.call(ctx, 'evacuations_from_host', { host })
  }

  /** call: one migration's status (a host's clean-up after an evacuation). */
  migrationUpdate(ctx: RequestContext, uuid: string, updates: MigrationUpdates): Promise<Migration> {
    return this.#client.call<Migration>(ctx, 'migration_update', { uuid, updates })
  }

  /** call: a host's step of a move (events, instance, flavor, migration, fault) in one transaction. */
  moveStep(ctx: RequestContext, args: MoveStepArgs): Promise<Instance | null> {
    return this.#client.call<Instance | null>(ctx, 'move_step', args)
  }
}

/** Client side of the compute hosts' move methods (each goes to one host's queue). */
export class ComputeMoveRpcApi {
  readonly #client: RpcClient

  constructor(transport: Transport) {
    this.#client = new RpcClient(transport, { topic: COMPUTE_TOPIC })
  }

  #cast(ctx: RequestContext, host: string, method: string, args: object): Promise<void> {
    return this.#client.prepare({ server: host }).cast(ctx, method, args)
  }

  /** cast to the destination: claim the new flavor, then start the source's part. */
  prepResize(ctx: RequestContext, host: string, args: MoveArgs): Promise<void> {
    return this.#cast(ctx, host, 'prep_resize', args)
  }

  /** cast to the source: power off and hand the disk over, then the destination finishes. */
  resizeInstance(ctx: RequestContext, host: string, args: MoveArgs): Promise<void> {
    return this.#cast(ctx, host, 'resize_instance', args)
  }

  /** cast to the destination: start the guest with the new flavor; the server is VERIFY_RESIZE. */
  finishResize(ctx: RequestContext, host: string, args: MoveArgs): Promise<void> {
    return this.#cast(ctx, host, 'finish_resize', args)
  }

  /** cast to the source: drop the original guest and its claim (the API answered 204). */
  confirmResize(ctx: RequestContext, host: string, args: MoveArgs): Promise<void> {
    return this.#cast(ctx, host, 'confirm_resize', args)
  }

  /** cast to the destination: destroy the new guest, drop its claim, then the source restores. */
  revertResize(ctx: RequestContext, host: string, args: MoveArgs): Promise<void> {
    return this.#cast(ctx, host, 'revert_resize', args)
  }

  /** cast to the source: restore the original guest with the old flavor. */
  finishRevertResize(ctx: RequestContext, host: string, args: MoveArgs): Promise<void> {
    return this.#cast(ctx, host, 'finish_revert_resize', args)
  }

  /** cast to the evacuation's destination: rebuild the server there. */
  rebuildInstance(ctx: RequestContext, host: string, args: RebuildArgs): Promise<void> {
    return this.#cast(ctx, host, 'rebuild_instance', args)
  }

  /** cast: a move failed or was abandoned; drop what it claimed and kept on this host. */
  dropMoveClaim(ctx: RequestContext, host: string, args: MoveArgs): Promise<void> {
    return this.#cast(ctx, host, 'drop_move_claim', args)
  }
}
