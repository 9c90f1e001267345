import type { Route } from '../../../service/http.ts'
import type { ApiDeps } from '../deps.ts'
import { aggregateRoutes } from './aggregates.ts'
import { diagnosticsRoutes } from './diagnostics.ts'
import { serverGroupRoutes } from './server-groups.ts'
import { serverMetadataRoutes } from './server-metadata.ts'
import { usageRoutes } from './usage.ts'

/** Server metadata, server groups, aggregates, usage and diagnostics (issue #6, admin half). */
export function adminAreaRoutes(deps: ApiDeps): Route[] {
  return [
    ...serverMetadataRoutes(deps),
    ...serverGroupRoutes(deps),
    ...aggregateRoutes(deps),
    ...usageRoutes(deps),
    ...diagnosticsRoutes(deps),
  ]
}
