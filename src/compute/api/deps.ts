import type { Config } from '../../common/config.ts'
import type { RequestContext } from '../../common/context.ts'
import type { Database } from '../../db/index.ts'
import type { NetworkApi } from '../../network/api.ts'
import type { ComputeApi } from '../api.ts'
import { getInstance, instanceNotFound } from '../db/instances.ts'
import type { HostApi } from '../host-api.ts'
import type { Instance } from '../objects.ts'
import type { ComputePolicy } from '../policy.ts'
import type { QuotaEngine } from '../quota.ts'
import type { ComputeRpcApi } from '../rpcapi.ts'
import type { ServerActionsApi } from '../server-actions.ts'

/** What the compute API's route handlers are given: the facades they call. */
export interface ApiDeps {
  readonly config: Config
  readonly db: Database
  readonly compute: ComputeApi
  readonly hosts: HostApi
  readonly policy: ComputePolicy
  readonly quotas: QuotaEngine
  readonly computeRpc: ComputeRpcApi
  /** Neutron for the proxy APIs (os-interface, os-security-groups) and server create checks. */
  readonly network: NetworkApi
  /** The server actions that involve a host (reboot, stop, rescue, shelve, createImage ...). */
  readonly actions: ServerActionsApi
}

/**
 * An instance as the caller may see it: other projects' servers do not
 * exist for a non-admin (Nova's project_only lookups answer 404, not 403).
 */
export async function instanceForCaller(
  deps: ApiDeps,
  ctx: RequestContext,
  uuid: string,
  readDeleted = false,
): Promise<Instance> {
  const instance = await getInstance(deps.db.kysely, uuid, { readDeleted })
  if (!ctx.isAdmin && instance.projectId !== ctx.projectId) throw instanceNotFound(uuid)
  return instance
}
