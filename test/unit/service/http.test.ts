import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { EventEmitter, once } from 'node:events'
import { ApiServer, respond, type Route } from '../../../src/service/http.ts'
import { Conflict, NotFound, Unauthorized } from '../../../src/common/errors.ts'
import { currentContext } from '../../../src/common/context.ts'
import type { FaultStyle } from '../../../src/service/faults.ts'

const SLOW_HANDLER_MS = 200
/** Fires when the /slow handler has started, i.e. the request is in flight. */
const slowStarted = new EventEmitter()

function routes(): Route[] {
  return [
    { method: 'GET', path: '/open', auth: false, handler: () => ({ ok: true }) },
    { method: 'GET', path: '/secret', handler: (req) => ({ user: req.ctx.userId }) },
    {
      method: 'POST',
      path: '/things',
      auth: false,
      status: 201,
      schema: {
        body: {
          type: 'object',
          required: ['thing'],
          additionalProperties: false,
          properties: {
            thing: {
              type: 'object',
              required: ['name'],
              additionalProperties: false,
              properties: { name: { type: 'string', minLength: 1, maxLength: 10 } },
            },
          },
        },
      },
      handler: (req) => ({ thing: { name: req.body.thing.name, requestId: currentContext()?.requestId } }),
    },
    {
      method: 'GET',
      path: '/things/:id',
      auth: false,
      handler: (req) => {
        throw new NotFound(`Thing ${req.params.id} could not be found.`)
      },
    },
    {
      method: 'DELETE',
      path: '/things/:id',
      auth: false,
      handler: () => {
        throw new Conflict('Thing is in use')
      },
    },
    {
      method: 'GET',
      path: '/boom',
      auth: false,
      handler: () => Promise.reject(new TypeError('secret internals')),
    },
    {
      method: 'GET',
      path: '/accepted',
      auth: false,
      handler: () => respond(202, undefined, { location: '/x' }),
    },
    {
      method: 'GET',
      path: '/slow',
      auth: false,
      handler: async () => {
        slowStarted.emit('started')
        await new Promise((r) => setTimeout(r, SLOW_HANDLER_MS))
        return { slow: true }
      },
    },
  ]
}

async function start(style: FaultStyle): Promise<{ server: ApiServer; base: string }> {
  const server = new ApiServer({
    name: 'test',
    style,
    routes: routes(),
    bodyLimitBytes: 1024,
    authenticate: async (req, requestId) => {
      if (req.headers['x-auth-token'] !== 'good')
        throw new Unauthorized('The request you have made requires authentication.')
      return { requestId, roles: ['member'], isAdmin: false, userId: 'u1' }
    },
  })
  const port = await server.listen('127.0.0.1', 0)
  return { server, base: `http://127.0.0.1:${port}` }
}

describe('ApiServer (nova style)', () => {
  let server: ApiServer
  let base: string
  before(async () => ({ server, base } = await start('nova')))
  after(() => server.close())

  it('puts a request id on every response, also on errors', async () => {
    for (const path of ['/open', '/nope', '/things/1']) {
      const res = await fetch(base + path)
      assert.match(res.headers.get('x-openstack-request-id') ?? '', /^req-[0-9a-f-]{36}$/)
      assert.equal(res.headers.get('x-compute-request-id'), res.headers.get('x-openstack-request-id'))
    }
  })

  it('carries the request id into the handler context', async () => {
    const res = await fetch(`${base}/things`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ thing: { name: 'a' } }),
    })
    assert.equal(res.status, 201)
    const body = (await res.json()) as { thing: { requestId: string } }
    assert.equal(body.thing.requestId, res.headers.get('x-openstack-request-id'))
  })

  it("renders typed errors in Nova's body", async () => {
    const res = await fetch(`${base}/things/42`)
    assert.equal(res.status, 404)
    assert.deepEqual(await res.json(), {
      itemNotFound: { code: 404, message: 'Thing 42 could not be found.' },
    })
    const conflict = await fetch(`${base}/things/42`, { method: 'DELETE' })
    assert.equal(conflict.status, 409)
    assert.deepEqual(await conflict.json(), { conflictingRequest: { code: 409, message: 'Thing is in use' } })
  })

  it("rejects a body that fails the schema with Nova's message", async () => {
    const res = await fetch(`${base}/things`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ thing: { name: 'a', colour: 'red' } }),
    })
    assert.equal(res.status, 400)
    const body = (await res.json()) as { badRequest: { message: string } }
    assert.match(body.badRequest.message, /Additional properties are not allowed \('colour' was unexpected\)/)
    const missing = await fetch(`${base}/things`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ thing: {} }),
    })
    assert.match(
      ((await missing.json()) as { badRequest: { message: string } }).badRequest.message,
      /'name' is a required property/,
    )
  })

  it('answers 400 for malformed JSON', async () => {
    const res = await fetch(`${base}/things`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"thing": ',
    })
    assert.equal(res.status, 400)
    assert.deepEqual(await res.json(), { badRequest: { code: 400, message: 'Malformed request body' } })
  })

  it('answers 413 above the body limit', async () => {
    const res = await fetch(`${base}/things`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ thing: { name: 'x'.repeat(2048) } }),
    })
    assert.equal(res.status, 413)
    assert.equal(((await res.json()) as { overLimit: { code: number } }).overLimit.code, 413)
  })

  it('answers 404 for unknown routes and 405 for a known path with another method', async () => {
    const missing = await fetch(`${base}/no/such/route`)
    assert.equal(missing.status, 404)
    assert.deepEqual(await missing.json(), {
      itemNotFound: { code: 404, message: 'The resource could not be found.' },
    })
    const wrong = await fetch(`${base}/open`, { method: 'PUT' })
    assert.equal(wrong.status, 405)
    assert.equal(wrong.headers.get('allow'), 'GET')
  })

  it('hides the details of unexpected errors behind a 500', async () => {
    const res = await fetch(`${base}/boom`)
    assert.equal(res.status, 500)
    const text = await res.text()
    assert.doesNotMatch(text, /secret internals/)
    assert.match(text, /computeFault/)
  })

  it('requires authentication unless the route says otherwise', async () => {
    assert.equal((await fetch(`${base}/secret`)).status, 401)
    const ok = await fetch(`${base}/secret`, { headers: { 'x-auth-token': 'good' } })
    assert.deepEqual(await ok.json(), { user: 'u1' })
  })

  it('lets a handler choose status and headers', async () => {
    const res = await fetch(`${base}/accepted`)
    assert.equal(res.status, 202)
    assert.equal(res.headers.get('location'), '/x')
  })

  it('has a health endpoint', async () => {
    const res = await fetch(`${base}/healthcheck`)
    assert.equal(res.status, 200)
    assert.equal(await res.text(), 'OK')
  })
})

describe('ApiServer error styles', () => {
  const cases: [FaultStyle, (body: string) => void][] = [
    [
      'keystone',
      (b) =>
        assert.deepEqual(JSON.parse(b), {
          error: { code: 404, message: 'Thing 7 could not be found.', title: 'Not Found' },
        }),
    ],
    [
      'neutron',
      (b) =>
        assert.deepEqual(JSON.parse(b), {
          NeutronError: { type: 'NotFound', message: 'Thing 7 could not be found.', detail: '' },
        }),
    ],
    ['glance', (b) => assert.match(b, /<title>404 Not Found<\/title>[\s\S]*Thing 7 could not be found\./)],
  ]
  for (const [style, check] of cases) {
    it(`renders ${style} bodies`, async () => {
      const { server, base } = await start(style)
      try {
        const res = await fetch(`${base}/things/7`)
        assert.equal(res.status, 404)
        check(await res.text())
      } finally {
        await server.close()
      }
    })
  }

  it('adds WWW-Authenticate to Keystone 401s', async () => {
    const { server, base } = await start('keystone')
    try {
      const res = await fetch(`${base}/secret`)
      assert.equal(res.status, 401)
      assert.match(res.headers.get('www-authenticate') ?? '', /^Keystone uri="http:\/\/127\.0\.0\.1:\d+"$/)
    } finally {
      await server.close()
    }
  })
})

describe('ApiServer shutdown', () => {
  it('lets an in-flight request finish, then refuses new connections', async () => {
    const { server, base } = await start('nova')
    // Close only once the handler runs: a fixed sleep let a loaded machine close the
    // server before the request had arrived (503 while closing, not the in-flight case).
    const started = once(slowStarted, 'started')
    const inflight = fetch(`${base}/slow`)
    await started
    const closing = server.close()
    const res = await inflight
    assert.equal(res.status, 200)
    assert.deepEqual(await res.json(), { slow: true })
    await closing
    await assert.rejects(fetch(`${base}/open`))
  })
})
