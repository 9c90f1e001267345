import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'

/**
 * Password hashing with scrypt (node:crypto), stored in a PHC-like string
 * that carries its own parameters, so raising the cost later leaves existing
 * hashes valid:
 *
 *   $scrypt$ln=14,r=8,p=1$<salt b64>$<hash b64>
 *
 * scrypt runs on libuv's thread pool, so hashing never blocks the event loop.
 */
const SALT_BYTES = 16
const HASH_BYTES = 32
const BLOCK_SIZE = 8
const PARALLELISM = 1
/** scrypt needs 128 * N * r bytes; allow the largest cost the config accepts (2^20) with room to spare. */
const MAX_MEMORY_BYTES = 2 * 128 * 2 ** 20 * BLOCK_SIZE
const PREFIX = '$scrypt$'
const HASH_PATTERN = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/
/** The largest cost accepted when reading a stored hash (a hostile row must not pin a CPU for minutes). */
const MAX_STORED_LOG_N = 20

function derive(password: string, salt: Buffer, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, HASH_BYTES, { ...opts, maxmem: MAX_MEMORY_BYTES }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  )
}

/** Hashes a password with cost 2^logN. */
export async function hashPassword(password: string, logN: number): Promise<string> {
  const salt = randomBytes(SALT_BYTES)
  const key = await derive(password, salt, { N: 2 ** logN, r: BLOCK_SIZE, p: PARALLELISM })
  return `${PREFIX}ln=${logN},r=${BLOCK_SIZE},p=${PARALLELISM}$${salt.toString('base64')}$${key.toString('base64')}`
}

/** True when `password` matches `stored`; false for a wrong password or a hash this code cannot read. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = HASH_PATTERN.exec(stored)
  if (!m) return false
  const [, ln, r, p, salt, hash] = m
  const logN = Number(ln)
  if (logN < 1 || logN > MAX_STORED_LOG_N) return false
  const expected = Buffer.from(hash!, 'base64')
  const key = await derive(password, Buffer.from(salt!, 'base64'), {
    N: 2 ** logN,
    r: Number(r),
    p: Number(p),
  })
  return key.length === expected.length && timingSafeEqual(key, expected)
}

/**
 * Verifies against a hash of a random password: the same work as a real
 * check, for users that do not exist, so that "no such user" and "wrong
 * password" take the same time and cannot be told apart.
 */
export class DummyPasswordCheck {
  readonly #hash: Promise<string>

  constructor(logN: number) {
    this.#hash = hashPassword(randomBytes(SALT_BYTES).toString('base64'), logN)
  }

  /** Always false, after doing a full verification. */
  async verify(password: string): Promise<false> {
    await verifyPassword(password, await this.#hash)
    return false
  }
}
