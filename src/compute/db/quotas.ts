import { sql } from 'kysely'
import type { Transaction } from 'kysely'
import type { DialectName } from '../../db/index.ts'
import type { Queryable, Schema } from '../../db/schema.ts'
import { nowIso } from '../../db/values.ts'

/**
 * Per-project (and per-user) quota overrides set by an admin, and quota
 * classes. Defaults come from the configuration, overridden by the class
 * `default`; usage is never stored, it is counted from the instances and key
 * pairs themselves (see quota.ts).
 */

/** The user_id of a project-wide override. */
const PROJECT_WIDE = ''

/** The quota class whose limits replace the configured defaults (Nova's `default`). */
export const DEFAULT_QUOTA_CLASS = 'default'

/** What may override a configured default, lowest precedence first. */
export interface QuotaLayers {
  /** The `default` quota class. */
  readonly classDefault: Record<string, number>
  /** The project's overrides. */
  readonly project: Record<string, number>
  /** One user's overrides (empty when no user was asked for). */
  readonly user: Record<string, number>
}

const LAYER_CLASS = 0
const LAYER_PROJECT = 1
const LAYER_USER = 2

/**
 * The `default` class, the project's overrides and (with `userId`) one
 * user's, with one query: what every quota check reads.
 */
export async function quotaLayers(db: Queryable, projectId: string, userId?: string): Promise<QuotaLayers> {
  const owners = userId === undefined ? [PROJECT_WIDE] : [PROJECT_WIDE, userId]
  const rows = await db
    .selectFrom('quota_classes')
    .select([sql<number>`${sql.lit(LAYER_CLASS)}`.as('layer'), 'resource', 'hard_limit'])
    .where('class_name', '=', DEFAULT_QUOTA_CLASS)
    .unionAll(
      db
        .selectFrom('quotas')
        .select([
          sql<number>`case when user_id = ${PROJECT_WIDE} then ${sql.lit(LAYER_PROJECT)} else ${sql.lit(LAYER_USER)} end`.as(
            'layer',
          ),
          'resource',
          'hard_limit',
        ])
        .where('project_id', '=', projectId)
        .where('user_id', 'in', owners),
    )
    .execute()
  const layers: QuotaLayers = { classDefault: {}, project: {}, user: {} }
  const byLayer = [layers.classDefault, layers.project, layers.user]
  for (const r of rows) byLayer[Number(r.layer)]![r.resource] = r.hard_limit
  return layers
}

/** resource -> hard limit of one quota class. */
export async function quotaClass(db: Queryable, className: string): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('quota_classes')
    .select(['resource', 'hard_limit'])
    .where('class_name', '=', className)
    .execute()
  return Object.fromEntries(rows.map((r) => [r.resource, r.hard_limit]))
}

/** Creates or updates one limit of a quota class (Nova's update_class / create_class). */
export async function setQuotaClassLimit(
  db: Queryable,
  className: string,
  resource: string,
  hardLimit: number,
): Promise<void> {
  const now = nowIso()
  await db
    .insertInto('quota_classes')
    .values({ class_name: className, resource, hard_limit: hardLimit, created_at: now, updated_at: null })
    .onConflict((oc) =>
      oc.columns(['class_name', 'resource']).doUpdateSet({ hard_limit: hardLimit, updated_at: now }),
    )
    .execute()
}

export async function setQuotaOverride(
  db: Queryable,
  projectId: string,
  userId: string | undefined,
  resource: string,
  hardLimit: number,
): Promise<void> {
  const now = nowIso()
  await db
    .insertInto('quotas')
    .values({
      project_id: projectId,
      user_id: userId ?? PROJECT_WIDE,
      resource,
      hard_limit: hardLimit,
      created_at: now,
      updated_at: null,
    })
    .onConflict((oc) =>
      oc
        .columns(['project_id', 'user_id', 'resource'])
        .doUpdateSet({ hard_limit: hardLimit, updated_at: now }),
    )
    .execute()
}

/** Removes the project's overrides (all of them, or one user's). */
export async function deleteQuotaOverrides(db: Queryable, projectId: string, userId?: string): Promise<void> {
  let q = db.deleteFrom('quotas').where('project_id', '=', projectId)
  if (userId !== undefined) q = q.where('user_id', '=', userId)
  await q.execute()
}

/**
 * Serialises quota checks of one project inside `trx`: the count and the
 * insert that follows happen as one step for concurrent creates. SQLite
 * transactions already take the write lock up front (`begin immediate`);
 * PostgreSQL takes a transaction-scoped advisory lock on the project.
 */
export async function lockProjectQuota(
  trx: Transaction<Schema>,
  dialect: DialectName,
  projectId: string,
): Promise<void> {
  if (dialect !== 'postgres') return
  await sql`select pg_advisory_xact_lock(hashtext(${`nimbus-quota:${projectId}`}))`.execute(trx)
}
