import type { Route } from '../../service/http.ts'
import { respond } from '../../service/http.ts'

/** Glance v2 minor versions, newest first (Zed's CURRENT is 2.16). */
const IMAGE_API_MINOR_VERSIONS = 16

function versions(baseUrl: string) {
  const out = []
  for (let minor = IMAGE_API_MINOR_VERSIONS; minor >= 0; minor--) {
    out.push({
      id: `v2.${minor}`,
      status: minor === IMAGE_API_MINOR_VERSIONS ? 'CURRENT' : 'SUPPORTED',
      links: [{ rel: 'self', href: `${baseUrl}/v2/` }],
    })
  }
  return out
}

/** Glance's version discovery: `/` answers 300, `/versions` 200, with the same list. */
export const versionRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/',
    auth: false,
    handler: (req) => respond(300, { versions: versions(req.baseUrl) }),
  },
  { method: 'GET', path: '/versions', auth: false, handler: (req) => ({ versions: versions(req.baseUrl) }) },
]
