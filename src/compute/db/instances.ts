import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely'
import { Conflict, NotFound, registerErrorClass } from '../../common/errors.ts'
import { paginate, type SortKey } from '../../db/paginate.ts'
import type { Queryable, Schema } from '../../db/schema.ts'
import type { InstanceRow, NewInstanceRow } from '../../db/tables/compute.ts'
import { fromJsonText, nowIso, toJsonText } from '../../db/values.ts'
import type { DialectName } from '../../db/index.ts'
import type {
  FixedIp,
  FlavorSnapshot,
  Instance,
  InstanceUpdates,
  QuotaUsage,
  RequestedNetworks,
  VifInfo,
} from '../objects.ts'
import { addressesOf } from '../objects.ts'

/**
 * The `instances` table. Every function takes a `Queryable`, so it runs as
 * well inside a transaction. Rows are soft-deleted; readers skip deleted
 * rows unless asked.
 */

/** Nova's InstanceNotFound: "Instance X could not be found." (404). */
export class InstanceNotFound extends NotFound {}
registerErrorClass(InstanceNotFound)

/**
 * A state-guarded update found the instance in another task state (Nova's
 * UnexpectedTaskStateError): someone else (usually a delete) moved it on.
 */
export class UnexpectedTaskState extends Conflict {}
registerErrorClass(UnexpectedTaskState)

/** The instance is being deleted (Nova's UnexpectedDeletingTaskStateError). */
export class UnexpectedDeletingTaskState extends UnexpectedTaskState {}
registerErrorClass(UnexpectedDeletingTaskState)

export function instanceNotFound(uuid: string): InstanceNotFound {
  return new InstanceNotFound(`Instance ${uuid} could not be found.`, { instanceUuid: uuid })
}

/** What the compute API inserts for one new server. */
export interface NewInstance {
  readonly uuid: string
  readonly displayName: string
  readonly displayDescription: string | null
  readonly hostname: string
  readonly projectId: string
  readonly userId: string
  readonly imageRef: string
  readonly flavor: FlavorSnapshot
  readonly vmState: string
  readonly taskState: string | null
  readonly powerState: number
  readonly availabilityZone: string | null
  readonly keyName: string | null
  readonly keyData: string | null
  readonly userData: string | null
  readonly metadata: Readonly<Record<string, string>>
  readonly systemMetadata: Readonly<Record<string, string>>
  readonly configDrive: string
  readonly reservationId: string
  readonly launchIndex: number
  readonly accessIpV4: string | null
  readonly accessIpV6: string | null
  readonly autoDiskConfig: boolean
  readonly rootDeviceName: string | null
  readonly kernelId: string
  readonly ramdiskId: string
  readonly securityGroups: readonly string[]
  readonly requestedNetworks: RequestedNetworks
  readonly createdAt: string
}

export function instanceFromRow(row: InstanceRow): Instance {
  return {
    id: row.id,
    uuid: row.uuid,
    displayName: row.display_name,
    displayDescription: row.display_description,
    hostname: row.hostname,
    projectId: row.project_id,
    userId: row.user_id,
    imageRef: row.image_ref,
    flavor: fromJsonText<FlavorSnapshot>(row.flavor),
    vmState: row.vm_state,
    taskState: row.task_state,
    powerState: row.power_state,
    host: row.host,
    node: row.node,
    launchedOn: row.launched_on,
    availabilityZone: row.availability_zone,
    scheduledAt: row.scheduled_at,
    launchedAt: row.launched_at,
    terminatedAt: row.terminated_at,
    keyName: row.key_name,
    keyData: row.key_data,
    userData: row.user_data,
    metadata: fromJsonText<Record<string, string>>(row.metadata),
    systemMetadata: fromJsonText<Record<string, string>>(row.system_metadata),
    configDrive: row.config_drive,
    reservationId: row.reservation_id,
    launchIndex: row.launch_index,
    accessIpV4: row.access_ip_v4,
    accessIpV6: row.access_ip_v6,
    autoDiskConfig: row.auto_disk_config,
    progress: row.progress,
    rootDeviceName: row.root_device_name,
    kernelId: row.kernel_id,
    ramdiskId: row.ramdisk_id,
    lockedBy: row.locked_by,
    securityGroups: fromJsonText<string[]>(row.security_groups),
    requestedNetworks: fromJsonText<RequestedNetworks>(row.requested_networks),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deletedAt: row.deleted_at,
    deleted: row.deleted,
  }
}

function newInstanceRow(i: NewInstance): NewInstanceRow {
  return {
    uuid: i.uuid,
    display_name: i.displayName,
    display_description: i.displayDescription,
    hostname: i.hostname,
    project_id: i.projectId,
    user_id: i.userId,
    image_ref: i.imageRef,
    flavor: toJsonText(i.flavor),
    flavor_id: i.flavor.flavorid,
    memory_mb: i.flavor.memoryMb,
    vcpus: i.flavor.vcpus,
    root_gb: i.flavor.rootGb,
    ephemeral_gb: i.flavor.ephemeralGb,
    vm_state: i.vmState,
    task_state: i.taskState,
    power_state: i.powerState,
    host: null,
    node: null,
    launched_on: null,
    availability_zone: i.availabilityZone,
    scheduled_at: null,
    launched_at: null,
    terminated_at: null,
    key_name: i.keyName,
    key_data: i.keyData,
    user_data: i.userData,
    metadata: toJsonText(i.metadata),
    system_metadata: toJsonText(i.systemMetadata),
    config_drive: i.configDrive,
    reservation_id: i.reservationId,
    launch_index: i.launchIndex,
    access_ip_v4: i.accessIpV4,
    access_ip_v6: i.accessIpV6,
    auto_disk_config: i.autoDiskConfig,
    progress: 0,
    root_device_name: i.rootDeviceName,
    kernel_id: i.kernelId,
    ramdisk_id: i.ramdiskId,
    locked_by: null,
    security_groups: toJsonText(i.securityGroups),
    requested_networks: toJsonText(i.requestedNetworks),
    created_at: i.createdAt,
    updated_at: null,
    deleted_at: null,
  }
}

export async function insertInstance(db: Queryable, instance: NewInstance): Promise<Instance> {
  return instanceFromRow(
    await db
      .insertInto('instances')
      .values(newInstanceRow(instance))
      .returningAll()
      .executeTakeFirstOrThrow(),
  )
}

/** Replaces an instance's tags. */
export async function setInstanceTags(db: Queryable, uuid: string, tags: readonly string[]): Promise<void> {
  await db.deleteFrom('instance_tags').where('instance_uuid', '=', uuid).execute()
  if (tags.length === 0) return
  await db
    .insertInto('instance_tags')
    .values([...new Set(tags)].map((tag) => ({ instance_uuid: uuid, tag })))
    .execute()
}

/** Tags of each of `uuids`, sorted. */
export async function tagsOf(db: Queryable, uuids: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(uuids.map((u) => [u, []]))
  if (uuids.length === 0) return out
  const rows = await db
    .selectFrom('instance_tags')
    .select(['instance_uuid', 'tag'])
    .where('instance_uuid', 'in', uuids)
    .orderBy('tag')
    .execute()
  for (const r of rows) out.get(r.instance_uuid)?.push(r.tag)
  return out
}

export interface GetOptions {
  /** Return a soft-deleted row too (instance actions from 2.21, admin tools). */
  readonly readDeleted?: boolean
}

/** One instance; InstanceNotFound if none (or deleted, unless `readDeleted`). */
export async function getInstance(db: Queryable, uuid: string, opts: GetOptions = {}): Promise<Instance> {
  let q = db.selectFrom('instances').selectAll().where('uuid', '=', uuid)
  if (!opts.readDeleted) q = q.where('deleted', '=', false)
  const row = await q.executeTakeFirst()
  if (!row) throw instanceNotFound(uuid)
  return instanceFromRow(row)
}

export interface UpdateGuard {
  /** The update applies only if the task state is one of these (null = no task). */
  readonly expectedTaskState?: readonly (string | null)[] | undefined
  readonly expectedVmState?: readonly string[] | undefined
}

const UPDATE_COLUMNS: Readonly<Record<keyof InstanceUpdates, string>> = {
  displayName: 'display_name',
  displayDescription: 'display_description',
  hostname: 'hostname',
  vmState: 'vm_state',
  taskState: 'task_state',
  powerState: 'power_state',
  host: 'host',
  node: 'node',
  launchedOn: 'launched_on',
  availabilityZone: 'availability_zone',
  scheduledAt: 'scheduled_at',
  launchedAt: 'launched_at',
  terminatedAt: 'terminated_at',
  accessIpV4: 'access_ip_v4',
  accessIpV6: 'access_ip_v6',
  autoDiskConfig: 'auto_disk_config',
  progress: 'progress',
  lockedBy: 'locked_by',
  rootDeviceName: 'root_device_name',
  systemMetadata: 'system_metadata',
  metadata: 'metadata',
  imageRef: 'image_ref',
  keyName: 'key_name',
  keyData: 'key_data',
  userData: 'user_data',
  kernelId: 'kernel_id',
  ramdiskId: 'ramdisk_id',
}

function updateRow(updates: InstanceUpdates): Record<string, unknown> {
  const row: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(updates)) {
    const column = UPDATE_COLUMNS[key as keyof InstanceUpdates]
    if (!column || value === undefined) continue
    row[column] = key === 'systemMetadata' || key === 'metadata' ? toJsonText(value) : value
  }
  return row
}

function stateGuard(guard: UpdateGuard): (eb: ExpressionBuilder<Schema, 'instances'>) => Expression<SqlBool> {
  return (eb) => {
    const parts: Expression<SqlBool>[] = []
    if (guard.expectedTaskState) {
      const states = guard.expectedTaskState.filter((s): s is string => s !== null)
      const alternatives: Expression<SqlBool>[] = []
      if (states.length > 0) alternatives.push(eb('task_state', 'in', states))
      if (guard.expectedTaskState.includes(null)) alternatives.push(eb('task_state', 'is', null))
      parts.push(eb.or(alternatives))
    }
    if (guard.expectedVmState) parts.push(eb('vm_state', 'in', [...guard.expectedVmState]))
    return eb.and(parts)
  }
}

/**
 * Applies `updates` in one UPDATE guarded by the expected states (Nova's
 * `instance.save(expected_task_state=...)`), so a delete that started
 * meanwhile is never overwritten. Returns the updated instance; throws
 * InstanceNotFound, UnexpectedDeletingTaskState or UnexpectedTaskState.
 */
export async function updateInstance(
  db: Queryable,
  uuid: string,
  updates: InstanceUpdates,
  guard: UpdateGuard = {},
): Promise<Instance> {
  const row = await db
    .updateTable('instances')
    .set({ ...updateRow(updates), updated_at: nowIso() })
    .where('uuid', '=', uuid)
    .where('deleted', '=', false)
    .where(stateGuard(guard))
    .returningAll()
    .executeTakeFirst()
  if (row) return instanceFromRow(row)
  const current = await getInstance(db, uuid)
  const expected = guard.expectedTaskState ?? guard.expectedVmState ?? []
  const actual = guard.expectedTaskState ? current.taskState : current.vmState
  const message = `Conflict updating instance ${uuid}. Expected: {'task_state': ${pyList(expected)}}. Actual: {'task_state': ${pyValue(actual)}}`
  if (current.taskState === 'deleting') throw new UnexpectedDeletingTaskState(message, { actual })
  throw new UnexpectedTaskState(message, { actual })
}

function pyValue(v: string | null): string {
  return v === null ? 'None' : `'${v}'`
}

function pyList(values: readonly (string | null)[]): string {
  return `[${values.map(pyValue).join(', ')}]`
}

/** Marks an instance deleted (soft delete) and returns it. */
export async function markInstanceDeleted(db: Queryable, uuid: string): Promise<Instance> {
  const now = nowIso()
  const row = await db
    .updateTable('instances')
    .set({
      deleted: true,
      deleted_at: now,
      updated_at: now,
      terminated_at: now,
      vm_state: 'deleted',
      task_state: null,
      power_state: 0,
    })
    .where('uuid', '=', uuid)
    .where('deleted', '=', false)
    .returningAll()
    .executeTakeFirst()
  if (!row) throw instanceNotFound(uuid)
  return instanceFromRow(row)
}

/**
 * What a project (and optionally one of its users) uses, counted from the
 * instances themselves as Nova does since Pike: every instance not deleted,
 * whatever its state (an ERROR instance still counts until it is deleted).
 */
export async function countUsage(db: Queryable, projectId: string, userId?: string): Promise<QuotaUsage> {
  let q = db
    .selectFrom('instances')
    .select((eb) => [
      eb.fn.countAll<number | string | bigint>().as('instances'),
      eb.fn.sum<number | string | null>('vcpus').as('cores'),
      eb.fn.sum<number | string | null>('memory_mb').as('ram'),
    ])
    .where('project_id', '=', projectId)
    .where('deleted', '=', false)
  if (userId !== undefined) q = q.where('user_id', '=', userId)
  const row = await q.executeTakeFirstOrThrow()
  return { instances: Number(row.instances), cores: Number(row.cores ?? 0), ram: Number(row.ram ?? 0) }
}

/** Non-deleted instances allocated to `host` (the resource tracker's view at start-up). */
export async function instancesOnHost(db: Queryable, host: string): Promise<Instance[]> {
  const rows = await db
    .selectFrom('instances')
    .selectAll()
    .where('host', '=', host)
    .where('deleted', '=', false)
    .orderBy('id')
    .execute()
  return rows.map(instanceFromRow)
}

/** Instances still building whose build started before `cutoffIso` (the BUILD deadline task). */
export async function buildsOlderThan(db: Queryable, cutoffIso: string): Promise<Instance[]> {
  const rows = await db
    .selectFrom('instances')
    .selectAll()
    .where('vm_state', '=', 'building')
    .where('deleted', '=', false)
    .where('created_at', '<', cutoffIso)
    .orderBy('id')
    .execute()
  return rows.map(instanceFromRow)
}

// ---- listing ----

/** Filters the SQL can apply exactly. Absent fields match everything. */
export interface InstanceFilter {
  readonly projectId?: string | undefined
  readonly userId?: string | undefined
  /** true: deleted only; false: not deleted; undefined: both. */
  readonly deleted?: boolean | undefined
  readonly vmStates?: readonly string[] | undefined
  readonly taskStates?: readonly (string | null)[] | undefined
  readonly uuid?: string | undefined
  readonly imageRef?: string | undefined
  readonly flavorId?: string | undefined
  readonly host?: string | undefined
  readonly locked?: boolean | undefined
  readonly changesSince?: string | undefined
  readonly changesBefore?: string | undefined
  /** Every tag must be present. */
  readonly tags?: readonly string[] | undefined
  /** At least one tag present. */
  readonly tagsAny?: readonly string[] | undefined
  /** Not every one of these tags present. */
  readonly notTags?: readonly string[] | undefined
  /** None of these tags present. */
  readonly notTagsAny?: readonly string[] | undefined
  /**
   * Which rows of a chunk to keep (Nova's regex filters, `ip`): applied
   * after the SQL, a chunk at a time, so such filters page the same way.
   */
  readonly scan?: InstanceScan | undefined
}

/** For each row (with its instance), whether it passes the filters that run outside SQL. */
export type InstanceScan = (
  rows: readonly Readonly<Record<string, unknown>>[],
  instances: readonly Instance[],
) => Promise<readonly boolean[]>

export interface InstancePage {
  readonly sort: readonly SortKey[]
  readonly limit: number
  readonly marker?: string | undefined
}

function tagFilter(filter: InstanceFilter) {
  return (eb: ExpressionBuilder<Schema, 'instances'>): Expression<SqlBool> => {
    const has = (tag: string) =>
      eb.exists(
        eb
          .selectFrom('instance_tags')
          .select('instance_tags.tag')
          .whereRef('instance_tags.instance_uuid', '=', 'instances.uuid')
          .where('instance_tags.tag', '=', tag),
      )
    const parts: Expression<SqlBool>[] = []
    for (const tag of filter.tags ?? []) parts.push(has(tag))
    if (filter.tagsAny?.length) parts.push(eb.or(filter.tagsAny.map(has)))
    if (filter.notTags?.length) parts.push(eb.not(eb.and(filter.notTags.map(has))))
    for (const tag of filter.notTagsAny ?? []) parts.push(eb.not(has(tag)))
    return eb.and(parts)
  }
}

function baseQuery(db: Queryable, f: InstanceFilter) {
  let q = db.selectFrom('instances').selectAll('instances')
  if (f.projectId !== undefined) q = q.where('project_id', '=', f.projectId)
  if (f.userId !== undefined) q = q.where('user_id', '=', f.userId)
  if (f.deleted !== undefined) q = q.where('deleted', '=', f.deleted)
  if (f.vmStates) q = q.where('vm_state', 'in', f.vmStates.length ? [...f.vmStates] : [''])
  if (f.taskStates) {
    const taskStates = f.taskStates
    q = q.where((eb) => {
      const named = taskStates.filter((s): s is string => s !== null)
      const alts: Expression<SqlBool>[] = []
      if (named.length) alts.push(eb('task_state', 'in', named))
      if (taskStates.includes(null)) alts.push(eb('task_state', 'is', null))
      return alts.length ? eb.or(alts) : eb.val(false)
    })
  }
  if (f.uuid !== undefined) q = q.where('uuid', '=', f.uuid)
  if (f.imageRef !== undefined) q = q.where('image_ref', '=', f.imageRef)
  if (f.flavorId !== undefined) q = q.where('flavor_id', '=', f.flavorId)
  if (f.host !== undefined) q = q.where('host', '=', f.host)
  if (f.locked !== undefined) q = q.where('locked_by', f.locked ? 'is not' : 'is', null)
  // As in Nova, changes-since/-before compare updated_at (a never-updated row matches neither).
  if (f.changesSince !== undefined) q = q.where('updated_at', '>=', f.changesSince)
  if (f.changesBefore !== undefined) q = q.where('updated_at', '<=', f.changesBefore)
  if (f.tags || f.tagsAny || f.notTags || f.notTagsAny) q = q.where(tagFilter(f))
  return q
}

/** The live (not deleted) instances among `uuids`. */
export async function instancesByUuids(db: Queryable, uuids: readonly string[]): Promise<Instance[]> {
  if (uuids.length === 0) return []
  const rows = await db
    .selectFrom('instances')
    .selectAll()
    .where('uuid', 'in', [...uuids])
    .where('deleted', '=', false)
    .execute()
  return rows.map(instanceFromRow)
}

/**
 * One page of instances matching `filter`, in `page.sort` order, after the
 * marker (an instance uuid, looked up whatever the filters, as Nova does).
 * Scan filters (regex, `ip`) run after the SQL over the sorted rows, so
 * they page the same way; between chunks the loop yields to other work.
 */
export async function listInstances(
  db: Queryable,
  filter: InstanceFilter,
  page: InstancePage,
): Promise<{ readonly items: Instance[]; readonly hasMore: boolean }> {
  const scan = filter.scan
  if (!scan) {
    const result = await paginate(db, baseQuery(db, filter), {
      table: 'instances',
      sort: page.sort,
      limit: page.limit,
      marker: page.marker,
      idColumn: 'uuid',
    })
    return { items: result.items.map(instanceFromRow), hasMore: result.hasMore }
  }
  // Page through the SQL result and filter in JS until the page is full.
  const items: Instance[] = []
  let marker = page.marker
  for (;;) {
    const chunk = await paginate(db, baseQuery(db, filter), {
      table: 'instances',
      sort: page.sort,
      limit: SCAN_CHUNK_ROWS,
      marker,
      idColumn: 'uuid',
    })
    const instances = chunk.items.map(instanceFromRow)
    const keep = await scan(chunk.items as unknown as Record<string, unknown>[], instances)
    for (const [i, instance] of instances.entries()) {
      if (!keep[i]) continue
      if (items.length === page.limit) return { items, hasMore: true }
      items.push(instance)
    }
    if (!chunk.hasMore || chunk.items.length === 0) return { items, hasMore: false }
    marker = chunk.items.at(-1)!.uuid
    // SQLite answers synchronously: let other requests in between chunks.
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
}

/** Rows fetched per round when a list filters in JS. */
const SCAN_CHUNK_ROWS = 500

/** An instance with its tags and fixed IPs, read in one statement (the server show path). */
export interface InstanceWithExtras {
  readonly instance: Instance
  readonly tags: string[]
  readonly fixedIps: FixedIp[]
}

/**
 * One instance (not deleted unless `readDeleted`) with its tags and fixed
 * IPs aggregated by subqueries: `GET /servers/{id}` is the API's hottest
 * route (clients poll it), so it costs one statement. Tags never contain a
 * comma (the API refuses them), so they travel as one comma-joined string.
 */
export async function getInstanceWithExtras(
  db: Queryable,
  dialect: DialectName,
  uuid: string,
  opts: GetOptions = {},
): Promise<InstanceWithExtras> {
  const pg = dialect === 'postgres'
  const tagsCsv = pg
    ? sql<
        string | null
      >`(select string_agg(t.tag, ',' order by t.tag) from instance_tags t where t.instance_uuid = instances.uuid)`
    : sql<
        string | null
      >`(select group_concat(tag, ',') from (select t.tag from instance_tags t where t.instance_uuid = instances.uuid order by t.tag))`
  const ipsJson = sql<
    string | null
  >`(select c.network_info from instance_info_caches c where c.instance_uuid = instances.uuid)`
  let q = db
    .selectFrom('instances')
    .selectAll('instances')
    .select([tagsCsv.as('tags_csv'), ipsJson.as('fixed_ips_json')])
    .where('uuid', '=', uuid)
  if (!opts.readDeleted) q = q.where('deleted', '=', false)
  const row = await q.executeTakeFirst()
  if (!row) throw instanceNotFound(uuid)
  const { tags_csv: tags, fixed_ips_json: json, ...instanceRow } = row
  return {
    instance: instanceFromRow(instanceRow as InstanceRow),
    tags: tags ? tags.split(',') : [],
    fixedIps: json ? addressesOf(fromJsonText<VifInfo[]>(json)) : [],
  }
}
