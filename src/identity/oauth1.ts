import type { Database } from '../db/index.ts'
import type { Oauth1ConsumerRow } from '../db/tables/identity.ts'
import { nowIso } from '../db/values.ts'
import { NotFound } from '../common/errors.ts'
import { newKeystoneId, parseExtra, type Extra } from './common.ts'

/** An OS-OAUTH1 consumer. The secret is only in `created` answers. */
export interface Consumer {
  readonly id: string
  readonly description: string | null
  readonly extra: Extra
}

export interface CreatedConsumer extends Consumer {
  readonly secret: string
}

const toConsumer = (r: Oauth1ConsumerRow): Consumer => ({
  id: r.id,
  description: r.description,
  extra: parseExtra(r.extra),
})

/**
 * Keystone's OS-OAUTH1 consumers (oauth1/core.py and its sql backend):
 * third-party applications registered to ask users for delegated access.
 * Nimbus stores and serves them; the OAuth1 request/access token flow
 * itself is not implemented.
 */
export class ConsumerManager {
  readonly #db: Database

  constructor(db: Database) {
    this.#db = db
  }

  /** Creates a consumer with a new secret (uuid4 hex, as Keystone), returned only here. */
  async create(input: {
    readonly description?: string | null | undefined
    readonly extra?: Extra | undefined
  }): Promise<CreatedConsumer> {
    const row = {
      id: newKeystoneId(),
      description: input.description ?? null,
      secret: newKeystoneId(),
      extra: JSON.stringify(input.extra ?? {}),
      created_at: nowIso(),
      updated_at: null,
    }
    await this.#db.kysely.insertInto('oauth1_consumers').values(row).execute()
    return { ...toConsumer(row), secret: row.secret }
  }

  async get(id: string): Promise<Consumer> {
    const row = await this.#db.kysely
      .selectFrom('oauth1_consumers')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst()
    if (!row) throw consumerNotFound()
    return toConsumer(row)
  }

  /** Every consumer, oldest first. */
  async list(): Promise<Consumer[]> {
    const rows = await this.#db.kysely
      .selectFrom('oauth1_consumers')
      .selectAll()
      .orderBy('created_at')
      .orderBy('id')
      .execute()
    return rows.map(toConsumer)
  }

  async update(
    id: string,
    patch: { readonly description?: string | null; readonly extra?: Extra },
  ): Promise<Consumer> {
    const before = await this.get(id)
    await this.#db.kysely
      .updateTable('oauth1_consumers')
      .set({
        ...(patch.description !== undefined ? { description: patch.description } : {}),
        ...(patch.extra !== undefined ? { extra: JSON.stringify({ ...before.extra, ...patch.extra }) } : {}),
        updated_at: nowIso(),
      })
      .where('id', '=', id)
      .execute()
    return this.get(id)
  }

  async delete(id: string): Promise<void> {
    const res = await this.#db.kysely.deleteFrom('oauth1_consumers').where('id', '=', id).executeTakeFirst()
    if (Number(res.numDeletedRows) === 0) throw consumerNotFound()
  }
}

/** Keystone's wording (it names no id). */
function consumerNotFound(): NotFound {
  return new NotFound('Consumer not found')
}
