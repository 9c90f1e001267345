import type { Generated, Insertable, Selectable, Updateable } from 'kysely'

/**
 * One row per running service process (nova's `services` table): what
 * `openstack compute service list` shows and what the scheduler reads to
 * know which hosts are up. Unique on (host, binary).
 */
export interface ServicesTable {
  /** Integer id, as Nova's os-services API shows before microversion 2.53. */
  id: Generated<number>
  /** The id the os-services API uses from microversion 2.53. */
  uuid: string
  host: string
  /** e.g. `nova-compute`, `nova-scheduler`. */
  binary: string
  /** The RPC topic the service consumes, e.g. `compute`. */
  topic: string | null
  /** Heartbeats received since the row was created. */
  report_count: Generated<number>
  disabled: Generated<boolean>
  disabled_reason: string | null
  /** Set by an operator to declare the service down whatever its heartbeats say. */
  forced_down: Generated<boolean>
  /** Time of the last heartbeat (ISO-8601 UTC), null before the first one. */
  last_seen_at: string | null
  created_at: string
  updated_at: string | null
}

/** The tables of this area, merged into `Schema`. */
export interface ServiceTables {
  services: ServicesTable
}

export type ServiceRow = Selectable<ServicesTable>
export type NewServiceRow = Insertable<ServicesTable>
export type ServiceUpdate = Updateable<ServicesTable>
