import type { Selectable } from 'kysely'

/**
 * One row per service a Nimbus process runs (identity, compute-api,
 * scheduler, compute, ...), refreshed every `report_interval_s` by that
 * process: `nimbus status` reads it for version, uptime and heartbeat age of
 * every service, the HTTP ones too (Nova's `services` table only holds the
 * RPC binaries, and keeps its meaning for os-services). Keyed by (host, service).
 */
export interface ServiceReportsTable {
  host: string
  /** The `nimbus serve` name: identity, image, network, conductor, scheduler, compute, compute-api, metadata. */
  service: string
  pid: number
  /** Nimbus version of the process. */
  version: string
  started_at: string
  /** Last report (ISO-8601 UTC). */
  last_seen_at: string
  /** Set when the process stopped cleanly; null while it runs (or after it was killed). */
  stopped_at: string | null
  /** The API URL for HTTP services, null for RPC-only ones. */
  endpoint: string | null
  /** JSON: `ServiceReportDetail` (RPC topics, in-process queue depths, compute hosts). */
  detail: string
}

export interface ServiceReportTables {
  service_reports: ServiceReportsTable
}

export type ServiceReportRow = Selectable<ServiceReportsTable>
