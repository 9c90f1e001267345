import type { Route } from '../../service/http.ts'
import { bounded, extraOf } from '../common.ts'
import { immutable } from '../users.ts'
import { defaultDomainId, query, queryFlag, selfUrl, type IdentityDeps } from './deps.ts'
import { entity, SCHEMAS, validator } from './validation.ts'
import { collection, groupView, projectView, userView } from './views.ts'

const checks = {
  userCreate: validator(SCHEMAS.userCreate),
  userUpdate: validator(SCHEMAS.userUpdate),
  passwordChange: validator(SCHEMAS.passwordChange),
  groupCreate: validator(SCHEMAS.groupCreate),
  groupUpdate: validator(SCHEMAS.groupUpdate),
}

/** Columns of a user; every other attribute in a body is kept in `extra` (description, email, ...). */
const USER_FIELDS = [
  'id',
  'name',
  'domain_id',
  'enabled',
  'password',
  'default_project_id',
  'options',
  'links',
  'password_expires_at',
]
const GROUP_FIELDS = ['id', 'name', 'domain_id', 'description', 'links']

type Body = Record<string, any>
type Params = Record<string, string>

/** Users, their password, projects and groups; groups and membership. */
export function userRoutes(d: IdentityDeps): Route[] {
  const u = d.users
  return [
    {
      method: 'GET',
      path: '/v3/users',
      policy: 'identity:list_users',
      handler: async (req) => {
        const users = await u.listUsers({
          domainId: req.ctx.domainId ?? query(req, 'domain_id'),
          name: query(req, 'name'),
          enabled: queryFlag(req, 'enabled'),
        })
        return collection('users', bounded(users.map((x) => userView(x, req.baseUrl))), selfUrl(req))
      },
    },
    {
      method: 'POST',
      path: '/v3/users',
      policy: 'identity:create_user',
      status: 201,
      handler: async (req) => {
        const b = entity<Body>(req, 'user', checks.userCreate)
        const user = await u.createUser({
          name: b.name,
          domainId: b.domain_id ?? defaultDomainId(req.ctx),
          password: b.password,
          enabled: b.enabled,
          defaultProjectId: b.default_project_id,
          extra: extraOf(b, USER_FIELDS),
        })
        return { user: userView(user, req.baseUrl) }
      },
    },
    {
      method: 'GET',
      path: '/v3/users/:user_id',
      policy: 'identity:get_user',
      handler: async (req) => ({
        user: userView(await u.getUser((req.params as Params).user_id!), req.baseUrl),
      }),
    },
    {
      method: 'PATCH',
      path: '/v3/users/:user_id',
      policy: 'identity:update_user',
      handler: async (req) => {
        const id = (req.params as Params).user_id!
        const b = entity<Body>(req, 'user', checks.userUpdate)
        if (b.id !== undefined && b.id !== id) throw immutable('id')
        const before = await u.getUser(id)
        if (b.domain_id !== undefined && b.domain_id !== before.domainId) throw immutable('domain_id')
        const user = await u.updateUser(id, {
          name: b.name,
          password: b.password,
          enabled: b.enabled,
          defaultProjectId: b.default_project_id,
          extra: extraOf(b, [...USER_FIELDS]),
        })
        return { user: userView(user, req.baseUrl) }
      },
    },
    {
      method: 'DELETE',
      path: '/v3/users/:user_id',
      policy: 'identity:delete_user',
      status: 204,
      handler: async (req) => {
        await u.deleteUser((req.params as Params).user_id!)
      },
    },
    {
      // Keystone lets a user change their own password without a token: the original password is the proof.
      method: 'POST',
      path: '/v3/users/:user_id/password',
      auth: false,
      status: 204,
      handler: async (req) => {
        const b = entity<Body>(req, 'user', checks.passwordChange)
        await u.changePassword((req.params as Params).user_id!, b.original_password, b.password)
      },
    },
    {
      method: 'GET',
      path: '/v3/users/:user_id/projects',
      policy: 'identity:list_user_projects',
      handler: async (req) => {
        const userId = (req.params as Params).user_id!
        await u.getUser(userId)
        const enabled = queryFlag(req, 'enabled')
        const name = query(req, 'name')
        const domainId = query(req, 'domain_id')
        const projects = (await d.assignments.projectsForUser(userId)).filter(
          (p) =>
            (enabled === undefined || p.enabled === enabled) &&
            (name === undefined || p.name === name) &&
            (domainId === undefined || p.domainId === domainId),
        )
        return collection('projects', bounded(projects.map((p) => projectView(p, req.baseUrl))), selfUrl(req))
      },
    },
    {
      method: 'GET',
      path: '/v3/users/:user_id/groups',
      policy: 'identity:list_groups_for_user',
      handler: async (req) => {
        const groups = await u.listGroupsForUser((req.params as Params).user_id!)
        return collection('groups', bounded(groups.map((g) => groupView(g, req.baseUrl))), selfUrl(req))
      },
    },

    // ---- groups ----
    {
      method: 'GET',
      path: '/v3/groups',
      policy: 'identity:list_groups',
      handler: async (req) => {
        const groups = await u.listGroups({
          domainId: req.ctx.domainId ?? query(req, 'domain_id'),
          name: query(req, 'name'),
        })
        return collection('groups', bounded(groups.map((g) => groupView(g, req.baseUrl))), selfUrl(req))
      },
    },
    {
      method: 'POST',
      path: '/v3/groups',
      policy: 'identity:create_group',
      status: 201,
      handler: async (req) => {
        const b = entity<Body>(req, 'group', checks.groupCreate)
        const group = await u.createGroup({
          name: b.name,
          domainId: b.domain_id ?? defaultDomainId(req.ctx),
          description: b.description,
          extra: extraOf(b, GROUP_FIELDS),
        })
        return { group: groupView(group, req.baseUrl) }
      },
    },
    {
      method: 'GET',
      path: '/v3/groups/:group_id',
      policy: 'identity:get_group',
      handler: async (req) => ({
        group: groupView(await u.getGroup((req.params as Params).group_id!), req.baseUrl),
      }),
    },
    {
      method: 'PATCH',
      path: '/v3/groups/:group_id',
      policy: 'identity:update_group',
      handler: async (req) => {
        const id = (req.params as Params).group_id!
        const b = entity<Body>(req, 'group', checks.groupUpdate)
        if (b.id !== undefined && b.id !== id) throw immutable('id')
        const group = await u.updateGroup(id, {
          name: b.name,
          description: b.description,
          extra: extraOf(b, GROUP_FIELDS),
        })
        return { group: groupView(group, req.baseUrl) }
      },
    },
    {
      method: 'DELETE',
      path: '/v3/groups/:group_id',
      policy: 'identity:delete_group',
      status: 204,
      handler: async (req) => {
        await u.deleteGroup((req.params as Params).group_id!)
      },
    },
    {
      method: 'GET',
      path: '/v3/groups/:group_id/users',
      policy: 'identity:list_users_in_group',
      handler: async (req) => {
        const users = await u.listUsersInGroup((req.params as Params).group_id!)
        return collection('users', bounded(users.map((x) => userView(x, req.baseUrl))), selfUrl(req))
      },
    },
    {
      method: 'PUT',
      path: '/v3/groups/:group_id/users/:user_id',
      policy: 'identity:add_user_to_group',
      status: 204,
      handler: async (req) => {
        const { group_id, user_id } = req.params as Params
        await u.addUserToGroup(user_id!, group_id!)
      },
    },
    {
      method: 'GET',
      path: '/v3/groups/:group_id/users/:user_id',
      policy: 'identity:check_user_in_group',
      status: 204,
      handler: async (req) => {
        const { group_id, user_id } = req.params as Params
        await u.checkUserInGroup(user_id!, group_id!)
      },
    },
    {
      method: 'DELETE',
      path: '/v3/groups/:group_id/users/:user_id',
      policy: 'identity:remove_user_from_group',
      status: 204,
      handler: async (req) => {
        const { group_id, user_id } = req.params as Params
        await u.removeUserFromGroup(user_id!, group_id!)
      },
    },
  ]
}
