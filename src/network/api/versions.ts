import type { Route } from '../../service/http.ts'

/** The v2.0 collections `GET /v2.0/` lists: [resource name, collection]. */
const V2_RESOURCES: readonly [name: string, collection: string][] = [
  ['network', 'networks'],
  ['subnet', 'subnets'],
  ['port', 'ports'],
  ['security_group', 'security-groups'],
  ['security_group_rule', 'security-group-rules'],
  ['router', 'routers'],
  ['floatingip', 'floatingips'],
  ['quota', 'quotas'],
  ['extension', 'extensions'],
]

/**
 * Neutron's version discovery: `/` lists v2.0 (no token needed); `/v2.0/`
 * lists the collections with links (behind authentication, as in Neutron).
 */
export const versionRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/',
    auth: false,
    handler: (req) => ({
      versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ rel: 'self', href: `${req.baseUrl}/v2.0/` }] }],
    }),
  },
  {
    method: 'GET',
    path: '/v2.0',
    handler: (req) => ({
      resources: V2_RESOURCES.map(([name, collection]) => ({
        name,
        collection,
        links: [{ href: `${req.baseUrl}/v2.0/${collection}`, rel: 'self' }],
      })),
    }),
  },
]
