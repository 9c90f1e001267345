import type { Kysely } from 'kysely'
import type { NetworkTables } from './tables/network.ts'
import type { ComputeTables } from './tables/compute.ts'
import type { ComputeAdminTables } from './tables/compute-admin.ts'
import type { IdentityTables } from './tables/identity.ts'
import type { ImageTables } from './tables/image.ts'
import type { ServiceReportTables } from './tables/service-reports.ts'
import type { ServiceTables } from './tables/services.ts'

/**
 * Every table Nimbus stores, as Kysely sees it. Each area keeps its table
 * interfaces in `tables/<area>.ts` and exports one `<Area>Tables` interface
 * mapping table names to them; add it to the `extends` list below together
 * with the migration that creates the tables (see docs/storage.md).
 *
 * Column conventions (enforced for every table by test/unit/db/conventions.test.ts):
 * ids are uuid strings (`string`), timestamps ISO-8601 UTC strings,
 * booleans `boolean`, JSON documents strings (see `values.ts`).
 */
export interface Schema
  extends
    ServiceTables,
    ServiceReportTables,
    ComputeTables,
    ComputeAdminTables,
    IdentityTables,
    NetworkTables,
    ImageTables {}

/** A Kysely instance or a transaction on it: what repository functions take. */
export type Queryable = Kysely<Schema>
