import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, before, describe, it } from 'node:test'
import { startTestCloud, type TestCloud } from '../harness.ts'
import { assertError, Keystone, passwordAuth } from './client.ts'

const TEST_TIMEOUT_MS = 60_000
const LOCKOUT_DURATION_S = 2

describe('identity security compliance (lockout, password history)', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let ks: Keystone

  before(async () => {
    tc = await startTestCloud({
      services: ['identity'],
      config: {
        'security_compliance.lockout_failure_attempts': '2',
        'security_compliance.lockout_duration_s': String(LOCKOUT_DURATION_S),
        'security_compliance.unique_last_password_count': '2',
      },
    })
    ks = new Keystone(tc)
  })
  after(() => tc?.stop())

  const login = (id: string, password: string) =>
    ks.req('POST', '/v3/auth/tokens', { body: passwordAuth({ id, password }) })
  const change = (id: string, original: string, password: string) =>
    ks.req('POST', `/v3/users/${id}/password`, {
      body: { user: { original_password: original, password } },
    })

  it('locks an account after lockout_failure_attempts failures, until lockout_duration_s has passed', async () => {
    const u = await ks.createUser('locky', 'right-pw')
    assert.equal((await login(u.id, 'right-pw')).status, 201)
    // A good login resets the count: one failure, a success, one failure do not lock.
    assertError(await login(u.id, 'wrong'), 401)
    assert.equal((await login(u.id, 'right-pw')).status, 201)
    assertError(await login(u.id, 'wrong'), 401)
    assert.equal((await login(u.id, 'right-pw')).status, 201)

    for (let i = 0; i < 2; i++) assertError(await login(u.id, 'wrong'), 401)
    assertError(await login(u.id, 'right-pw'), 401, `The account is locked for user: ${u.id}.`)
    await sleep(LOCKOUT_DURATION_S * 1000 + 200)
    assert.equal((await login(u.id, 'right-pw')).status, 201)

    // An admin enabling the user unlocks it at once.
    for (let i = 0; i < 2; i++) assertError(await login(u.id, 'wrong'), 401)
    assertError(await login(u.id, 'right-pw'), 401, /locked/)
    await ks.ok('PATCH', `/v3/users/${u.id}`, { user: { enabled: true } })
    assert.equal((await login(u.id, 'right-pw')).status, 201)
  })

  it('a user may not reuse one of their last unique_last_password_count passwords; an admin reset may', async () => {
    const u = await ks.createUser('histy', 'pw-0')
    assert.equal((await change(u.id, 'pw-0', 'pw-1')).status, 204)
    const message =
      'The new password cannot be identical to a previous password. The total number which includes the new ' +
      'password must be unique is 2.'
    assertError(await change(u.id, 'pw-1', 'pw-1'), 400, message)
    assertError(await change(u.id, 'pw-1', 'pw-0'), 400, message)
    assert.equal((await change(u.id, 'pw-1', 'pw-2')).status, 204)
    assert.equal((await change(u.id, 'pw-2', 'pw-3')).status, 204)
    assert.equal((await change(u.id, 'pw-3', 'pw-1')).status, 204, 'pw-1 is no longer among the last two')
    await ks.ok('PATCH', `/v3/users/${u.id}`, { user: { password: 'pw-1' } })
    assert.equal((await login(u.id, 'pw-1')).status, 201)
  })
})

describe('identity security compliance off (the default)', { timeout: TEST_TIMEOUT_MS }, () => {
  let tc: TestCloud
  let ks: Keystone

  before(async () => {
    tc = await startTestCloud({ services: ['identity'] })
    ks = new Keystone(tc)
  })
  after(() => tc?.stop())

  it('never locks and keeps no history', async () => {
    const u = await ks.createUser('free', 'pw')
    for (let i = 0; i < 5; i++) {
      const r = await ks.req('POST', '/v3/auth/tokens', { body: passwordAuth({ id: u.id, password: 'bad' }) })
      assertError(r, 401)
    }
    const ok = await ks.req('POST', '/v3/auth/tokens', { body: passwordAuth({ id: u.id, password: 'pw' }) })
    assert.equal(ok.status, 201)
    const same = await ks.req('POST', `/v3/users/${u.id}/password`, {
      body: { user: { original_password: 'pw', password: 'pw' } },
    })
    assert.equal(same.status, 204)
  })
})
