import { join } from 'node:path'
import type { Config } from '../common/config.ts'
import { ApiServer } from '../service/http.ts'
import type { Runtime } from '../service/runtime.ts'
import { HttpService, type RuntimeOptions } from '../service/service.ts'
import { actionRoutes } from './api/actions.ts'
import { agentRoutes } from './api/agents.ts'
import { neutronBodies } from './api/body.ts'
import { extensionRoutes } from './api/extensions.ts'
import { resourceRoutes } from './api/resources.ts'
import { versionRoutes } from './api/versions.ts'
import type { NetworkApi } from './api.ts'
import { DataplaneAgent } from './dataplane/agent.ts'
import { NetworkManager, networkRpcServer } from './manager.ts'
import { AgentNotifier } from './notifier.ts'
import { NetworkPlugin } from './plugin.ts'
import { hostAgents } from './agents.ts'
import { settingsFrom } from './settings.ts'
import { authMiddleware } from '../identity/middleware.ts'
import { ConductorRpcApi } from '../conductor/rpcapi.ts'
import { logger } from '../common/log.ts'
import type { RpcServer } from '../rpc/index.ts'

const log = logger('network.service')

/**
 * The network service: the Neutron API, the `network` RPC topic compute
 * calls (allocate/deallocate an instance's ports, manager.ts) and, with
 * `[network] dataplane`, this host's data plane agent. Without a data
 * plane, bound ports are reported ACTIVE at once (nothing will wire them).
 */
export class NetworkService extends HttpService {
  readonly plugin: NetworkPlugin
  readonly agent: DataplaneAgent | undefined
  readonly manager: NetworkManager
  readonly #notifier: AgentNotifier
  readonly #rpc: RpcServer
  #unsubscribe: (() => void) | undefined

  constructor(
    config: Config,
    server: ApiServer,
    plugin: NetworkPlugin,
    agent: DataplaneAgent | undefined,
    notifier: AgentNotifier,
    manager: NetworkManager,
    rpc: RpcServer,
    opts: RuntimeOptions,
  ) {
    super(config, server, config.network.port, { type: 'network', catalogName: 'neutron', path: '' }, opts)
    this.plugin = plugin
    this.agent = agent
    this.manager = manager
    this.#notifier = notifier
    this.#rpc = rpc
  }

  override async start(): Promise<void> {
    const agent = this.agent
    FANNED_OUT.add(this.plugin)
    this.#unsubscribe = this.plugin.onChange((what) => {
      // This host's agent hears at once; other hosts' agents through the fanout.
      if (agent) agent.changed()
      else if (what.kind === 'port' || what.kind === 'router') void this.plugin.core.markBoundActive()
      this.#notifier.notify(what.kind)
      // Neutron tells Nova `network-changed`; here the cache is refreshed directly.
      if (what.ports?.length) {
        this.manager.portsChanged(what.ports).catch((err: unknown) => {
          log.warn({ err, ports: what.ports }, 'network info cache not refreshed')
        })
      }
    })
    await agent?.start()
    await this.plugin.agents.startReporting()
    await this.#notifier.start()
    await this.#rpc.start()
    await super.start()
  }

  override async stop(): Promise<void> {
    this.plugin.agents.stopReporting()
    this.#unsubscribe?.()
    FANNED_OUT.delete(this.plugin)
    await this.#rpc.stop()
    await this.#notifier.stop()
    await this.agent?.stop()
    await super.stop()
  }
}

/** Plugins whose changes a network service (or `ensureChangeFanout`) already announces to the agents. */
const FANNED_OUT = new WeakSet<NetworkPlugin>()

/**
 * For a process that changes network resources without running the
 * network service (the compute API's security group proxy in distributed
 * mode): announces its plugin's changes to every host's agent, so they do
 * not wait for their periodic resync. A no-op where the network service
 * runs in the same process (it announces them).
 */
export function ensureChangeFanout(rt: Runtime): void {
  const plugin = networkPluginFor(rt)
  if (FANNED_OUT.has(plugin)) return
  FANNED_OUT.add(plugin)
  const notifier = new AgentNotifier(rt.transport, rt.config.host, undefined)
  plugin.onChange((what) => notifier.notify(what.kind))
}

/** One plugin per runtime, shared by the API and in-process callers (so the agent hears their changes). */
const PLUGINS = new WeakMap<Runtime, NetworkPlugin>()

/** The network plugin of this runtime, created on first use. */
export function networkPluginFor(rt: Runtime): NetworkPlugin {
  let plugin = PLUGINS.get(rt)
  if (!plugin) {
    plugin = new NetworkPlugin(rt.db, settingsFrom(rt.config))
    PLUGINS.set(rt, plugin)
  }
  return plugin
}

/**
 * The in-process network API compute calls (allocate/deallocate an
 * instance's ports); see api.ts.
 */
export function networkApiFor(rt: Runtime): NetworkApi {
  return networkPluginFor(rt).api
}

/** This host's data plane agent, as `[network]` configures it (its state under `<state_dir>/network/<host>`). */
export function dataplaneAgentFor(config: Config, plugin: NetworkPlugin): DataplaneAgent {
  const net = config.network
  return new DataplaneAgent(plugin.store, {
    host: config.host,
    networkNode: net.networkNode,
    stateDir: join(config.stateDir, 'network', config.host),
    nftTable: net.nftTable,
    interfaceMappings: net.physicalInterfaceMappings,
    hostNetns: net.hostNamespace || undefined,
    metadataUrl: `http://${config.publicHost}:${config.metadata.port}`,
    metadataSecret: config.metadata.metadataProxySharedSecret,
    onPortsActive: (ids) => plugin.core.markActive(ids),
    onPortsDown: (ids) => plugin.core.markDown(ids),
    onPortsError: (ids) => plugin.core.markError(ids),
    onRoutersStatus: (status) => plugin.l3.markStatus(status),
    routersElsewhere: () => plugin.agents.routersNotHostedBy(config.host),
  })
}

/** Neutron v2.0 on :9696. */
export function createNetworkService(rt: Runtime): NetworkService {
  const plugin = networkPluginFor(rt)
  const server = new ApiServer({
    name: 'network',
    style: 'neutron',
    routes: [
      ...versionRoutes,
      ...extensionRoutes,
      ...actionRoutes(plugin),
      ...agentRoutes(plugin),
      ...resourceRoutes(plugin),
    ],
    configure: neutronBodies,
    ...authMiddleware(rt, { serviceType: 'network' }),
  })
  const net = rt.config.network
  const agent = net.dataplane ? dataplaneAgentFor(rt.config, plugin) : undefined
  plugin.agents.reportAs(rt.config.host, hostAgents(net))
  const notifier = new AgentNotifier(rt.transport, rt.config.host, agent)
  // The info caches are compute's: the network service reaches them through the conductor's door.
  const manager = new NetworkManager(plugin, new ConductorRpcApi(rt.transport))
  const rpc = networkRpcServer(rt.transport, rt.config.host, manager)
  return new NetworkService(rt.config, server, plugin, agent, notifier, manager, rpc, rt.options)
}
