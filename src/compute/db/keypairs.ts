import { Conflict, NotFound, registerErrorClass } from '../../common/errors.ts'
import { paginate } from '../../db/paginate.ts'
import type { Queryable } from '../../db/schema.ts'
import type { KeyPairRow } from '../../db/tables/compute.ts'
import { nowIso } from '../../db/values.ts'
import type { KeyPair } from '../objects.ts'

/** Key pairs, per user (Nova's API database `key_pairs`). */

export class KeypairNotFound extends NotFound {}
registerErrorClass(KeypairNotFound)
export class KeyPairExists extends Conflict {}
registerErrorClass(KeyPairExists)

export function keypairNotFound(name: string, userId: string): KeypairNotFound {
  return new KeypairNotFound(`Keypair ${name} not found for user ${userId}`)
}

function keypairFromRow(row: KeyPairRow): KeyPair {
  return {
    id: row.id,
    name: row.name,
    userId: row.user_id,
    fingerprint: row.fingerprint,
    publicKey: row.public_key,
    type: row.type === 'x509' ? 'x509' : 'ssh',
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

export interface NewKeyPair {
  readonly name: string
  readonly userId: string
  readonly fingerprint: string
  readonly publicKey: string
  readonly type: 'ssh' | 'x509'
}

export async function createKeyPair(db: Queryable, k: NewKeyPair): Promise<KeyPair> {
  try {
    const row = await db
      .insertInto('key_pairs')
      .values({
        name: k.name,
        user_id: k.userId,
        fingerprint: k.fingerprint,
        public_key: k.publicKey,
        type: k.type,
        created_at: nowIso(),
        updated_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
    return keypairFromRow(row)
  } catch (err) {
    if (err instanceof Conflict) throw new KeyPairExists(`Key pair '${k.name}' already exists.`)
    throw err
  }
}

export async function getKeyPair(db: Queryable, userId: string, name: string): Promise<KeyPair> {
  const row = await db
    .selectFrom('key_pairs')
    .selectAll()
    .where('user_id', '=', userId)
    .where('name', '=', name)
    .executeTakeFirst()
  if (!row) throw keypairNotFound(name, userId)
  return keypairFromRow(row)
}

export async function deleteKeyPair(db: Queryable, userId: string, name: string): Promise<void> {
  const result = await db
    .deleteFrom('key_pairs')
    .where('user_id', '=', userId)
    .where('name', '=', name)
    .executeTakeFirst()
  if (result.numDeletedRows === 0n) throw keypairNotFound(name, userId)
}

export async function countKeyPairs(db: Queryable, userId: string): Promise<number> {
  const row = await db
    .selectFrom('key_pairs')
    .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

/** A user's key pairs by name; the marker is a key pair name (2.35). */
export async function listKeyPairs(
  db: Queryable,
  userId: string,
  page: { limit?: number | undefined; marker?: string | undefined } = {},
): Promise<{ readonly items: KeyPair[]; readonly hasMore: boolean }> {
  let markerId: number | undefined
  if (page.marker !== undefined) {
    const m = await db
      .selectFrom('key_pairs')
      .select('id')
      .where('user_id', '=', userId)
      .where('name', '=', page.marker)
      .executeTakeFirst()
    if (!m) throw new NotFound(`Marker ${page.marker} could not be found.`, { markerNotFound: true })
    markerId = m.id
  }
  const q = db.selectFrom('key_pairs').selectAll().where('user_id', '=', userId)
  const result = await paginate(db, q, {
    table: 'key_pairs',
    sort: [{ column: 'name', direction: 'asc' }],
    limit: page.limit,
    marker: markerId,
    idColumn: 'id',
  })
  return { items: result.items.map(keypairFromRow), hasMore: result.hasMore }
}
