import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DummyPasswordCheck, hashPassword, verifyPassword } from '../../../src/identity/password.ts'

// A low cost keeps the suite fast; the format and the checks are the same at any cost.
const TEST_LOG_N = 10

describe('password hashing', () => {
  it('verifies the right password and refuses a wrong one', async () => {
    const hash = await hashPassword('s3cret-pässword', TEST_LOG_N)
    assert.match(hash, /^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/)
    assert.equal(await verifyPassword('s3cret-pässword', hash), true)
    assert.equal(await verifyPassword('s3cret-passwörd', hash), false)
    assert.equal(await verifyPassword('', hash), false)
  })

  it('salts: the same password hashes differently each time', async () => {
    const a = await hashPassword('same', TEST_LOG_N)
    const b = await hashPassword('same', TEST_LOG_N)
    assert.notEqual(a, b)
    assert.equal(await verifyPassword('same', b), true)
  })

  it('keeps verifying hashes made with another cost', async () => {
    const old = await hashPassword('pw', TEST_LOG_N + 1)
    assert.equal(await verifyPassword('pw', old), true)
  })

  it('refuses hashes it cannot read, and absurd costs, without throwing', async () => {
    assert.equal(await verifyPassword('pw', ''), false)
    assert.equal(await verifyPassword('pw', 'plaintext'), false)
    assert.equal(await verifyPassword('pw', '$scrypt$ln=40,r=8,p=1$AAAA$AAAA'), false)
  })

  it('the dummy check never succeeds and takes about as long as a real one', async () => {
    const dummy = new DummyPasswordCheck(TEST_LOG_N + 4)
    const real = await hashPassword('pw', TEST_LOG_N + 4)
    await dummy.verify('warm-up')
    const time = async (fn: () => Promise<unknown>) => {
      const t0 = process.hrtime.bigint()
      for (let i = 0; i < 5; i++) await fn()
      return Number(process.hrtime.bigint() - t0)
    }
    const tReal = await time(() => verifyPassword('wrong', real))
    const tDummy = await time(() => dummy.verify('wrong'))
    assert.equal(await dummy.verify('anything'), false)
    // Same KDF work: within a factor of two of each other.
    assert.ok(tDummy < 2 * tReal && tReal < 2 * tDummy, `real ${tReal} ns, dummy ${tDummy} ns`)
  })
})
