import type { Route } from '../../service/http.ts'
import { respond } from '../../service/http.ts'
import type { Caller } from '../authz.ts'
import { badRequest, policyNotAuthorized } from '../errors.ts'
import { agentNotFound } from '../agents.ts'
import type { NetworkPlugin } from '../plugin.ts'
import { applyFilters, selectFields } from './query.ts'
import { callerFor, render, unwrap } from './resources.ts'

/**
 * `/v2.0/agents` and the DHCP/L3 agent schedulers. Every rule is admin-only
 * in Neutron: others list no agents and get 404 for one (policy hides what
 * a caller may not see), 403 on the scheduler routes.
 */
export function agentRoutes(plugin: NetworkPlugin): Route[] {
  const { agents, core, l3 } = plugin
  const admin = (caller: Caller, action: string) => {
    if (!caller.isAdmin) throw policyNotAuthorized(action)
  }
  const adminOrHidden = (caller: Caller, id: string) => {
    if (!caller.isAdmin) throw agentNotFound(id)
  }
  const targetId = (body: unknown, key: string): string => {
    const v = (body as Record<string, unknown> | undefined)?.[key]
    if (typeof v !== 'string' || !v)
      throw badRequest(`Failed to parse request. Required attribute '${key}' not specified`)
    return v
  }
  return [
    {
      method: 'GET',
      path: '/v2.0/agents',
      handler: async (req) => {
        const caller = callerFor(req)
        if (!caller.isAdmin) return { agents: [] }
        const docs = applyFilters((await agents.list()) as never, req.query)
        return { agents: docs.map((d) => selectFields(d, req.query)) }
      },
    },
    {
      method: 'GET',
      path: '/v2.0/agents/:id',
      handler: async (req) => {
        adminOrHidden(callerFor(req), req.params.id)
        return { agent: selectFields(await agents.get(req.params.id), req.query) }
      },
    },
    {
      method: 'PUT',
      path: '/v2.0/agents/:id',
      handler: async (req) => {
        adminOrHidden(callerFor(req), req.params.id)
        const attrs = unwrap(req.body, 'agent', ['admin_state_up', 'description'])
        if (attrs.admin_state_up !== undefined && typeof attrs.admin_state_up !== 'boolean')
          throw badRequest(
            `Invalid input for admin_state_up. Reason: '${String(attrs.admin_state_up)}' is not a valid boolean value.`,
          )
        if (
          attrs.description !== undefined &&
          attrs.description !== null &&
          typeof attrs.description !== 'string'
        )
          throw badRequest(
            `Invalid input for description. Reason: '${String(attrs.description)}' is not a valid string.`,
          )
        return { agent: await agents.update(req.params.id, attrs as never) }
      },
    },
    {
      method: 'DELETE',
      path: '/v2.0/agents/:id',
      handler: async (req) => {
        adminOrHidden(callerFor(req), req.params.id)
        await agents.delete(req.params.id)
        return respond(204)
      },
    },
    // ---- dhcp_agent_scheduler ----
    {
      method: 'GET',
      path: '/v2.0/agents/:id/dhcp-networks',
      handler: async (req) => {
        const caller = callerFor(req)
        admin(caller, 'get_dhcp-networks')
        const ids = await agents.hosted('dhcp', req.params.id)
        const nets = await Promise.all(ids.map((id) => core.getNetwork(caller, id)))
        return { networks: nets.map((n) => render(caller, n, req.query)) }
      },
    },
    {
      method: 'POST',
      path: '/v2.0/agents/:id/dhcp-networks',
      status: 201,
      handler: async (req) => {
        admin(callerFor(req), 'create_dhcp-network')
        await agents.add('dhcp', req.params.id, targetId(req.body, 'network_id'))
        return respond(201)
      },
    },
    {
      method: 'DELETE',
      path: '/v2.0/agents/:id/dhcp-networks/:network',
      handler: async (req) => {
        admin(callerFor(req), 'delete_dhcp-network')
        await agents.remove('dhcp', req.params.id, req.params.network)
        return respond(204)
      },
    },
    {
      method: 'GET',
      path: '/v2.0/networks/:id/dhcp-agents',
      handler: async (req) => {
        const caller = callerFor(req)
        admin(caller, 'get_dhcp-agents')
        await core.getNetwork(caller, req.params.id)
        return { agents: await agents.hosting('dhcp', req.params.id) }
      },
    },
    // ---- l3_agent_scheduler ----
    {
      method: 'GET',
      path: '/v2.0/agents/:id/l3-routers',
      handler: async (req) => {
        const caller = callerFor(req)
        admin(caller, 'get_l3-routers')
        const ids = await agents.hosted('l3', req.params.id)
        const routers = await Promise.all(ids.map((id) => l3.getRouter(caller, id)))
        return { routers: routers.map((r) => render(caller, r, req.query)) }
      },
    },
    {
      method: 'POST',
      path: '/v2.0/agents/:id/l3-routers',
      status: 201,
      handler: async (req) => {
        admin(callerFor(req), 'create_l3-router')
        await agents.add('l3', req.params.id, targetId(req.body, 'router_id'))
        return respond(201)
      },
    },
    {
      method: 'DELETE',
      path: '/v2.0/agents/:id/l3-routers/:router',
      handler: async (req) => {
        admin(callerFor(req), 'delete_l3-router')
        await agents.remove('l3', req.params.id, req.params.router)
        return respond(204)
      },
    },
    {
      method: 'GET',
      path: '/v2.0/routers/:id/l3-agents',
      handler: async (req) => {
        const caller = callerFor(req)
        admin(caller, 'get_l3-agents')
        await l3.getRouter(caller, req.params.id)
        const hosting = await agents.hosting('l3', req.params.id)
        return { agents: hosting.map((a) => ({ ...a, ha_state: null })) }
      },
    },
  ]
}
