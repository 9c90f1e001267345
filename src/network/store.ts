import { sql, type Kysely, type Transaction } from 'kysely'
import { Conflict } from '../common/errors.ts'
import type { Database, DialectName, Schema } from '../db/index.ts'
import { fromJsonText, nowIso, toJsonText } from '../db/values.ts'

/**
 * The network service's repository: resources as `{ id, project_id,
 * ...attrs }` documents over the tables of db/tables/network.ts. A Store is
 * bound to the database or to one transaction (`Store.transaction`), so a
 * multi-step change (a port and its IPs) commits or rolls back as one.
 */
export type Kind =
  'networks' | 'subnets' | 'ports' | 'security_groups' | 'security_group_rules' | 'floating_ips' | 'routers'

/** A resource as the API shows it (before derived fields and `fields=`). */
export type Doc = Record<string, unknown> & { readonly id: string; readonly project_id: string }

/** Columns beyond id/project_id/attrs that a kind keeps outside its document. */
const INDEXED: Readonly<Record<Kind, readonly string[]>> = {
  networks: [],
  subnets: ['network_id'],
  ports: ['network_id', 'device_id', 'host'],
  security_groups: [],
  security_group_rules: ['security_group_id'],
  floating_ips: ['floating_network_id', 'port_id'],
  routers: [],
}

/** Where a port's host lives in its document. */
const HOST_ATTR = 'binding:host_id'

export interface IpAllocation {
  readonly network_id: string
  readonly ip_address: string
  readonly subnet_id: string
  readonly port_id: string
}

type Q = Kysely<any>

export class Store {
  readonly #q: Q
  readonly #db: Database | undefined
  readonly #dialect: DialectName | undefined

  constructor(
    q: Kysely<Schema> | Transaction<Schema>,
    db?: Database,
    dialect: DialectName | undefined = db?.dialect,
  ) {
    this.#q = q as unknown as Q
    this.#db = db
    this.#dialect = dialect
  }

  static of(db: Database): Store {
    return new Store(db.kysely, db)
  }

  /** Runs `fn` in one transaction (nested calls join the outer one). */
  transaction<T>(fn: (store: Store) => Promise<T>): Promise<T> {
    if (!this.#db) return fn(this)
    const dialect = this.#db.dialect
    return this.#db.transaction((trx) => fn(new Store(trx, undefined, dialect)))
  }

  /**
   * Holds the project's quota lock until this transaction ends, so that a
   * quota check and the insert it admits are atomic against every other
   * process's: PostgreSQL's transaction-scoped advisory lock; a SQLite
   * transaction already holds the database's only write lock (`begin
   * immediate`). Only on a Store of `transaction()`.
   */
  async lockProjectQuota(projectId: string): Promise<void> {
    if (this.#db) throw new Error('lockProjectQuota outside a transaction would not hold the lock')
    if (this.#dialect !== 'postgres') return
    await sql`select pg_advisory_xact_lock(hashtext(${`nimbus-network-quota:${projectId}`}))`.execute(this.#q)
  }

  async get(kind: Kind, id: string): Promise<Doc | undefined> {
    const row = await this.#q.selectFrom(kind).selectAll().where('id', '=', id).executeTakeFirst()
    return row ? toDoc(row) : undefined
  }

  /** Rows of `kind`, optionally where an indexed column equals a value (or is in a list). */
  async list(kind: Kind, where: Readonly<Record<string, string | readonly string[]>> = {}): Promise<Doc[]> {
    let q = this.#q.selectFrom(kind).selectAll()
    for (const [column, value] of Object.entries(where)) {
      if (typeof value === 'string') q = q.where(column, '=', value)
      else if (value.length === 0) return []
      else q = q.where(column, 'in', value)
    }
    const rows = await q.orderBy('created_at').orderBy('id').execute()
    return rows.map(toDoc)
  }

  async count(kind: Kind, projectId: string): Promise<number> {
    const row = await this.#q
      .selectFrom(kind)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('project_id', '=', projectId)
      .executeTakeFirstOrThrow()
    return Number(row.n)
  }

  async insert(kind: Kind, doc: Doc): Promise<void> {
    await this.#q
      .insertInto(kind)
      .values(toRow(kind, doc, true))
      .execute()
  }

  async update(kind: Kind, doc: Doc): Promise<void> {
    const { id, created_at: _c, ...row } = toRow(kind, doc, false)
    await this.#q.updateTable(kind).set(row).where('id', '=', id).execute()
  }

  async delete(kind: Kind, id: string): Promise<boolean> {
    const res = await this.#q.deleteFrom(kind).where('id', '=', id).executeTakeFirst()
    return Number(res.numDeletedRows) > 0
  }

  async allocations(where: {
    network_id?: string
    subnet_id?: string
    port_id?: string
  }): Promise<IpAllocation[]> {
    let q = this.#q.selectFrom('ip_allocations').selectAll()
    for (const [k, v] of Object.entries(where)) if (v !== undefined) q = q.where(k, '=', v)
    return (await q.execute()) as IpAllocation[]
  }

  /**
   * Records an allocation; a Conflict (unique violation) if the address is
   * taken. The insert skips a taken address (`on conflict do nothing`)
   * rather than failing: on PostgreSQL a failed statement aborts the
   * transaction, so a caller that moves on to the next free address (two
   * ports allocating on one network at once) could not go on in it.
   */
  async allocate(a: IpAllocation): Promise<void> {
    const result = await this.#q
      .insertInto('ip_allocations')
      .values(a)
      .onConflict((oc) => oc.columns(['network_id', 'ip_address']).doNothing())
      .executeTakeFirst()
    if (Number(result.numInsertedOrUpdatedRows ?? 0n) === 0) {
      throw new Conflict(`duplicate entry (ip_allocations: ${a.network_id} ${a.ip_address} already exists)`, {
        dbError: 'unique_violation',
      })
    }
  }

  async releaseAllocations(portId: string, keep: readonly string[] = []): Promise<void> {
    let q = this.#q.deleteFrom('ip_allocations').where('port_id', '=', portId)
    if (keep.length) q = q.where('ip_address', 'not in', keep)
    await q.execute()
  }

  async defaultSecurityGroupId(projectId: string): Promise<string | undefined> {
    const row = await this.#q
      .selectFrom('default_security_groups')
      .select('security_group_id')
      .where('project_id', '=', projectId)
      .executeTakeFirst()
    return row?.security_group_id as string | undefined
  }

  async setDefaultSecurityGroup(projectId: string, groupId: string): Promise<void> {
    await this.#q
      .insertInto('default_security_groups')
      .values({ project_id: projectId, security_group_id: groupId })
      .execute()
  }

  async quotaOverrides(
    projectId?: string,
  ): Promise<{ project_id: string; resource: string; hard_limit: number }[]> {
    let q = this.#q.selectFrom('network_quotas').selectAll()
    if (projectId !== undefined) q = q.where('project_id', '=', projectId)
    return (await q.execute()) as { project_id: string; resource: string; hard_limit: number }[]
  }

  async setQuota(projectId: string, resource: string, limit: number): Promise<void> {
    await this.#q
      .deleteFrom('network_quotas')
      .where('project_id', '=', projectId)
      .where('resource', '=', resource)
      .execute()
    await this.#q
      .insertInto('network_quotas')
      .values({ project_id: projectId, resource, hard_limit: limit })
      .execute()
  }

  async deleteQuotas(projectId: string): Promise<void> {
    await this.#q.deleteFrom('network_quotas').where('project_id', '=', projectId).execute()
  }
}

function toDoc(row: Record<string, unknown>): Doc {
  const attrs = fromJsonText<Record<string, unknown>>(row.attrs as string)
  return { ...attrs, id: row.id as string, project_id: row.project_id as string }
}

function toRow(kind: Kind, doc: Doc, creating: boolean): Record<string, unknown> {
  const row: Record<string, unknown> = {
    id: doc.id,
    project_id: doc.project_id,
    attrs: toJsonText(doc),
    updated_at: creating ? null : nowIso(),
  }
  if (creating) row.created_at = nowIso()
  for (const column of INDEXED[kind]) {
    const value = column === 'host' ? doc[HOST_ATTR] : doc[column]
    row[column] = value === undefined ? (column === 'port_id' ? null : '') : value
  }
  return row
}
