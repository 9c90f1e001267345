import type { RequestContext } from '../common/context.ts'
import { badRequest, policyNotAuthorized } from './errors.ts'
import type { Doc } from './store.ts'

/**
 * Neutron's default policy for the resources Nimbus serves (the Zed
 * defaults with `enforce_new_defaults = False`): an admin sees and changes
 * everything; a project member sees and changes what its project owns, and
 * sees shared and external networks (and their subnets). Resources a
 * caller may not see answer 404, as upstream does, never 403.
 */
export interface Caller {
  readonly projectId: string
  readonly isAdmin: boolean
  readonly requestId?: string
}

/** The caller a request context describes. */
export function callerOf(ctx: RequestContext, fallbackProject = ''): Caller {
  return {
    projectId: ctx.projectId ?? fallbackProject,
    isAdmin: ctx.isAdmin || ctx.roles.some((r) => r.toLowerCase() === 'admin'),
    requestId: ctx.requestId,
  }
}

/** The administrator caller used for work no user asked for (data plane, cleanup). */
export const SYSTEM: Caller = { projectId: '', isAdmin: true }

/** `rule:admin_or_owner`. */
export function owns(caller: Caller, doc: Doc): boolean {
  return caller.isAdmin || doc.project_id === caller.projectId
}

/** `get_network`: owner, admin, `shared` or `router:external`. */
export function canSeeNetwork(caller: Caller, net: Doc): boolean {
  return owns(caller, net) || net.shared === true || net['router:external'] === true
}

/**
 * `get_subnet`: owner, admin, or a subnet of a `shared` network. A subnet
 * of someone else's external network stays hidden (floating IPs come from
 * it without showing it), as in Neutron.
 */
export function canSeeSubnetsOf(caller: Caller, net: Doc): boolean {
  return owns(caller, net) || net.shared === true
}

/** Attributes only an admin may set (create_network:shared, ...). */
export function requireAdminFor(
  caller: Caller,
  action: string,
  body: Record<string, unknown>,
  attrs: readonly string[],
) {
  if (caller.isAdmin) return
  for (const attr of attrs) {
    if (body[attr] !== undefined) throw policyNotAuthorized(`${action}:${attr}`)
  }
}

/** Only an admin may act for another project. */
export function projectFor(caller: Caller, body: Record<string, unknown>): string {
  const asked = (body.project_id ?? body.tenant_id) as string | undefined
  if (body.project_id !== undefined && body.tenant_id !== undefined && body.project_id !== body.tenant_id) {
    throw badRequest("'project_id' and 'tenant_id' do not match")
  }
  if (asked === undefined || asked === caller.projectId) return caller.projectId
  if (!caller.isAdmin) {
    throw badRequest(
      "Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin privileges",
    )
  }
  return asked
}

/** Drops attributes a non-admin may not read (`get_network:provider:*`, `get_port:binding:*`). */
export function hideAdminOnly(caller: Caller, doc: Record<string, unknown>): Record<string, unknown> {
  if (caller.isAdmin) return doc
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(doc)) {
    if (k.startsWith('provider:') || k.startsWith('binding:')) continue
    out[k] = v
  }
  return out
}
