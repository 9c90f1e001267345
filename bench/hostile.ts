/**
 * Hostile-filter benchmark (issue 17): identity token validation latency in an
 * embedded cloud (every service in one process), alone and while a tenant
 * sends worst-case regex list filters back to back. Before the fix one such
 * request ran JavaScript's backtracking RegExp on the event loop every
 * service shares (0.47 s at 26 characters, doubling per character: forever
 * on a 255-character name); now patterns run in RE2 in a worker thread.
 *
 * Rounds rotate (quiet, plain lists, hostile filters, ...) so drift on a
 * shared machine hits every side. Target: validation p99 under hostile
 * filters within 10% of the quiet p99 (the figure). Also printed:
 * the ratio to rounds of plain list requests (SQL filters only, the same
 * rows and views), which isolates what the regex work itself costs the
 * other services from what any concurrent list request costs them on the
 * one event loop. Prints the figures and PASS or MISS.
 * Run: npm run bench:hostile   (NIMBUS_BENCH_ROUNDS, NIMBUS_BENCH_ROUND_MS)
 */
import { performance } from 'node:perf_hooks'
import { startComputeCloud, type Caller } from '../test/functional/compute/helpers.ts'

/** Servers whose 255-character names the filters scan. */
const SERVERS = 40
const NAME = `${'a'.repeat(254)}!`
/** Each round (quiet or hostile) lasts this long; rounds alternate. */
const ROUND_MS = Number(process.env.NIMBUS_BENCH_ROUND_MS ?? 4_000)
const ROUNDS = Number(process.env.NIMBUS_BENCH_ROUNDS ?? 3)
/** Allowed rise of the validation p99 under hostile filters. */
const TARGET_P99_RATIO = 1.1
/**
 * Worst cases: exponential backtracking in a backtracking engine, and the
 * pattern that defeats RE2's DFA (its NFA then does the most work per
 * character the program-size bound allows).
 */
const HOSTILE_PATTERNS = ['^(a+)+$', '(?i)^(\\pL|\\pN|\\pP){200}$', '[ab]*a[ab]{20}c']

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

async function main(): Promise<void> {
  // Quotas lifted so one project holds every server; fake hosts are large enough for them.
  const cloud = await startComputeCloud({
    config: { 'quota.instances': '-1', 'quota.cores': '-1', 'quota.ram': '-1' },
  })
  try {
    const member: Caller = await cloud.newMember()
    for (let i = 0; i < SERVERS; i++) {
      await member.createServer({ name: NAME, imageRef: cloud.imageId, flavorRef: '1' })
    }
    const identity = cloud.tc.url('identity')
    const validate = async (): Promise<number> => {
      const started = performance.now()
      const res = await fetch(`${identity}/v3/auth/tokens`, {
        headers: { 'x-auth-token': cloud.admin.token, 'x-subject-token': member.token },
      })
      await res.arrayBuffer()
      if (res.status !== 200) throw new Error(`validation: ${res.status}`)
      return performance.now() - started
    }
    for (let i = 0; i < 200; i++) await validate() // warm up caches and the JIT

    const quiet: number[] = []
    const plain: number[] = []
    const hostile: number[] = []
    const plainMs: number[] = []
    const filterMs: number[] = []
    let filterErrors = 0
    for (let round = 0; round < ROUNDS * 3; round++) {
      const kind = (['quiet', 'plain', 'hostile'] as const)[round % 3]!
      const deadline = performance.now() + ROUND_MS
      let loading = kind !== 'quiet'
      const load = (async () => {
        for (let i = 0; loading; i++) {
          const query =
            kind === 'plain'
              ? 'status=ACTIVE&flavor=1'
              : `name=${encodeURIComponent(HOSTILE_PATTERNS[i % HOSTILE_PATTERNS.length]!)}`
          const started = performance.now()
          const res = await member.nova('GET', `/servers/detail?${query}`)
          ;(kind === 'plain' ? plainMs : filterMs).push(performance.now() - started)
          if (res.status !== 200) filterErrors++
        }
      })()
      const samples = kind === 'quiet' ? quiet : kind === 'plain' ? plain : hostile
      while (performance.now() < deadline) samples.push(await validate())
      loading = false
      await load
    }
    for (const s of [quiet, plain, hostile, plainMs, filterMs]) s.sort((a, b) => a - b)
    const line = (label: string, s: readonly number[]) =>
      `${label.padEnd(40)} n=${String(s.length).padStart(6)}  p50 ${percentile(s, 50).toFixed(2).padStart(7)} ms  p99 ${percentile(s, 99).toFixed(2).padStart(7)} ms  max ${(s.at(-1) ?? Number.NaN).toFixed(1).padStart(7)} ms`
    console.log(
      `hostile filters over ${SERVERS} servers named ${NAME.length} characters, ${ROUNDS} x 3 rounds of ${ROUND_MS} ms`,
    )
    console.log(line('token validation, quiet', quiet))
    console.log(line('token validation, under plain lists', plain))
    console.log(line('token validation, under hostile filters', hostile))
    console.log(line('plain list requests', plainMs))
    console.log(line('hostile filter requests', filterMs) + `  errors ${filterErrors}`)
    const vsPlain = percentile(hostile, 99) / percentile(plain, 99)
    console.log(`validation p99 ratio hostile/plain lists ${vsPlain.toFixed(2)} (the regex work's own share)`)
    const ratio = percentile(hostile, 99) / percentile(quiet, 99)
    const pass = ratio <= TARGET_P99_RATIO && filterErrors === 0 && filterMs.length > 0
    console.log(
      `validation p99 ratio hostile/quiet ${ratio.toFixed(2)} (target <= ${TARGET_P99_RATIO.toFixed(2)}): ${pass ? 'PASS' : 'MISS'}`,
    )
  } finally {
    await cloud.stop()
  }
}

await main()
