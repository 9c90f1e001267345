import { Command, InvalidArgumentError } from 'commander'
import { ensureGuestAssets, GUEST_IMAGE_NAME } from './guest-assets.ts'
import { join } from 'node:path'
import { ConfigError, loadConfig, redactUrl, sampleConfig, type Config } from '../common/config.ts'
import { setLimits } from '../common/limits.ts'
import { logger, setLogLevel } from '../common/log.ts'
import { openDatabase } from '../db/index.ts'
import { migrateToLatest, migrationStatus } from '../db/migrate.ts'
import { ALL_SERVICES, Cloud } from './cloud.ts'
import { bootstrap, configuredEndpoints } from '../identity/bootstrap.ts'
import { fernetKeyRepository, Identity } from '../identity/identity.ts'
import { imageBuild } from '../guest-image/command.ts'
import { NetworkPlugin } from '../network/plugin.ts'
import { dataplaneAgentFor } from '../network/service.ts'
import { settingsFrom } from '../network/settings.ts'
import { statusCommand, type StatusOptions } from './ops.ts'
import { explainCommand, type ExplainCommandOptions } from './explain.ts'
import {
  ADMIN_PROJECT,
  ADMIN_USER,
  adminPassword,
  defaultCloudsYamlPath,
  DEFAULT_DOMAIN,
  writeCloudsYaml,
  writeOpenrc,
  type AdminCredentials,
} from './credentials.ts'

const log = logger('cmd')

interface GlobalOptions {
  readonly config?: string
  readonly stateDir?: string
}

function configFrom(cmd: Command, extra: Record<string, string> = {}): Config {
  const g = cmd.optsWithGlobals<GlobalOptions>()
  const overrides: Record<string, string> = { ...extra }
  if (g.stateDir) overrides['DEFAULT.state_dir'] = g.stateDir
  return loadConfig({ file: g.config, overrides })
}

function positiveInt(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer')
  return n
}

/** Runs until SIGINT/SIGTERM, then stops the cloud cleanly; a second signal forces exit. */
async function runUntilSignalled(cloud: Cloud): Promise<void> {
  await new Promise<void>((resolve) => {
    let signalled = false
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) {
        log.warn({ signal }, 'second signal: exiting now')
        process.exit(130)
      }
      signalled = true
      log.info({ signal }, 'shutting down')
      cloud.stop().then(resolve, (err: unknown) => {
        log.error({ err }, 'shutdown failed')
        resolve()
      })
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}

function printUp(cloud: Cloud, creds: AdminCredentials, cloudsYaml: string, openrc: string): void {
  const lines = ['Nimbus is up.', '', 'Endpoints:']
  for (const e of cloud.endpoints()) lines.push(`  ${e.type.padEnd(10)} ${e.url}`)
  lines.push(
    '',
    'Admin credentials:',
    `  auth_url ${creds.authUrl}`,
    `  username ${creds.username}  project ${creds.projectName}  domain ${creds.userDomainName}`,
    `  password ${creds.password}`,
    '',
    `clouds.yaml entry "nimbus" written to ${cloudsYaml}: openstack --os-cloud nimbus token issue`,
    `openrc written to ${openrc}: source it to use the OS_* variables`,
    `database ${redactUrl(cloud.config.databaseUrl)}, transport ${redactUrl(cloud.config.transportUrl)}`,
    '',
    'Ctrl-C stops the cloud.',
  )
  process.stdout.write(`${lines.join('\n')}\n`)
}

async function up(cmd: Command, opts: { cloudsYaml?: string; fakeHosts?: number }): Promise<void> {
  const config = configFrom(cmd, opts.fakeHosts ? { 'compute.fake_hosts': String(opts.fakeHosts) } : {})
  const cloud = await Cloud.start(config, ALL_SERVICES, { migrate: true })
  await cloud.bootstrapIdentity(adminPassword(config))
  if (config.compute.virtDriver === 'libvirt') {
    // Real VMs: the guest image as nimbus-tiny and flavor m1.tiny, made once.
    const assets = await ensureGuestAssets(config, cloud.db)
    process.stdout.write(`image ${GUEST_IMAGE_NAME} ${assets.imageId}, flavor m1.tiny ${assets.flavorId}\n`)
  }
  const identity = cloud.endpoints().find((e) => e.type === 'identity')
  const creds: AdminCredentials = {
    authUrl: identity?.url ?? '',
    username: ADMIN_USER,
    password: adminPassword(config),
    projectName: ADMIN_PROJECT,
    userDomainName: DEFAULT_DOMAIN,
    projectDomainName: DEFAULT_DOMAIN,
    regionName: config.identity.region,
  }
  const cloudsYaml = opts.cloudsYaml ?? defaultCloudsYamlPath()
  const openrc = join(config.stateDir, 'openrc')
  writeCloudsYaml(cloudsYaml, creds)
  writeOpenrc(openrc, creds)
  printUp(cloud, creds, cloudsYaml, openrc)
  await runUntilSignalled(cloud)
}

async function serve(cmd: Command, services: string[]): Promise<void> {
  const config = configFrom(cmd)
  const cloud = await Cloud.start(config, services, { migrate: false })
  for (const e of cloud.endpoints()) process.stdout.write(`${e.type} ${e.url}\n`)
  await runUntilSignalled(cloud)
}

async function dbCommand(cmd: Command, action: 'migrate' | 'status'): Promise<void> {
  const config = configFrom(cmd)
  setLogLevel(config.logLevel)
  setLimits(config.limits)
  const db = await openDatabase(config.databaseUrl)
  try {
    if (action === 'migrate') await migrateToLatest(db)
    for (const m of await migrationStatus(db)) {
      process.stdout.write(
        `${m.name}  ${m.executedAt ? `applied ${m.executedAt.toISOString()}` : 'pending'}\n`,
      )
    }
  } finally {
    await db.close()
  }
}

async function identityBootstrap(cmd: Command): Promise<void> {
  const config = configFrom(cmd)
  setLogLevel(config.logLevel)
  setLimits(config.limits)
  const db = await openDatabase(config.databaseUrl)
  try {
    const pending = (await migrationStatus(db)).filter((m) => !m.executedAt)
    if (pending.length)
      throw new Error(
        `database is not up to date (${pending.length} migrations pending): run \`nimbus db migrate\``,
      )
    const identity = await Identity.open(config, db)
    const endpoints = configuredEndpoints(config)
    await bootstrap(identity, {
      adminPassword: adminPassword(config),
      region: config.identity.region,
      endpoints,
      serviceUser: config.authtoken.username
        ? { name: config.authtoken.username, password: config.authtoken.password }
        : undefined,
    })
    for (const e of endpoints) process.stdout.write(`${e.type.padEnd(10)} ${e.url}\n`)
    process.stdout.write('identity bootstrap done\n')
  } finally {
    await db.close()
  }
}

/**
 * Removes what this host's network data plane made (as Neutron's
 * netns-cleanup and linuxbridge-cleanup): its DHCP servers, router
 * namespaces and metadata proxies, its bridges and veths, its nftables
 * tables. Guests' taps are left to compute. Run with the cloud stopped.
 */
async function networkCleanup(cmd: Command): Promise<void> {
  const config = configFrom(cmd)
  setLogLevel(config.logLevel)
  setLimits(config.limits)
  const db = await openDatabase(config.databaseUrl)
  try {
    const agent = dataplaneAgentFor(config, new NetworkPlugin(db, settingsFrom(config)))
    await agent.teardown()
    process.stdout.write(`network data plane of host ${config.host} removed\n`)
  } finally {
    await db.close()
  }
}

function fernetRotate(cmd: Command): void {
  const config = configFrom(cmd)
  setLogLevel(config.logLevel)
  const keys = fernetKeyRepository(config)
  keys.ensure()
  const { primary, removed } = keys.rotate()
  process.stdout.write(
    `fernet keys in ${keys.dir}: primary is now ${primary}` +
      (removed.length ? `, removed ${removed.join(', ')}` : '') +
      `; tokens signed by removed keys are no longer valid\n`,
  )
}

export function buildProgram(): Command {
  const program = new Command('nimbus')
    .description('Nimbus: an OpenStack-compatible IaaS compute cloud')
    .option('-c, --config <file>', 'configuration file (INI); also NIMBUS_CONFIG')
    .option('--state-dir <dir>', 'state directory (database, keys, images); overrides DEFAULT.state_dir')
    .showHelpAfterError()

  program
    .command('up')
    .description('run every service in this process (embedded mode: SQLite, in-process RPC, fake driver)')
    .option('--clouds-yaml <file>', 'where to write the clouds.yaml entry', undefined)
    // No default here: without the flag, [compute] fake_hosts (file or NIMBUS_COMPUTE__FAKE_HOSTS) decides.
    .option(
      '--fake-hosts <n>',
      'number of fake compute hosts (default: [compute] fake_hosts, 1)',
      positiveInt,
    )
    .action((opts: { cloudsYaml?: string; fakeHosts?: number }, cmd: Command) => up(cmd, opts))

  program
    .command('serve')
    .description(
      `run the named services in this process (distributed mode); services: ${ALL_SERVICES.join(', ')}`,
    )
    .argument('<service...>', 'services to run')
    .action((services: string[], _opts: unknown, cmd: Command) => serve(cmd, services))

  program
    .command('status')
    .description(
      'every service with its state, heartbeat and queues, then database, broker, hypervisors and data plane; exit 1 unless all is up',
    )
    .option('--json', 'the same report as JSON')
    .option('--stuck', 'servers, ports and images in a transitional state past half their deadline')
    .action(async (opts: StatusOptions, cmd: Command) => {
      process.exitCode = await statusCommand(configFrom(cmd), opts, (s) => process.stdout.write(s))
    })

  program
    .command('explain')
    .description(
      "the story of a server's last action (or --request REQ_ID): who asked, the scheduler's decision, each step with its duration, the fault, the log lines; exit 1 if it failed",
    )
    .argument('[server]', 'server name or id')
    .option('--request <req_id>', 'explain this request instead of the last action')
    .option('--json', 'the same as JSON')
    .action(async (server: string | undefined, opts: ExplainCommandOptions, cmd: Command) => {
      process.exitCode = await explainCommand(configFrom(cmd), server, opts, (s) => process.stdout.write(s))
    })

  const db = program.command('db').description('database schema management')
  db.command('migrate')
    .description('apply every pending migration, then list them')
    .action((_opts: unknown, cmd: Command) => dbCommand(cmd, 'migrate'))
  db.command('status')
    .description('list migrations and whether each is applied')
    .action((_opts: unknown, cmd: Command) => dbCommand(cmd, 'status'))

  const config = program.command('config').description('configuration')
  config
    .command('sample')
    .description('print a config file with every option, its default and its help')
    .action(() => {
      process.stdout.write(sampleConfig())
    })
  config
    .command('check')
    .description('load and validate the configuration, then print where each value came from')
    .action((_opts: unknown, cmd: Command) => {
      const c = configFrom(cmd)
      for (const [key, source] of Object.entries(c.sources).sort()) {
        if (source !== 'default') process.stdout.write(`${key} (${source})\n`)
      }
      process.stdout.write('configuration is valid\n')
    })
  program
    .command('image')
    .description('guest images')
    .command('build')
    .description('build the small bootable qcow2 guest image (busybox + dropbear) from Debian packages')
    .option('--output <file>', 'where to write it (default: <state_dir>/images/nimbus-guest.qcow2)')
    .action((opts: { output?: string }, cmd: Command) => imageBuild(configFrom(cmd), opts))
  program
    .command('network')
    .description('network data plane administration')
    .command('cleanup')
    .description(
      "remove this host's DHCP servers, router namespaces, bridges and nftables tables (run with the cloud stopped)",
    )
    .action((_opts: unknown, cmd: Command) => networkCleanup(cmd))
  const identity = program.command('identity').description('identity service (Keystone) administration')
  identity
    .command('bootstrap')
    .description('create the Default domain, admin project/user, default roles and the catalog (idempotent)')
    .action((_opts: unknown, cmd: Command) => identityBootstrap(cmd))
  identity
    .command('fernet-rotate')
    .description(
      'rotate the Fernet token keys: stage a new key, promote the staged one, keep identity.max_active_keys',
    )
    .action((_opts: unknown, cmd: Command) => fernetRotate(cmd))
  return program
}

export async function main(argv: readonly string[]): Promise<void> {
  try {
    await buildProgram().parseAsync([...argv])
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`nimbus: configuration error: ${err.message}\n`)
      process.exit(2)
    }
    process.stderr.write(`nimbus: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  }
}
