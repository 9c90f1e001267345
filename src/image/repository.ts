import { sql, type Expression, type ExpressionBuilder, type SqlBool, type Transaction } from 'kysely'
import { Conflict, NotFound } from '../common/errors.ts'
import type { Database, Schema } from '../db/index.ts'
import { paginate, type Page } from '../db/paginate.ts'
import type { ImageMemberRow, ImageRow, ImageUpdate, NewImageRow } from '../db/tables/image.ts'
import { nowIso } from '../db/values.ts'
import type { ColumnFilter, ListQuery } from './list-query.ts'
import type { Image, ImageStatus, MemberStatus, Visibility } from './model.ts'
import { VISIBLE_TO_ALL, VISIBLE_TO_MEMBERS, type Viewer } from './visibility.ts'

/**
 * Image records in the database: the images table plus their extra
 * properties, tags and members. Every function takes the Database and
 * returns domain objects; visibility and policy are the manager's business,
 * except in `listImages`, where Glance's visibility rules are part of the
 * query so that pages stay full.
 */

/** The columns an image update (a JSON patch) may change. */
export const WRITABLE_COLUMNS = [
  'name',
  'visibility',
  'protected',
  'os_hidden',
  'min_disk',
  'min_ram',
  'owner',
  'disk_format',
  'container_format',
] as const
export type ImageFieldChanges = Partial<Pick<ImageUpdate, (typeof WRITABLE_COLUMNS)[number]>>

/** Who is listing, for the visibility part of the list query. */
export type { Viewer } from './visibility.ts'

export interface ImageMember {
  readonly image_id: string
  readonly member_id: string
  readonly status: MemberStatus
  readonly created_at: string
  readonly updated_at: string
}

type ImagesEb = ExpressionBuilder<Schema, 'images'>

/**
 * Inserts a new image with its properties and tags. A duplicate id is a
 * Conflict (`isDuplicate`), and so is the id of a deleted image.
 */
export async function insertImage(db: Database, image: Image): Promise<void> {
  await db.transaction(async (trx) => {
    const deleted = await trx
      .selectFrom('image_deleted_ids')
      .select('id')
      .where('id', '=', image.id)
      .executeTakeFirst()
    if (deleted) throw new Conflict(`image ${image.id} was deleted`, { dbError: 'unique_violation' })
    await trx.insertInto('images').values(toRow(image)).execute()
    await writeProperties(trx, image.id, image.properties)
    await writeTags(trx, image.id, image.tags, image.created_at)
  })
}

/** The image with this id, or undefined. */
export async function findImage(db: Database, id: string): Promise<Image | undefined> {
  const row = await db.kysely.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirst()
  if (!row) return undefined
  return (await withDetails(db, [row]))[0]
}

/**
 * Writes the changed state of an image: its row, and its properties and
 * tags when they are given. With `fromStatus`, only if the image is still
 * in that status (a compare-and-set: concurrent uploads and status changes
 * cannot both win). Returns false when no row matched.
 */
export async function updateImage(
  db: Database,
  id: string,
  change: {
    readonly fields: ImageUpdate
    readonly properties?: Readonly<Record<string, string>>
    readonly tags?: readonly string[]
  },
  fromStatus?: ImageStatus,
): Promise<boolean> {
  return db.transaction(async (trx) => {
    let q = trx
      .updateTable('images')
      .set({ ...change.fields, updated_at: nowIso() })
      .where('id', '=', id)
    if (fromStatus) q = q.where('status', '=', fromStatus)
    const result = await q.executeTakeFirst()
    if (Number(result.numUpdatedRows) === 0) return false
    if (change.properties) {
      await trx.deleteFrom('image_properties').where('image_id', '=', id).execute()
      await writeProperties(trx, id, change.properties)
    }
    if (change.tags) await replaceTags(trx, id, change.tags)
    return true
  })
}

/**
 * Deletes an image and (by cascade) its properties, tags and members, and
 * keeps its id so that no new image takes it. False when it was not there.
 */
export async function deleteImage(db: Database, id: string): Promise<boolean> {
  return db.transaction(async (trx) => {
    const result = await trx.deleteFrom('images').where('id', '=', id).executeTakeFirst()
    if (Number(result.numDeletedRows) === 0) return false
    await trx.insertInto('image_deleted_ids').values({ id, deleted_at: nowIso() }).execute()
    return true
  })
}

/** Adds one tag (a no-op when present). */
export async function addTag(db: Database, id: string, tag: string): Promise<void> {
  await db.transaction(async (trx) => {
    const exists = await trx
      .selectFrom('image_tags')
      .select('value')
      .where('image_id', '=', id)
      .where('value', '=', tag)
      .executeTakeFirst()
    if (!exists)
      await trx.insertInto('image_tags').values({ image_id: id, value: tag, created_at: nowIso() }).execute()
    await touch(trx, id)
  })
}

/** Removes one tag; false when the image did not have it. */
export async function removeTag(db: Database, id: string, tag: string): Promise<boolean> {
  return db.transaction(async (trx) => {
    const result = await trx
      .deleteFrom('image_tags')
      .where('image_id', '=', id)
      .where('value', '=', tag)
      .executeTakeFirst()
    if (Number(result.numDeletedRows) === 0) return false
    await touch(trx, id)
    return true
  })
}

/** Moves images left in `from` (by a process that died mid-upload) to `to`. Returns how many. */
export async function resetStatus(db: Database, from: ImageStatus, to: ImageStatus): Promise<number> {
  const result = await db.kysely
    .updateTable('images')
    .set({ status: to, size: null, virtual_size: null, updated_at: nowIso() })
    .where('status', '=', from)
    .executeTakeFirst()
  return Number(result.numUpdatedRows)
}

/** One page of the images `viewer` may list, filtered and sorted as `query` says. */
export async function listImages(db: Database, query: ListQuery, viewer: Viewer): Promise<Page<Image>> {
  if (query.limit === 0) return { items: [], hasMore: false }
  let q = db.kysely.selectFrom('images').selectAll('images')
  q = q.where((eb) => eb.and(listConditions(eb, query, viewer)))
  const page = await paginate(db.kysely, q, {
    table: 'images',
    sort: query.sort,
    limit: query.limit,
    marker: query.marker,
  })
  return { items: await withDetails(db, page.items), hasMore: page.hasMore }
}

function listConditions(eb: ImagesEb, query: ListQuery, viewer: Viewer): Expression<SqlBool>[] {
  const conditions: Expression<SqlBool>[] = [
    // Glance never lists killed images.
    eb('images.status', '!=', 'killed'),
    eb('images.os_hidden', '=', query.osHidden),
  ]
  if (!viewer.isAdmin) conditions.push(visibleTo(eb, viewer.projectId, query.memberStatus))
  conditions.push(visibilityFilter(eb, query.visibility, viewer.projectId))
  for (const filter of query.filters) conditions.push(columnCondition(eb, filter))
  for (const [name, value] of query.properties) {
    conditions.push(
      eb.exists(
        eb
          .selectFrom('image_properties as p')
          .select(sql`1`.as('one'))
          .whereRef('p.image_id', '=', 'images.id')
          .where('p.name', '=', name)
          .where('p.value', '=', value),
      ),
    )
  }
  for (const tag of query.tags) {
    conditions.push(
      eb.exists(
        eb
          .selectFrom('image_tags as t')
          .select(sql`1`.as('one'))
          .whereRef('t.image_id', '=', 'images.id')
          .where('t.value', '=', tag),
      ),
    )
  }
  return conditions
}

/**
 * What a non-admin may list (Glance's _select_images_query): the SQL form of
 * visibility.ts's rule — public and community images, the project's own,
 * and shared images it is a member of with the requested member status.
 */
function visibleTo(eb: ImagesEb, projectId: string | undefined, memberStatus: string): Expression<SqlBool> {
  const branches: Expression<SqlBool>[] = [eb('images.visibility', 'in', [...VISIBLE_TO_ALL])]
  if (projectId !== undefined) {
    branches.push(eb('images.owner', '=', projectId))
    let members = eb
      .selectFrom('image_members as m')
      .select(sql`1`.as('one'))
      .whereRef('m.image_id', '=', 'images.id')
      .where('m.member_id', '=', projectId)
    if (memberStatus !== 'all') members = members.where('m.status', '=', memberStatus)
    branches.push(eb.and([eb('images.visibility', '=', VISIBLE_TO_MEMBERS), eb.exists(members)]))
  }
  return eb.or(branches)
}

/**
 * The `visibility` filter; without one, community images show only to
 * their owner (Glance lists them only when asked for).
 */
function visibilityFilter(
  eb: ImagesEb,
  visibility: Visibility | 'all' | undefined,
  projectId: string | undefined,
): Expression<SqlBool> {
  if (visibility === 'all') return sql<SqlBool>`1 = 1`
  if (visibility !== undefined) return eb('images.visibility', '=', visibility)
  const notCommunity = eb('images.visibility', '!=', 'community')
  if (projectId === undefined) return notCommunity
  return eb.or([eb('images.owner', '=', projectId), notCommunity])
}

const SQL_OPS = { eq: '=', neq: '!=', gt: '>', gte: '>=', lt: '<', lte: '<=' } as const

function columnCondition(eb: ImagesEb, filter: ColumnFilter): Expression<SqlBool> {
  const column = sql.ref(`images.${filter.column}`)
  if (filter.op === 'in') {
    const values = filter.value as readonly string[]
    return eb(column, 'in', values.length > 0 ? [...values] : [''])
  }
  return eb(column, SQL_OPS[filter.op], filter.value as string | number | boolean)
}

/** Adds the properties and tags of `rows`, in the rows' order. */
async function withDetails(db: Database, rows: readonly ImageRow[]): Promise<Image[]> {
  if (rows.length === 0) return []
  const ids = rows.map((r) => r.id)
  const [props, tags] = await Promise.all([
    db.kysely
      .selectFrom('image_properties')
      .selectAll()
      .where('image_id', 'in', ids)
      .orderBy('name')
      .execute(),
    db.kysely
      .selectFrom('image_tags')
      .selectAll()
      .where('image_id', 'in', ids)
      .orderBy('created_at')
      .orderBy('value')
      .execute(),
  ])
  const propsById = new Map<string, Record<string, string>>()
  for (const p of props)
    (propsById.get(p.image_id) ?? propsById.set(p.image_id, {}).get(p.image_id)!)[p.name] = p.value
  const tagsById = new Map<string, string[]>()
  for (const t of tags)
    (tagsById.get(t.image_id) ?? tagsById.set(t.image_id, []).get(t.image_id)!).push(t.value)
  return rows.map((row) => fromRow(row, propsById.get(row.id) ?? {}, tagsById.get(row.id) ?? []))
}

function fromRow(row: ImageRow, properties: Record<string, string>, tags: string[]): Image {
  return {
    id: row.id,
    name: row.name,
    status: row.status as ImageStatus,
    visibility: row.visibility as Visibility,
    owner: row.owner,
    disk_format: row.disk_format,
    container_format: row.container_format,
    size: row.size === null ? null : Number(row.size),
    virtual_size: row.virtual_size === null ? null : Number(row.virtual_size),
    checksum: row.checksum,
    os_hash_algo: row.os_hash_algo,
    os_hash_value: row.os_hash_value,
    min_disk: row.min_disk,
    min_ram: row.min_ram,
    protected: row.protected,
    os_hidden: row.os_hidden,
    tags,
    properties,
    created_at: row.created_at,
    updated_at: row.updated_at ?? row.created_at,
  }
}

function toRow(image: Image): NewImageRow {
  const { tags: _tags, properties: _properties, ...row } = image
  return row
}

async function writeProperties(
  trx: Transaction<Schema>,
  id: string,
  properties: Readonly<Record<string, string>>,
): Promise<void> {
  const rows = Object.entries(properties).map(([name, value]) => ({ image_id: id, name, value }))
  if (rows.length > 0) await trx.insertInto('image_properties').values(rows).execute()
}

async function writeTags(
  trx: Transaction<Schema>,
  id: string,
  tags: readonly string[],
  at: string,
): Promise<void> {
  const rows = [...new Set(tags)].map((value) => ({ image_id: id, value, created_at: at }))
  if (rows.length > 0) await trx.insertInto('image_tags').values(rows).execute()
}

/** Replaces the tag set, keeping the creation time (and so the order) of tags that stay. */
async function replaceTags(trx: Transaction<Schema>, id: string, tags: readonly string[]): Promise<void> {
  const wanted = new Set(tags)
  const current = await trx.selectFrom('image_tags').select('value').where('image_id', '=', id).execute()
  const gone = current.map((t) => t.value).filter((v) => !wanted.has(v))
  if (gone.length > 0) {
    await trx.deleteFrom('image_tags').where('image_id', '=', id).where('value', 'in', gone).execute()
  }
  const have = new Set(current.map((t) => t.value))
  await writeTags(
    trx,
    id,
    [...wanted].filter((t) => !have.has(t)),
    nowIso(),
  )
}

async function touch(trx: Transaction<Schema>, id: string): Promise<void> {
  await trx.updateTable('images').set({ updated_at: nowIso() }).where('id', '=', id).execute()
}

// ---- members ----

/** The members of an image, oldest first. */
export async function listMembers(db: Database, imageId: string): Promise<ImageMember[]> {
  const rows = await db.kysely
    .selectFrom('image_members')
    .selectAll()
    .where('image_id', '=', imageId)
    .orderBy('created_at')
    .orderBy('member_id')
    .execute()
  return rows.map(memberFromRow)
}

export async function findMember(
  db: Database,
  imageId: string,
  memberId: string,
): Promise<ImageMember | undefined> {
  const row = await db.kysely
    .selectFrom('image_members')
    .selectAll()
    .where('image_id', '=', imageId)
    .where('member_id', '=', memberId)
    .executeTakeFirst()
  return row ? memberFromRow(row) : undefined
}

/**
 * Adds a pending member, refusing a duplicate (Conflict) and more than
 * `maxMembers` members (returns false). One transaction, so two concurrent
 * adds cannot both pass the count.
 */
export async function insertMember(
  db: Database,
  imageId: string,
  memberId: string,
  maxMembers: number,
): Promise<ImageMember | false> {
  return db.transaction(async (trx) => {
    const { count } = await trx
      .selectFrom('image_members')
      .select((eb) => eb.fn.countAll<string | number>().as('count'))
      .where('image_id', '=', imageId)
      .executeTakeFirstOrThrow()
    if (Number(count) >= maxMembers) return false
    const now = nowIso()
    const row = {
      image_id: imageId,
      member_id: memberId,
      status: 'pending',
      created_at: now,
      updated_at: now,
    }
    await trx.insertInto('image_members').values(row).execute()
    return memberFromRow(row)
  })
}

export async function updateMemberStatus(
  db: Database,
  imageId: string,
  memberId: string,
  status: MemberStatus,
): Promise<ImageMember> {
  const result = await db.kysely
    .updateTable('image_members')
    .set({ status, updated_at: nowIso() })
    .where('image_id', '=', imageId)
    .where('member_id', '=', memberId)
    .executeTakeFirst()
  if (Number(result.numUpdatedRows) === 0)
    throw new NotFound(`${memberId} not found in the member list of the image ${imageId}.`)
  return (await findMember(db, imageId, memberId))!
}

export async function deleteMember(db: Database, imageId: string, memberId: string): Promise<boolean> {
  const result = await db.kysely
    .deleteFrom('image_members')
    .where('image_id', '=', imageId)
    .where('member_id', '=', memberId)
    .executeTakeFirst()
  return Number(result.numDeletedRows) > 0
}

function memberFromRow(row: ImageMemberRow): ImageMember {
  return {
    image_id: row.image_id,
    member_id: row.member_id,
    status: row.status as MemberStatus,
    created_at: row.created_at,
    updated_at: row.updated_at ?? row.created_at,
  }
}

/** True when a database Conflict is a duplicate key (an id or a member already there). */
export function isDuplicate(err: unknown): boolean {
  return err instanceof Conflict && err.detail.dbError === 'unique_violation'
}
