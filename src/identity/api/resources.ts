import { NotImplemented } from '../../common/errors.ts'
import { respond, type ApiRequest, type Route } from '../../service/http.ts'
import { bounded, extraOf, notFound } from '../common.ts'
import { checkTags } from '../resource.ts'
import { immutable } from '../users.ts'
import { defaultDomainId, query, queryFlag, queryList, selfUrl, type IdentityDeps } from './deps.ts'
import { entity, SCHEMAS, validator } from './validation.ts'
import { collection, domainView, projectView } from './views.ts'

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

/** Domains and projects, with project tags. */
export function resourceRoutes(d: IdentityDeps): Route[] {
  const r = d.resources
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
        const isDomain = queryFlag(req, 'is_domain')
        const projects = isDomain
          ? []
          : await r.listProjects({
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
        if (b.is_domain === true) throw new NotImplemented('Projects acting as domains are not supported.')
        let domainId: string = b.domain_id ?? undefined
        if (!domainId && b.parent_id)
          domainId = (await r.findProject(b.parent_id))?.domainId ?? defaultDomainId(req.ctx)
        domainId ??= defaultDomainId(req.ctx)
        const project = await r.createProject({
          name: b.name,
          domainId,
          parentId: b.parent_id,
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
      handler: async (req) => ({
        project: projectView(await r.getProject((req.params as Params).project_id!), req.baseUrl),
      }),
    },
    {
      method: 'PATCH',
      path: '/v3/projects/:project_id',
      policy: 'identity:update_project',
      handler: async (req) => {
        const id = (req.params as Params).project_id!
        const b = entity<Body>(req, 'project', checks.projectUpdate)
        requireMatchingId(b, id)
        const before = await r.getProject(id)
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
        await r.deleteProject((req.params as Params).project_id!)
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
