import type { Config } from '../common/config.ts'
import type { Database } from '../db/index.ts'
import type { Transport } from '../rpc/index.ts'
import type { RuntimeOptions } from './service.ts'

/** What every service factory is given: shared config, database and transport. */
export interface Runtime {
  readonly config: Config
  readonly db: Database
  readonly transport: Transport
  readonly options: RuntimeOptions
}
