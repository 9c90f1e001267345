import { describe, it, before, after, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import amqp from 'amqplib'
import { setTimeout as sleep } from 'node:timers/promises'
import { currentContext, newRequestId, type RequestContext } from '../../../src/common/context.ts'
import {
  MessageDeliveryFailure,
  MessagingTimeout,
  NotFound,
  PayloadTooLarge,
  RemoteError,
} from '../../../src/common/errors.ts'
import { limits, type LimitName } from '../../../src/common/limits.ts'
import { isLogLevel, setLogLevel } from '../../../src/common/log.ts'
import {
  AmqpTransport,
  createTransport,
  NoSuchMethod,
  RpcClient,
  RpcServer,
  type Transport,
} from '../../../src/rpc/index.ts'

const AMQP_BASE_URL = process.env.NIMBUS_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672/'
/** Every test is bounded; none waits longer than this. */
const TEST_TIMEOUT_MS = 20_000
/** Bound on waiting for something asynchronous to show up. */
const WAIT_MS = 5_000
/** Backstop for queues a crashed run leaves behind: the broker drops them after this long unused. */
const QUEUE_EXPIRES_MS = 60_000
const SHORT_CALL_TIMEOUT_MS = 200
const LOG_LEVEL = process.env.NIMBUS_LOG_LEVEL ?? 'silent'

const RUN_ID = randomUUID().slice(0, 8)

function ctx(extra: Partial<RequestContext> = {}): RequestContext {
  return {
    requestId: newRequestId(),
    userId: 'u-1',
    projectId: 'p-1',
    roles: ['member', 'reader'],
    isAdmin: false,
    ...extra,
  }
}

/** Polls `predicate` until true, failing after `timeoutMs`. */
async function waitFor(predicate: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(5)
  }
}

/** Runs `fn` with some limits overridden, restoring them afterwards. */
async function withLimits<T>(
  overrides: Partial<Record<LimitName, number>>,
  fn: () => Promise<T>,
): Promise<T> {
  const saved = { ...limits }
  Object.assign(limits, overrides)
  try {
    return await fn()
  } finally {
    Object.assign(limits, saved)
  }
}

/** Watches `promise` at once, so its rejection is never unhandled while the test awaits something else. */
function settle<T>(promise: Promise<T>): Promise<PromiseSettledResult<T>> {
  return promise.then(
    (value) => ({ status: 'fulfilled', value }),
    (reason: unknown) => ({ status: 'rejected', reason }),
  )
}

/** A promise that settles within `ms`, or rejects saying what hung. */
function bounded<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

function uniqueTopic(name: string): string {
  return `${name}-${randomUUID().slice(0, 8)}`
}

interface Fixture {
  /** A new transport on this run's bus/exchange: separate connections, as separate services have. */
  transport(): Transport
  cleanup(): Promise<void>
}

function fixture(kind: 'inproc' | 'amqp'): Fixture {
  const made: Transport[] = []
  const exchange = `nimbus-test-${RUN_ID}`
  const url =
    kind === 'inproc'
      ? `inproc://rpc-test-${RUN_ID}`
      : `${AMQP_BASE_URL}?exchange=${exchange}&expires_ms=${QUEUE_EXPIRES_MS}`
  return {
    transport() {
      const t = createTransport(url)
      made.push(t)
      return t
    },
    async cleanup() {
      const queues = new Set<string>()
      for (const t of made) if (t instanceof AmqpTransport) for (const q of t.declaredQueues) queues.add(q)
      for (const t of made.splice(0)) await bounded(t.close(), 'transport close')
      if (kind !== 'amqp') return
      // Delete through a fresh transport once every other one is closed, so
      // none can re-declare what was just deleted by reconnecting.
      const sweeper = createTransport(url) as AmqpTransport
      try {
        await bounded(sweeper.deleteTopologyForTest(queues), 'topology cleanup')
      } finally {
        await sweeper.close()
      }
      await assertGoneFromBroker([exchange, `${exchange}.fanout`], [...queues])
    },
  }
}

/** Proves the run left nothing behind: each check on a deleted name fails with 404. */
async function assertGoneFromBroker(exchanges: string[], queues: string[]): Promise<void> {
  const connection = await amqp.connect(AMQP_BASE_URL)
  connection.on('error', () => undefined)
  try {
    const checks = [
      ...exchanges.map((name) => ({ name, check: (ch: amqp.Channel) => ch.checkExchange(name) })),
      ...queues.map((name) => ({ name, check: (ch: amqp.Channel) => ch.checkQueue(name) })),
    ]
    for (const { name, check } of checks) {
      // A failed check closes its channel: one channel per check.
      const channel = await connection.createChannel()
      channel.on('error', () => undefined)
      await assert.rejects(check(channel), /404/, `${name} is still on the broker`)
    }
  } finally {
    await connection.close()
  }
}

/** Starts a server and remembers to stop it. */
async function serve(
  servers: RpcServer[],
  transport: Transport,
  topic: string,
  server: string,
  endpoints: object,
): Promise<RpcServer> {
  const s = new RpcServer(transport, { topic, server }, endpoints)
  await bounded(s.start(), `server ${topic}.${server} start`)
  servers.push(s)
  return s
}

async function stopAll(servers: RpcServer[]): Promise<void> {
  for (const s of servers.splice(0)) await bounded(s.stop(), 'server stop', TEST_TIMEOUT_MS)
}

for (const kind of ['inproc', 'amqp'] as const) {
  describe(`rpc over ${kind}`, { timeout: 120_000 }, () => {
    const fx = fixture(kind)
    let clientTransport: Transport
    let serverTransport: Transport
    const servers: RpcServer[] = []

    before(async () => {
      if (isLogLevel(LOG_LEVEL)) setLogLevel(LOG_LEVEL)
      clientTransport = fx.transport()
      serverTransport = fx.transport()
    })

    after(async () => {
      await stopAll(servers)
      await fx.cleanup()
    })

    it('round-trips a call and carries the request context', { timeout: TEST_TIMEOUT_MS }, async () => {
      const topic = uniqueTopic('echo')
      await serve(servers, serverTransport, topic, 'host-a', {
        async echo(c: RequestContext, args: { value: number }) {
          return { ctx: c, args, current: currentContext()?.requestId }
        },
      })
      const client = new RpcClient(clientTransport, { topic })
      const sent = ctx({ projectName: 'demo', globalRequestId: 'req-global' })
      const reply = await client.call<{ ctx: RequestContext; args: unknown; current: string }>(sent, 'echo', {
        value: 42,
      })
      assert.deepEqual(reply.ctx, sent)
      assert.deepEqual(reply.args, { value: 42 })
      assert.equal(reply.current, sent.requestId, 'handler runs inside the caller context')
      await stopAll(servers)
    })

    it('delivers a cast and resolves once accepted', { timeout: TEST_TIMEOUT_MS }, async () => {
      const topic = uniqueTopic('cast')
      const got: { requestId: string; n: number }[] = []
      await serve(servers, serverTransport, topic, 'host-a', {
        async record(c: RequestContext, args: { n: number }) {
          got.push({ requestId: currentContext()?.requestId ?? '', n: args.n })
        },
      })
      const c = ctx()
      await new RpcClient(clientTransport, { topic }).cast(c, 'record', { n: 7 })
      await waitFor(() => got.length === 1, 'the cast')
      assert.deepEqual(got, [{ requestId: c.requestId, n: 7 }])
      await stopAll(servers)
    })

    it("delivers on a later turn, never inside the sender's call", { timeout: TEST_TIMEOUT_MS }, async () => {
      const topic = uniqueTopic('async')
      let senderReturned = false
      const seen: boolean[] = []
      await serve(servers, serverTransport, topic, 'h1', {
        async note() {
          seen.push(senderReturned)
        },
      })
      const client = new RpcClient(clientTransport, { topic })
      const cast = client.cast(ctx(), 'note')
      const call = client.call(ctx(), 'note')
      senderReturned = true
      await Promise.all([cast, call])
      await waitFor(() => seen.length === 2, 'both messages')
      assert.deepEqual(seen, [true, true])
      await stopAll(servers)
    })

    it('fanout reaches every server of the topic once', { timeout: TEST_TIMEOUT_MS }, async () => {
      const topic = uniqueTopic('fan')
      const got: string[] = []
      for (const host of ['h1', 'h2', 'h3']) {
        await serve(servers, fx.transport(), topic, host, {
          async refresh() {
            got.push(host)
          },
        })
      }
      await new RpcClient(clientTransport, { topic }).fanout(ctx(), 'refresh', {})
      await waitFor(() => got.length === 3, 'three fanout deliveries')
      await sleep(50) // a duplicate would show up now
      assert.deepEqual([...got].sort(), ['h1', 'h2', 'h3'])
      await stopAll(servers)
    })

    it('round-robins the shared topic queue among servers', { timeout: TEST_TIMEOUT_MS }, async () => {
      const topic = uniqueTopic('rr')
      for (const host of ['h1', 'h2']) {
        await serve(servers, fx.transport(), topic, host, {
          async who() {
            return host
          },
        })
      }
      const client = new RpcClient(clientTransport, { topic })
      const counts = new Map<string, number>()
      for (let i = 0; i < 10; i++) {
        const host = await client.call<string>(ctx(), 'who', {})
        counts.set(host, (counts.get(host) ?? 0) + 1)
      }
      assert.deepEqual(Object.fromEntries(counts), { h1: 5, h2: 5 })
      await stopAll(servers)
    })

    it('topic.<server> reaches only that server', { timeout: TEST_TIMEOUT_MS }, async () => {
      const topic = uniqueTopic('direct')
      const casts: string[] = []
      for (const host of ['h1', 'h2', 'h3']) {
        await serve(servers, fx.transport(), topic, host, {
          async who() {
            return host
          },
          async note() {
            casts.push(host)
          },
        })
      }
      const client = new RpcClient(clientTransport, { topic }).prepare({ server: 'h2' })
      for (let i = 0; i < 6; i++) assert.equal(await client.call<string>(ctx(), 'who'), 'h2')
      for (let i = 0; i < 6; i++) await client.cast(ctx(), 'note')
      await waitFor(() => casts.length === 6, 'six casts to h2')
      assert.deepEqual(new Set(casts), new Set(['h2']))
      await stopAll(servers)
    })

    it(
      'times out a call nobody answers, naming topic, method and timeout',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const topic = uniqueTopic('silent')
        // The queue exists (a server declared it) but no server consumes it now.
        const s = new RpcServer(serverTransport, { topic, server: 'gone' }, { async ping() {} })
        await s.start()
        await s.stop()
        const client = new RpcClient(clientTransport, { topic, timeoutMs: SHORT_CALL_TIMEOUT_MS })
        const started = Date.now()
        await assert.rejects(client.call(ctx(), 'ping'), (err: unknown) => {
          assert.ok(err instanceof MessagingTimeout)
          assert.match(err.message, new RegExp(`'ping'.*'${topic}'`))
          assert.match(err.message, /200 ms/)
          return true
        })
        const elapsed = Date.now() - started
        assert.ok(elapsed >= SHORT_CALL_TIMEOUT_MS - 5 && elapsed < 2_000, `timed out after ${elapsed} ms`)
        // An expired call is discarded, not run late when a server comes back.
        const ran: string[] = []
        await serve(servers, serverTransport, topic, 'back', {
          async ping() {
            ran.push('ping')
          },
        })
        await sleep(100)
        assert.deepEqual(ran, [])
        await stopAll(servers)
      },
    )

    it(
      'fails a cast or call to a target no server ever listened on',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const client = new RpcClient(clientTransport, { topic: uniqueTopic('nobody'), server: 'nowhere' })
        await assert.rejects(client.cast(ctx(), 'x'), MessageDeliveryFailure)
        await assert.rejects(client.call(ctx(), 'x'), MessageDeliveryFailure)
      },
    )

    it('times out a call whose handler is too slow', { timeout: TEST_TIMEOUT_MS }, async () => {
      const topic = uniqueTopic('slow')
      await serve(servers, serverTransport, topic, 'h1', {
        async slow() {
          await sleep(1_000)
          return 'late'
        },
      })
      const client = new RpcClient(clientTransport, { topic }).prepare({ timeoutMs: 100 })
      const started = Date.now()
      await assert.rejects(client.call(ctx(), 'slow'), MessagingTimeout)
      assert.ok(Date.now() - started < 900, 'rejected at the timeout, not when the handler finished')
      await stopAll(servers)
    })

    it(
      'rehydrates remote typed errors; unknown errors become RemoteError',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const topic = uniqueTopic('errors')
        await serve(servers, serverTransport, topic, 'h1', {
          async missing() {
            throw new NotFound('Instance i-1 could not be found.', { instanceId: 'i-1' })
          },
          async broken() {
            throw new TypeError('cannot read x of undefined')
          },
        })
        const client = new RpcClient(clientTransport, { topic })
        await assert.rejects(client.call(ctx(), 'missing'), (err: unknown) => {
          assert.ok(err instanceof NotFound)
          assert.equal(err.status, 404)
          assert.equal(err.message, 'Instance i-1 could not be found.')
          assert.deepEqual(err.detail, { instanceId: 'i-1' })
          return true
        })
        await assert.rejects(client.call(ctx(), 'broken'), (err: unknown) => {
          assert.ok(err instanceof RemoteError)
          assert.equal(err.message, 'cannot read x of undefined')
          assert.equal(err.detail.remoteName, 'TypeError')
          return true
        })
        await stopAll(servers)
      },
    )

    it('answers an unknown method with NoSuchMethod', { timeout: TEST_TIMEOUT_MS }, async () => {
      const topic = uniqueTopic('nomethod')
      const seen: string[] = []
      await serve(servers, serverTransport, topic, 'h1', {
        async known() {
          seen.push('known')
          return 'ok'
        },
        _private: async () => 'hidden',
      })
      const client = new RpcClient(clientTransport, { topic })
      for (const method of ['nope', 'constructor', 'toString', '_private', '__proto__']) {
        await assert.rejects(client.call(ctx(), method), NoSuchMethod, method)
      }
      // A cast to an unknown method is logged on the server; the server keeps working.
      await client.cast(ctx(), 'nope')
      assert.equal(await client.call(ctx(), 'known'), 'ok')
      await stopAll(servers)
    })

    it('refuses messages larger than rpcMaxMessageBytes', { timeout: TEST_TIMEOUT_MS }, async () => {
      const topic = uniqueTopic('big')
      await serve(servers, serverTransport, topic, 'h1', {
        async big(_c: RequestContext, args: { size: number }) {
          return 'x'.repeat(args.size)
        },
      })
      const client = new RpcClient(clientTransport, { topic })
      await withLimits({ rpcMaxMessageBytes: 4_096 }, async () => {
        const blob = 'y'.repeat(8_192)
        await assert.rejects(client.cast(ctx(), 'big', { blob }), PayloadTooLarge)
        await assert.rejects(client.call(ctx(), 'big', { blob }), PayloadTooLarge)
        await assert.rejects(client.fanout(ctx(), 'big', { blob }), PayloadTooLarge)
        // A reply too large comes back as an error, not a timeout.
        await assert.rejects(client.call(ctx(), 'big', { size: 8_192 }), PayloadTooLarge)
        assert.equal(await client.call(ctx(), 'big', { size: 10 }), 'x'.repeat(10))
      })
      await stopAll(servers)
    })

    it('stop() waits for handlers already running', { timeout: TEST_TIMEOUT_MS }, async () => {
      const topic = uniqueTopic('drain')
      let started = 0
      let finished = 0
      const s = await serve(servers, serverTransport, topic, 'h1', {
        async work() {
          started++
          await sleep(300)
          finished++
          return 'done'
        },
      })
      const client = new RpcClient(clientTransport, { topic })
      await client.cast(ctx(), 'work')
      const call = client.call(ctx(), 'work')
      await waitFor(() => started === 2, 'both handlers to start')
      await bounded(s.stop(), 'stop')
      assert.equal(finished, 2, 'stop returned only after the handlers finished')
      assert.equal(await bounded(call, 'call in flight during stop'), 'done')
      servers.splice(servers.indexOf(s), 1)
    })

    it('stop() is bounded by shutdownGraceMs', { timeout: TEST_TIMEOUT_MS }, async () => {
      const topic = uniqueTopic('grace')
      let started = false
      const s = await serve(servers, serverTransport, topic, 'h1', {
        async stuck() {
          started = true
          await sleep(2_000)
        },
      })
      await new RpcClient(clientTransport, { topic }).cast(ctx(), 'stuck')
      await waitFor(() => started, 'the handler to start')
      await withLimits({ shutdownGraceMs: 100 }, async () => {
        const t0 = Date.now()
        await s.stop()
        assert.ok(Date.now() - t0 < 1_000, 'stop gave up after the grace period')
      })
      servers.splice(servers.indexOf(s), 1)
    })

    it(
      'passes copies: mutations on either side stay on that side',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const topic = uniqueTopic('copy')
        const received: { list: number[] }[] = []
        for (const host of ['h1', 'h2']) {
          await serve(servers, fx.transport(), topic, host, {
            async mutate(_c: RequestContext, args: { list: number[] }) {
              received.push(args)
              args.list.push(99)
              return args
            },
          })
        }
        const client = new RpcClient(clientTransport, { topic })
        const args = { list: [1, 2] }
        const reply = await client.call<{ list: number[] }>(ctx(), 'mutate', args)
        assert.deepEqual(args, { list: [1, 2] }, "the sender's object is untouched")
        assert.deepEqual(reply, { list: [1, 2, 99] })
        assert.notEqual(reply, received[0], 'the reply is a copy too')
        reply.list.push(100)
        assert.deepEqual(received[0], { list: [1, 2, 99] })
        // Fanout: each server gets its own copy, so one's mutation is invisible to the other.
        received.length = 0
        const fanArgs = { list: [5] }
        await client.fanout(ctx(), 'mutate', fanArgs)
        await waitFor(() => received.length === 2, 'two fanout copies')
        assert.notEqual(received[0], received[1])
        assert.deepEqual(received[0], { list: [5, 99] })
        assert.deepEqual(received[1], { list: [5, 99] })
        assert.deepEqual(fanArgs, { list: [5] })
        await stopAll(servers)
      },
    )

    it('rejects an invalid topic or server name', { timeout: TEST_TIMEOUT_MS }, async () => {
      assert.throws(() => new RpcClient(clientTransport, { topic: 'a.b' }), /invalid RPC topic/)
      assert.throws(() => new RpcClient(clientTransport, { topic: 'a', server: 'h#1' }), /invalid RPC server/)
      assert.throws(() => new RpcClient(clientTransport, { topic: 'a', timeoutMs: 0 }), /timeoutMs/)
      assert.throws(() => new RpcClient(clientTransport, { topic: 'a', timeoutMs: 2 ** 31 }), /timeoutMs/)
    })

    if (kind === 'inproc') {
      it('refuses casts beyond rpcInprocQueueLength', { timeout: TEST_TIMEOUT_MS }, async () => {
        const topic = uniqueTopic('full')
        const s = new RpcServer(serverTransport, { topic, server: 'h1' }, { async x() {} })
        await s.start()
        await s.stop() // the queue stays, nobody drains it
        const client = new RpcClient(clientTransport, { topic })
        await withLimits({ rpcInprocQueueLength: 3 }, async () => {
          for (let i = 0; i < 3; i++) await client.cast(ctx(), 'x')
          await assert.rejects(client.cast(ctx(), 'x'), (err: unknown) => {
            assert.ok(err instanceof MessageDeliveryFailure)
            assert.match(err.message, /is full \(3 messages\)/)
            return true
          })
        })
      })
    }

    if (kind === 'amqp') amqpRecoveryTests(fx, servers)
  })
}

function amqpRecoveryTests(fx: Fixture, servers: RpcServer[]): void {
  /** Counts what a burst of casts and calls came to. */
  /**
   * Sends `casts` casts and `calls` calls spread over several event-loop turns
   * (so some are confirmed, some written but unconfirmed and some not yet
   * written when `midway` runs) and reports how each settled.
   */
  async function burst(
    client: RpcClient,
    casts: number,
    calls: number,
    midway: () => void,
  ): Promise<{ accepted: Set<number>; castErrors: unknown[]; callResults: PromiseSettledResult<unknown>[] }> {
    const batch = 50
    const callEvery = Math.ceil(casts / calls)
    const accepted = new Set<number>()
    const castErrors: unknown[] = []
    const pending: Promise<unknown>[] = []
    const callPromises: Promise<PromiseSettledResult<unknown>>[] = []
    for (let i = 0; i < casts; i++) {
      // Handlers attached at once: a rejection is never unhandled, even briefly.
      pending.push(
        client.cast(ctx(), 'record', { i }).then(
          () => accepted.add(i),
          (err) => castErrors.push(err),
        ),
      )
      if (i % callEvery === 0) {
        const n = callPromises.length
        callPromises.push(settle(client.call(ctx(), 'add', { a: n, b: 1 })))
      }
      if (i === Math.floor(casts / 2)) midway()
      if (i % batch === batch - 1) await sleep(1)
    }
    await bounded(Promise.all(pending), 'casts', TEST_TIMEOUT_MS)
    const callResults = await bounded(Promise.all(callPromises), 'calls', TEST_TIMEOUT_MS)
    return { accepted, castErrors, callResults }
  }

  function recorder(): { endpoints: object; runs: Map<number, number> } {
    const runs = new Map<number, number>()
    return {
      runs,
      endpoints: {
        async record(_c: RequestContext, args: { i: number }) {
          runs.set(args.i, (runs.get(args.i) ?? 0) + 1)
        },
        async add(_c: RequestContext, args: { a: number; b: number }) {
          return args.a + args.b
        },
      },
    }
  }

  function assertCallOutcomes(results: PromiseSettledResult<unknown>[]): void {
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') assert.equal(r.value, i + 1)
      else {
        assert.ok(
          r.reason instanceof MessageDeliveryFailure || r.reason instanceof MessagingTimeout,
          `call ${i} failed with a typed error, got ${String(r.reason)}`,
        )
      }
    })
  }

  async function assertRecovered(client: RpcClient, transport: Transport): Promise<void> {
    await waitFor(() => (transport as AmqpTransport).connected, 'reconnection')
    for (let i = 0; i < 10; i++) assert.equal(await client.call(ctx(), 'add', { a: i, b: 1 }), i + 1)
  }

  /**
   * Casts and calls in flight while one side's connection is cut. Every cast
   * is either accepted and then handled exactly once, or rejected with
   * MessageDeliveryFailure; calls succeed or fail with a typed error; calls
   * after recovery succeed.
   */
  async function survivesDrop(t: TestContext, side: 'client' | 'server'): Promise<void> {
    const topic = uniqueTopic(`drop-${side}`)
    const { endpoints, runs } = recorder()
    const serverSide = fx.transport() as AmqpTransport
    const clientSide = fx.transport() as AmqpTransport
    await serve(servers, serverSide, topic, 'h1', endpoints)
    const client = new RpcClient(clientSide, { topic, timeoutMs: 3_000 })
    await client.call(ctx(), 'add', { a: 0, b: 0 }) // both connected and warm
    const dropped = side === 'client' ? clientSide : serverSide

    const casts = 2_000
    const { accepted, castErrors, callResults } = await burst(client, casts, 50, () =>
      dropped.dropConnectionForTest(),
    )
    for (const err of castErrors) assert.ok(err instanceof MessageDeliveryFailure, String(err))
    assert.equal(accepted.size + castErrors.length, casts, 'every cast settled')
    const unhandled = (): number[] => [...accepted].filter((i) => !runs.has(i))
    await waitFor(() => unhandled().length === 0, 'every accepted cast to be handled', 15_000).catch(
      (err) => {
        const ids = unhandled()
        throw new Error(
          `${(err as Error).message}: ${ids.length} accepted casts never handled, e.g. ${ids.slice(0, 5)}`,
        )
      },
    )
    assert.ok(
      [...runs.values()].every((n) => n === 1),
      'no cast ran twice',
    )
    assertCallOutcomes(callResults)
    const callsOk = callResults.filter((r) => r.status === 'fulfilled').length
    t.diagnostic(
      `${side} drop: casts accepted ${accepted.size} (all handled once), rejected ${castErrors.length}, ` +
        `handled though rejected ${[...runs.keys()].filter((i) => !accepted.has(i)).length}; ` +
        `calls ok ${callsOk}, failed ${callResults.length - callsOk}`,
    )
    await assertRecovered(client, dropped)
    // A cast made while disconnected is buffered and sent after recovery.
    dropped.dropConnectionForTest()
    await bounded(client.cast(ctx(), 'record', { i: casts }), 'a cast buffered during reconnect')
    await waitFor(() => runs.has(casts), 'the buffered cast')
    await stopAll(servers)
  }

  it('survives losing the client connection: no accepted cast is lost', { timeout: 60_000 }, (t) =>
    survivesDrop(t, 'client'),
  )

  it(
    'survives losing the server connection: queued casts wait, each handled once',
    { timeout: 60_000 },
    (t) => survivesDrop(t, 'server'),
  )

  it(
    'buffers casts while the broker is unreachable, then fails them when it gives up',
    {
      timeout: TEST_TIMEOUT_MS,
    },
    async () => {
      await withLimits(
        {
          rpcReconnectMaxAttempts: 2,
          rpcReconnectInitialDelayMs: 20,
          rpcPendingCastsMax: 5,
          rpcConnectTimeoutMs: 500,
        },
        async () => {
          // Port 1 on loopback refuses connections at once.
          const transport = createTransport('amqp://guest:guest@127.0.0.1:1/?exchange=unreachable')
          try {
            const client = new RpcClient(transport, { topic: 'nowhere' })
            const results = await bounded(
              Promise.allSettled(Array.from({ length: 7 }, (_, i) => client.cast(ctx(), 'x', { i }))),
              'casts to an unreachable broker',
            )
            assert.equal(results.filter((r) => r.status === 'rejected').length, 7)
            for (const r of results) {
              assert.ok(r.status === 'rejected' && r.reason instanceof MessageDeliveryFailure)
            }
            const reasons = results.map((r) => (r.status === 'rejected' ? String(r.reason.message) : ''))
            assert.equal(
              reasons.filter((m) => /already wait/.test(m)).length,
              2,
              'two beyond the buffer bound',
            )
            assert.equal(
              reasons.filter((m) => /unreachable after 2/.test(m)).length,
              5,
              'five when it gave up',
            )
            await assert.rejects(client.call(ctx(), 'x'), MessageDeliveryFailure)
          } finally {
            await transport.close()
          }
        },
      )
    },
  )
}
