import { sql } from 'kysely'
import type { Transaction } from 'kysely'
import type { DialectName } from '../../db/index.ts'
import type { Queryable, Schema } from '../../db/schema.ts'
import { nowIso } from '../../db/values.ts'

/**
 * Per-project (and per-user) quota overrides set by an admin. Defaults come
 * from the configuration; usage is never stored, it is counted from the
 * instances and key pairs themselves (see quota.ts).
 */

/** The user_id of a project-wide override. */
const PROJECT_WIDE = ''

/** resource -> hard limit, for the project (userId undefined) or one user in it. */
export async function quotaOverrides(
  db: Queryable,
  projectId: string,
  userId?: string,
): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('quotas')
    .select(['resource', 'hard_limit'])
    .where('project_id', '=', projectId)
    .where('user_id', '=', userId ?? PROJECT_WIDE)
    .execute()
  return Object.fromEntries(rows.map((r) => [r.resource, r.hard_limit]))
}

/** The project's overrides and one user's, with one query. */
export async function projectAndUserOverrides(
  db: Queryable,
  projectId: string,
  userId: string,
): Promise<{ project: Record<string, number>; user: Record<string, number> }> {
  const rows = await db
    .selectFrom('quotas')
    .select(['user_id', 'resource', 'hard_limit'])
    .where('project_id', '=', projectId)
    .where('user_id', 'in', [PROJECT_WIDE, userId])
    .execute()
  const project: Record<string, number> = {}
  const user: Record<string, number> = {}
  for (const r of rows) (r.user_id === PROJECT_WIDE ? project : user)[r.resource] = r.hard_limit
  return { project, user }
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
