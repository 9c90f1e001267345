import type { Route } from '../../service/http.ts'

/** Neutron's version discovery: `/` lists v2.0. */
export const versionRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/',
    auth: false,
    handler: (req) => ({
      versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ rel: 'self', href: `${req.baseUrl}/v2.0/` }] }],
    }),
  },
]
