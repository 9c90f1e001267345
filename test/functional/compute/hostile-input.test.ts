import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { limits } from '../../../src/common/limits.ts'
import { startComputeCloud, type Caller, type ComputeCloud } from './helpers.ts'

/**
 * Issue 17, findings 2 and 7: a user's regex filter must not run in a
 * backtracking engine, and a deeply nested JSON body must be a 400 in each
 * API's own fault body, never a 500.
 */

/**
 * Longest a worst-case regex list may take. `^(a+)+$` against a name of 30
 * `a`s and a `!` took about 7 s in JavaScript's backtracking engine (0.47 s
 * at 26 characters, doubling per character); RE2 answers in milliseconds,
 * so this is generous for a loaded machine.
 */
const WORST_CASE_LIST_MS = 2_000
const REDOS_NAME = `${'a'.repeat(30)}!`
/** Nesting the issue reported as a 500 on every API. */
const HOSTILE_DEPTH = 5_000

describe('compute: hostile list filters (issue 17)', () => {
  let cloud: ComputeCloud
  let member: Caller

  before(async () => {
    cloud = await startComputeCloud()
    member = await cloud.newMember()
    for (const name of [REDOS_NAME, 'Web-1', 'web-2', 'db-1']) {
      await member.waitStatus(await member.createServer({ name, imageRef: cloud.imageId, flavorRef: '1' }))
    }
  })
  after(() => cloud?.stop())

  const names = (res: { body: { servers: { name: string }[] } }) => res.body.servers.map((s) => s.name).sort()

  it('answers a catastrophic-backtracking pattern in linear time', async () => {
    const started = performance.now()
    const res = await member.nova('GET', `/servers?name=${encodeURIComponent('^(a+)+$')}`)
    const elapsedMs = performance.now() - started
    assert.equal(res.status, 200)
    assert.deepEqual(res.body.servers, [])
    assert.ok(elapsedMs < WORST_CASE_LIST_MS, `worst-case filter took ${elapsedMs.toFixed(0)} ms`)
    const matching = await member.nova('GET', `/servers?name=${encodeURIComponent('^(a+)+!$')}`)
    assert.deepEqual(names(matching), [REDOS_NAME])
  })

  it("keeps Python's syntax: inline flags, named groups, \\Z", async () => {
    const ci = await member.nova('GET', `/servers?name=${encodeURIComponent('(?i)^web-(?P<n>[0-9])\\Z')}`)
    assert.equal(ci.status, 200)
    assert.deepEqual(names(ci), ['Web-1', 'web-2'])
    const cased = await member.nova('GET', `/servers?name=${encodeURIComponent('^web')}`)
    assert.deepEqual(names(cased), ['web-2'])
  })

  it("refuses what RE2 cannot run with Nova's 'regex' format 400", async () => {
    for (const pattern of ['(a)\\1', 'web(?=-1)', '(?x) web', '(', `a{${limits.userRegexMaxRepeat + 1}}`]) {
      const res = await member.nova('GET', `/servers?name=${encodeURIComponent(pattern)}`)
      assert.equal(res.status, 400, pattern)
      assert.match(
        res.body.badRequest.message,
        /^Invalid input for query parameters name\. Value: .*is not a 'regex'$/,
      )
    }
    const long = 'a'.repeat(limits.userRegexMaxChars + 1)
    assert.equal((await member.nova('GET', `/servers?name=${long}`)).status, 400)
    // 500 repetitions are within the repetition bound, but compile to about 3,500 instructions.
    const big = await member.nova('GET', `/servers?name=${encodeURIComponent('(ab|cd){500}')}`)
    assert.equal(big.status, 400)
    const within = await member.nova('GET', `/servers?name=${encodeURIComponent('[a-z]{999}[0-9]{1}')}`)
    assert.equal(within.status, 200, 'about 1,000 instructions: within every bound')
  })

  it('pages regex-filtered lists like plain ones', async () => {
    const page1 = await member.nova('GET', `/servers?name=${encodeURIComponent('-[0-9]$')}&limit=2`)
    assert.equal(page1.body.servers.length, 2)
    const marker = page1.body.servers[1].id as string
    const page2 = await member.nova(
      'GET',
      `/servers?name=${encodeURIComponent('-[0-9]$')}&limit=2&marker=${marker}`,
    )
    assert.equal(page2.body.servers.length, 1)
    assert.deepEqual([...names(page1), ...names(page2)].sort(), ['Web-1', 'db-1', 'web-2'])
  })

  describe('JSON nested 5,000 deep', () => {
    const deepArray = '['.repeat(HOSTILE_DEPTH) + ']'.repeat(HOSTILE_DEPTH)
    const post = async (url: string, body: string, token?: string) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { 'x-auth-token': token } : {}) },
        body,
      })
      return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() }
    }

    it('is a 400 in Nova, Keystone, Neutron and Glance style', async () => {
      const tc = cloud.tc
      const nova = await post(`${tc.url('compute')}/v2.1/servers`, `{"server":${deepArray}}`, member.token)
      assert.equal(nova.status, 400)
      assert.match(JSON.parse(nova.text).badRequest.message, /^Malformed request body/)
      const auth = await post(`${tc.url('identity')}/v3/auth/tokens`, `{"auth":${deepArray}}`)
      assert.equal(auth.status, 400)
      assert.equal(JSON.parse(auth.text).error.code, 400)
      const project = await post(
        `${tc.url('identity')}/v3/projects`,
        `{"project":{"name":"deep","tags":${deepArray}}}`,
        cloud.admin.token,
      )
      assert.equal(project.status, 400)
      assert.equal(JSON.parse(project.text).error.title, 'Bad Request')
      const network = await post(
        `${tc.url('network')}/v2.0/networks`,
        `{"network":${deepArray}}`,
        member.token,
      )
      assert.equal(network.status, 400)
      assert.equal(JSON.parse(network.text).NeutronError.type, 'MalformedRequestBody')
      const image = await post(`${tc.url('image')}/v2/images`, `{"name":${deepArray}}`, member.token)
      assert.equal(image.status, 400)
      assert.match(image.text, /<title>400 Bad Request<\/title>/)
      // Nothing was made by the refused requests.
      const projects = await fetch(`${tc.url('identity')}/v3/projects?name=deep`, {
        headers: { 'x-auth-token': cloud.admin.token },
      })
      assert.deepEqual(((await projects.json()) as { projects: unknown[] }).projects, [])
    })

    it('still accepts bodies nested up to the limit', async () => {
      // Glance keeps extra properties as strings, so nesting is refused by the schema (400), not the edge.
      const nested = '['.repeat(limits.maxJsonDepth - 1) + ']'.repeat(limits.maxJsonDepth - 1)
      const res = await post(`${cloud.tc.url('compute')}/v2.1/servers`, `{"server":${nested}}`, member.token)
      assert.equal(res.status, 400)
      assert.match(JSON.parse(res.text).badRequest.message, /^Invalid input for field\/attribute server/)
    })
  })
})
