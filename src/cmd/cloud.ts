import { mkdirSync } from 'node:fs'
import type { Config } from '../common/config.ts'
import { redactUrl } from '../common/config.ts'
import { setLimits, limits } from '../common/limits.ts'
import { logger, setLogLevel } from '../common/log.ts'
import { createComputeApiService } from '../compute/api-service.ts'
import { computeHostNames, createComputeService } from '../compute/service.ts'
import { createConductorService } from '../conductor/service.ts'
import { openDatabase, type Database } from '../db/index.ts'
import { migrateToLatest, migrationStatus } from '../db/migrate.ts'
import { createIdentityService, IdentityService } from '../identity/service.ts'
import { createImageService } from '../image/service.ts'
import { createMetadataService } from '../metadata/service.ts'
import { createNetworkService } from '../network/service.ts'
import { ServiceReporter } from '../ops/reporter.ts'
import { createTransport, type Transport } from '../rpc/index.ts'
import { createSchedulerService } from '../scheduler/manager.ts'
import type { Runtime } from '../service/runtime.ts'
import { HttpService, type Endpoint, type RuntimeOptions, type Service } from '../service/service.ts'

const log = logger('cloud')

/** Every service `nimbus serve` knows, in start order. */
export const SERVICE_FACTORIES: Readonly<Record<string, (rt: Runtime) => Service>> = {
  identity: createIdentityService,
  image: createImageService,
  network: createNetworkService,
  // The conductor first: compute hosts register through it.
  conductor: createConductorService,
  scheduler: createSchedulerService,
  compute: createComputeService,
  'compute-api': createComputeApiService,
  metadata: createMetadataService,
}

export const ALL_SERVICES: readonly string[] = Object.keys(SERVICE_FACTORIES)

export interface CloudOptions extends RuntimeOptions {
  /** Run migrations before starting (embedded mode); otherwise require an up-to-date schema. */
  readonly migrate: boolean
}

/**
 * A set of running services sharing one database and one transport: the
 * whole cloud in `nimbus up` and the functional tests, a few services in
 * `nimbus serve`.
 */
export class Cloud {
  readonly config: Config
  readonly db: Database
  readonly transport: Transport
  readonly services: readonly Service[]
  readonly #reporter: ServiceReporter
  #stopping: Promise<void> | undefined

  private constructor(
    config: Config,
    db: Database,
    transport: Transport,
    services: readonly Service[],
    reporter: ServiceReporter,
  ) {
    this.config = config
    this.db = db
    this.transport = transport
    this.services = services
    this.#reporter = reporter
  }

  /** Opens the database and transport, then builds and starts the named services in order. */
  static async start(given: Config, names: readonly string[], opts: CloudOptions): Promise<Cloud> {
    const config = withAllInOneDefaults(given, names)
    setLogLevel(config.logLevel)
    setLimits(config.limits)
    const unknown = names.filter((n) => !SERVICE_FACTORIES[n])
    if (unknown.length) {
      throw new Error(`unknown service ${unknown.join(', ')}; known services: ${ALL_SERVICES.join(', ')}`)
    }
    mkdirSync(config.stateDir, { recursive: true, mode: 0o700 })
    // A database that starts after the services, or is restarting, is waited for (bounded, logged).
    const db = await openDatabase(config.databaseUrl, { waitMs: limits.dbStartupWaitMs })
    let transport: Transport | undefined
    const started: Service[] = []
    try {
      await prepareSchema(db, config.databaseUrl, opts.migrate)
      transport = createTransport(config.transportUrl)
      const rt: Runtime = { config, db, transport, options: opts }
      for (const name of ordered(names)) {
        const service = SERVICE_FACTORIES[name]!(rt)
        await service.start()
        started.push(service)
        log.info({ service: name }, 'service started')
      }
      // Heartbeats of every service here, for `nimbus status`.
      const reporter = new ServiceReporter(db, config, transport, started)
      await reporter.start()
      return new Cloud(config, db, transport, started, reporter)
    } catch (err) {
      await stopAll(started)
      await transport?.close()
      await db.close()
      throw err
    }
  }

  /** The API endpoints of the services running here. */
  endpoints(): Endpoint[] {
    return this.services.filter((s): s is HttpService => s instanceof HttpService).map((s) => s.endpoint)
  }

  /**
   * Runs the identity bootstrap (Default domain, admin project and user,
   * default roles, and the catalog of the APIs listening here). Idempotent;
   * a no-op when the identity service does not run in this process.
   */
  async bootstrapIdentity(adminPassword: string): Promise<void> {
    const identity = this.services.find((s): s is IdentityService => s instanceof IdentityService)
    await identity?.bootstrap(this.config, adminPassword, this.endpoints())
  }

  service<T extends Service>(name: string): T {
    const found = this.services.find((s) => s.name === name)
    if (!found) throw new Error(`service ${name} is not running here`)
    return found as T
  }

  /**
   * Stops every service in reverse start order (each finishes its in-flight
   * work), then closes the transport and the database. Bounded by
   * limits.shutdownGraceMs; idempotent.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop()
    return this.#stopping
  }

  async #stop(): Promise<void> {
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, limits.shutdownGraceMs).unref())
    await Promise.race([stopAll(this.services), deadline])
    await this.#reporter.stop()
    await this.transport.close()
    await this.db.close()
  }
}

/** The options devstack turns on for a one-host cloud; unset, they follow the deployment here. */
const ALL_IN_ONE_OPTIONS = [
  ['compute.allow_resize_to_same_host', 'allowResizeToSameHost'],
  ['compute.allow_migrate_to_same_host', 'allowMigrateToSameHost'],
] as const

/**
 * True when this process is the whole compute side of the cloud: the compute
 * API and exactly one compute host (`nimbus up`, the functional tests' one-host
 * clouds). A distributed cloud cannot know how many hosts will join, so it
 * keeps Nova's defaults.
 */
export function isAllInOne(config: Config, names: readonly string[]): boolean {
  return names.includes('compute') && names.includes('compute-api') && computeHostNames(config).length === 1
}

/**
 * On an all-in-one cloud a move can only stay on its host, so resize and cold
 * migration may (as devstack configures it); an option the operator set, even
 * to false, is kept.
 */
export function withAllInOneDefaults(config: Config, names: readonly string[]): Config {
  if (!isAllInOne(config, names)) return config
  const unset = ALL_IN_ONE_OPTIONS.filter(([key]) => (config.sources[key] ?? 'default') === 'default')
  if (unset.length === 0) return config
  const turnedOn = Object.fromEntries(unset.map(([, field]) => [field, true]))
  return { ...config, compute: { ...config.compute, ...turnedOn } }
}

function ordered(names: readonly string[]): string[] {
  return ALL_SERVICES.filter((n) => names.includes(n))
}

async function stopAll(services: readonly Service[]): Promise<void> {
  for (const service of [...services].reverse()) {
    try {
      await service.stop()
    } catch (err) {
      log.error({ err, service: service.name }, 'service failed to stop cleanly')
    }
  }
}

async function prepareSchema(db: Database, url: string, migrate: boolean): Promise<void> {
  if (migrate) {
    await migrateToLatest(db)
    return
  }
  const status = await migrationStatus(db)
  const pending = status.filter((m) => !m.executedAt)
  if (pending.length) {
    throw new Error(
      `database ${redactUrl(url)} is not up to date (${pending.length} migrations pending): run \`nimbus db migrate\``,
    )
  }
}
