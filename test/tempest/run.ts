/**
 * `npm run tempest -- [regex] [--smoke] [--plugin NAME] [--cloud NAME] [--concurrency N] [--no-docs]`
 *
 * Runs Tempest, the OpenStack test suite, against Nimbus: installs Debian's
 * `tempest` if missing, starts a fresh all-in-one cloud (or uses a running
 * one from clouds.yaml with --cloud), creates the flavors and images Tempest
 * needs, writes tempest.conf with the feature flags Nimbus really has, runs
 * the selection, prints pass/fail/skip per module and writes
 * docs/conformance.md. `--plugin neutron` runs a Tempest plugin's tests
 * instead (plugins.ts: neutron-tempest-plugin's API tests), installing its
 * Debian package if missing; its results replace only its own section of
 * docs/conformance.md.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import yaml from 'js-yaml'
import { OsClient, type PasswordAuth } from '../support/os-client.ts'
import { recipeFile } from '../../src/guest-image/build.ts'
import { defaultGuestImagePath } from '../../src/guest-image/command.ts'
import { guestImage } from '../e2e/vm/support.ts'
import { tempestConf } from './conf.ts'
import {
  CONFORMANCE_AREAS,
  FEATURE_FLAGS,
  REAL_VM_SMOKE_REGEX,
  SECURITY_COMPLIANCE,
  SMOKE_REGEX,
} from './features.ts'
import { pluginNamed, type TempestPlugin } from './plugins.ts'
import { destroyGuestsUnder } from '../e2e/cloud-vm/support.ts'
import { EXTERNAL, realVmEnv, TempestNamespace } from './real-vms.ts'
import {
  parseSubunitCsv,
  renderAreaTable,
  pluginSections,
  renderConformance,
  renderPluginSection,
  renderTable,
  spliceSection,
  summarize,
  summarizeAreas,
  mergeRuns,
  type RunMeta,
  type TestResult,
} from './results.ts'

const ROOT = resolve(import.meta.dirname, '../..')
const CLOUD_START_TIMEOUT_MS = 120_000
const TEMPEST_RUN_TIMEOUT_MS = 60 * 60_000
const CLOUD_STOP_TIMEOUT_MS = 30_000
const IMAGE_BYTES = 1024 * 1024
const DEFAULT_CONCURRENCY = 2
const PUBLIC_NETWORK_NAME = 'public'
const PUBLIC_CIDR = '203.0.113.0/24'
/** Real guests boot under TCG here: a build and an SSH login take tens of seconds under load. */
const REAL_VM_CONCURRENCY = 1
const CLEANUP_TIMEOUT_MS = 120_000
/** The services of `nimbus up` that listen on a port of their own (`[<service>] port`). */
const API_SERVICES = ['identity', 'compute', 'image', 'network', 'metadata'] as const
/** Fake compute hosts of the fresh cloud: two, so Tempest's multi-node tests (cold migration, group policies) run. */
const FAKE_COMPUTE_HOSTS = 2

interface Cloud {
  readonly auth: PasswordAuth & { readonly region: string }
  stop(): Promise<void>
}

function ensureDebianPackage(pkg: string): void {
  const status = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' })
  if (status.status === 0 && status.stdout.includes('install ok installed')) return
  console.log(`tempest: installing Debian package ${pkg}`)
  const r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', pkg], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  })
  if (r.status !== 0) throw new Error(`could not install ${pkg} (apt-get install ${pkg})`)
}

function ensureTempest(plugin: TempestPlugin | undefined): void {
  ensureDebianPackage('tempest')
  if (plugin) ensureDebianPackage(plugin.debianPackage)
}

function authFromCloudsYaml(path: string, name: string): PasswordAuth & { region: string } {
  const doc = yaml.load(readFileSync(path, 'utf8')) as { clouds?: Record<string, any> }
  const c = doc.clouds?.[name]
  if (!c) throw new Error(`no cloud ${name} in ${path}`)
  return {
    authUrl: c.auth.auth_url,
    username: c.auth.username,
    password: c.auth.password,
    projectName: c.auth.project_name,
    userDomainName: c.auth.user_domain_name ?? 'Default',
    projectDomainName: c.auth.project_domain_name ?? 'Default',
    region: c.region_name ?? 'RegionOne',
  }
}

/** A TCP port free on 127.0.0.1 now. */
function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolvePromise(port))
    })
  })
}

/** Free ports for every API of a fresh cloud, so that runs (and a cloud already up) never collide. */
async function apiPortsEnv(): Promise<Record<string, string>> {
  const env: Record<string, string> = {}
  for (const service of API_SERVICES) env[`NIMBUS_${service.toUpperCase()}__PORT`] = String(await freePort())
  return env
}

/** Starts `nimbus up` in a child process with its own state directory (and `env` on top of this one's). */
async function startFreshCloud(workDir: string, env: Record<string, string> = {}): Promise<Cloud> {
  const stateDir = join(workDir, 'state')
  const ports = await apiPortsEnv()
  const cloudsYaml = join(workDir, 'clouds.yaml')
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'bin/nimbus.js'),
      'up',
      '--state-dir',
      stateDir,
      '--clouds-yaml',
      cloudsYaml,
      // Two fake compute hosts (the libvirt driver runs one).
      '--fake-hosts',
      String(FAKE_COMPUTE_HOSTS),
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      // Resizes may stay on their host, as on a devstack.
      env: {
        NIMBUS_COMPUTE__ALLOW_RESIZE_TO_SAME_HOST: 'true',
        NIMBUS_SECURITY_COMPLIANCE__LOCKOUT_FAILURE_ATTEMPTS: String(
          SECURITY_COMPLIANCE.lockoutFailureAttempts,
        ),
        NIMBUS_SECURITY_COMPLIANCE__LOCKOUT_DURATION_S: String(SECURITY_COMPLIANCE.lockoutDurationS),
        NIMBUS_SECURITY_COMPLIANCE__UNIQUE_LAST_PASSWORD_COUNT: String(
          SECURITY_COMPLIANCE.uniqueLastPasswordCount,
        ),
        ...process.env,
        ...ports,
        ...env,
        NIMBUS_DEFAULT__LOG_LEVEL: 'warn',
      },
    },
  )
  const logFile = join(workDir, 'nimbus.log')
  let output = ''
  const collect = (chunk: Buffer) => {
    output += chunk.toString()
    writeFileSync(logFile, output)
  }
  child.stdout!.on('data', collect)
  child.stderr!.on('data', collect)
  await waitFor(
    () => output.includes('Nimbus is up.'),
    child,
    CLOUD_START_TIMEOUT_MS,
    () => output,
  )
  return { auth: authFromCloudsYaml(cloudsYaml, 'nimbus'), stop: () => stopChild(child) }
}

function waitFor(
  done: () => boolean,
  child: ChildProcess,
  timeoutMs: number,
  out: () => string,
): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const timer = setInterval(() => {
      if (done()) {
        clearInterval(timer)
        resolvePromise()
      }
    }, 100)
    const deadline = setTimeout(() => {
      clearInterval(timer)
      reject(new Error(`nimbus up did not come up in ${timeoutMs} ms:\n${out()}`))
    }, timeoutMs)
    child.once('exit', (code) => {
      clearInterval(timer)
      clearTimeout(deadline)
      reject(new Error(`nimbus up exited with ${code}:\n${out()}`))
    })
  })
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve()
  return new Promise((resolvePromise) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), CLOUD_STOP_TIMEOUT_MS)
    child.once('exit', () => {
      clearTimeout(kill)
      resolvePromise()
    })
    child.kill('SIGTERM')
  })
}

async function ensureFlavor(c: OsClient, name: string, ramMb: number): Promise<string> {
  const list = await c.request('compute', 'GET', '/flavors', undefined, { expect: [200] })
  const found = (list.body.flavors as { id: string; name: string }[]).find((f) => f.name === name)
  if (found) return found.id
  const created = await c.request(
    'compute',
    'POST',
    '/flavors',
    { flavor: { name, ram: ramMb, vcpus: 1, disk: 1 } },
    { expect: [200] },
  )
  return created.body.flavor.id as string
}

async function findImage(c: OsClient, name: string): Promise<string> {
  const list = await c.request('image', 'GET', `/v2/images?name=${encodeURIComponent(name)}`, undefined, {
    expect: [200],
  })
  const found = (list.body.images as { id: string; status: string }[]).find((i) => i.status === 'active')
  if (!found) throw new Error(`no active image ${name}`)
  return found.id
}

async function ensureImage(c: OsClient, name: string): Promise<string> {
  const list = await c.request('image', 'GET', `/v2/images?name=${encodeURIComponent(name)}`, undefined, {
    expect: [200],
  })
  const found = (list.body.images as { id: string; status: string }[]).find((i) => i.status === 'active')
  if (found) return found.id
  const created = await c.request(
    'image',
    'POST',
    '/v2/images',
    { name, disk_format: 'raw', container_format: 'bare', visibility: 'public' },
    { expect: [201] },
  )
  const id = created.body.id as string
  await c.upload('image', `/v2/images/${id}/file`, new Uint8Array(IMAGE_BYTES))
  return id
}

async function microversions(c: OsClient): Promise<{ min: string; max: string }> {
  const root = new URL(c.endpoint('compute')).origin
  const res = await fetch(root)
  const body = (await res.json()) as { versions: { id: string; min_version: string; version: string }[] }
  const v21 = body.versions.find((v) => v.id === 'v2.1')
  if (!v21) throw new Error('compute API does not list v2.1')
  return { min: v21.min_version, max: v21.version }
}

/**
 * The external network floating IPs come from (Tempest's `public_network_id`):
 * `public`, made once with a documentation range (203.0.113.0/24) so that
 * nothing outside the cloud is ever addressed. With real VMs it is the flat
 * physical network `public`, whose gateway is Tempest's own namespace.
 */
async function ensurePublicNetwork(c: OsClient, realVms: boolean): Promise<string> {
  const list = await c.request('network', 'GET', `/v2.0/networks?name=${PUBLIC_NETWORK_NAME}`, undefined, {
    expect: [200],
  })
  const found = (list.body.networks as { id: string; 'router:external': boolean }[]).find(
    (n) => n['router:external'],
  )
  if (found) return found.id
  const provider = realVms
    ? { 'provider:network_type': 'flat', 'provider:physical_network': EXTERNAL.physnet }
    : {}
  const net = await c.request(
    'network',
    'POST',
    '/v2.0/networks',
    { network: { name: PUBLIC_NETWORK_NAME, 'router:external': true, ...provider } },
    { expect: [201] },
  )
  const id = net.body.network.id as string
  const addressing = realVms
    ? {
        gateway_ip: EXTERNAL.gateway,
        allocation_pools: [{ start: EXTERNAL.poolStart, end: EXTERNAL.poolEnd }],
      }
    : {}
  await c.request(
    'network',
    'POST',
    '/v2.0/subnets',
    {
      subnet: {
        network_id: id,
        ip_version: 4,
        cidr: PUBLIC_CIDR,
        enable_dhcp: false,
        name: 'public-v4',
        ...addressing,
      },
    },
    { expect: [201] },
  )
  return id
}

/** The aliases of the network extensions the cloud lists (for `api_extensions`). */
async function networkExtensions(c: OsClient): Promise<string[]> {
  const res = await c.request('network', 'GET', '/v2.0/extensions', undefined, { expect: [200] })
  return (res.body.extensions as { alias: string }[]).map((e) => e.alias)
}

/**
 * How many compute nodes can take servers (Tempest's `min_compute_nodes`, which gates its
 * multi-node tests): hypervisors up and enabled, not those of hosts an earlier run in the
 * same workspace left in the database.
 */
async function computeNodeCount(c: OsClient): Promise<number> {
  const res = await c.request('compute', 'GET', '/os-hypervisors', undefined, { expect: [200] })
  const hypervisors = res.body.hypervisors as { state: string; status: string }[]
  return hypervisors.filter((h) => h.state === 'up' && h.status === 'enabled').length
}

function git(args: string[]): string {
  return spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout.trim()
}

/** What a run records in its work directory (run.json), for reports that add several runs up. */
const RUN_META_FILE = 'run.json'

function runMetaOf(workDir: string, fallback: RunMeta): RunMeta {
  const file = join(workDir, RUN_META_FILE)
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as RunMeta) : fallback
}

/**
 * Reads the last run of each work directory, prints the tables and totals
 * of all runs added up (mergeRuns: a test counts where it ran), writes
 * docs/conformance.md; 0 when all passed.
 */
function report(
  workDirs: readonly string[],
  regex: string,
  writeDocs: boolean,
  plugin: TempestPlugin | undefined,
): number {
  const perRun: TestResult[][] = []
  const runs: RunMeta[] = []
  for (const dir of workDirs) {
    const ws = join(dir, 'tempest')
    const subunit = spawnSync('stestr', ['last', '--subunit'], { cwd: ws, maxBuffer: 1 << 28 })
    const csv = spawnSync('subunit2csv', [], { input: subunit.stdout, maxBuffer: 1 << 28, encoding: 'utf8' })
    perRun.push(parseSubunitCsv(csv.stdout))
    runs.push(
      runMetaOf(dir, {
        date: new Date().toISOString().slice(0, 10),
        commit: git(['rev-parse', '--short', 'HEAD']),
        regex,
      }),
    )
  }
  const results = mergeRuns(perRun)
  const summary = summarize(results)
  console.log(renderTable(summary))
  console.log(renderAreaTable(summarizeAreas(summary, CONFORMANCE_AREAS)))
  if (writeDocs) {
    const file = join(ROOT, 'docs', 'conformance.md')
    const before = existsSync(file) ? readFileSync(file, 'utf8') : ''
    let doc: string
    if (plugin) {
      if (runs.length !== 1) throw new Error('a plugin report covers one run')
      const section = renderPluginSection(plugin.name, plugin.title, summary, results, runs[0]!, plugin.flags)
      doc = spliceSection(before, plugin.name, section)
    } else {
      // Tempest's own part is rewritten; the plugins' sections stay as their last runs wrote them.
      const main = renderConformance(
        summary,
        results,
        runs.length === 1 ? runs[0]! : runs,
        FEATURE_FLAGS,
        CONFORMANCE_AREAS,
      )
      doc = [main, ...pluginSections(before).map((s) => `${s}\n`)].join('\n')
    }
    writeFileSync(file, doc)
    console.log('tempest: wrote docs/conformance.md')
  }
  const { passed, failed, skipped } = summary.total
  for (const r of results) if (r.outcome === 'failed') console.log(`tempest: FAILED ${r.id}`)
  console.log(`tempest: ${passed} passed, ${failed} failed, ${skipped} skipped`)
  return failed === 0 && passed > 0 ? 0 : 1
}

/** Runs `argv` to its end without blocking this process (its API relays must keep serving). */
function runAsync(argv: readonly string[], cwd: string, timeoutMs: number): Promise<number | null> {
  return new Promise((resolvePromise) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, stdio: 'inherit' })
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolvePromise(code)
    })
  })
}

/** The guest image `nimbus up` uploads as nimbus-tiny: built once in the default state dir (its .deb cache), copied into the run's. */
async function stageGuestImage(stateDir: string): Promise<void> {
  const built = await guestImage()
  const target = defaultGuestImagePath(stateDir)
  mkdirSync(join(target, '..'), { recursive: true })
  copyFileSync(built, target)
  copyFileSync(recipeFile(built), recipeFile(target))
}

interface RealVmRun {
  readonly ns: TempestNamespace
  readonly env: Record<string, string>
  readonly instancesPath: string
}

/** Removes what a real-VM run made: guests left behind, the data plane (`nimbus network cleanup`), the namespace. */
async function cleanupRealVms(vm: RealVmRun, workDir: string): Promise<void> {
  const left = await destroyGuestsUnder(vm.instancesPath)
  if (left.length) console.log(`tempest: destroyed guests left behind: ${left.join(', ')}`)
  const cleanup = spawnSync(
    process.execPath,
    [join(ROOT, 'bin/nimbus.js'), '--state-dir', join(workDir, 'state'), 'network', 'cleanup'],
    { env: { ...process.env, ...vm.env }, encoding: 'utf8', timeout: CLEANUP_TIMEOUT_MS },
  )
  if (cleanup.status !== 0) console.error(`tempest: nimbus network cleanup failed: ${cleanup.stderr}`)
  await vm.ns.destroy()
  rmSync(vm.instancesPath, { recursive: true, force: true })
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      smoke: { type: 'boolean', default: false },
      'real-vms': { type: 'boolean', default: false },
      cloud: { type: 'string' },
      'clouds-yaml': { type: 'string' },
      concurrency: { type: 'string' },
      'no-docs': { type: 'boolean', default: false },
      workspace: { type: 'string', multiple: true },
      'report-only': { type: 'boolean', default: false },
      plugin: { type: 'string' },
    },
  })
  const plugin = values.plugin === undefined ? undefined : pluginNamed(values.plugin)
  if (plugin && (values.smoke || values['real-vms']))
    throw new Error('--plugin runs API tests: no --smoke or --real-vms')
  const realVms = values['real-vms']!
  const regex = values.smoke
    ? realVms
      ? REAL_VM_SMOKE_REGEX
      : SMOKE_REGEX
    : (positionals[0] ?? plugin?.regex ?? '^tempest\\.api\\.(compute|identity|image|network)\\.')
  const workspaces = (values.workspace ?? []).map((w) => resolve(w))
  if (values['report-only']) {
    if (!workspaces.length)
      throw new Error('--report-only needs --workspace DIR of an earlier run (or several)')
    return report(workspaces, regex, !values['no-docs'], plugin)
  }
  if (workspaces.length > 1) throw new Error('a run takes one --workspace (several only with --report-only)')
  if (realVms && values.cloud) throw new Error('--real-vms starts its own cloud; it cannot use --cloud')
  if (realVms && process.getuid?.() !== 0) throw new Error('--real-vms needs root (libvirt, namespaces)')
  const concurrency = values.concurrency ?? String(realVms ? REAL_VM_CONCURRENCY : DEFAULT_CONCURRENCY)
  ensureTempest(plugin)
  const workDir = workspaces[0] ?? mkdtempSync(join(tmpdir(), 'nimbus-tempest-'))
  mkdirSync(workDir, { recursive: true })
  const meta: RunMeta = {
    date: new Date().toISOString().slice(0, 10),
    commit: git(['rev-parse', '--short', 'HEAD']),
    regex,
    mode: realVms ? 'real VMs (libvirt)' : 'fake driver',
  }
  writeFileSync(join(workDir, RUN_META_FILE), JSON.stringify(meta))
  let vm: RealVmRun | undefined
  let cloud: Cloud | undefined
  let registered: string | undefined
  try {
    if (realVms) {
      const ns = new TempestNamespace(workDir)
      // Under /var/lib: libvirt-qemu must reach the disks (not under /root or a private /tmp).
      const instancesPath = `/var/lib/nimbus/tempest-${process.pid}`
      vm = { ns, env: realVmEnv(ns, instancesPath), instancesPath }
      await ns.create()
      await stageGuestImage(join(workDir, 'state'))
    }
    cloud = values.cloud
      ? {
          auth: authFromCloudsYaml(
            values['clouds-yaml'] ?? join(process.env.HOME ?? '/root', '.config/openstack/clouds.yaml'),
            values.cloud,
          ),
          stop: async () => undefined,
        }
      : await startFreshCloud(workDir, vm?.env)
    const admin = await OsClient.login(cloud.auth)
    const mv = await microversions(admin)
    if (vm) {
      const ports = new Set(admin.catalogUrls().map((u) => Number(new URL(u).port)))
      await vm.ns.forward([...ports].filter((p) => p > 0))
    }
    const conf = tempestConf({
      authUrl: cloud.auth.authUrl,
      region: cloud.auth.region,
      adminUser: cloud.auth.username,
      adminPassword: cloud.auth.password,
      adminProject: cloud.auth.projectName,
      domain: cloud.auth.userDomainName ?? 'Default',
      ...(vm
        ? {
            // nimbus up made flavor m1.tiny and image nimbus-tiny (the guest Tempest logs into as `nimbus`).
            flavorRef: await ensureFlavor(admin, 'm1.tiny', 512),
            flavorRefAlt: await ensureFlavor(admin, 'm1.tiny-alt', 640),
            imageRef: await findImage(admin, 'nimbus-tiny'),
            imageRefAlt: await findImage(admin, 'nimbus-tiny'),
            realVms: { sshUser: 'nimbus' },
          }
        : {
            flavorRef: await ensureFlavor(admin, 'tempest-nano', 128),
            flavorRefAlt: await ensureFlavor(admin, 'tempest-micro', 192),
            imageRef: await ensureImage(admin, 'tempest-image'),
            imageRefAlt: await ensureImage(admin, 'tempest-image-alt'),
          }),
      minMicroversion: mv.min,
      maxMicroversion: mv.max,
      minComputeNodes: await computeNodeCount(admin),
      networkExtensions: await networkExtensions(admin),
      publicNetworkId: await ensurePublicNetwork(admin, realVms),
      publicNetworkName: PUBLIC_NETWORK_NAME,
      lockPath: join(workDir, 'lock'),
      logFile: join(workDir, 'tempest.log'),
      extraFlags: plugin?.flags,
    })
    const ws = join(workDir, 'tempest')
    // A name of its own in ~/.tempest/workspace.yaml (the default, `tempest`, collides from the second run on).
    const wsName = `nimbus-${process.pid}-${Date.now()}`
    if (!existsSync(ws)) {
      spawnSync('tempest', ['init', '--name', wsName, ws], { stdio: 'inherit' })
      registered = wsName
    }
    writeFileSync(join(ws, 'etc', 'tempest.conf'), conf)
    console.log(`tempest: workspace ${ws}, regex ${regex}${vm ? `, real VMs, namespace ${vm.ns.ns}` : ''}`)
    const argv = ['tempest', 'run', '--regex', regex, '--concurrency', concurrency]
    const startedMs = Date.now()
    await runAsync(vm ? vm.ns.wrap(argv) : argv, ws, TEMPEST_RUN_TIMEOUT_MS)
    const durationS = Math.round((Date.now() - startedMs) / 1000)
    writeFileSync(join(workDir, RUN_META_FILE), JSON.stringify({ ...meta, durationS }))
    console.log(`tempest: run took ${durationS} s`)
    return report([workDir], regex, !values['no-docs'], plugin)
  } finally {
    if (registered) spawnSync('tempest', ['workspace', 'remove', '--name', registered], { stdio: 'ignore' })
    await cloud?.stop()
    if (vm) await cleanupRealVms(vm, workDir)
    if (!workspaces.length) rmSync(workDir, { recursive: true, force: true })
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`tempest: ${err instanceof Error ? err.message : String(err)}`)
    process.exit(1)
  },
)
