import type { Route } from '../../service/http.ts'
import { COMPUTE_MAX_MICROVERSION, COMPUTE_MIN_MICROVERSION } from './microversions.ts'

const V2_UPDATED = '2011-01-21T11:33:21Z'
const V21_UPDATED = '2013-07-23T11:33:21Z'

function v21(baseUrl: string) {
  return {
    id: 'v2.1',
    status: 'CURRENT',
    version: COMPUTE_MAX_MICROVERSION,
    min_version: COMPUTE_MIN_MICROVERSION,
    updated: V21_UPDATED,
    links: [{ rel: 'self', href: `${baseUrl}/v2.1/` }],
  }
}

const DESCRIBED_BY = { rel: 'describedby', type: 'text/html', href: 'http://docs.openstack.org/' }

/**
 * Nova's version discovery: `/` lists v2.0 and v2.1, `/v2` and `/v2.1`
 * describe them (Nova serves v2.0 as v2.1 without microversions; Nimbus
 * serves its document only, so clients that follow the links find it).
 */
export const versionRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/',
    auth: false,
    handler: (req) => ({
      versions: [
        {
          id: 'v2.0',
          status: 'SUPPORTED',
          version: '',
          min_version: '',
          updated: V2_UPDATED,
          links: [{ rel: 'self', href: `${req.baseUrl}/v2/` }],
        },
        v21(req.baseUrl),
      ],
    }),
  },
  {
    method: 'GET',
    path: '/v2',
    auth: false,
    handler: (req) => ({
      version: {
        id: 'v2.0',
        status: 'SUPPORTED',
        version: '',
        min_version: '',
        updated: V2_UPDATED,
        links: [{ rel: 'self', href: `${req.baseUrl}/v2/` }, DESCRIBED_BY],
        'media-types': [
          { base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2' },
        ],
      },
    }),
  },
  {
    method: 'GET',
    path: '/v2.1',
    auth: false,
    handler: (req) => ({
      version: {
        ...v21(req.baseUrl),
        links: [{ rel: 'self', href: `${req.baseUrl}/v2.1/` }, DESCRIBED_BY],
        'media-types': [
          { base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' },
        ],
      },
    }),
  },
]
