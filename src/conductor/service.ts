import { adminContext } from '../common/context.ts'
import { logger } from '../common/log.ts'
import { PeriodicTasks } from '../compute/periodic.ts'
import { ComputeRpcApi } from '../compute/rpcapi.ts'
import { recordHeartbeat, registerService } from '../db/services.ts'
import { NetworkRpcApi } from '../network/rpcapi.ts'
import { RpcServer } from '../rpc/index.ts'
import { SchedulerRpcApi } from '../scheduler/rpcapi.ts'
import type { Runtime } from '../service/runtime.ts'
import type { Service } from '../service/service.ts'
import { imageClientFor } from '../image/client.ts'
import { ConductorManager } from './manager.ts'
import { ConductorMoves } from './migrate-task.ts'
import { HostApi } from '../compute/host-api.ts'
import { ComputeMoveApi } from '../compute/move-api.ts'
import { ComputeMoveRpcApi, ConductorMoveRpcApi } from '../compute/move-rpcapi.ts'
import { QuotaEngine } from '../compute/quota.ts'
import { CONDUCTOR_TOPIC } from './rpcapi.ts'

const log = logger('conductor.service')

/** Nova's binary name for the conductor, as os-services lists it. */
export const CONDUCTOR_BINARY = 'nova-conductor'

/**
 * The conductor service: its RPC server on the `conductor` topic, its row in
 * the services table with heartbeats, and the BUILD deadline check.
 */
export class ConductorService implements Service {
  readonly name = 'conductor'
  readonly manager: ConductorManager
  readonly moves: ConductorMoves
  readonly moveApi: ComputeMoveApi
  readonly #rt: Runtime
  readonly #server: RpcServer
  readonly #periodic = new PeriodicTasks()

  constructor(rt: Runtime) {
    this.#rt = rt
    const images = imageClientFor(rt)
    this.manager = new ConductorManager({
      db: rt.db,
      config: rt.config,
      scheduler: new SchedulerRpcApi(rt.transport),
      compute: new ComputeRpcApi(rt.transport),
      host: rt.config.host,
      network: new NetworkRpcApi(rt.transport),
      images,
    })
    const computeMoves = new ComputeMoveRpcApi(rt.transport)
    this.moves = new ConductorMoves({
      db: rt.db,
      config: rt.config,
      scheduler: new SchedulerRpcApi(rt.transport),
      compute: computeMoves,
      host: rt.config.host,
      images,
    })
    this.moveApi = new ComputeMoveApi({
      db: rt.db,
      config: rt.config.compute,
      quotas: new QuotaEngine(rt.config.quota),
      hosts: new HostApi(rt.db, rt.config.compute),
      conductor: new ConductorMoveRpcApi(rt.transport),
      compute: computeMoves,
    })
    this.#server = new RpcServer(
      rt.transport,
      { topic: CONDUCTOR_TOPIC, server: rt.config.host },
      { ...this.manager.endpoints(), ...this.moves.endpoints() },
    )
    const c = rt.config.compute
    this.#periodic.add('heartbeat', c.reportIntervalS * 1000, () => this.#heartbeat())
    this.#periodic.add('build_timeouts', c.buildTimeoutCheckIntervalS * 1000, () =>
      this.manager.checkBuildTimeouts(adminContext()),
    )
    this.#periodic.add('confirm_resizes', c.resizeConfirmCheckIntervalS * 1000, () =>
      this.moveApi.confirmUnconfirmed(adminContext()),
    )
  }

  async start(): Promise<void> {
    await registerService(this.#rt.db.kysely, {
      host: this.#rt.config.host,
      binary: CONDUCTOR_BINARY,
      topic: CONDUCTOR_TOPIC,
    })
    await this.#heartbeat()
    await this.#server.start()
    this.#periodic.start()
    log.info({ host: this.#rt.config.host }, 'conductor started')
  }

  async stop(): Promise<void> {
    await this.#periodic.stop()
    await this.#server.stop()
  }

  /** Runs a periodic task now (tests). */
  runPeriodic(name: 'heartbeat' | 'build_timeouts' | 'confirm_resizes'): Promise<void> {
    return this.#periodic.runNow(name)
  }

  async #heartbeat(): Promise<void> {
    await recordHeartbeat(this.#rt.db.kysely, { host: this.#rt.config.host, binary: CONDUCTOR_BINARY })
  }
}

export function createConductorService(rt: Runtime): Service {
  return new ConductorService(rt)
}
