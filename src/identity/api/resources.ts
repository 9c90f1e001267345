import { Invalid, NotFound } from '../../common/errors.ts'
import { respond, type ApiRequest, type Route } from '../../service/http.ts'
import { bounded, extraOf, notFound } from '../common.ts'
import { checkTags, type Domain, type Project } from '../resource.ts'
import { immutable } from '../users.ts'
import { defaultDomainId, query, queryFlag, queryList, selfUrl, type IdentityDeps } from './deps.ts'
import { entity, SCHEMAS, validator } from './validation.ts'
import { collection, domainAsProjectView, domainView, projectView } from './views.ts'

const checks = {
  domainCreate: validator(SCHEMAS.domainCreate),
  domainUpdate: validator(SCHEMAS.domainUpdate),
  projectCreate: validator(SCHEMAS.projectCreate),
  projectUpdate: validator(SCHEMAS.projectUpdate),
  tags: validator(SCHEMAS.tags),
}

const DOMAIN_FIELDS = [
  'id',
  'name',
  'description',
  'enabled',
  'tags',
  'options',
  'links',
  'explicit_domain_id',
]
const PROJECT_FIELDS = [
  'id',
  'name',
  'description',
  'enabled',
  'domain_id',
  'parent_id',
  'is_domain',
  'tags',
  'options',
  'links',
]

type Body = Record<string, any>
type Params = Record<string, string>

/** A PATCH whose body names an id must name the one in the path (Keystone's `_require_matching_id`). */
function requireMatchingId(body: Body, id: string): void {
  if (body.id !== undefined && body.id !== id) throw immutable('id')
}

function tagsOf(req: ApiRequest): { tags: string[]; links: { self: string } } {
  return { tags: [], links: { self: selfUrl(req) } }
}

/** Keystone's check that a project acting as a domain is a root: no parent, no domain. */
function requireRoot(b: Body): void {
  if ((b.parent_id ?? null) !== null || (b.domain_id ?? null) !== null)
    throw new Invalid('only root projects are allowed to act as domains.')
}

/** Domains and projects, with project tags. */
export function resourceRoutes(d: IdentityDeps): Route[] {
  const r = d.resources
  // As in Keystone, where a domain is a project with is_domain=true, the project routes reach domains too.
  const projectOrDomain = async (id: string): Promise<{ project: Project } | { domain: Domain }> => {
    try {
      return { project: await r.getProject(id) }
    } catch (err) {
      const domain = err instanceof NotFound ? await r.findDomain(id) : undefined
      if (!domain) throw err
      return { domain }
    }
  }
  return [
    // ---- domains ----
    {
      method: 'GET',
      path: '/v3/domains',
      policy: 'identity:list_domains',
      handler: async (req) => {
        const domains = await r.listDomains({ name: query(req, 'name'), enabled: queryFlag(req, 'enabled') })
        return collection('domains', bounded(domains.map((x) => domainView(x, req.baseUrl))), selfUrl(req))
      },
    },
    {
      method: 'POST',
      path: '/v3/domains',
      policy: 'identity:create_domain',
      status: 201,
      handler: async (req) => {
        const b = entity<Body>(req, 'domain', checks.domainCreate)
        const domain = await r.createDomain({
          id: b.explicit_domain_id,
          name: b.name,
          description: b.description,
          enabled: b.enabled,
          extra: extraOf(b, DOMAIN_FIELDS),
        })
        return { domain: domainView(domain, req.baseUrl) }
      },
    },
    {
      method: 'GET',
      path: '/v3/domains/:domain_id',
      policy: 'identity:get_domain',
      handler: async (req) => ({
        domain: domainView(await r.getDomain((req.params as Params).domain_id!), req.baseUrl),
      }),
    },
    {
      method: 'PATCH',
      path: '/v3/domains/:domain_id',
      policy: 'identity:update_domain',
      handler: async (req) => {
        const id = (req.params as Params).domain_id!
        const b = entity<Body>(req, 'domain', checks.domainUpdate)
        requireMatchingId(b, id)
        const domain = await r.updateDomain(id, {
          name: b.name,
          description: b.description,
          enabled: b.enabled,
          extra: extraOf(b, DOMAIN_FIELDS),
        })
        return { domain: domainView(domain, req.baseUrl) }
      },
    },
    {
      method: 'DELETE',
      path: '/v3/domains/:domain_id',
      policy: 'identity:delete_domain',
      status: 204,
      handler: async (req) => {
        await r.deleteDomain((req.params as Params).domain_id!)
      },
    },

    // ---- projects ----
    {
      method: 'GET',
      path: '/v3/projects',
      policy: 'identity:list_projects',
      handler: async (req) => {
        // A domain-scoped caller sees the projects of their domain only (Keystone filters the same way).
        const domainId = req.ctx.domainId ?? query(req, 'domain_id')
        if (queryFlag(req, 'is_domain')) {
          // Projects acting as domains are the domains (Keystone lists them only when asked for).
          const domains = await r.listDomains({
            name: query(req, 'name'),
            enabled: queryFlag(req, 'enabled'),
          })
          const visible = domains.filter((x) => domainId === undefined || x.id === domainId)
          return collection(
            'projects',
            bounded(visible.map((x) => domainAsProjectView(x, req.baseUrl))),
            selfUrl(req),
          )
        }
        const projects = await r.listProjects({
          domainId,
          name: query(req, 'name'),
          enabled: queryFlag(req, 'enabled'),
          parentId: query(req, 'parent_id'),
          tags: queryList(req, 'tags'),
          tagsAny: queryList(req, 'tags-any'),
          notTags: queryList(req, 'not-tags'),
          notTagsAny: queryList(req, 'not-tags-any'),
        })
        return collection('projects', bounded(projects.map((p) => projectView(p, req.baseUrl))), selfUrl(req))
      },
    },
    {
      method: 'POST',
      path: '/v3/projects',
      policy: 'identity:create_project',
      status: 201,
      handler: async (req) => {
        const b = entity<Body>(req, 'project', checks.projectCreate)
        if (b.is_domain === true) {
          requireRoot(b)
          const domain = await r.createDomain({
            name: b.name,
            description: b.description,
            enabled: b.enabled,
            extra: extraOf(b, PROJECT_FIELDS),
          })
          return { project: domainAsProjectView(domain, req.baseUrl) }
        }
        let domainId: string = b.domain_id ?? undefined
        let parentId: string | undefined = b.parent_id ?? undefined
        if (parentId && !(await r.findProject(parentId)) && (await r.findDomain(parentId))) {
          // A parent acting as a domain (Keystone): a top-level project of that domain.
          domainId ??= parentId
          if (domainId === parentId) parentId = undefined
        }
        if (!domainId && parentId)
          domainId = (await r.findProject(parentId))?.domainId ?? defaultDomainId(req.ctx)
        domainId ??= defaultDomainId(req.ctx)
        const project = await r.createProject({
          name: b.name,
          domainId,
          parentId,
          description: b.description,
          enabled: b.enabled,
          tags: b.tags,
          extra: extraOf(b, PROJECT_FIELDS),
        })
        return { project: projectView(project, req.baseUrl) }
      },
    },
    {
      method: 'GET',
      path: '/v3/projects/:project_id',
      policy: 'identity:get_project',
      handler: async (req) => {
        const found = await projectOrDomain((req.params as Params).project_id!)
        return {
          project:
            'project' in found
              ? projectView(found.project, req.baseUrl)
              : domainAsProjectView(found.domain, req.baseUrl),
        }
      },
    },
    {
      method: 'PATCH',
      path: '/v3/projects/:project_id',
      policy: 'identity:update_project',
      handler: async (req) => {
        const id = (req.params as Params).project_id!
        const b = entity<Body>(req, 'project', checks.projectUpdate)
        requireMatchingId(b, id)
        const found = await projectOrDomain(id)
        if ('domain' in found) {
          if (b.is_domain !== undefined && b.is_domain !== true) throw immutable('is_domain')
          requireRoot(b)
          const domain = await r.updateDomain(id, {
            name: b.name,
            description: b.description,
            enabled: b.enabled,
            extra: extraOf(b, PROJECT_FIELDS),
          })
          return { project: domainAsProjectView(domain, req.baseUrl) }
        }
        const before = found.project
        if (b.domain_id !== undefined && b.domain_id !== before.domainId) throw immutable('domain_id')
        if (b.parent_id !== undefined && b.parent_id !== (before.parentId ?? before.domainId))
          throw immutable('parent_id')
        if (b.is_domain !== undefined && b.is_domain !== false) throw immutable('is_domain')
        const project = await r.updateProject(id, {
          name: b.name,
          description: b.description,
          enabled: b.enabled,
          tags: b.tags,
          extra: extraOf(b, PROJECT_FIELDS),
        })
        return { project: projectView(project, req.baseUrl) }
      },
    },
    {
      method: 'DELETE',
      path: '/v3/projects/:project_id',
      policy: 'identity:delete_project',
      status: 204,
      handler: async (req) => {
        const id = (req.params as Params).project_id!
        // Deleting a project acting as a domain deletes the domain (which must be disabled first).
        if ('domain' in (await projectOrDomain(id))) await r.deleteDomain(id)
        else await r.deleteProject(id)
      },
    },

    // ---- project tags ----
    {
      method: 'GET',
      path: '/v3/projects/:project_id/tags',
      policy: 'identity:list_project_tags',
      handler: async (req) => ({
        ...tagsOf(req),
        tags: (await r.getProject((req.params as Params).project_id!)).tags,
      }),
    },
    {
      method: 'PUT',
      path: '/v3/projects/:project_id/tags',
      policy: 'identity:update_project_tags',
      handler: async (req) => {
        // The tags document is the whole body, not an envelope.
        checks.tags(req.body ?? {})
        const wanted = (req.body as { tags: string[] }).tags
        const tags = await r.setTags((req.params as Params).project_id!, checkTags(wanted))
        return { ...tagsOf(req), tags }
      },
    },
    {
      method: 'DELETE',
      path: '/v3/projects/:project_id/tags',
      policy: 'identity:delete_project_tags',
      status: 204,
      handler: async (req) => {
        await r.setTags((req.params as Params).project_id!, [])
      },
    },
    {
      method: 'GET',
      path: '/v3/projects/:project_id/tags/:value',
      policy: 'identity:get_project_tag',
      status: 204,
      handler: async (req) => {
        const { project_id, value } = req.params as Params
        if (!(await r.getProject(project_id!)).tags.includes(value!)) throw notFound('project tag', value!)
      },
    },
    {
      method: 'PUT',
      path: '/v3/projects/:project_id/tags/:value',
      policy: 'identity:create_project_tag',
      handler: async (req) => {
        const { project_id, value } = req.params as Params
        checkTags([value!])
        await r.addTag(project_id!, value!)
        return respond(201, undefined, { location: selfUrl(req) })
      },
    },
    {
      method: 'DELETE',
      path: '/v3/projects/:project_id/tags/:value',
      policy: 'identity:delete_project_tag',
      status: 204,
      handler: async (req) => {
        const { project_id, value } = req.params as Params
        await r.removeTag(project_id!, value!)
      },
    },
  ]
}
