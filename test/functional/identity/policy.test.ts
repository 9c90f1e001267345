import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { mkdtempSync, rmSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { assertError, Keystone } from './client.ts'

const TEST_TIMEOUT_MS = 60_000
const forbidden = (rule: string) => `You are not authorized to perform the requested action: ${rule}.`

describe('identity policy (default rules)', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let ks: Keystone
  let member: { user: any; project: any; token: string }
  let reader: { user: any; project: any; token: string }
  let other: any

  before(async () => {
    tc = await startTestCloud()
    ks = new Keystone(tc)
    member = await ks.userWithRole('pol-member', 'member')
    reader = await ks.userWithRole('pol-reader', 'reader')
    other = await ks.createProject('pol-other')
  })
  after(() => tc?.stop())

  it('a member cannot list all projects, but sees their own through /v3/users/{id}/projects', async () => {
    assertError(
      await ks.req('GET', '/v3/projects', { token: member.token }),
      403,
      forbidden('identity:list_projects'),
    )
    const own = await ks.req('GET', `/v3/users/${member.user.id}/projects`, { token: member.token })
    assert.equal(own.status, 200)
    assert.deepEqual(
      own.body.projects.map((p: any) => p.id),
      [member.project.id],
    )
    assertError(await ks.req('GET', `/v3/users/${reader.user.id}/projects`, { token: member.token }), 403)
  })

  it('a member may get their project, not another one; admin gets 404 for a missing one, a member 403', async () => {
    assert.equal(
      (await ks.req('GET', `/v3/projects/${member.project.id}`, { token: member.token })).status,
      200,
    )
    assertError(
      await ks.req('GET', `/v3/projects/${other.id}`, { token: member.token }),
      403,
      forbidden('identity:get_project'),
    )
    assertError(await ks.req('GET', '/v3/projects/missing', { token: member.token }), 403)
    assertError(await ks.req('GET', '/v3/projects/missing', { token: await ks.admin() }), 404)
  })

  it('a user may read themself but not others, nor list users', async () => {
    assert.equal((await ks.req('GET', `/v3/users/${member.user.id}`, { token: member.token })).status, 200)
    assertError(await ks.req('GET', `/v3/users/${reader.user.id}`, { token: member.token }), 403)
    assertError(await ks.req('GET', '/v3/users', { token: member.token }), 403)
  })

  it('readers and members cannot create; admin can', async () => {
    for (const { token } of [reader, member]) {
      assertError(
        await ks.req('POST', '/v3/projects', { token, body: { project: { name: 'nope' } } }),
        403,
        forbidden('identity:create_project'),
      )
      assertError(await ks.req('POST', '/v3/users', { token, body: { user: { name: 'nope' } } }), 403)
      assertError(await ks.req('POST', '/v3/roles', { token, body: { role: { name: 'nope' } } }), 403)
      assertError(await ks.req('POST', '/v3/domains', { token, body: { domain: { name: 'nope' } } }), 403)
      assertError(
        await ks.req(
          'PUT',
          `/v3/projects/${member.project.id}/users/${member.user.id}/roles/${await ks.roleId('admin')}`,
          { token },
        ),
        403,
      )
    }
    const r = await ks.req('POST', '/v3/projects', {
      token: await ks.admin(),
      body: { project: { name: 'admin-made' } },
    })
    assert.equal(r.status, 201)
  })

  it('regions are readable by anyone with a token; services and endpoints are not', async () => {
    assert.equal((await ks.req('GET', '/v3/regions', { token: reader.token })).status, 200)
    assertError(await ks.req('GET', '/v3/services', { token: reader.token }), 403)
    assertError(await ks.req('GET', '/v3/endpoints', { token: reader.token }), 403)
  })

  it('no token: 401 with WWW-Authenticate, before any policy check', async () => {
    const r = await ks.req('GET', '/v3/projects')
    assertError(r, 401, 'The request you have made requires authentication.')
    assert.equal(r.headers.get('www-authenticate'), `Keystone uri="${ks.base}"`)
  })

  it('a project admin is a cloud admin under the default rules (as in Keystone)', async () => {
    const padmin = await ks.userWithRole('pol-padmin', 'admin')
    assert.equal((await ks.req('GET', '/v3/projects', { token: padmin.token })).status, 200)
  })
})

describe('identity policy (operator file)', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let ks: Keystone
  let dir: string

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nimbus-policy-'))
    const file = join(dir, 'policy.yaml')
    writeFileSync(
      file,
      [
        '# Readers may list every project; nobody may delete a project.',
        '"identity:list_projects": "role:reader"',
        '"identity:delete_project": "!"',
      ].join('\n'),
    )
    tc = await startTestCloud({ config: { 'identity.policy_file': file } })
    ks = new Keystone(tc)
  })
  after(async () => {
    await tc?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('overrides the defaults it names and keeps the others', async () => {
    const reader = await ks.userWithRole('file-reader', 'reader')
    assert.equal((await ks.req('GET', '/v3/projects', { token: reader.token })).status, 200)
    assertError(
      await ks.req('DELETE', `/v3/projects/${reader.project.id}`, { token: await ks.admin() }),
      403,
      forbidden('identity:delete_project'),
    )
    assertError(await ks.req('GET', '/v3/users', { token: reader.token }), 403)
  })
})
