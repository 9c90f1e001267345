/**
 * Identity benchmark, in process (no HTTP): token issues per second (and the
 * share of it the password KDF takes) and token validations per second,
 * through the cache every API uses and with the cache bypassed (Fernet
 * decrypt + database lookups), plus the auth middleware's whole path.
 * Run: node --import tsx bench/identity.ts
 * Environment: NIMBUS_BENCH_HASH_COST (log2 scrypt N, default the config's 14),
 * NIMBUS_BENCH_DB (database URL, default SQLite in a temp dir).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import type { FastifyRequest } from 'fastify'
import { loadConfig } from '../src/common/config.ts'
import { setLogLevel } from '../src/common/log.ts'
import { openDatabase } from '../src/db/index.ts'
import { migrateToLatest } from '../src/db/migrate.ts'
import type { AuthRequest } from '../src/identity/auth.ts'
import { bootstrap } from '../src/identity/bootstrap.ts'
import { Identity } from '../src/identity/identity.ts'
import { authMiddleware, registerLocalTokenProvider } from '../src/identity/middleware.ts'
import { hashPassword, verifyPassword } from '../src/identity/password.ts'
import type { Runtime } from '../src/service/runtime.ts'

const ADMIN_PASSWORD = 'bench-admin-password'
/** Each measurement runs this long (bounded, whatever the machine). */
const MEASURE_MS = 3_000
const KDF_SAMPLES = 20
/** Concurrent issues: scrypt runs on libuv's 4 threads, so a busy API issues several at once. */
const ISSUE_CONCURRENCY = 4
/** Distinct tokens validated without the cache, round robin. */
const DISTINCT_TOKENS = 200
const TARGET_VALIDATIONS_PER_S = 10_000

async function rate(label: string, fn: () => Promise<unknown>, concurrency = 1): Promise<number> {
  const deadline = performance.now() + MEASURE_MS
  let n = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await fn()
        n++
      }
    }),
  )
  const perS = n / ((performance.now() - t0) / 1000)
  process.stdout.write(
    `${label.padEnd(52)} ${perS.toFixed(0).padStart(9)} /s   (${n} in ${MEASURE_MS / 1000} s)\n`,
  )
  return perS
}

async function main(): Promise<void> {
  setLogLevel('silent')
  const stateDir = mkdtempSync(join(tmpdir(), 'nimbus-bench-identity-'))
  const cost = process.env.NIMBUS_BENCH_HASH_COST
  const config = loadConfig({
    env: {},
    overrides: {
      'DEFAULT.state_dir': stateDir,
      'identity.admin_password': ADMIN_PASSWORD,
      ...(cost ? { 'identity.password_hash_cost': cost } : {}),
      ...(process.env.NIMBUS_BENCH_DB ? { 'database.connection': process.env.NIMBUS_BENCH_DB } : {}),
    },
  })
  const db = await openDatabase(config.databaseUrl)
  try {
    await migrateToLatest(db)
    const identity = await Identity.open(config, db)
    await bootstrap(identity, {
      adminPassword: ADMIN_PASSWORD,
      region: config.identity.region,
      endpoints: [],
    })
    process.stdout.write(
      `identity bench: ${db.dialect}, scrypt cost 2^${config.identity.passwordHashCost}\n\n`,
    )

    // The KDF alone, one at a time: what one password check costs.
    const hash = await hashPassword(ADMIN_PASSWORD, config.identity.passwordHashCost)
    const k0 = performance.now()
    for (let i = 0; i < KDF_SAMPLES; i++) await verifyPassword(ADMIN_PASSWORD, hash)
    const kdfMs = (performance.now() - k0) / KDF_SAMPLES

    const auth: AuthRequest = {
      identity: {
        methods: ['password'],
        password: { user: { name: 'admin', password: ADMIN_PASSWORD, domain: { id: 'default' } } },
      },
      scope: { project: { name: 'admin', domain: { id: 'default' } } },
    }
    const issue1 = await rate('issue (password, project scope), 1 at a time', () =>
      identity.authenticator.authenticate(auth),
    )
    const issueN = await rate(
      `issue, ${ISSUE_CONCURRENCY} concurrent`,
      () => identity.authenticator.authenticate(auth),
      ISSUE_CONCURRENCY,
    )
    const first = await identity.authenticator.authenticate(auth)
    const tokenAuth: AuthRequest = {
      identity: { methods: ['token'], token: { id: first.id } },
      scope: { project: { name: 'admin', domain: { id: 'default' } } },
    }
    await rate('issue (token method, no KDF)', () => identity.authenticator.authenticate(tokenAuth))

    const token = first.id
    const cached = await rate('validate, cached (what every API request does)', () =>
      identity.tokens.validate(token),
    )
    const tokens: string[] = []
    for (let i = 0; i < DISTINCT_TOKENS; i++)
      tokens.push((await identity.authenticator.authenticate(tokenAuth)).id)
    let i = 0
    const fresh = await rate('validate, token not seen yet (Fernet, lookups cached)', () => {
      identity.tokens.clearTokenCache()
      return identity.tokens.validate(tokens[i++ % tokens.length]!)
    })
    await rate('validate, nothing cached (Fernet + database)', () => {
      identity.tokens.clearCache()
      return identity.tokens.validate(tokens[i++ % tokens.length]!)
    })

    // The middleware's whole path, as every API service runs it in embedded mode.
    const rt = { config, db } as unknown as Runtime
    registerLocalTokenProvider(rt, identity.tokens)
    const { authenticate } = authMiddleware(rt)
    const fakeRequest = { headers: { 'x-auth-token': token } } as unknown as FastifyRequest
    const middleware = await rate('auth middleware (token -> request context)', () =>
      authenticate(fakeRequest, 'req-bench'),
    )

    const kdfShare = Math.min(1, (kdfMs * issue1) / 1000)
    process.stdout.write(
      [
        '',
        `KDF (scrypt 2^${config.identity.passwordHashCost}): ${kdfMs.toFixed(1)} ms per password check, ` +
          `${(kdfShare * 100).toFixed(0)}% of a password issue (1 at a time); ${issueN.toFixed(0)} issues/s with ${ISSUE_CONCURRENCY} in flight`,
        `validations/s: cached ${cached.toFixed(0)}, through the middleware ${middleware.toFixed(0)} ` +
          `(target >= ${TARGET_VALIDATIONS_PER_S} on the request path: ` +
          `${middleware >= TARGET_VALIDATIONS_PER_S ? 'met' : 'NOT met'}); ` +
          `first sight of a token ${fresh.toFixed(0)}/s`,
        '',
      ].join('\n'),
    )
  } finally {
    await db.close()
    rmSync(stateDir, { recursive: true, force: true })
  }
}

await main()
