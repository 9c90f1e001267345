import type { Config } from '../common/config.ts'
import { limits } from '../common/limits.ts'
import type { Database } from '../db/index.ts'

/**
 * How long a server may sit in a task state before `nimbus status --stuck`
 * calls it overdue. Nimbus ends only BUILD on its own (`[compute]
 * build_timeout_s`, the server goes to ERROR); every other task state is
 * watched with this deadline, not enforced: an RPC call gives up after
 * `rpc_call_timeout_ms`, so a task state this old means a lost cast or a
 * host that died in the middle.
 */
export const TASK_STATE_DEADLINE_MS = 600_000

/** One resource in a transitional state past half its deadline. */
export interface StuckItem {
  readonly kind: 'server' | 'port' | 'image'
  readonly id: string
  readonly name?: string | undefined
  /** BUILD, `task_state`, the port status, the image status. */
  readonly state: string
  readonly ageS: number
  readonly deadlineS: number
  /** Which deadline: `build_timeout_s`, `TASK_STATE_DEADLINE_MS`, `vif_plugging_timeout_ms`, ... */
  readonly deadlineName: string
  readonly overdue: boolean
  /** The step it is in: the server's last event not finished, or the port's host. */
  readonly step?: string | undefined
  readonly host?: string | undefined
}

export interface StuckReport {
  readonly generatedAt: string
  readonly items: readonly StuckItem[]
}

/** Lists servers, ports and images in a transitional state for more than half their deadline. */
export async function findStuck(config: Config, db: Database, nowMs = Date.now()): Promise<StuckReport> {
  const items: StuckItem[] = []
  const k = db.kysely
  const ageS = (iso: string) => Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000))
  const consider = (item: Omit<StuckItem, 'overdue'>) => {
    if (item.ageS * 2 >= item.deadlineS) items.push({ ...item, overdue: item.ageS >= item.deadlineS })
  }

  const servers = await k
    .selectFrom('instances')
    .select(['uuid', 'display_name', 'vm_state', 'task_state', 'host', 'created_at', 'updated_at'])
    .where('deleted', '=', false)
    .where((eb) => eb.or([eb('vm_state', '=', 'building'), eb('task_state', 'is not', null)]))
    .execute()
  for (const s of servers) {
    const building = s.vm_state === 'building'
    // BUILD counts from creation (as the build timeout does); a task state from the last update.
    const since = building ? s.created_at : (s.updated_at ?? s.created_at)
    consider({
      kind: 'server',
      id: s.uuid,
      name: s.display_name,
      state: building ? `BUILD${s.task_state ? ` (${s.task_state})` : ''}` : (s.task_state ?? ''),
      ageS: ageS(since),
      deadlineS: building ? config.compute.buildTimeoutS : TASK_STATE_DEADLINE_MS / 1000,
      deadlineName: building ? '[compute] build_timeout_s' : 'TASK_STATE_DEADLINE_MS',
      step: await openStep(db, s.uuid),
      host: s.host ?? undefined,
    })
  }

  // A bound port that is not ACTIVE waits for its host's agent to wire it (Nova waits vif_plugging_timeout).
  const ports = await k
    .selectFrom('ports')
    .select(['id', 'host', 'attrs', 'created_at', 'updated_at'])
    .where('host', '!=', '')
    .execute()
  for (const p of ports) {
    const attrs = JSON.parse(p.attrs) as {
      status?: string
      admin_state_up?: boolean
      name?: string
      device_owner?: string
    }
    if (attrs.status === 'ACTIVE' || attrs.admin_state_up === false) continue
    if (!attrs.device_owner?.startsWith('compute:')) continue
    consider({
      kind: 'port',
      id: p.id,
      name: attrs.name || undefined,
      state: attrs.status ?? 'DOWN',
      ageS: ageS(p.updated_at ?? p.created_at),
      deadlineS: limits.vifPluggingTimeoutMs / 1000,
      deadlineName: 'vif_plugging_timeout_ms',
      step: `waiting for the agent on ${p.host}`,
      host: p.host,
    })
  }

  // An image being written: the upload gives up after image_transfer_idle_timeout_ms without data.
  const images = await k
    .selectFrom('images')
    .select(['id', 'name', 'status', 'created_at', 'updated_at'])
    .where('status', 'in', ['saving', 'uploading', 'importing'])
    .execute()
  for (const i of images) {
    consider({
      kind: 'image',
      id: i.id,
      name: i.name ?? undefined,
      state: i.status,
      ageS: ageS(i.updated_at ?? i.created_at),
      deadlineS: limits.imageTransferIdleTimeoutMs / 1000,
      deadlineName: 'image_transfer_idle_timeout_ms',
    })
  }
  items.sort((a, b) => b.ageS / b.deadlineS - a.ageS / a.deadlineS)
  return { generatedAt: new Date(nowMs).toISOString(), items }
}

/** The newest event of the server's newest action that has not finished, if any. */
async function openStep(db: Database, uuid: string): Promise<string | undefined> {
  const row = await db.kysely
    .selectFrom('instance_action_events as e')
    .innerJoin('instance_actions as a', 'a.id', 'e.action_id')
    .select(['e.event', 'e.host', 'a.action'])
    .where('a.instance_uuid', '=', uuid)
    .where('e.finish_time', 'is', null)
    .orderBy('e.start_time', 'desc')
    .limit(1)
    .executeTakeFirst()
  return row ? `${row.action}: ${row.event}${row.host ? ` on ${row.host}` : ''}` : undefined
}
