import { randomUUID } from 'node:crypto'
import type { RequestContext } from '../../../common/context.ts'
import { Conflict, Invalid, NotFound } from '../../../common/errors.ts'
import { respond, type Route } from '../../../service/http.ts'
import {
  addFlavorAccess,
  createFlavor,
  deleteExtraSpec,
  deleteFlavor,
  flavorNotFound,
  flavorProjects,
  getFlavor,
  hasFlavorAccess,
  listFlavors,
  removeFlavorAccess,
  setFlavorDescription,
  upsertExtraSpecs,
} from '../../db/flavors.ts'
import type { Flavor } from '../../objects.ts'
import {
  boolFromString,
  collectionLinks,
  last,
  limitAndMarker,
  resourceLinks,
  versionedRoute,
  type ComputeRequest,
} from '../common.ts'
import type { ApiDeps } from '../deps.ts'
import { validateExtraSpec } from '../extra-specs.ts'
import {
  addTenantAccess,
  CREATE_SCHEMAS,
  extraSpecsCreate,
  extraSpecUpdate,
  INDEX_QUERY_SCHEMAS,
  removeTenantAccess,
  update as updateSchema,
} from '../schemas/flavors.ts'
import { schemaFor, validateBody, validateQuery } from '../validation.ts'

/** Flavors (list, show, manage), their extra specs and their project access. */
export function flavorRoutes(deps: ApiDeps): Route[] {
  const r = (
    method: Route['method'],
    path: string,
    status: number,
    handler: (req: ComputeRequest) => unknown,
  ) => versionedRoute({ method, path, status, handler })
  return [
    r('GET', '/v2.1/flavors', 200, (req) => listView(deps, req, false)),
    r('GET', '/v2.1/flavors/detail', 200, (req) => listView(deps, req, true)),
    r('GET', '/v2.1/flavors/:flavor_id', 200, (req) => showFlavor(deps, req)),
    r('POST', '/v2.1/flavors', 200, (req) => createFlavorRoute(deps, req)),
    r('PUT', '/v2.1/flavors/:flavor_id', 200, (req) => updateFlavor(deps, req)),
    r('DELETE', '/v2.1/flavors/:flavor_id', 202, (req) => deleteFlavorRoute(deps, req)),
    r('POST', '/v2.1/flavors/:flavor_id/action', 200, (req) => flavorAction(deps, req)),
    r('GET', '/v2.1/flavors/:flavor_id/os-flavor-access', 200, (req) => listAccess(deps, req)),
    r('GET', '/v2.1/flavors/:flavor_id/os-extra_specs', 200, (req) => listExtraSpecs(deps, req)),
    r('POST', '/v2.1/flavors/:flavor_id/os-extra_specs', 200, (req) => createExtraSpecs(deps, req)),
    r('GET', '/v2.1/flavors/:flavor_id/os-extra_specs/:key', 200, (req) => showExtraSpec(deps, req)),
    r('PUT', '/v2.1/flavors/:flavor_id/os-extra_specs/:key', 200, (req) => updateExtraSpec(deps, req)),
    r('DELETE', '/v2.1/flavors/:flavor_id/os-extra_specs/:key', 200, (req) =>
      deleteExtraSpecRoute(deps, req),
    ),
  ]
}

const DESCRIPTION_MICROVERSION = '2.55'
const EXTRA_SPECS_MICROVERSION = '2.61'
/** Longest extra spec value (Nova checks numbers given as JSON numbers against it). */
const EXTRA_SPEC_VALUE_MAX_CHARS = 255

// ---- views ----

function basicView(req: ComputeRequest, flavor: Flavor) {
  return {
    id: flavor.flavorid,
    name: flavor.name,
    links: resourceLinks(req, 'flavors', flavor.flavorid),
    ...(req.mv.atLeast(DESCRIPTION_MICROVERSION) ? { description: flavor.description } : {}),
  }
}

function showView(req: ComputeRequest, flavor: Flavor, withExtraSpecs: boolean) {
  const view: Record<string, unknown> = {
    id: flavor.flavorid,
    name: flavor.name,
    ram: flavor.memoryMb,
    disk: flavor.rootGb,
    swap: req.mv.atLeast('2.75') ? flavor.swapMb || 0 : flavor.swapMb || '',
    'OS-FLV-EXT-DATA:ephemeral': flavor.ephemeralGb,
    'OS-FLV-DISABLED:disabled': flavor.disabled,
    vcpus: flavor.vcpus,
    'os-flavor-access:is_public': flavor.isPublic,
    rxtx_factor: flavor.rxtxFactor || '',
    links: resourceLinks(req, 'flavors', flavor.flavorid),
  }
  if (req.mv.atLeast(DESCRIPTION_MICROVERSION)) view.description = flavor.description
  if (withExtraSpecs) view.extra_specs = flavor.extraSpecs
  return view
}

function canSeeExtraSpecs(deps: ApiDeps, req: ComputeRequest): boolean {
  return (
    req.mv.atLeast(EXTRA_SPECS_MICROVERSION) &&
    deps.policy.can(req.api.ctx, 'os_compute_api:os-flavor-extra-specs:index')
  )
}

// ---- flavors ----

async function listView(deps: ApiDeps, req: ComputeRequest, detail: boolean) {
  validateQuery(schemaFor(INDEX_QUERY_SCHEMAS, req.mv)!, req.query)
  const ctx = req.api.ctx
  const { limit, marker } = limitAndMarker(req)
  const filter = {
    ...(ctx.isAdmin
      ? { isPublic: parseIsPublic(last(req.query, 'is_public')) }
      : { isPublic: true, disabled: false }),
    accessProjectId: ctx.projectId,
    minMemoryMb: intFilter(req, 'minRam'),
    minRootGb: intFilter(req, 'minDisk'),
  }
  let page
  try {
    page = await listFlavors(deps.db.kysely, filter, {
      sortKey: last(req.query, 'sort_key') || 'flavorid',
      sortDir: (last(req.query, 'sort_dir') || 'asc') as 'asc' | 'desc',
      limit,
      marker,
    })
  } catch (err) {
    if (err instanceof NotFound && marker !== undefined) throw new Invalid(`marker [${marker}] not found`)
    throw err
  }
  const withSpecs = detail && canSeeExtraSpecs(deps, req)
  const flavors = page.items.map((f) => (detail ? showView(req, f, withSpecs) : basicView(req, f)))
  const links = collectionLinks(
    req,
    detail ? 'flavors/detail' : 'flavors',
    page.items.length,
    page.items.at(-1)?.flavorid,
  )
  return links.length ? { flavors, flavors_links: links } : { flavors }
}

/** Nova's `_parse_is_public`: absent means public only; "none" means both. */
function parseIsPublic(value: string | undefined): boolean | null {
  if (value === undefined) return true
  if (value.toLowerCase() === 'none') return null
  const parsed = boolFromString(value, true)
  if (parsed === undefined) throw new Invalid(`Invalid is_public filter [${value}]`)
  return parsed
}

function intFilter(req: ComputeRequest, name: string): number | undefined {
  const value = last(req.query, name)
  if (value === undefined) return undefined
  if (!/^\s*[+-]?\d+\s*$/.test(value)) throw new Invalid(`Invalid ${name} filter [${value}]`)
  return Number(value)
}

/** A flavor the caller may see: non-admins see public flavors and those shared with their project. */
async function visibleFlavor(deps: ApiDeps, ctx: RequestContext, flavorId: string): Promise<Flavor> {
  const flavor = await getFlavor(deps.db.kysely, flavorId)
  if (!ctx.isAdmin && !(await hasFlavorAccess(deps.db.kysely, flavor, ctx.projectId)))
    throw flavorNotFound(flavorId)
  return flavor
}

async function showFlavor(deps: ApiDeps, req: ComputeRequest) {
  const flavor = await visibleFlavor(deps, req.api.ctx, req.params.flavor_id!)
  return { flavor: showView(req, flavor, canSeeExtraSpecs(deps, req)) }
}

async function createFlavorRoute(deps: ApiDeps, req: ComputeRequest) {
  validateBody(schemaFor(CREATE_SCHEMAS, req.mv)!, req.body)
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-flavor-manage:create', {})
  const vals = (req.body as { flavor: Record<string, any> }).flavor
  const flavor = await createFlavor(deps.db.kysely, {
    flavorid:
      vals.id === undefined || vals.id === null || vals.id === 'auto' ? randomUUID() : String(vals.id),
    name: String(vals.name).trim(),
    memoryMb: Number(vals.ram),
    vcpus: Number(vals.vcpus),
    rootGb: Number(vals.disk),
    ephemeralGb: Number(vals['OS-FLV-EXT-DATA:ephemeral'] ?? 0),
    swapMb: Number(vals.swap ?? 0),
    rxtxFactor: Number(vals.rxtx_factor ?? 1.0),
    isPublic: boolFromString(vals['os-flavor-access:is_public'] ?? true)!,
    description: req.mv.atLeast(DESCRIPTION_MICROVERSION) ? (vals.description ?? null) : null,
  })
  return { flavor: showView(req, flavor, canSeeExtraSpecs(deps, req)) }
}

async function updateFlavor(deps: ApiDeps, req: ComputeRequest) {
  // Before 2.55 the route does not exist (Nova: no method for this version).
  if (!req.mv.atLeast(DESCRIPTION_MICROVERSION)) throw new NotFound('The resource could not be found.')
  validateBody(updateSchema, req.body)
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-flavor-manage:update', {})
  const description = (req.body as { flavor: { description: string | null } }).flavor.description
  const flavor = await setFlavorDescription(deps.db.kysely, req.params.flavor_id!, description)
  return { flavor: showView(req, flavor, canSeeExtraSpecs(deps, req)) }
}

async function deleteFlavorRoute(deps: ApiDeps, req: ComputeRequest) {
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-flavor-manage:delete', {})
  await deleteFlavor(deps.db.kysely, req.params.flavor_id!)
  return respond(202)
}

// ---- access ----

function accessView(flavorId: string, projects: readonly string[]) {
  return { flavor_access: projects.map((p) => ({ flavor_id: flavorId, tenant_id: p })) }
}

async function listAccess(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-flavor-access')
  const flavor = await visibleFlavor(deps, ctx, req.params.flavor_id!)
  if (flavor.isPublic) throw new NotFound('Access list not available for public flavors.')
  return accessView(flavor.flavorid, await flavorProjects(deps.db.kysely, flavor.flavorid))
}

async function flavorAction(deps: ApiDeps, req: ComputeRequest) {
  const body = req.body as Record<string, any> | undefined
  const action = body && typeof body === 'object' ? Object.keys(body)[0] : undefined
  const ctx = req.api.ctx
  const flavorId = req.params.flavor_id!
  if (action === 'addTenantAccess') {
    validateBody(addTenantAccess, body)
    deps.policy.authorize(ctx, 'os_compute_api:os-flavor-access:add_tenant_access', {})
    const flavor = await visibleFlavor(deps, ctx, flavorId)
    if (req.mv.atLeast('2.7') && flavor.isPublic) throw new Conflict('Can not add access to a public flavor.')
    await addFlavorAccess(deps.db.kysely, flavorId, body!.addTenantAccess.tenant)
  } else if (action === 'removeTenantAccess') {
    validateBody(removeTenantAccess, body)
    deps.policy.authorize(ctx, 'os_compute_api:os-flavor-access:remove_tenant_access', {})
    await visibleFlavor(deps, ctx, flavorId)
    await removeFlavorAccess(deps.db.kysely, flavorId, body!.removeTenantAccess.tenant)
  } else {
    throw new Invalid(`There is no such action: ${action ?? ''}`)
  }
  return accessView(flavorId, await flavorProjects(deps.db.kysely, flavorId))
}

// ---- extra specs ----

/** Numbers become strings (at most 255 characters); from 2.86 known specs are validated. */
function checkedSpecs(req: ComputeRequest, specs: Record<string, string | number>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, raw] of Object.entries(specs)) {
    const value = String(raw)
    if (typeof raw === 'number' && value.length > EXTRA_SPEC_VALUE_MAX_CHARS) {
      throw new Invalid(
        `Invalid input received: extra_specs value has more than ${EXTRA_SPEC_VALUE_MAX_CHARS} characters.`,
      )
    }
    if (req.mv.atLeast('2.86')) validateExtraSpec(key, value)
    out[key] = value
  }
  return out
}

async function listExtraSpecs(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-flavor-extra-specs:index', {
    project_id: ctx.projectId ?? null,
  })
  const flavor = await visibleFlavor(deps, ctx, req.params.flavor_id!)
  return { extra_specs: flavor.extraSpecs }
}

async function createExtraSpecs(deps: ApiDeps, req: ComputeRequest) {
  validateBody(extraSpecsCreate, req.body)
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-flavor-extra-specs:create', {})
  const body = req.body as { extra_specs: Record<string, string | number> }
  const specs = checkedSpecs(req, body.extra_specs)
  await visibleFlavor(deps, ctx, req.params.flavor_id!)
  await upsertExtraSpecs(deps.db.kysely, req.params.flavor_id!, specs)
  return body
}

async function showExtraSpec(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-flavor-extra-specs:show', {
    project_id: ctx.projectId ?? null,
  })
  const flavor = await visibleFlavor(deps, ctx, req.params.flavor_id!)
  const key = req.params.key!
  if (!(key in flavor.extraSpecs)) {
    throw new NotFound(`Flavor ${flavor.flavorid} has no extra specs with key ${key}.`)
  }
  return { [key]: flavor.extraSpecs[key] }
}

async function updateExtraSpec(deps: ApiDeps, req: ComputeRequest) {
  validateBody(extraSpecUpdate, req.body)
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-flavor-extra-specs:update', {})
  const body = req.body as Record<string, string | number>
  const specs = checkedSpecs(req, body)
  if (!(req.params.key! in body)) throw new Invalid('Request body and URI mismatch')
  await visibleFlavor(deps, ctx, req.params.flavor_id!)
  await upsertExtraSpecs(deps.db.kysely, req.params.flavor_id!, specs)
  return body
}

async function deleteExtraSpecRoute(deps: ApiDeps, req: ComputeRequest) {
  const ctx = req.api.ctx
  deps.policy.authorize(ctx, 'os_compute_api:os-flavor-extra-specs:delete', {})
  await visibleFlavor(deps, ctx, req.params.flavor_id!)
  await deleteExtraSpec(deps.db.kysely, req.params.flavor_id!, req.params.key!)
  return respond(200)
}
