import type { FlavorSnapshot } from './objects.ts'

/**
 * A move of a server (Nova's Migration object): resize, cold migration or
 * evacuation. Plain data that crosses RPC unchanged; only
 * `db/migrations.ts` turns rows into these and back.
 */
export interface Migration {
  readonly id: number
  readonly uuid: string
  readonly instanceUuid: string
  readonly sourceCompute: string | null
  readonly sourceNode: string | null
  readonly destCompute: string | null
  readonly destNode: string | null
  readonly destHost: string | null
  readonly oldInstanceTypeId: number | null
  readonly newInstanceTypeId: number | null
  readonly oldFlavor: FlavorSnapshot | null
  readonly newFlavor: FlavorSnapshot | null
  readonly status: string
  readonly migrationType: MigrationType
  readonly hidden: boolean
  readonly userId: string | null
  readonly projectId: string | null
  readonly createdAt: string
  readonly updatedAt: string | null
}

/** The fields of a migration a step may change. */
export type MigrationUpdates = Partial<
  Pick<Migration, 'status' | 'destCompute' | 'destNode' | 'destHost' | 'sourceCompute' | 'sourceNode'>
>

/** Nova's MigrationType (`live-migration` is not served: no live moves). */
export const MigrationType = {
  RESIZE: 'resize',
  MIGRATION: 'migration',
  EVACUATION: 'evacuation',
} as const
export type MigrationType = (typeof MigrationType)[keyof typeof MigrationType]

/** Nova's migration statuses for the moves Nimbus runs, in the order a move goes through them. */
export const MigrationStatus = {
  PRE_MIGRATING: 'pre-migrating',
  MIGRATING: 'migrating',
  POST_MIGRATING: 'post-migrating',
  FINISHED: 'finished',
  CONFIRMING: 'confirming',
  CONFIRMED: 'confirmed',
  REVERTING: 'reverting',
  REVERTED: 'reverted',
  ERROR: 'error',
  FAILED: 'failed',
  /** Evacuation: recorded by the API. */
  ACCEPTED: 'accepted',
  /** Evacuation: rebuilt on the destination. */
  DONE: 'done',
  /** Evacuation: the source host, back up, destroyed its stale guest. */
  COMPLETED: 'completed',
} as const

/**
 * Statuses in which a resize or cold migration holds resources on both
 * hosts: the old flavor on the source, the new one on the destination
 * (Nova's placement keeps both allocations until confirm or revert).
 */
export const MOVE_HOLDING_STATUSES: readonly string[] = [
  MigrationStatus.PRE_MIGRATING,
  MigrationStatus.MIGRATING,
  MigrationStatus.POST_MIGRATING,
  MigrationStatus.FINISHED,
  MigrationStatus.CONFIRMING,
  MigrationStatus.REVERTING,
]

/** Resource tracker key of a destination claim made while the instance still holds its own on the same host. */
export function moveClaimKey(migrationUuid: string): string {
  return `migration:${migrationUuid}`
}
