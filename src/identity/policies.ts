import type { Database } from '../db/index.ts'
import type { PolicyRow } from '../db/tables/identity.ts'
import { nowIso } from '../db/values.ts'
import { newKeystoneId, notFound, parseExtra, type Extra } from './common.ts'

/** One of Keystone's `/v3/policies` entries: an opaque blob with a MIME-like type. */
export interface PolicyBlob {
  readonly id: string
  readonly type: string
  readonly blob: string
  readonly extra: Extra
}

const toPolicy = (r: PolicyRow): PolicyBlob => ({
  id: r.id,
  type: r.type,
  blob: r.blob,
  extra: parseExtra(r.extra),
})

/**
 * Keystone's policy API (`/v3/policies`, deprecated upstream since Queens but
 * still served): stores policy documents for other services to fetch. The
 * identity service never enforces them; its own rules come from
 * `IDENTITY_POLICY_DEFAULTS` and `[identity] policy_file`.
 */
export class PolicyBlobManager {
  readonly #db: Database

  constructor(db: Database) {
    this.#db = db
  }

  async create(input: {
    readonly type: string
    readonly blob: string
    readonly extra?: Extra | undefined
  }): Promise<PolicyBlob> {
    const row = {
      id: newKeystoneId(),
      type: input.type,
      blob: input.blob,
      extra: JSON.stringify(input.extra ?? {}),
      created_at: nowIso(),
      updated_at: null,
    }
    await this.#db.kysely.insertInto('policies').values(row).execute()
    return toPolicy(row)
  }

  async get(id: string): Promise<PolicyBlob> {
    const row = await this.#db.kysely
      .selectFrom('policies')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst()
    if (!row) throw notFound('policy', id)
    return toPolicy(row)
  }

  /** Every policy, oldest first; `type` filters as Keystone's `?type=`. */
  async list(f: { readonly type?: string | undefined } = {}): Promise<PolicyBlob[]> {
    let q = this.#db.kysely.selectFrom('policies').selectAll().orderBy('created_at').orderBy('id')
    if (f.type !== undefined) q = q.where('type', '=', f.type)
    return (await q.execute()).map(toPolicy)
  }

  async update(
    id: string,
    patch: { readonly type?: string; readonly blob?: string; readonly extra?: Extra },
  ): Promise<PolicyBlob> {
    const before = await this.get(id)
    await this.#db.kysely
      .updateTable('policies')
      .set({
        ...(patch.type !== undefined ? { type: patch.type } : {}),
        ...(patch.blob !== undefined ? { blob: patch.blob } : {}),
        ...(patch.extra !== undefined ? { extra: JSON.stringify({ ...before.extra, ...patch.extra }) } : {}),
        updated_at: nowIso(),
      })
      .where('id', '=', id)
      .execute()
    return this.get(id)
  }

  async delete(id: string): Promise<void> {
    const res = await this.#db.kysely.deleteFrom('policies').where('id', '=', id).executeTakeFirst()
    if (Number(res.numDeletedRows) === 0) throw notFound('policy', id)
  }
}
