import type { Route } from '../../service/http.ts'
import { respond } from '../../service/http.ts'

/** The Keystone API version Nimbus speaks (Zed's). */
export const IDENTITY_API_VERSION = 'v3.14'
const IDENTITY_VERSION_UPDATED = '2020-04-07T00:00:00Z'

function v3(baseUrl: string) {
  return {
    id: IDENTITY_API_VERSION,
    status: 'stable',
    updated: IDENTITY_VERSION_UPDATED,
    links: [{ rel: 'self', href: `${baseUrl}/v3/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
  }
}

/** Keystone's version discovery: `/` answers 300 Multiple Choices, `/v3` the one version. */
export const versionRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/',
    auth: false,
    handler: (req) => respond(300, { versions: { values: [v3(req.baseUrl)] } }),
  },
  { method: 'GET', path: '/v3', auth: false, handler: (req) => ({ version: v3(req.baseUrl) }) },
]
