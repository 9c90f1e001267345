import { Float64, pack, unpack, type Packable, type Unpacked } from './msgpack.ts'

/**
 * Keystone's Fernet token payloads (keystone/token/token_formatters.py): a
 * msgpack array `[version, ...fields]`. Ids that are uuid hex are stored as
 * 16 raw bytes (`[true, bytes]`), others as text (`[false, text]`); audit ids
 * as their 16 raw bytes; methods as a bit set; expiry as float seconds. The
 * creation time is not in the payload: it is the Fernet timestamp.
 *
 * Nimbus writes the versions it issues (unscoped, domain, project, trust,
 * system, application credential) exactly as Keystone does, so a Keystone holding
 * the same keys reads them, and the reverse.
 */
export const PAYLOAD_VERSIONS = {
  unscoped: 0,
  domain: 1,
  project: 2,
  trust: 3,
  system: 8,
  applicationCredential: 9,
} as const

/** Keystone's default `[auth] methods`, in order: method i is bit 2^i. */
export const AUTH_METHODS = [
  'external',
  'password',
  'token',
  'oauth1',
  'mapped',
  'application_credential',
] as const
export type AuthMethod = (typeof AUTH_METHODS)[number]

export type TokenScope =
  | { readonly kind: 'unscoped' }
  | { readonly kind: 'project'; readonly projectId: string }
  | { readonly kind: 'domain'; readonly domainId: string }
  | { readonly kind: 'system' }

/** What a token carries; everything else (names, roles, catalog) is looked up when it is validated. */
export interface TokenPayload {
  readonly userId: string
  readonly methods: readonly AuthMethod[]
  readonly scope: TokenScope
  /** Only with a project scope: the application credential the token was issued for. */
  readonly applicationCredentialId?: string | undefined
  /** Only with a project scope (the trust's project): the OS-TRUST trust the token was issued for. */
  readonly trustId?: string | undefined
  /** Expiry, milliseconds since the epoch (Keystone keeps microseconds; we keep milliseconds). */
  readonly expiresAtMs: number
  /** The token's own audit id, then its parent's (when issued from another token). */
  readonly auditIds: readonly string[]
}

export class InvalidPayload extends Error {
  override readonly name = 'InvalidPayload'
}

const UUID_HEX = /^[0-9a-f]{32}$/
const AUDIT_ID_BYTES = 16
const MS_PER_S = 1000
/** Keystone's `system` field for the only system scope there is. */
const SYSTEM_ALL = 'all'

/** The msgpack bytes of a payload (the plaintext of a Fernet token). */
export function encodePayload(p: TokenPayload): Buffer {
  const user = packId(p.userId)
  const methods = methodsToInt(p.methods)
  const expires = new Float64(p.expiresAtMs / MS_PER_S)
  const audit = p.auditIds.map(auditIdToBytes)
  const s = p.scope
  let fields: Packable[]
  if (p.applicationCredentialId !== undefined) {
    if (s.kind !== 'project') throw new Error('an application credential token is project scoped')
    fields = [
      PAYLOAD_VERSIONS.applicationCredential,
      user,
      methods,
      packId(s.projectId),
      expires,
      audit,
      packId(p.applicationCredentialId),
    ]
  } else if (p.trustId !== undefined) {
    if (s.kind !== 'project') throw new Error('a trust token is scoped to the trust project')
    // Keystone writes the trust id as its 16 raw bytes (a trust id is always uuid hex).
    if (!UUID_HEX.test(p.trustId)) throw new Error(`trust id ${p.trustId} is not uuid hex`)
    const trust = Buffer.from(p.trustId, 'hex')
    fields = [PAYLOAD_VERSIONS.trust, user, methods, packId(s.projectId), expires, audit, trust]
  } else if (s.kind === 'project') {
    fields = [PAYLOAD_VERSIONS.project, user, methods, packId(s.projectId), expires, audit]
  } else if (s.kind === 'domain') {
    // Keystone writes a domain id as raw bytes when it is uuid hex, else as text (e.g. `default`).
    const domain = UUID_HEX.test(s.domainId) ? Buffer.from(s.domainId, 'hex') : s.domainId
    fields = [PAYLOAD_VERSIONS.domain, user, methods, domain, expires, audit]
  } else if (s.kind === 'system') {
    fields = [PAYLOAD_VERSIONS.system, user, methods, SYSTEM_ALL, expires, audit]
  } else {
    fields = [PAYLOAD_VERSIONS.unscoped, user, methods, expires, audit]
  }
  return pack(fields)
}

/** Reads a payload back; throws InvalidPayload for anything that is not one we know. */
export function decodePayload(data: Buffer): TokenPayload {
  let value: Unpacked
  try {
    value = unpack(data)
  } catch (err) {
    throw new InvalidPayload(`not msgpack: ${(err as Error).message}`)
  }
  if (!Array.isArray(value) || value.length < 2) throw new InvalidPayload('not a payload array')
  const [version, ...f] = value
  const base = (expiresIdx: number, auditIdx: number) => ({
    userId: unpackId(f[0]),
    methods: intToMethods(f[1]),
    expiresAtMs: toMs(f[expiresIdx]),
    auditIds: toAuditIds(f[auditIdx]),
  })
  switch (version) {
    case PAYLOAD_VERSIONS.unscoped:
      expectLength(f, 4)
      return { ...base(2, 3), scope: { kind: 'unscoped' } }
    case PAYLOAD_VERSIONS.domain:
      expectLength(f, 5)
      return { ...base(3, 4), scope: { kind: 'domain', domainId: unpackDomainId(f[2]) } }
    case PAYLOAD_VERSIONS.project:
      expectLength(f, 5)
      return { ...base(3, 4), scope: { kind: 'project', projectId: unpackId(f[2]) } }
    case PAYLOAD_VERSIONS.trust: {
      expectLength(f, 6)
      const trust = f[5]
      if (!Buffer.isBuffer(trust) || trust.length !== 16) throw new InvalidPayload('bad trust id field')
      return {
        ...base(3, 4),
        scope: { kind: 'project', projectId: unpackId(f[2]) },
        trustId: trust.toString('hex'),
      }
    }
    case PAYLOAD_VERSIONS.system:
      expectLength(f, 5)
      if (f[2] !== SYSTEM_ALL) throw new InvalidPayload('unknown system scope')
      return { ...base(3, 4), scope: { kind: 'system' } }
    case PAYLOAD_VERSIONS.applicationCredential:
      expectLength(f, 6)
      return {
        ...base(3, 4),
        scope: { kind: 'project', projectId: unpackId(f[2]) },
        applicationCredentialId: unpackId(f[5]),
      }
    default:
      throw new InvalidPayload(`This is not a recognized Fernet payload version: ${String(version)}`)
  }
}

function expectLength(fields: readonly Unpacked[], n: number): void {
  if (fields.length !== n) throw new InvalidPayload(`payload has ${fields.length} fields, expected ${n}`)
}

function packId(id: string): Packable {
  return UUID_HEX.test(id) ? [true, Buffer.from(id, 'hex')] : [false, id]
}

function unpackId(v: Unpacked | undefined): string {
  if (!Array.isArray(v) || v.length !== 2) throw new InvalidPayload('bad id field')
  const [isBytes, value] = v
  if (isBytes === true && Buffer.isBuffer(value) && value.length === 16) return value.toString('hex')
  if (typeof value === 'string') return value
  if (Buffer.isBuffer(value)) return value.toString('utf8')
  throw new InvalidPayload('bad id field')
}

function unpackDomainId(v: Unpacked | undefined): string {
  if (Buffer.isBuffer(v) && v.length === 16) return v.toString('hex')
  if (Buffer.isBuffer(v)) return v.toString('utf8')
  if (typeof v === 'string') return v
  throw new InvalidPayload('bad domain id field')
}

function toMs(v: Unpacked | undefined): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidPayload('bad expiry field')
  return Math.round(v * MS_PER_S)
}

/** A new audit id: 16 random bytes, base64url without padding (Keystone's random_urlsafe_str). */
export function auditIdToBytes(id: string): Buffer {
  const b = Buffer.from(id, 'base64url')
  if (b.length !== AUDIT_ID_BYTES) throw new Error(`audit id ${id} is not ${AUDIT_ID_BYTES} bytes`)
  return b
}

function toAuditIds(v: Unpacked | undefined): string[] {
  if (!Array.isArray(v) || v.length < 1 || v.length > 2) throw new InvalidPayload('bad audit ids field')
  return v.map((b) => {
    if (!Buffer.isBuffer(b)) throw new InvalidPayload('bad audit id')
    return b.toString('base64url')
  })
}

export function methodsToInt(methods: readonly AuthMethod[]): number {
  let n = 0
  for (const m of new Set(methods)) n += 2 ** AUTH_METHODS.indexOf(m)
  return n
}

function intToMethods(v: Unpacked | undefined): AuthMethod[] {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= 2 ** AUTH_METHODS.length) {
    throw new InvalidPayload('bad methods field')
  }
  return AUTH_METHODS.filter((_m, i) => (v & (2 ** i)) !== 0)
}
