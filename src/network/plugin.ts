import type { Database } from '../db/index.ts'
import { logger } from '../common/log.ts'
import { AgentRegistry } from './agents.ts'
import { CorePlugin, type ChangeListener, type NetworkSettings } from './core.ts'
import { NetworkApi } from './api.ts'
import { L3Plugin } from './l3.ts'
import { Quotas } from './quotas.ts'
import { SecurityGroupPlugin } from './security-groups.ts'
import { Store } from './store.ts'

const log = logger('network.plugin')

/**
 * Everything the Neutron API serves, over one database: the core plugin
 * (networks, subnets, ports, IPAM), security groups, L3 (routers and
 * floating IPs) and quotas. `onChange` listeners (the data plane agents of
 * this process) hear about every change that may alter a host's wiring.
 */
export class NetworkPlugin {
  readonly store: Store
  readonly quotas: Quotas
  readonly core: CorePlugin
  readonly securityGroups: SecurityGroupPlugin
  readonly l3: L3Plugin
  /** Neutron's agents of every host and the DHCP/L3 scheduling. */
  readonly agents: AgentRegistry
  /** What compute calls (allocate/deallocate ports for an instance). */
  readonly api: NetworkApi
  readonly #listeners = new Set<ChangeListener>()

  constructor(db: Database, settings: NetworkSettings) {
    this.store = Store.of(db)
    const changed: ChangeListener = (what) => this.#emit(what)
    this.quotas = new Quotas(this.store)
    this.core = new CorePlugin(this.store, settings, this.quotas, changed)
    this.securityGroups = new SecurityGroupPlugin(this.store, this.quotas, changed)
    this.core.defaultSecurityGroup = (_caller, projectId) => this.securityGroups.ensureDefault(projectId)
    this.core.deviceProject = (deviceId) => serverProject(db, deviceId)
    this.l3 = new L3Plugin(this.store, this.core, this.quotas, changed)
    this.agents = new AgentRegistry(db, this.store)
    this.api = new NetworkApi(this)
  }

  /** Subscribes to changes; returns the unsubscribe function. */
  onChange(listener: ChangeListener): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  #emit(what: Parameters<ChangeListener>[0]): void {
    for (const listener of this.#listeners) {
      try {
        listener(what)
      } catch (err) {
        log.error({ err }, 'network change listener failed')
      }
    }
  }
}

/**
 * The project of the server `deviceId` names (deleted ones too: a server's
 * id stays its project's), from compute's table in the shared database.
 */
async function serverProject(db: Database, deviceId: string): Promise<string | undefined> {
  const row = await db.kysely
    .selectFrom('instances')
    .select('project_id')
    .where('uuid', '=', deviceId)
    .executeTakeFirst()
  return row?.project_id ?? undefined
}
