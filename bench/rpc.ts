/**
 * RPC benchmark: for each transport, call round-trip latency (p50/p99) and
 * cast throughput measured until the server has handled every cast.
 * Run: node --import tsx bench/rpc.ts   (npm run bench:rpc)
 * Environment: NIMBUS_BENCH_AMQP_URL (default the local RabbitMQ),
 * NIMBUS_BENCH_TRANSPORTS=inproc,amqp.
 */
import { randomUUID } from 'node:crypto'
import { cpus, loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { newRequestId, type RequestContext } from '../src/common/context.ts'
import { setLogLevel } from '../src/common/log.ts'
import { AmqpTransport, createTransport, RpcClient, RpcServer, type Transport } from '../src/rpc/index.ts'

const AMQP_URL = process.env.NIMBUS_BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672/'
const TRANSPORTS = (process.env.NIMBUS_BENCH_TRANSPORTS ?? 'inproc,amqp').split(',')
const WARMUP_CALLS = 500
const LATENCY_CALLS = 5_000
const LATENCY_TIME_BOUND_MS = 10_000
const CASTS = { inproc: 100_000, amqp: 20_000 } as const
const CAST_TIME_BOUND_MS = 30_000
/** Casts awaiting their transport's acceptance at once: a busy service, not one cast at a time. */
const CAST_WINDOW = 1_000
/** Broker queues made by the bench disappear after this long unused, even if it crashes. */
const QUEUE_EXPIRES_MS = 60_000
const TARGETS = {
  inproc: { callP50Ms: 0.05, castsPerS: 50_000 },
  amqp: { callP50Ms: 1, castsPerS: 5_000 },
} as const

type Kind = keyof typeof TARGETS

interface Result {
  readonly kind: Kind
  readonly calls: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly casts: number
  readonly castsPerS: number
  /** This process's CPU time per cast (client + server side, not the broker's): contention-independent. */
  readonly castCpuUs: number
  readonly complete: boolean
}

const ctx: RequestContext = { requestId: newRequestId(), roles: ['admin'], isAdmin: true, projectId: 'bench' }

function urlFor(kind: Kind, runId: string): string {
  return kind === 'inproc'
    ? `inproc://bench-${runId}`
    : `${AMQP_URL}?exchange=nimbus-bench-${runId}&expires_ms=${QUEUE_EXPIRES_MS}`
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN
}

async function measureCalls(client: RpcClient): Promise<{ calls: number; p50Ms: number; p99Ms: number }> {
  for (let i = 0; i < WARMUP_CALLS; i++) await client.call(ctx, 'echo', { i })
  const samples: number[] = []
  const deadline = performance.now() + LATENCY_TIME_BOUND_MS
  while (samples.length < LATENCY_CALLS && performance.now() < deadline) {
    const t0 = performance.now()
    await client.call(ctx, 'echo', { i: samples.length })
    samples.push(performance.now() - t0)
  }
  samples.sort((a, b) => a - b)
  return { calls: samples.length, p50Ms: percentile(samples, 50), p99Ms: percentile(samples, 99) }
}

async function measureCasts(
  client: RpcClient,
  count: number,
  received: () => number,
): Promise<{ castsPerS: number; castCpuUs: number; complete: boolean }> {
  const start = received()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const deadline = t0 + CAST_TIME_BOUND_MS
  let inFlight = 0
  let wake: (() => void) | undefined
  const settled = (): void => {
    // Refill in half-window batches rather than one cast per completion.
    if (--inFlight <= CAST_WINDOW / 2 && wake) {
      wake()
      wake = undefined
    }
  }
  const failed = (err: unknown): void => {
    console.error('cast failed:', err)
    settled()
  }
  for (let i = 0; i < count && performance.now() < deadline; i++) {
    if (inFlight >= CAST_WINDOW) await new Promise<void>((resolve) => (wake = resolve))
    inFlight++
    client.cast(ctx, 'sink', { i }).then(settled, failed)
  }
  while (received() - start < count && performance.now() < deadline) await sleep(1)
  const handled = received() - start
  const cpu = process.cpuUsage(cpu0)
  return {
    castsPerS: handled / ((performance.now() - t0) / 1000),
    castCpuUs: (cpu.user + cpu.system) / Math.max(handled, 1),
    complete: handled === count,
  }
}

async function bench(kind: Kind): Promise<Result> {
  const runId = randomUUID().slice(0, 8)
  // Separate transports (for AMQP, separate connections) as separate services would have.
  const serverTransport = createTransport(urlFor(kind, runId))
  const clientTransport = createTransport(urlFor(kind, runId))
  let received = 0
  const server = new RpcServer(
    serverTransport,
    { topic: 'bench', server: 'host-1' },
    {
      async echo(_ctx: RequestContext, args: unknown) {
        return args
      },
      async sink() {
        received++
      },
    },
  )
  try {
    await server.start()
    const client = new RpcClient(clientTransport, { topic: 'bench', timeoutMs: 5_000 })
    const calls = await measureCalls(client)
    const casts = await measureCasts(client, CASTS[kind], () => received)
    return { kind, ...calls, casts: CASTS[kind], ...casts }
  } finally {
    await server.stop()
    await cleanup(serverTransport, clientTransport)
  }
}

async function cleanup(serverTransport: Transport, clientTransport: Transport): Promise<void> {
  if (serverTransport instanceof AmqpTransport) await serverTransport.deleteTopologyForTest()
  await clientTransport.close()
  await serverTransport.close()
}

function report(r: Result): void {
  const target = TARGETS[r.kind]
  const ok = (pass: boolean): string => (pass ? 'meets target' : 'MISSES target')
  console.log(`${r.kind}:`)
  console.log(
    `  call round trip  p50 ${r.p50Ms.toFixed(3)} ms  p99 ${r.p99Ms.toFixed(3)} ms  (${r.calls} calls; ` +
      `target p50 <= ${target.callP50Ms} ms: ${ok(r.p50Ms <= target.callP50Ms)})`,
  )
  console.log(
    `  cast throughput  ${Math.round(r.castsPerS).toLocaleString('en')} casts/s, ` +
      `${r.castCpuUs.toFixed(1)} µs CPU per cast in this process  (${r.casts} casts` +
      `${r.complete ? '' : ', NOT all handled within the time bound'}; ` +
      `target >= ${target.castsPerS.toLocaleString('en')}/s: ${ok(r.castsPerS >= target.castsPerS)})`,
  )
}

setLogLevel((process.env.NIMBUS_LOG_LEVEL as 'silent' | undefined) ?? 'silent')
// Timings on a shared machine depend on what else runs: say how busy it was.
console.log(
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} on ${cpus().length} CPUs`,
)
for (const kind of TRANSPORTS) {
  if (kind !== 'inproc' && kind !== 'amqp') throw new Error(`unknown transport '${kind}'`)
  report(await bench(kind))
}
