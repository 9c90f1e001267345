import type { Config } from '../common/config.ts'
import { setLimits } from '../common/limits.ts'
import { setLogLevel } from '../common/log.ts'
import { openDatabase, type Database } from '../db/index.ts'
import { explainAction, resolveServer, serverOfRequest, type Explanation } from '../ops/explain.ts'
import { explanationText } from '../ops/explain-text.ts'
import { adminPassword, ADMIN_PROJECT, ADMIN_USER, DEFAULT_DOMAIN } from './credentials.ts'
import { useColours } from './ops.ts'

/** The API answers within this or the command explains from the database alone. */
export const EXPLAIN_API_TIMEOUT_MS = 10_000
/** The microversion the command asks for (event details and hosts shown). */
const EXPLAIN_MICROVERSION = '2.84'

export interface ExplainCommandOptions {
  readonly request?: string | undefined
  readonly json?: boolean | undefined
}

/**
 * `nimbus explain SERVER` / `--request REQ_ID`: the story of the server's
 * last (or the named) action. Asked of the compute API's extension first
 * (`GET .../os-instance-actions/{req}?explain=true` as the admin), whose
 * process has the log lines in its ring when it runs the whole cloud; from
 * the database alone, without log lines, when the API does not answer.
 * Returns the exit status: 0, or 1 when the action failed.
 */
export async function explainCommand(
  config: Config,
  server: string | undefined,
  opts: ExplainCommandOptions,
  write: (s: string) => void,
): Promise<number> {
  setLogLevel(config.logLevel === 'info' || config.logLevel === 'debug' ? 'warn' : config.logLevel)
  setLimits(config.limits)
  if (!server && !opts.request) throw new Error('name a server, or give --request REQ_ID')
  const db = await openDatabase(config.databaseUrl)
  try {
    const serverId = server
      ? await resolveServer(db.kysely, server)
      : await serverOfRequest(db.kysely, opts.request!)
    const local = await explainAction(db.kysely, serverId, { requestId: opts.request })
    let explanation: Explanation = local
    let note: string | undefined
    try {
      explanation = await fromApi(config, db, serverId, local.action.requestId)
    } catch (err) {
      note = `the compute API did not give them (${(err as Error).message}); grep ${local.action.requestId} in the services' logs`
    }
    if (opts.json) write(`${JSON.stringify(note ? { ...explanation, note } : explanation, null, 2)}\n`)
    else write(explanationText(explanation, useColours(), note))
    return explanation.failedStep || explanation.action.message === 'Error' ? 1 : 0
  } finally {
    await db.close()
  }
}

/** The newest running endpoint a service reported (the API's real port, ephemeral ones too). */
async function reportedEndpoint(db: Database, service: string): Promise<string> {
  const row = await db.kysely
    .selectFrom('service_reports')
    .select('endpoint')
    .where('service', '=', service)
    .where('stopped_at', 'is', null)
    .where('endpoint', 'is not', null)
    .orderBy('last_seen_at', 'desc')
    .executeTakeFirst()
  if (!row?.endpoint) throw new Error(`no running ${service} has reported its endpoint`)
  return row.endpoint
}

async function fromApi(
  config: Config,
  db: Database,
  serverId: string,
  requestId: string,
): Promise<Explanation> {
  const identity = await reportedEndpoint(db, 'identity')
  const compute = await reportedEndpoint(db, 'compute-api')
  const signal = () => AbortSignal.timeout(EXPLAIN_API_TIMEOUT_MS)
  const auth = await fetch(`${identity}/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    signal: signal(),
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: {
            user: { name: ADMIN_USER, domain: { name: DEFAULT_DOMAIN }, password: adminPassword(config) },
          },
        },
        scope: { project: { name: ADMIN_PROJECT, domain: { name: DEFAULT_DOMAIN } } },
      },
    }),
  })
  const token = auth.headers.get('x-subject-token')
  await auth.body?.cancel()
  if (auth.status !== 201 || !token) throw new Error(`identity answered ${auth.status} to the admin login`)
  const res = await fetch(
    `${compute}/servers/${serverId}/os-instance-actions/${encodeURIComponent(requestId)}?explain=true`,
    {
      headers: { 'x-auth-token': token, 'openstack-api-version': `compute ${EXPLAIN_MICROVERSION}` },
      signal: signal(),
    },
  )
  if (res.status !== 200) throw new Error(`compute answered ${res.status}: ${await res.text()}`)
  const body = (await res.json()) as { instanceAction: Record<string, unknown> }
  const explanation = body.instanceAction['nimbus:explanation'] as Explanation | undefined
  if (!explanation) throw new Error('compute gave no explanation (an older Nimbus?)')
  return explanation
}
