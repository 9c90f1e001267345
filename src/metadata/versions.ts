import type { Route } from '../service/http.ts'

/** EC2 metadata versions, as Nova's metadata service lists them at `/`. */
export const EC2_METADATA_VERSIONS = [
  '1.0',
  '2007-01-19',
  '2007-03-01',
  '2007-08-29',
  '2007-10-10',
  '2007-12-15',
  '2008-02-01',
  '2008-09-01',
  '2009-04-04',
] as const

export const versionRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/',
    auth: false,
    handler: (req) => {
      req.reply.type('text/plain; charset=UTF-8')
      return [...EC2_METADATA_VERSIONS, 'latest'].join('\n')
    },
  },
]
