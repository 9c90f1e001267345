import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { logger } from '../../common/log.ts'
import { FernetKey } from './fernet.ts'

const log = logger('identity.fernet')

/** Key files are secrets: only the owner may read them. */
const KEY_FILE_MODE = 0o600
const KEY_DIR_MODE = 0o700
const STAGED_KEY = 0
const KEY_FILE_NAME = /^\d+$/
const TMP_KEY_FILE = '0.tmp'

/** The keys a token provider uses: it signs with `primary` and accepts every one in `all`. */
export interface FernetKeys {
  readonly primary: FernetKey
  /** Primary first, then secondaries from newest to oldest, the staged key last (Keystone's order). */
  readonly all: readonly FernetKey[]
}

/**
 * A Keystone-style Fernet key repository: one file per key, named by an
 * integer. `0` is the staged key (the next primary, already accepted so
 * that nodes can sync keys before it signs anything), the highest number is
 * the primary (signs new tokens), the others are secondaries (still
 * accepted). Rotation promotes the staged key to primary, stages a new one,
 * and deletes the oldest secondaries beyond `maxActiveKeys`.
 */
export class FernetKeyRepository {
  readonly dir: string
  readonly #maxActiveKeys: number

  constructor(dir: string, maxActiveKeys: number) {
    if (maxActiveKeys < 2) throw new Error('max_active_keys must be at least 2 (staged + primary)')
    this.dir = dir
    this.#maxActiveKeys = maxActiveKeys
  }

  /**
   * Creates the repository with a staged and a primary key if it holds no
   * keys (what `keystone-manage fernet_setup` does). Idempotent.
   */
  ensure(): void {
    mkdirSync(this.dir, { recursive: true, mode: KEY_DIR_MODE })
    chmodSync(this.dir, KEY_DIR_MODE)
    if (this.#keyNumbers().length > 0) return
    this.#writeKey(STAGED_KEY)
    this.rotate()
    log.info({ dir: this.dir }, 'created fernet key repository')
  }

  /** Reads every key. Throws if there is no key or a key file is not a key. */
  load(): FernetKeys {
    const numbers = this.#keyNumbers().sort((a, b) => b - a)
    if (numbers.length === 0)
      throw new Error(`no fernet keys in ${this.dir}: run \`nimbus identity fernet-rotate\``)
    const all = numbers.map((n) => this.#readKey(n))
    return { primary: all[0]!, all }
  }

  /** Modification time of the directory: changes when a key is added, renamed or removed. */
  version(): number {
    return statSync(this.dir).mtimeMs
  }

  /**
   * Promotes the staged key, stages a new one and purges excess keys.
   * Returns the new primary's number and the numbers removed.
   */
  rotate(): { readonly primary: number; readonly removed: readonly number[] } {
    const numbers = this.#keyNumbers()
    if (!numbers.includes(STAGED_KEY)) this.#writeKey(STAGED_KEY)
    // Write the next staged key beside the current one first, so a crash
    // mid-rotation never leaves the repository without a staged key.
    const tmp = join(this.dir, TMP_KEY_FILE)
    writeFileSync(tmp, FernetKey.generate(), { mode: KEY_FILE_MODE })
    const primary = Math.max(STAGED_KEY, ...numbers) + 1
    renameSync(join(this.dir, String(STAGED_KEY)), join(this.dir, String(primary)))
    renameSync(tmp, join(this.dir, String(STAGED_KEY)))
    // Active non-staged keys, newest first; keep maxActiveKeys - 1 of them.
    const active = [...numbers.filter((n) => n !== STAGED_KEY), primary].sort((a, b) => b - a)
    const removed = active.slice(this.#maxActiveKeys - 1)
    for (const n of removed) rmSync(join(this.dir, String(n)))
    log.info({ dir: this.dir, primary, removed }, 'rotated fernet keys')
    return { primary, removed }
  }

  #keyNumbers(): number[] {
    if (!existsSync(this.dir)) return []
    return readdirSync(this.dir)
      .filter((name) => KEY_FILE_NAME.test(name))
      .map(Number)
  }

  #readKey(n: number): FernetKey {
    const file = join(this.dir, String(n))
    try {
      return FernetKey.parse(readFileSync(file, 'utf8'))
    } catch (err) {
      throw new Error(`fernet key file ${file} is not valid: ${(err as Error).message}`, { cause: err })
    }
  }

  #writeKey(n: number): void {
    writeFileSync(join(this.dir, String(n)), FernetKey.generate(), { mode: KEY_FILE_MODE })
  }
}
