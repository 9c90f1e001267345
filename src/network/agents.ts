import { randomUUID } from 'node:crypto'
import { limits } from '../common/limits.ts'
import { logger } from '../common/log.ts'
import type { Database } from '../db/index.ts'
import type { NetworkAgentsTable } from '../db/tables/network.ts'
import { fromJsonText, nowIso, toJsonText } from '../db/values.ts'
import { conflict, networkNotFound, notFound, routerNotFound } from './errors.ts'
import type { Store } from './store.ts'

/**
 * Neutron's agents API (`/v2.0/agents`, the `agent`, `dhcp_agent_scheduler`
 * and `l3_agent_scheduler` extensions): each network host reports the
 * agents it runs — its data-plane agent, and on a network node the DHCP, L3
 * and metadata agents — with a heartbeat; networks are scheduled to a DHCP
 * agent and routers to an L3 agent, as Neutron's schedulers do (one agent
 * each, the least loaded, once the network has a DHCP subnet / once the
 * router exists), and an admin may move them.
 */
export const AGENT_TYPES = {
  dataplane: 'Linux bridge agent',
  dhcp: 'DHCP agent',
  l3: 'L3 agent',
  metadata: 'Metadata agent',
} as const

/** What a host says about one of its agents. */
export interface AgentReport {
  readonly agentType: string
  readonly binary: string
  readonly topic: string
  readonly configurations: Readonly<Record<string, unknown>>
}

/** The agents a network host runs, from its `[network]` settings. */
export function hostAgents(opts: {
  readonly dataplane: boolean
  readonly networkNode: boolean
  readonly physicalInterfaceMappings: Readonly<Record<string, string>>
}): AgentReport[] {
  // Without a data plane nothing is wired: the agents are reported as what they are (`dataplane: false`).
  const common = { dataplane: opts.dataplane }
  const agents: AgentReport[] = [
    {
      agentType: AGENT_TYPES.dataplane,
      binary: 'neutron-linuxbridge-agent',
      topic: 'N/A',
      configurations: {
        ...common,
        interface_mappings: { ...opts.physicalInterfaceMappings },
        bridge_mappings: {},
        devices: 0,
        extensions: [],
      },
    },
  ]
  if (opts.networkNode) {
    agents.push(
      {
        agentType: AGENT_TYPES.dhcp,
        binary: 'neutron-dhcp-agent',
        topic: 'dhcp_agent',
        configurations: { ...common, dhcp_driver: 'dnsmasq', dhcp_lease_duration: 86400 },
      },
      {
        agentType: AGENT_TYPES.l3,
        binary: 'neutron-l3-agent',
        topic: 'l3_agent',
        configurations: { ...common, agent_mode: 'legacy', interface_driver: 'linuxbridge' },
      },
      {
        agentType: AGENT_TYPES.metadata,
        binary: 'neutron-metadata-agent',
        topic: 'N/A',
        configurations: { ...common, metadata_proxy_socket: 'unix' },
      },
    )
  }
  return agents
}

const log = logger('network.agents')

type AgentRow = NetworkAgentsTable
type BindingKind = 'dhcp' | 'l3'
const AGENT_FOR: Readonly<Record<BindingKind, string>> = { dhcp: AGENT_TYPES.dhcp, l3: AGENT_TYPES.l3 }
const DEFAULT_AVAILABILITY_ZONE = 'nova'

/** Neutron's timestamps for agents: `2017-09-12 19:39:56`. */
function agentTime(iso: string): string {
  return iso.slice(0, 19).replace('T', ' ')
}

export const agentNotFound = (id: string) => notFound('AgentNotFound', `Agent ${id} could not be found.`)

export class AgentRegistry {
  readonly #db: Database
  readonly #store: Store
  #reporting: { readonly host: string; readonly reports: readonly AgentReport[] } | undefined
  #timer: NodeJS.Timeout | undefined

  constructor(db: Database, store: Store) {
    this.#db = db
    this.#store = store
  }

  /** Names the host and agents this process reports once `startReporting` runs. */
  reportAs(host: string, reports: readonly AgentReport[]): void {
    this.#reporting = { host, reports }
  }

  /** Reports this process's agents now (a start) and then every `networkAgentReportIntervalMs`. */
  async startReporting(): Promise<void> {
    const r = this.#reporting
    if (!r || this.#timer) return
    const beat = async (starting: boolean) => {
      try {
        await this.report(r.host, r.reports, starting)
      } catch (err) {
        log.warn({ err }, 'network agent heartbeat not recorded')
      }
    }
    await beat(true)
    this.#timer = setInterval(() => void beat(false), limits.networkAgentReportIntervalMs)
    this.#timer.unref()
  }

  stopReporting(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /**
   * Records a heartbeat of `host`'s agents (creating them on first report).
   * `starting` marks a (re)start: `started_at` moves to now.
   */
  async report(host: string, reports: readonly AgentReport[], starting: boolean): Promise<void> {
    const now = nowIso()
    for (const r of reports) {
      const existing = await this.#db.kysely
        .selectFrom('network_agents')
        .select('id')
        .where('agent_type', '=', r.agentType)
        .where('host', '=', host)
        .executeTakeFirst()
      if (existing) {
        await this.#db.kysely
          .updateTable('network_agents')
          .set({
            binary: r.binary,
            topic: r.topic,
            configurations: toJsonText(r.configurations),
            heartbeat_at: now,
            updated_at: now,
            ...(starting ? { started_at: now } : {}),
          })
          .where('id', '=', existing.id)
          .execute()
        continue
      }
      await this.#db.kysely
        .insertInto('network_agents')
        .values({
          id: randomUUID(),
          host,
          agent_type: r.agentType,
          binary: r.binary,
          topic: r.topic,
          admin_state_up: true,
          description: null,
          availability_zone:
            r.agentType === AGENT_TYPES.dhcp || r.agentType === AGENT_TYPES.l3
              ? DEFAULT_AVAILABILITY_ZONE
              : null,
          configurations: toJsonText(r.configurations),
          started_at: now,
          heartbeat_at: now,
          created_at: now,
          updated_at: null,
        })
        .execute()
    }
  }

  async list(): Promise<Record<string, unknown>[]> {
    const rows = await this.#db.kysely
      .selectFrom('network_agents')
      .selectAll()
      .orderBy('host')
      .orderBy('agent_type')
      .execute()
    return rows.map(view)
  }

  async get(id: string): Promise<Record<string, unknown>> {
    return view(await this.#row(id))
  }

  async update(
    id: string,
    patch: { readonly admin_state_up?: boolean; readonly description?: string | null },
  ): Promise<Record<string, unknown>> {
    await this.#row(id)
    await this.#db.kysely
      .updateTable('network_agents')
      .set({
        ...(patch.admin_state_up !== undefined ? { admin_state_up: patch.admin_state_up } : {}),
        ...(patch.description !== undefined ? { description: patch.description } : {}),
        updated_at: nowIso(),
      })
      .where('id', '=', id)
      .execute()
    return this.get(id)
  }

  /** Deletes an agent record (a host that still runs it reports it again at its next heartbeat). */
  async delete(id: string): Promise<void> {
    await this.#row(id)
    await this.#db.kysely.deleteFrom('network_agent_bindings').where('agent_id', '=', id).execute()
    await this.#db.kysely.deleteFrom('network_agents').where('id', '=', id).execute()
  }

  /** The ids of the networks (dhcp) or routers (l3) an agent hosts. */
  async hosted(kind: BindingKind, agentId: string): Promise<string[]> {
    await this.#agentOf(kind, agentId, false)
    await this.#schedule(kind)
    const rows = await this.#db.kysely
      .selectFrom('network_agent_bindings')
      .select('resource_id')
      .where('agent_id', '=', agentId)
      .where('kind', '=', kind)
      .where('bound', '=', true)
      .orderBy('created_at')
      .execute()
    return rows.map((r) => r.resource_id)
  }

  /** The agents hosting a network (dhcp) or router (l3). */
  async hosting(kind: BindingKind, resourceId: string): Promise<Record<string, unknown>[]> {
    await this.#schedule(kind)
    const rows = await this.#db.kysely
      .selectFrom('network_agents')
      .innerJoin('network_agent_bindings', 'network_agent_bindings.agent_id', 'network_agents.id')
      .selectAll('network_agents')
      .where('network_agent_bindings.kind', '=', kind)
      .where('network_agent_bindings.resource_id', '=', resourceId)
      .where('network_agent_bindings.bound', '=', true)
      .orderBy('network_agents.host')
      .execute()
    return rows.map(view)
  }

  /**
   * The routers `host` must not serve: those scheduled to an L3 agent at
   * some point (they have a binding) that this host's L3 agent does not host
   * now — moved to another agent, or removed from every agent (Tempest's
   * router rescheduling). A router never scheduled yet is served. Empty when
   * the host has no L3 agent registered.
   */
  async routersNotHostedBy(host: string): Promise<Set<string>> {
    const mine = await this.#db.kysely
      .selectFrom('network_agents')
      .select('id')
      .where('host', '=', host)
      .where('agent_type', '=', AGENT_TYPES.l3)
      .executeTakeFirst()
    if (!mine) return new Set()
    const bindings = await this.#db.kysely
      .selectFrom('network_agent_bindings')
      .select(['agent_id', 'resource_id', 'bound'])
      .where('kind', '=', 'l3')
      .execute()
    const hostedHere = new Set(
      bindings.filter((b) => b.bound && b.agent_id === mine.id).map((b) => b.resource_id),
    )
    return new Set(bindings.map((b) => b.resource_id).filter((id) => !hostedHere.has(id)))
  }

  /** Schedules a network (dhcp) or router (l3) to an agent; 409 when it already hosts it. */
  async add(kind: BindingKind, agentId: string, resourceId: string): Promise<void> {
    await this.#agentOf(kind, agentId, true)
    await this.#resourceExists(kind, resourceId)
    await this.#schedule(kind)
    const hosted = await this.#binding(agentId, kind, resourceId)
    if (hosted?.bound) {
      throw kind === 'dhcp'
        ? conflict(
            'NetworkHostedByDHCPAgent',
            `The network ${resourceId} has been already hosted by the DHCP Agent ${agentId}.`,
          )
        : conflict(
            'RouterHostedByL3Agent',
            `The router ${resourceId} has been already hosted by the L3 Agent ${agentId}.`,
          )
    }
    // Neutron's legacy routers live on one L3 agent: moving one unbinds it elsewhere.
    if (kind === 'l3') {
      await this.#db.kysely
        .updateTable('network_agent_bindings')
        .set({ bound: false })
        .where('kind', '=', 'l3')
        .where('resource_id', '=', resourceId)
        .execute()
    }
    await this.#bind(agentId, kind, resourceId, !!hosted)
    if (kind === 'l3') await this.#floatingIpsFollow(resourceId)
  }

  /** Removes a network (dhcp) or router (l3) from an agent; 409 when the agent does not host it. */
  async remove(kind: BindingKind, agentId: string, resourceId: string): Promise<void> {
    await this.#agentOf(kind, agentId, false)
    await this.#schedule(kind)
    const hosted = await this.#binding(agentId, kind, resourceId)
    if (!hosted?.bound) {
      throw kind === 'dhcp'
        ? conflict(
            'NetworkNotHostedByDhcpAgent',
            `The network ${resourceId} is not hosted by the DHCP agent ${agentId}.`,
          )
        : conflict(
            'RouterNotHostedByL3Agent',
            `The router ${resourceId} is not hosted by L3 agent ${agentId}.`,
          )
    }
    await this.#db.kysely
      .updateTable('network_agent_bindings')
      .set({ bound: false })
      .where('agent_id', '=', agentId)
      .where('kind', '=', kind)
      .where('resource_id', '=', resourceId)
      .execute()
    if (kind === 'l3') await this.#floatingIpsFollow(resourceId)
  }

  /**
   * The router's associated floating IPs are ACTIVE while an L3 agent hosts
   * it and DOWN while none does (Neutron's L3 agent reports their status).
   */
  async #floatingIpsFollow(routerId: string): Promise<void> {
    const hosted = await this.#db.kysely
      .selectFrom('network_agent_bindings')
      .select('agent_id')
      .where('kind', '=', 'l3')
      .where('resource_id', '=', routerId)
      .where('bound', '=', true)
      .executeTakeFirst()
    const status = hosted ? 'ACTIVE' : 'DOWN'
    for (const fip of await this.#store.list('floating_ips')) {
      if (fip.router_id !== routerId || !fip.port_id || fip.status === status) continue
      await this.#store.update('floating_ips', { ...fip, status })
    }
  }

  async #row(id: string): Promise<AgentRow> {
    const row = await this.#db.kysely
      .selectFrom('network_agents')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst()
    if (!row) throw agentNotFound(id)
    return row
  }

  /** The agent, which must be of the binding's type (and, to take new work, enabled). */
  async #agentOf(kind: BindingKind, id: string, takingWork: boolean): Promise<AgentRow> {
    const row = await this.#row(id)
    if (row.agent_type !== AGENT_FOR[kind] || (takingWork && !row.admin_state_up)) {
      throw kind === 'dhcp'
        ? notFound('InvalidDHCPAgent', `Agent ${id} is not a valid DHCP Agent or has been disabled`)
        : notFound('InvalidL3Agent', `Agent ${id} is not a L3 Agent or has been disabled`)
    }
    return row
  }

  async #resourceExists(kind: BindingKind, id: string): Promise<void> {
    const doc = await this.#store.get(kind === 'dhcp' ? 'networks' : 'routers', id)
    if (!doc) throw kind === 'dhcp' ? networkNotFound(id) : routerNotFound(id)
  }

  #binding(agentId: string, kind: BindingKind, resourceId: string) {
    return this.#db.kysely
      .selectFrom('network_agent_bindings')
      .selectAll()
      .where('agent_id', '=', agentId)
      .where('kind', '=', kind)
      .where('resource_id', '=', resourceId)
      .executeTakeFirst()
  }

  async #bind(agentId: string, kind: BindingKind, resourceId: string, exists: boolean): Promise<void> {
    if (exists) {
      await this.#db.kysely
        .updateTable('network_agent_bindings')
        .set({ bound: true, created_at: nowIso() })
        .where('agent_id', '=', agentId)
        .where('kind', '=', kind)
        .where('resource_id', '=', resourceId)
        .execute()
      return
    }
    await this.#db.kysely
      .insertInto('network_agent_bindings')
      .values({ agent_id: agentId, kind, resource_id: resourceId, bound: true, created_at: nowIso() })
      .execute()
  }

  /**
   * Neutron's automatic scheduling, done when bindings are read: every
   * network with a DHCP subnet, and every router, that was never scheduled
   * goes to the alive, enabled agent of the right type hosting the fewest;
   * bindings of deleted networks and routers are dropped.
   */
  async #schedule(kind: BindingKind): Promise<void> {
    const agents = (
      await this.#db.kysely
        .selectFrom('network_agents')
        .selectAll()
        .where('agent_type', '=', AGENT_FOR[kind])
        .execute()
    ).filter((a) => a.admin_state_up && isAlive(a.heartbeat_at))
    const bindings = await this.#db.kysely
      .selectFrom('network_agent_bindings')
      .selectAll()
      .where('kind', '=', kind)
      .execute()
    const existing = new Set(
      (await this.#store.list(kind === 'dhcp' ? 'networks' : 'routers')).map((d) => d.id),
    )
    const gone = bindings.filter((b) => !existing.has(b.resource_id))
    for (const b of gone) {
      await this.#db.kysely
        .deleteFrom('network_agent_bindings')
        .where('agent_id', '=', b.agent_id)
        .where('kind', '=', kind)
        .where('resource_id', '=', b.resource_id)
        .execute()
    }
    if (agents.length === 0) return
    const seen = new Set(bindings.map((b) => b.resource_id))
    const load = new Map(agents.map((a) => [a.id, 0]))
    for (const b of bindings)
      if (b.bound && load.has(b.agent_id)) load.set(b.agent_id, load.get(b.agent_id)! + 1)
    for (const id of await this.#candidates(kind)) {
      if (seen.has(id)) continue
      const [agentId] = [...load].sort((x, y) => x[1] - y[1])[0]!
      try {
        await this.#bind(agentId, kind, id, false)
      } catch {
        // Scheduled by a concurrent reader: keep theirs.
      }
      load.set(agentId, load.get(agentId)! + 1)
    }
  }

  /** Networks with a DHCP-enabled subnet (dhcp) or every router (l3). */
  async #candidates(kind: BindingKind): Promise<string[]> {
    if (kind === 'l3') return (await this.#store.list('routers')).map((r) => r.id)
    const subnets = await this.#store.list('subnets')
    return [...new Set(subnets.filter((s) => s.enable_dhcp !== false).map((s) => s.network_id as string))]
  }
}

function isAlive(heartbeatAt: string): boolean {
  return Date.now() - Date.parse(heartbeatAt) <= limits.networkAgentDownTimeMs
}

/** An agent as Neutron shows it. */
function view(r: AgentRow): Record<string, unknown> {
  return {
    id: r.id,
    agent_type: r.agent_type,
    binary: r.binary,
    topic: r.topic,
    host: r.host,
    admin_state_up: r.admin_state_up,
    created_at: agentTime(r.created_at),
    started_at: agentTime(r.started_at),
    heartbeat_timestamp: agentTime(r.heartbeat_at),
    alive: isAlive(r.heartbeat_at),
    description: r.description,
    availability_zone: r.availability_zone,
    configurations: fromJsonText<Record<string, unknown>>(r.configurations),
    resource_versions: {},
    resources_synced: null,
  }
}
