import { adminContext } from '../common/context.ts'
import { logger } from '../common/log.ts'
import { RpcClient, RpcServer, type Transport } from '../rpc/index.ts'
import type { DataplaneAgent } from './dataplane/agent.ts'

const log = logger('network.notifier')

/** The topic every data plane agent listens on (Neutron's agent notifier fanout). */
export const AGENT_TOPIC = 'network-agent'

/** The agent side of the fanout: any API process's change makes this host's agent sync. */
class AgentEndpoint {
  readonly #agent: DataplaneAgent

  constructor(agent: DataplaneAgent) {
    this.#agent = agent
  }

  /** fanout: a network resource changed somewhere; the agent re-plans its host. */
  network_changed(): void {
    this.#agent.changed()
  }
}

/**
 * Tells the data plane agents of every host that something changed, so an
 * API change reaches hosts in other processes within the same second, not
 * only at their periodic resync. A lost fanout costs one resync interval,
 * never correctness: agents always re-plan from the database.
 */
export class AgentNotifier {
  readonly #client: RpcClient
  readonly #server: RpcServer | undefined

  /** `agent`: this process's agent, if it runs one (then it also listens). */
  constructor(transport: Transport, host: string, agent: DataplaneAgent | undefined) {
    this.#client = new RpcClient(transport, { topic: AGENT_TOPIC })
    this.#server = agent
      ? new RpcServer(transport, { topic: AGENT_TOPIC, server: host }, new AgentEndpoint(agent))
      : undefined
  }

  async start(): Promise<void> {
    await this.#server?.start()
  }

  async stop(): Promise<void> {
    await this.#server?.stop()
  }

  /** fanout, not awaited by the API: a broker outage must not fail the request that changed something. */
  notify(kind: string): void {
    this.#client.fanout(adminContext(), 'network_changed', { kind }).catch((err: unknown) => {
      log.warn(
        { err, kind },
        'could not notify the data plane agents; they will catch up at their next resync',
      )
    })
  }
}
