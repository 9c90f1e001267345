/**
 * Boot-and-delete benchmark through the compute HTTP API: N cycles of
 * POST /servers (networks none, microversion 2.37) -> poll until ACTIVE ->
 * DELETE -> poll until 404, run by C concurrent workers. Prints cycles/s,
 * create->ACTIVE p50/p95 and delete p50.
 *
 * Embedded (default): the whole cloud in this process (SQLite in a temp
 * directory, in-process RPC, 10 fake compute hosts, quotas lifted).
 * Against another cloud, with the same client code: `--cloud NAME` (an
 * entry of clouds.yaml) or `--os-env` (the OS_* variables, e.g. after
 * `. /work/shared/peers/openstack-zed/env.sh`).
 *
 * Run: npm run bench:boot -- [--cycles 1000] [--concurrency 10] [--hosts 10]
 *      [--poll-ms N] [--cloud NAME | --os-env] [--image NAME|ID] [--flavor ID]
 *      [--compare [--compare-cycles 100]]
 * `--compare` with `--cloud NAME` or `--os-env`: one run measures the embedded
 * cloud, then the other cloud with the same client code and concurrency
 * (`--compare-cycles` cycles), and prints the ratios.
 * Targets (embedded, 2 cores): >= 100 cycles/s and create->ACTIVE p50 <= 50 ms.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { homedir, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import yaml from 'js-yaml'
import { Cloud, ALL_SERVICES } from '../src/cmd/cloud.ts'
import { loadConfig } from '../src/common/config.ts'
import { OsClient, type PasswordAuth } from '../test/support/os-client.ts'

const TARGET_CYCLES_PER_S = 100
const TARGET_ACTIVE_P50_MS = 50
const DEFAULT_CYCLES = 1_000
const DEFAULT_CONCURRENCY = 10
const DEFAULT_HOSTS = 10
/** Cycles against the other cloud in `--compare` (OpenStack Zed here does about 1-3 cycles/s). */
const DEFAULT_COMPARE_CYCLES = 100
/** Polling interval in process (the API answers in about a millisecond) and against a remote cloud. */
const EMBEDDED_POLL_MS = 5
const REMOTE_POLL_MS = 100
/** A cycle that takes longer than this fails the benchmark (a stuck build must not hang it). */
const CYCLE_TIMEOUT_MS = 120_000
const ADMIN_PASSWORD = 'bench-admin-password'
const MICROVERSION = '2.37'

interface Options {
  readonly cycles: number
  readonly concurrency: number
  readonly hosts: number
  readonly pollMs: number | undefined
  readonly cloud: string | undefined
  readonly osEnv: boolean
  readonly image: string | undefined
  readonly flavor: string
  /** Also run the workload against `--cloud`/`--os-env` after the embedded run, and print the ratio. */
  readonly compare: boolean
  /** Cycles against the other cloud in a comparison (a real OpenStack is far slower). */
  readonly compareCycles: number
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      cycles: { type: 'string' },
      concurrency: { type: 'string' },
      hosts: { type: 'string' },
      'poll-ms': { type: 'string' },
      cloud: { type: 'string' },
      'os-env': { type: 'boolean' },
      image: { type: 'string' },
      flavor: { type: 'string' },
      compare: { type: 'boolean' },
      'compare-cycles': { type: 'string' },
    },
  })
  const int = (v: string | undefined, d: number) => (v === undefined ? d : Number.parseInt(v, 10))
  return {
    cycles: int(values.cycles, DEFAULT_CYCLES),
    concurrency: int(values.concurrency, DEFAULT_CONCURRENCY),
    hosts: int(values.hosts, DEFAULT_HOSTS),
    pollMs: values['poll-ms'] === undefined ? undefined : int(values['poll-ms'], EMBEDDED_POLL_MS),
    cloud: values.cloud,
    osEnv: values['os-env'] ?? false,
    image: values.image,
    flavor: values.flavor ?? '1',
    compare: values.compare ?? false,
    compareCycles: int(values['compare-cycles'], DEFAULT_COMPARE_CYCLES),
  }
}

// ---- where to run ----

interface Target {
  readonly auth: PasswordAuth
  readonly client: OsClient
  readonly imageId: string
  readonly pollMs: number
  readonly label: string
  stop(): Promise<void>
}

async function embedded(opts: Options): Promise<Target> {
  const stateDir = mkdtempSync(join(process.env.NIMBUS_BENCH_STATE_ROOT ?? tmpdir(), 'nimbus-bench-boot-'))
  const config = loadConfig({
    env: {},
    overrides: {
      'DEFAULT.state_dir': stateDir,
      'DEFAULT.log_level': process.env.NIMBUS_BENCH_LOG_LEVEL ?? 'silent',
      'DEFAULT.transport_url': 'inproc://',
      'identity.admin_password': ADMIN_PASSWORD,
      'compute.fake_hosts': String(opts.hosts),
      'quota.instances': '-1',
      'quota.cores': '-1',
      'quota.ram': '-1',
    },
  })
  const cloud = await Cloud.start(config, ALL_SERVICES, { migrate: true, ephemeralPorts: true })
  await cloud.bootstrapIdentity(ADMIN_PASSWORD)
  const identity = cloud.endpoints().find((e) => e.type === 'identity')!.url
  const client = await OsClient.login(
    { authUrl: identity, username: 'admin', password: ADMIN_PASSWORD, projectName: 'admin' },
    { 'openstack-api-version': `compute ${MICROVERSION}` },
  )
  const image = await client.request('image', 'POST', '/v2/images', {
    name: 'bench',
    disk_format: 'raw',
    container_format: 'bare',
    visibility: 'public',
  })
  await client.upload('image', `/v2/images/${image.body.id}/file`, new Uint8Array(1024))
  return {
    auth: { authUrl: identity, username: 'admin', password: ADMIN_PASSWORD, projectName: 'admin' },
    client,
    imageId: image.body.id as string,
    pollMs: opts.pollMs ?? EMBEDDED_POLL_MS,
    label: `embedded (${opts.hosts} fake hosts, SQLite, in-process RPC)`,
    async stop() {
      await cloud.stop()
      rmSync(stateDir, { recursive: true, force: true })
    },
  }
}

function cloudsYamlAuth(name: string): PasswordAuth {
  const candidates = [
    process.env.OS_CLIENT_CONFIG_FILE,
    'clouds.yaml',
    join(homedir(), '.config', 'openstack', 'clouds.yaml'),
    '/etc/openstack/clouds.yaml',
  ].filter((p): p is string => !!p && existsSync(p))
  for (const file of candidates) {
    const doc = yaml.load(readFileSync(file, 'utf8')) as { clouds?: Record<string, any> }
    const entry = doc.clouds?.[name]
    if (!entry) continue
    const a = entry.auth ?? {}
    return {
      authUrl: String(a.auth_url)
        .replace(/\/+$/, '')
        .replace(/(\/v3)?$/, '/v3'),
      username: a.username,
      password: a.password,
      projectName: a.project_name,
      userDomainName: a.user_domain_name ?? 'Default',
      projectDomainName: a.project_domain_name ?? 'Default',
    }
  }
  throw new Error(`no cloud named ${name} in ${candidates.join(', ') || 'any clouds.yaml'}`)
}

function envAuth(): PasswordAuth {
  const e = process.env
  if (!e.OS_AUTH_URL || !e.OS_USERNAME || !e.OS_PASSWORD || !e.OS_PROJECT_NAME) {
    throw new Error('--os-env needs OS_AUTH_URL, OS_USERNAME, OS_PASSWORD and OS_PROJECT_NAME')
  }
  return {
    authUrl: e.OS_AUTH_URL.replace(/\/+$/, '').replace(/(\/v3)?$/, '/v3'),
    username: e.OS_USERNAME,
    password: e.OS_PASSWORD,
    projectName: e.OS_PROJECT_NAME,
    userDomainName: e.OS_USER_DOMAIN_NAME ?? 'Default',
    projectDomainName: e.OS_PROJECT_DOMAIN_NAME ?? 'Default',
  }
}

async function remote(opts: Options): Promise<Target> {
  const auth = opts.cloud ? cloudsYamlAuth(opts.cloud) : envAuth()
  const client = await OsClient.login(auth, { 'openstack-api-version': `compute ${MICROVERSION}` })
  const images = (await client.request('image', 'GET', '/v2/images?status=active')).body.images as {
    id: string
    name: string
  }[]
  const image =
    images.find((i) => i.id === opts.image || i.name === opts.image) ?? (opts.image ? undefined : images[0])
  if (!image) throw new Error(`no active image ${opts.image ?? ''} in ${auth.authUrl}`)
  return {
    auth,
    client,
    imageId: image.id,
    pollMs: opts.pollMs ?? REMOTE_POLL_MS,
    label: `${opts.cloud ?? 'OS_* environment'} (${auth.authUrl})`,
    stop: async () => undefined,
  }
}

// ---- the workload ----

interface Sample {
  readonly activeMs: number
  readonly deleteMs: number
  /** HTTP requests the cycle made (the create, the delete and every poll). */
  readonly requests: number
}

/** What a load worker needs: it logs in itself and runs its share of the cycles. */
interface WorkerJob {
  readonly auth: PasswordAuth
  readonly imageId: string
  readonly pollMs: number
  readonly flavor: string
  readonly cycles: number
  readonly concurrency: number
}

async function cycle(
  t: { client: OsClient; imageId: string; pollMs: number },
  flavor: string,
  n: number,
): Promise<Sample> {
  const started = performance.now()
  let requests = 2
  const created = await t.client.request(
    'compute',
    'POST',
    '/servers',
    { server: { name: `bench-${n}`, imageRef: t.imageId, flavorRef: flavor, networks: 'none' } },
    { expect: [202] },
  )
  const id = created.body.server.id as string
  for (;;) {
    requests++
    const res = await t.client.request('compute', 'GET', `/servers/${id}`, undefined, { expect: [200] })
    const status = res.body.server.status as string
    if (status === 'ACTIVE') break
    if (status === 'ERROR')
      throw new Error(`server ${id} went to ERROR: ${JSON.stringify(res.body.server.fault)}`)
    if (performance.now() - started > CYCLE_TIMEOUT_MS) throw new Error(`server ${id} still ${status}`)
    await sleep(t.pollMs)
  }
  const active = performance.now()
  await t.client.request('compute', 'DELETE', `/servers/${id}`, undefined, { expect: [204] })
  for (;;) {
    requests++
    const res = await t.client.request('compute', 'GET', `/servers/${id}`, undefined, { expect: [200, 404] })
    if (res.status === 404) break
    if (performance.now() - active > CYCLE_TIMEOUT_MS) throw new Error(`server ${id} not deleted`)
    await sleep(t.pollMs)
  }
  return { activeMs: active - started, deleteMs: performance.now() - active, requests }
}

/**
 * CPU time of the calling thread in ms (Linux: /proc/thread-self/schedstat,
 * nanoseconds), so the cloud's main thread and the client worker are told
 * apart. Unlike wall time, it hardly moves when other processes load the
 * machine.
 */
function threadCpuMs(): number | undefined {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6
  } catch {
    return undefined
  }
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0
}

/** What the load worker hands back. */
interface LoadResult {
  readonly samples: Sample[]
  /** CPU the worker thread used for the load (client side), when the platform tells. */
  readonly clientCpuMs: number | undefined
}

/**
 * The load runs in a worker thread, so the client's HTTP work (undici,
 * JSON) does not share the event loop with an embedded cloud: the second
 * core runs the client, as a separate client process would.
 */
async function runLoad(job: WorkerJob): Promise<LoadResult> {
  const client = await OsClient.login(job.auth, { 'openstack-api-version': `compute ${MICROVERSION}` })
  const target = { client, imageId: job.imageId, pollMs: job.pollMs }
  const samples: Sample[] = []
  const cpu0 = threadCpuMs()
  let next = 0
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      while (next < job.cycles) samples.push(await cycle(target, job.flavor, next++))
    }),
  )
  const cpu1 = threadCpuMs()
  return { samples, clientCpuMs: cpu0 === undefined || cpu1 === undefined ? undefined : cpu1 - cpu0 }
}

function loadInWorker(job: WorkerJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    // The worker loads this file as the main thread did: through tsx (registered in the worker itself).
    const entry = `(async () => { (await import('tsx/esm/api')).register(); await import(${JSON.stringify(import.meta.url)}) })()`
    const worker = new Worker(entry, { eval: true, workerData: job })
    worker.once('message', (result: LoadResult) => resolve(result))
    worker.once('error', reject)
    worker.once('exit', (code) => code !== 0 && reject(new Error(`load worker exited with ${code}`)))
  })
}

/** One measured run against one target. */
interface Measurement {
  readonly target: Target
  readonly embedded: boolean
  readonly samples: readonly Sample[]
  readonly seconds: number
  readonly rate: number
  readonly activeP50Ms: number
  readonly activeP95Ms: number
  readonly deleteP50Ms: number
  readonly clientCpuMs: number | undefined
  /** The cloud's main thread (embedded only): CPU and event-loop busy time. */
  readonly cloudCpuMs: number | undefined
  readonly cloudBusyMs: number
  readonly cloudBusyShare: number
}

async function measure(
  target: Target,
  embeddedRun: boolean,
  opts: Options,
  cycles: number,
): Promise<Measurement> {
  const t0 = performance.now()
  const cpu0 = threadCpuMs()
  const elu0 = performance.eventLoopUtilization()
  const load = await loadInWorker({
    auth: target.auth,
    imageId: target.imageId,
    pollMs: target.pollMs,
    flavor: opts.flavor,
    cycles,
    concurrency: opts.concurrency,
  })
  const seconds = (performance.now() - t0) / 1000
  const cpu1 = threadCpuMs()
  const elu = performance.eventLoopUtilization(elu0)
  const active = load.samples.map((s) => s.activeMs)
  return {
    target,
    embedded: embeddedRun,
    samples: load.samples,
    seconds,
    rate: load.samples.length / seconds,
    activeP50Ms: percentile(active, 50),
    activeP95Ms: percentile(active, 95),
    deleteP50Ms: percentile(
      load.samples.map((s) => s.deleteMs),
      50,
    ),
    clientCpuMs: load.clientCpuMs,
    cloudCpuMs: embeddedRun && cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined,
    cloudBusyMs: elu.active,
    cloudBusyShare: elu.utilization,
  }
}

function report(m: Measurement, concurrency: number): string[] {
  const n = Math.max(1, m.samples.length)
  const perCycle = (ms: number | undefined) => (ms === undefined ? 'n/a' : `${(ms / n).toFixed(1)} ms`)
  const lines = [
    `boot benchmark: ${m.target.label}`,
    `cycles ${m.samples.length}, concurrency ${concurrency}, poll ${m.target.pollMs} ms, ${m.seconds.toFixed(1)} s, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
    `cycles/s              ${m.rate.toFixed(1)}`,
    `create->ACTIVE p50    ${m.activeP50Ms.toFixed(1)} ms`,
    `create->ACTIVE p95    ${m.activeP95Ms.toFixed(1)} ms`,
    `delete->404 p50       ${m.deleteP50Ms.toFixed(1)} ms`,
    `HTTP requests/cycle   ${(m.samples.reduce((sum, s) => sum + s.requests, 0) / n).toFixed(1)} (create, delete, polls)`,
    `client CPU per cycle  ${perCycle(m.clientCpuMs)} (load worker thread)`,
  ]
  if (m.embedded) {
    lines.push(
      `cloud CPU per cycle   ${perCycle(m.cloudCpuMs)} (main thread: every service)`,
      `cloud event loop busy ${perCycle(m.cloudBusyMs)} (${(m.cloudBusyShare * 100).toFixed(0)}% of the run)`,
      `targets: >= ${TARGET_CYCLES_PER_S} cycles/s ${m.rate >= TARGET_CYCLES_PER_S ? 'met' : 'MISSED'}, ` +
        `p50 <= ${TARGET_ACTIVE_P50_MS} ms ${m.activeP50Ms <= TARGET_ACTIVE_P50_MS ? 'met' : 'MISSED'}`,
    )
  }
  return lines
}

async function run(opts: Options, remoteTarget: boolean, cycles: number): Promise<Measurement> {
  const target = remoteTarget ? await remote(opts) : await embedded(opts)
  try {
    const m = await measure(target, !remoteTarget, opts, cycles)
    process.stdout.write(`${report(m, opts.concurrency).join('\n')}\n`)
    return m
  } finally {
    await target.stop()
  }
}

async function main(): Promise<void> {
  const opts = options()
  if (!opts.compare) {
    await run(opts, !!(opts.cloud || opts.osEnv), opts.cycles)
    return
  }
  if (!opts.cloud && !opts.osEnv) throw new Error('--compare needs the other cloud: --cloud NAME or --os-env')
  // One run, two clouds: Nimbus embedded first, then the other cloud, same client code and concurrency.
  const nimbus = await run(opts, false, opts.cycles)
  process.stdout.write('\n')
  const other = await run(opts, true, opts.compareCycles)
  const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(1) : 'n/a')
  process.stdout.write(
    [
      '',
      `Nimbus / ${other.target.label}, measured in this run:`,
      `cycles/s              ${ratio(nimbus.rate, other.rate)}x (${nimbus.rate.toFixed(1)} vs ${other.rate.toFixed(2)})`,
      `create->ACTIVE p50    ${ratio(other.activeP50Ms, nimbus.activeP50Ms)}x faster (${nimbus.activeP50Ms.toFixed(1)} vs ${other.activeP50Ms.toFixed(1)} ms)`,
      `delete->404 p50       ${ratio(other.deleteP50Ms, nimbus.deleteP50Ms)}x faster (${nimbus.deleteP50Ms.toFixed(1)} vs ${other.deleteP50Ms.toFixed(1)} ms)`,
      '',
    ].join('\n'),
  )
}

if (isMainThread) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`)
      process.exit(1)
    },
  )
} else {
  runLoad(workerData as WorkerJob).then(
    (result) => parentPort!.postMessage(result),
    (err: unknown) => {
      throw err
    },
  )
}
