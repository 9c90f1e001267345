import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * The Fernet envelope (https://github.com/fernet/spec), as Python's
 * `cryptography.fernet` writes it and Keystone uses it:
 *
 *   0x80 | timestamp (u64 BE seconds) | IV (16) | AES-128-CBC ciphertext (PKCS7) | HMAC-SHA256 (32)
 *
 * base64url encoded. A key is 32 random bytes in base64url: the first half
 * signs, the second half encrypts. Keystone strips the `=` padding from
 * tokens; `decrypt` accepts tokens with or without it.
 */
const VERSION = 0x80
const KEY_BYTES = 32
const HALF_KEY_BYTES = 16
const TIMESTAMP_BYTES = 8
const IV_BYTES = 16
const BLOCK_BYTES = 16
const HMAC_BYTES = 32
const HEADER_BYTES = 1 + TIMESTAMP_BYTES + IV_BYTES
/** Smallest valid token: header, one cipher block, HMAC. */
const MIN_TOKEN_BYTES = HEADER_BYTES + BLOCK_BYTES + HMAC_BYTES
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/

export class InvalidFernetToken extends Error {
  override readonly name = 'InvalidFernetToken'
}

/** One Fernet key, split into its signing and encryption halves. */
export class FernetKey {
  readonly signing: Buffer
  readonly encryption: Buffer

  private constructor(raw: Buffer) {
    this.signing = raw.subarray(0, HALF_KEY_BYTES)
    this.encryption = raw.subarray(HALF_KEY_BYTES)
  }

  /** Parses a key as stored in a key file (base64url, 44 characters with padding). */
  static parse(text: string): FernetKey {
    const trimmed = text.trim()
    if (!BASE64URL.test(trimmed)) throw new Error('a Fernet key must be base64url text')
    const raw = Buffer.from(trimmed, 'base64url')
    if (raw.length !== KEY_BYTES)
      throw new Error(`a Fernet key must be ${KEY_BYTES} bytes, not ${raw.length}`)
    return new FernetKey(raw)
  }

  /** A new random key in its stored form. */
  static generate(): string {
    return randomBytes(KEY_BYTES).toString('base64url') + '='
  }
}

/** Encrypts and signs `plaintext` with `key`; returns the token without padding. */
export function fernetEncrypt(
  key: FernetKey,
  plaintext: Buffer,
  nowS: number = Math.floor(Date.now() / 1000),
  iv: Buffer = randomBytes(IV_BYTES),
): string {
  const cipher = createCipheriv('aes-128-cbc', key.encryption, iv)
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
  const header = Buffer.alloc(HEADER_BYTES)
  header[0] = VERSION
  header.writeBigUInt64BE(BigInt(nowS), 1)
  iv.copy(header, 1 + TIMESTAMP_BYTES)
  const signed = Buffer.concat([header, ciphertext])
  const mac = createHmac('sha256', key.signing).update(signed).digest()
  return Buffer.concat([signed, mac]).toString('base64url')
}

/**
 * Checks the HMAC with each key in turn (a token signed by any active key is
 * valid) and decrypts with the one that matches. Throws InvalidFernetToken
 * for anything malformed, tampered with, or signed by no key given.
 */
export function fernetDecrypt(keys: readonly FernetKey[], token: string): Buffer {
  const data = decodeToken(token)
  const signed = data.subarray(0, data.length - HMAC_BYTES)
  const mac = data.subarray(data.length - HMAC_BYTES)
  for (const key of keys) {
    const expected = createHmac('sha256', key.signing).update(signed).digest()
    if (!timingSafeEqual(expected, mac)) continue
    const iv = data.subarray(1 + TIMESTAMP_BYTES, HEADER_BYTES)
    try {
      const decipher = createDecipheriv('aes-128-cbc', key.encryption, iv)
      return Buffer.concat([decipher.update(signed.subarray(HEADER_BYTES)), decipher.final()])
    } catch {
      throw new InvalidFernetToken('bad padding')
    }
  }
  throw new InvalidFernetToken('signed by no active key')
}

/** The creation time in the envelope, in seconds since the epoch (no signature check). */
export function fernetTimestamp(token: string): number {
  return Number(decodeToken(token).readBigUInt64BE(1))
}

function decodeToken(token: string): Buffer {
  if (!BASE64URL.test(token)) throw new InvalidFernetToken('not base64url')
  const data = Buffer.from(token, 'base64url')
  if (data.length < MIN_TOKEN_BYTES || data[0] !== VERSION) throw new InvalidFernetToken('not a Fernet token')
  if ((data.length - HEADER_BYTES - HMAC_BYTES) % BLOCK_BYTES !== 0)
    throw new InvalidFernetToken('bad length')
  return data
}
