import amqp, { type Channel, type ChannelModel } from 'amqplib'
import { parseAmqpUrl } from './amqp-url.ts'
import type { QueueStat } from './transport.ts'

/** RabbitMQ's management plugin listens here unless configured otherwise. */
const MANAGEMENT_PORT = 15672
/** A broker (or its management API) that does not answer in this long counts as unreachable. */
export const BROKER_PROBE_TIMEOUT_MS = 3000

/** What `nimbus status` knows about the broker. */
export interface BrokerReport {
  readonly url: string
  readonly reachable: boolean
  /** `management-api` (RabbitMQ's plugin answered) or `amqp` (passive queue declares). */
  readonly source?: 'management-api' | 'amqp' | undefined
  /** RabbitMQ version, from the management API. */
  readonly version?: string | undefined
  /** The queues asked for that exist (names without the exchange prefix). */
  readonly queues: readonly QueueStat[]
  readonly error?: string | undefined
}

/**
 * Depth and consumers of Nimbus's queues on the broker of `url`: through
 * RabbitMQ's management API when the plugin answers (one request for every
 * queue of the vhost), otherwise by a passive declare of each of `names`
 * (`topic` or `topic.<server>`, prefixed with the exchange as the AMQP
 * transport names them), which needs no plugin. A queue that does not exist
 * is left out. Never throws: an unreachable broker is `reachable: false`.
 */
export async function inspectBroker(url: string, names: readonly string[]): Promise<BrokerReport> {
  const settings = parseAmqpUrl(url)
  const prefix = `${settings.exchange}.`
  const fromApi = await viaManagementApi(settings.connect, prefix, names)
  if (fromApi) return { url: settings.redactedUrl, ...fromApi }
  let model: ChannelModel | undefined
  try {
    model = await withTimeout(amqp.connect({ ...settings.connect, heartbeat: 0 }), 'connect')
    const queues: QueueStat[] = []
    for (const name of names) {
      // A passive declare of a missing queue closes its channel: one channel per queue.
      const channel: Channel = await model.createChannel()
      channel.on('error', () => undefined)
      try {
        const q = await withTimeout(channel.checkQueue(prefix + name), 'checkQueue')
        queues.push({ name, depth: q.messageCount, consumers: q.consumerCount })
        await channel.close()
      } catch {
        // Not declared (no server of it ever started): not listed.
      }
    }
    return { url: settings.redactedUrl, reachable: true, source: 'amqp', queues }
  } catch (err) {
    return { url: settings.redactedUrl, reachable: false, queues: [], error: (err as Error).message }
  } finally {
    await model?.close().catch(() => undefined)
  }
}

interface ConnectParts {
  readonly hostname?: string | undefined
  readonly username?: string | undefined
  readonly password?: string | undefined
  readonly vhost?: string | undefined
}

async function viaManagementApi(
  connect: ConnectParts,
  prefix: string,
  names: readonly string[],
): Promise<Omit<BrokerReport, 'url'> | undefined> {
  const base = `http://${connect.hostname ?? '127.0.0.1'}:${MANAGEMENT_PORT}/api`
  const auth = `Basic ${Buffer.from(`${connect.username ?? 'guest'}:${connect.password ?? 'guest'}`).toString('base64')}`
  const get = async (path: string): Promise<any> => {
    const res = await fetch(`${base}${path}`, {
      headers: { authorization: auth },
      signal: AbortSignal.timeout(BROKER_PROBE_TIMEOUT_MS),
    })
    if (!res.ok) throw new Error(`management API ${path}: ${res.status}`)
    return res.json()
  }
  try {
    const overview = await get('/overview')
    const listed = (await get(`/queues/${encodeURIComponent(connect.vhost ?? '/')}`)) as {
      name: string
      messages?: number
      consumers?: number
    }[]
    const wanted = new Set(names)
    const queues = listed
      .filter((q) => q.name.startsWith(prefix) && wanted.has(q.name.slice(prefix.length)))
      .map((q) => ({ name: q.name.slice(prefix.length), depth: q.messages ?? 0, consumers: q.consumers ?? 0 }))
    return { reachable: true, source: 'management-api', version: overview.rabbitmq_version, queues }
  } catch {
    // The plugin is not enabled (or not reachable): the AMQP way does without it.
    return undefined
  }
}

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`broker ${what} did not answer in ${BROKER_PROBE_TIMEOUT_MS} ms`)),
      BROKER_PROBE_TIMEOUT_MS,
    )
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}
