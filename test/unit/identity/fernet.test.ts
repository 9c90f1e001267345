import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  fernetDecrypt,
  fernetEncrypt,
  fernetTimestamp,
  FernetKey,
  InvalidFernetToken,
} from '../../../src/identity/token/fernet.ts'
import { FernetKeyRepository } from '../../../src/identity/token/key-repository.ts'
import { decodePayload, encodePayload, type TokenPayload } from '../../../src/identity/token/payload.ts'
import { pack, unpack } from '../../../src/identity/token/msgpack.ts'

// Vectors written by Python's cryptography.fernet and msgpack, as Keystone writes tokens.
const SPEC_KEY = 'cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4='
const SPEC_TOKEN =
  'gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA=='
const SPEC_TIME_S = 499_162_800
const KEYSTONE_PROJECT_TOKEN =
  'gAAAAABlU_EAAAECAwQFBgcICQoLDA0OD98CmFcehEOhF2QPqGltNyS4-l0eoBtgqs-BaLHfmHBlkIRUrJY2AVra0AdC8lYjWrvpZUcNk80HrPbUbaKFYNkNVGLKV9iUu63zyELn34VQNwp_UVJ4BxrXbqm4HCb-f-l6cWStalMlc289TyW1MxM'
const KEYSTONE_PROJECT_PAYLOAD =
  '960292c3c4100123456789abcdef0123456789abcdef0292c3c410fedcba9876543210fedcba9876543210cb41d954ffc410000091c410000102030405060708090a0b0c0d0e0f'
const KEYSTONE_DOMAIN_PAYLOAD =
  '960192c2a561646d696e06a764656661756c74cb41d954ffc400000092c410000102030405060708090a0b0c0d0e0fc410000102030405060708090a0b0c0d0e0f'
const KEYSTONE_SYSTEM_PAYLOAD =
  '960892c3c4100123456789abcdef0123456789abcdef02a3616c6ccb41d954ffc400000091c410000102030405060708090a0b0c0d0e0f'
const AUDIT_ID = 'AAECAwQFBgcICQoLDA0ODw'
const IV = Buffer.from([...Array(16).keys()])

describe('fernet envelope', () => {
  it('matches the Fernet spec vector byte for byte', () => {
    const key = FernetKey.parse(SPEC_KEY)
    const token = fernetEncrypt(key, Buffer.from('hello'), SPEC_TIME_S, IV)
    assert.equal(token, SPEC_TOKEN.replace(/=+$/, ''))
    assert.equal(fernetDecrypt([key], SPEC_TOKEN).toString(), 'hello')
    assert.equal(fernetTimestamp(token), SPEC_TIME_S)
  })

  it('round-trips with a random IV and accepts tokens with or without padding', () => {
    const key = FernetKey.parse(FernetKey.generate())
    const token = fernetEncrypt(key, Buffer.from('payload bytes'))
    assert.match(token, /^[A-Za-z0-9_-]+$/)
    assert.equal(fernetDecrypt([key], token).toString(), 'payload bytes')
    const padded = token + '='.repeat((4 - (token.length % 4)) % 4)
    assert.equal(fernetDecrypt([key], padded).toString(), 'payload bytes')
  })

  it('refuses a token with any byte changed', () => {
    const key = FernetKey.parse(FernetKey.generate())
    const raw = Buffer.from(fernetEncrypt(key, Buffer.from('hello world')), 'base64url')
    for (const at of [0, 5, 12, 30, raw.length - 40, raw.length - 1]) {
      const tampered = Buffer.from(raw)
      tampered[at] = tampered[at]! ^ 0x01
      assert.throws(() => fernetDecrypt([key], tampered.toString('base64url')), InvalidFernetToken)
    }
  })

  it('refuses garbage, truncation and a token signed by another key', () => {
    const key = FernetKey.parse(FernetKey.generate())
    const other = FernetKey.parse(FernetKey.generate())
    const token = fernetEncrypt(key, Buffer.from('x'))
    for (const bad of ['', 'not a token!', 'gAAAAA', token.slice(0, -10)]) {
      assert.throws(() => fernetDecrypt([key], bad), InvalidFernetToken)
    }
    assert.throws(() => fernetDecrypt([other], token), InvalidFernetToken)
    assert.equal(fernetDecrypt([other, key], token).toString(), 'x')
  })

  it('refuses malformed keys', () => {
    assert.throws(() => FernetKey.parse('short'))
    assert.throws(() => FernetKey.parse('!'.repeat(44)))
  })
})

describe('keystone payloads', () => {
  const user = '0123456789abcdef0123456789abcdef'
  const project = 'fedcba9876543210fedcba9876543210'

  it('decodes a project-scoped token Keystone wrote', () => {
    const plain = fernetDecrypt([FernetKey.parse(SPEC_KEY)], KEYSTONE_PROJECT_TOKEN)
    assert.equal(plain.toString('hex'), KEYSTONE_PROJECT_PAYLOAD)
    const p = decodePayload(plain)
    assert.deepEqual(p, {
      userId: user,
      methods: ['password'],
      expiresAtMs: 1_700_003_600_250,
      auditIds: [AUDIT_ID],
      scope: { kind: 'project', projectId: project },
    })
  })

  it('writes project, domain and system payloads exactly as Keystone does', () => {
    const base = { expiresAtMs: 1_700_003_600_250, auditIds: [AUDIT_ID] }
    const projectPayload: TokenPayload = {
      ...base,
      userId: user,
      methods: ['password'],
      scope: { kind: 'project', projectId: project },
    }
    assert.equal(encodePayload(projectPayload).toString('hex'), KEYSTONE_PROJECT_PAYLOAD)
    const domainPayload: TokenPayload = {
      userId: 'admin',
      methods: ['password', 'token'],
      expiresAtMs: 1_700_003_600_000,
      auditIds: [AUDIT_ID, AUDIT_ID],
      scope: { kind: 'domain', domainId: 'default' },
    }
    assert.equal(encodePayload(domainPayload).toString('hex'), KEYSTONE_DOMAIN_PAYLOAD)
    assert.deepEqual(decodePayload(Buffer.from(KEYSTONE_DOMAIN_PAYLOAD, 'hex')), domainPayload)
    const systemPayload: TokenPayload = {
      userId: user,
      methods: ['password'],
      expiresAtMs: 1_700_003_600_000,
      auditIds: [AUDIT_ID],
      scope: { kind: 'system' },
    }
    assert.equal(encodePayload(systemPayload).toString('hex'), KEYSTONE_SYSTEM_PAYLOAD)
  })

  it('round-trips unscoped and application credential payloads', () => {
    const unscoped: TokenPayload = {
      userId: user,
      methods: ['token'],
      expiresAtMs: 1_800_000_000_123,
      auditIds: [AUDIT_ID],
      scope: { kind: 'unscoped' },
    }
    assert.deepEqual(decodePayload(encodePayload(unscoped)), unscoped)
    const appCred: TokenPayload = {
      userId: user,
      methods: ['application_credential'],
      expiresAtMs: 1_800_000_000_000,
      auditIds: [AUDIT_ID],
      scope: { kind: 'project', projectId: project },
      applicationCredentialId: 'abcdefabcdefabcdefabcdefabcdefab',
    }
    assert.deepEqual(decodePayload(encodePayload(appCred)), appCred)
  })

  it("writes trust payloads in Keystone's layout (version 3, the trust id as 16 raw bytes) and reads them back", () => {
    const trustId = '00112233445566778899aabbccddeeff'
    const trust: TokenPayload = {
      userId: user,
      methods: ['password'],
      expiresAtMs: 1_800_000_000_000,
      auditIds: [AUDIT_ID],
      scope: { kind: 'project', projectId: project },
      trustId,
    }
    const fields = unpack(encodePayload(trust)) as unknown[]
    assert.equal(fields.length, 7)
    assert.equal(fields[0], 3)
    assert.deepEqual(fields[3], [true, Buffer.from(project, 'hex')])
    assert.deepEqual(fields[6], Buffer.from(trustId, 'hex'))
    assert.deepEqual(decodePayload(encodePayload(trust)), trust)
    const audit = Buffer.from(AUDIT_ID, 'base64url')
    const withTrust = (t: string | Buffer) =>
      pack([3, [true, Buffer.alloc(16)], 2, [true, Buffer.alloc(16)], 1, [audit], t])
    assert.throws(() => decodePayload(withTrust('x')), /bad trust id field/)
    assert.throws(() => decodePayload(withTrust(Buffer.alloc(8))), /bad trust id field/)
  })

  it('refuses unknown versions and malformed payloads', () => {
    assert.throws(() => decodePayload(pack([42, 1, 2])), /not a recognized Fernet payload version/)
    assert.throws(() => decodePayload(Buffer.from('ff', 'hex')))
    assert.throws(() => decodePayload(pack([2, 'x'])))
  })

  it('msgpack round-trips the types payloads use', () => {
    const value = [0, 127, 128, 65_535, 2 ** 40, -1, -33, -40_000, 'é', 'x'.repeat(300), true, false, null]
    assert.deepEqual(unpack(pack(value)), value)
    assert.throws(() => unpack(Buffer.from('9301', 'hex')))
  })
})

describe('fernet key repository', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'nimbus-fernet-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('creates a staged and a primary key, private to the owner, once', () => {
    const repo = new FernetKeyRepository(join(dir, 'a'), 3)
    repo.ensure()
    repo.ensure()
    assert.deepEqual(readdirSync(repo.dir).sort(), ['0', '1'])
    assert.equal(statSync(repo.dir).mode & 0o777, 0o700)
    assert.equal(statSync(join(repo.dir, '1')).mode & 0o777, 0o600)
    assert.equal(repo.load().all.length, 2)
  })

  it('rotation: old primary still validates until purged, staged key becomes primary', () => {
    const repo = new FernetKeyRepository(join(dir, 'b'), 3)
    repo.ensure()
    const first = repo.load()
    const token = fernetEncrypt(first.primary, Buffer.from('t1'))

    assert.deepEqual(repo.rotate(), { primary: 2, removed: [] })
    const second = repo.load()
    // The staged key of before is the primary now: it was already accepted.
    assert.equal(second.primary.signing.toString('hex'), first.all.at(-1)!.signing.toString('hex'))
    assert.equal(fernetDecrypt(second.all, token).toString(), 't1')
    assert.deepEqual(readdirSync(repo.dir).sort(), ['0', '1', '2'])

    assert.deepEqual(repo.rotate(), { primary: 3, removed: [1] })
    assert.deepEqual(readdirSync(repo.dir).sort(), ['0', '2', '3'])
    assert.throws(() => fernetDecrypt(repo.load().all, token), InvalidFernetToken)
  })

  it('refuses a corrupt key file with its name', () => {
    const repo = new FernetKeyRepository(join(dir, 'c'), 3)
    repo.ensure()
    writeFileSync(join(repo.dir, '7'), 'garbage')
    assert.throws(() => repo.load(), /fernet key file .*7 is not valid/)
  })
})
