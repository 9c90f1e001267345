import {
  createHash,
  createSign,
  generateKeyPairSync,
  randomBytes,
  X509Certificate,
  type KeyObject,
} from 'node:crypto'
import { Invalid, registerErrorClass } from '../common/errors.ts'

/**
 * Key pair material as Nova makes and reads it (nova/crypto.py): RSA key
 * generation with an OpenSSH public key, MD5 fingerprints of SSH keys, and
 * x509 certificates (SHA1 fingerprints; generation makes a self-signed one).
 */

/** Nova's InvalidKeypair: "Keypair data is invalid: <reason>" (400). */
export class InvalidKeypair extends Invalid {}
registerErrorClass(InvalidKeypair)

/** Bits of a generated RSA key (Nova's default). */
const RSA_KEY_BITS = 2048
/** Days a generated x509 certificate is valid (Nova's `generate_x509_cert`). */
const X509_VALID_DAYS = 3650
const SSH_KEY_TYPES = new Set([
  'ssh-rsa',
  'ssh-dss',
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
])

function invalid(reason: string): InvalidKeypair {
  return new InvalidKeypair(`Keypair data is invalid: ${reason}`)
}

function colonHex(digest: Buffer): string {
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join(':')
}

/** MD5 fingerprint of an OpenSSH public key line; InvalidKeypair if it is not one. */
export function sshFingerprint(publicKey: string): string {
  const parts = publicKey.trim().split(/\s+/)
  const [type, data] = parts
  if (!type || !data || !SSH_KEY_TYPES.has(type) || !/^[A-Za-z0-9+/]+=*$/.test(data)) {
    throw invalid('failed to generate fingerprint')
  }
  const blob = Buffer.from(data, 'base64')
  // The blob starts with the key type as an SSH string; a mismatch means garbage.
  const len = blob.length >= 4 ? blob.readUInt32BE(0) : -1
  if (len <= 0 || blob.subarray(4, 4 + len).toString('latin1') !== type)
    throw invalid('failed to generate fingerprint')
  return colonHex(createHash('md5').update(blob).digest())
}

/** SHA1 fingerprint of a PEM x509 certificate; InvalidKeypair if it is not one. */
export function x509Fingerprint(pem: string): string {
  try {
    return colonHex(createHash('sha1').update(new X509Certificate(pem).raw).digest())
  } catch {
    throw invalid('failed to generate fingerprint')
  }
}

export interface GeneratedKeyPair {
  readonly privateKey: string
  readonly publicKey: string
  readonly fingerprint: string
}

/** A new RSA key: PKCS#1 PEM private key and `ssh-rsa ... Generated-by-Nova` public key. */
export function generateSshKeyPair(): GeneratedKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: RSA_KEY_BITS,
    publicExponent: 0x10001,
  })
  const jwk = publicKey.export({ format: 'jwk' }) as { n: string; e: string }
  const blob = Buffer.concat([
    sshString(Buffer.from('ssh-rsa')),
    sshString(mpint(Buffer.from(jwk.e, 'base64url'))),
    sshString(mpint(Buffer.from(jwk.n, 'base64url'))),
  ])
  const line = `ssh-rsa ${blob.toString('base64')} Generated-by-Nova`
  return {
    privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    publicKey: line,
    fingerprint: colonHex(createHash('md5').update(blob).digest()),
  }
}

function sshString(data: Buffer): Buffer {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  return Buffer.concat([len, data])
}

/** An unsigned big-endian integer as an SSH mpint (a leading zero when the top bit is set). */
function mpint(bytes: Buffer): Buffer {
  let b = bytes
  while (b.length > 1 && b[0] === 0) b = b.subarray(1)
  return b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b
}

/** A new RSA key and a self-signed x509 certificate for it (Nova's x509 key pair generation). */
export function generateX509KeyPair(userId: string, projectId: string): GeneratedKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: RSA_KEY_BITS,
    publicExponent: 0x10001,
  })
  const cert = selfSignedCertificate(privateKey, publicKey, `${projectId}-${userId}`)
  const pem = `-----BEGIN CERTIFICATE-----\n${cert
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trimEnd()}\n-----END CERTIFICATE-----\n`
  return {
    privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    publicKey: pem,
    fingerprint: colonHex(createHash('sha1').update(cert).digest()),
  }
}

// ---- a minimal DER writer for one self-signed certificate ----

function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content)
  const n = body.length
  const len =
    n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff])
  return Buffer.concat([Buffer.from([tag]), len, body])
}

const seq = (...c: Buffer[]) => der(0x30, ...c)
const set = (...c: Buffer[]) => der(0x31, ...c)
const oid = (bytes: number[]) => der(0x06, Buffer.from(bytes))
const utf8 = (s: string) => der(0x0c, Buffer.from(s, 'utf8'))
const nullValue = () => Buffer.from([0x05, 0x00])

function derInteger(bytes: Buffer): Buffer {
  return der(0x02, mpint(bytes))
}

function utcTime(date: Date): Buffer {
  const s = date.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z'
  return der(0x17, Buffer.from(s))
}

/** OID 2.5.4.3 (commonName) and 1.2.840.113549.1.1.11 (sha256WithRSAEncryption). */
const OID_COMMON_NAME = [0x55, 0x04, 0x03]
const OID_SHA256_RSA = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b]

function selfSignedCertificate(privateKey: KeyObject, publicKey: KeyObject, commonName: string): Buffer {
  const name = seq(set(seq(oid(OID_COMMON_NAME), utf8(commonName))))
  const algorithm = seq(oid(OID_SHA256_RSA), nullValue())
  const now = new Date()
  const expires = new Date(now.getTime() + X509_VALID_DAYS * 86_400_000)
  const spki = publicKey.export({ type: 'spki', format: 'der' })
  const tbs = seq(
    der(0xa0, derInteger(Buffer.from([2]))),
    derInteger(randomBytes(16)),
    algorithm,
    name,
    seq(utcTime(now), utcTime(expires)),
    name,
    spki,
  )
  const signature = createSign('sha256').update(tbs).sign(privateKey)
  return seq(tbs, algorithm, der(0x03, Buffer.from([0]), signature))
}
