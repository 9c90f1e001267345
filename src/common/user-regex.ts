import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import { ServiceUnavailable } from './errors.ts'
import { limits } from './limits.ts'
import { logger } from './log.ts'

/**
 * Regular expressions that users give (Nova's regex list filters such as
 * `GET /servers?name=^web`). JavaScript's RegExp backtracks, so
 * `^(a+)+$` against a 255-character name would run for ages; these
 * patterns instead run in RE2 (the `re2js` port: linear in the input,
 * no backtracking), and in a worker thread, so that even a slow linear scan
 * (a big program over many rows) never holds the event loop that the other
 * services of an embedded cloud share.
 *
 * Semantics: Python's `re.search` (what Nova runs on SQLite) on the RE2
 * syntax, which is the common subset: a leading `(?aiLmsu)` group keeps
 * i, m and s and drops the others, `\Z` means end of text, `(?P<name>...)`
 * works. Backreferences, lookaround, `(?x)` and possessive forms are refused
 * (400) as they would be by a pattern that does not compile; `\d`, `\w`,
 * `\s`, `\b` are ASCII in RE2 where Python's are Unicode. Patterns are at
 * most `userRegexMaxChars` characters, their counted repetitions add up to
 * at most `userRegexMaxRepeat`, and their compiled program has at most
 * `userRegexMaxProgramSize` instructions: together these bound the work per
 * tested value.
 */

/** A pattern Nimbus will not run: the caller answers 400 as for a pattern that does not compile. */
export class InvalidPattern extends Error {}

/** Python's global flags a pattern may start with, and what RE2 makes of them. */
const PY_LEADING_FLAGS = /^\(\?([aiLmsux]+)\)/
const RE2_FLAGS = new Set(['i', 'm', 's'])
/** Flags without an RE2 meaning that change nothing for str patterns (a: ASCII classes, as RE2's; u; L). */
const IGNORED_FLAGS = new Set(['a', 'u', 'L'])
const COUNTED_REPEAT = /\{(\d*)(?:,(\d*))?\}/g

/**
 * A Python `re` pattern in RE2 syntax; throws InvalidPattern for one that
 * is too long, repeats too much or uses a flag RE2 lacks. Linear in the
 * pattern; whether it compiles is for RE2 (`UserPatternMatcher.check`).
 */
export function toRe2Syntax(pattern: string): string {
  if (pattern.length > limits.userRegexMaxChars) {
    throw new InvalidPattern(`pattern longer than ${limits.userRegexMaxChars} characters`)
  }
  let repeat = 0
  for (const m of pattern.matchAll(COUNTED_REPEAT)) repeat += Number(m[2] || m[1] || 0)
  if (repeat > limits.userRegexMaxRepeat) {
    throw new InvalidPattern(`counted repetitions add up to more than ${limits.userRegexMaxRepeat}`)
  }
  let prefix = ''
  const inline = PY_LEADING_FLAGS.exec(pattern)
  if (inline) {
    const flags = [...new Set(inline[1]!)]
    const unknown = flags.filter((f) => !RE2_FLAGS.has(f) && !IGNORED_FLAGS.has(f))
    if (unknown.length) throw new InvalidPattern(`flag ${unknown.join('')} is not supported`)
    const kept = flags.filter((f) => RE2_FLAGS.has(f)).join('')
    prefix = kept ? `(?${kept})` : ''
    pattern = pattern.slice(inline[0].length)
  }
  return prefix + endOfTextEscapes(pattern)
}

/** `\Z` (Python: end of text) as RE2's `\z`, outside character classes; everything else as is. */
function endOfTextEscapes(pattern: string): string {
  let out = ''
  let inClass = false
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === '\\' && i + 1 < pattern.length) {
      const next = pattern[i + 1]!
      out += !inClass && next === 'Z' ? '\\z' : c + next
      i++
      continue
    }
    if (c === '[') inClass = true
    else if (c === ']') inClass = false
    out += c
  }
  return out
}

/** One value of a row to test: a string, any of several strings (addresses), or nothing (never matches). */
export type ScanCell = string | readonly string[] | null

type Reply =
  | { readonly id: number; readonly errors: readonly (string | null)[] }
  | { readonly id: number; readonly matches: readonly boolean[] }
  | { readonly id: number; readonly error: string }

interface Pending {
  readonly resolve: (reply: Reply) => void
  readonly reject: (err: Error) => void
  readonly timer: NodeJS.Timeout
}

/**
 * The worker's code, plain CommonJS so it needs no TypeScript loader. It
 * compiles RE2 patterns (cached, bounded) and answers two requests:
 * `check` (does each pattern compile within the program size limit) and
 * `match` (which rows have every pattern matching its cell).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { RE2JS } = require(workerData.re2js)
const cache = new Map()
function compiled(pattern) {
  let re = cache.get(pattern)
  if (re !== undefined) return re
  re = RE2JS.compile(pattern)
  const size = re.matcher('').programSize()
  if (size > workerData.maxProgramSize) {
    throw new Error('pattern compiles to ' + size + ' instructions, more than ' + workerData.maxProgramSize)
  }
  if (cache.size >= workerData.cacheEntries) cache.clear()
  cache.set(pattern, re)
  return re
}
function cellMatches(re, cell) {
  if (cell === null || cell === undefined) return false
  return Array.isArray(cell) ? cell.some((s) => re.test(s)) : re.test(cell)
}
parentPort.on('message', (m) => {
  try {
    if (m.op === 'check') {
      const errors = m.patterns.map((p) => {
        try { compiled(p); return null } catch (e) { return String((e && e.message) || e) }
      })
      parentPort.postMessage({ id: m.id, errors })
    } else {
      const res = m.patterns.map(compiled)
      const matches = m.rows.map((row) => res.every((re, i) => cellMatches(re, row[i])))
      parentPort.postMessage({ id: m.id, matches })
    }
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String((e && e.message) || e) })
  }
})
`

/**
 * Runs user patterns in one worker thread, started at first use and
 * referenced only while a request waits on it (an idle one never holds the
 * process open). Requests queue in the
 * worker; one that takes longer than `userRegexWorkerTimeoutMs` ends the
 * worker (the next request starts a fresh one) and fails with 503.
 */
export class UserPatternMatcher {
  readonly #log = logger('user-regex')
  #current: RunningWorker | undefined
  #nextId = 1

  /** For each pattern (RE2 syntax), why it cannot run, or null when it compiles within the limits. */
  async check(patterns: readonly string[]): Promise<(string | null)[]> {
    const reply = await this.#request({ op: 'check', patterns })
    return 'errors' in reply ? [...reply.errors] : patterns.map(() => 'no answer')
  }

  /** For each row, whether every pattern matches (searches) the row's cell at its index. */
  async matchRows(patterns: readonly string[], rows: readonly (readonly ScanCell[])[]): Promise<boolean[]> {
    if (rows.length === 0) return []
    const reply = await this.#request({ op: 'match', patterns, rows })
    if ('matches' in reply) return [...reply.matches]
    throw new InvalidPattern('error' in reply ? reply.error : 'no answer')
  }

  /** Ends the worker; its pending requests fail with 503. */
  async close(): Promise<void> {
    const running = this.#current
    this.#current = undefined
    if (running) await this.#stop(running, new ServiceUnavailable('The pattern matcher stopped.'))
  }

  async #stop(running: RunningWorker, err: Error): Promise<void> {
    failAll(running, err)
    await running.worker.terminate()
  }

  #request(message: Record<string, unknown>): Promise<Reply> {
    const running = this.#ensureWorker()
    const id = this.#nextId++
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#log.warn(
          { timeoutMs: limits.userRegexWorkerTimeoutMs },
          'pattern matching took too long: worker restarted',
        )
        if (this.#current === running) this.#current = undefined
        void this.#stop(
          running,
          new ServiceUnavailable('Matching the regular expression filter took too long.'),
        )
      }, limits.userRegexWorkerTimeoutMs)
      timer.unref()
      running.pending.set(id, { resolve, reject, timer })
      // Referenced only while it owes an answer: an idle worker never holds the process open.
      if (running.pending.size === 1) running.worker.ref()
      running.worker.postMessage({ id, ...message })
    })
  }

  #ensureWorker(): RunningWorker {
    if (this.#current) return this.#current
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // Plain CommonJS: no loader hooks (tsx's would keep the process alive).
      execArgv: [],
      workerData: {
        re2js: createRequire(import.meta.url).resolve('re2js'),
        maxProgramSize: limits.userRegexMaxProgramSize,
        cacheEntries: USER_REGEX_CACHE_ENTRIES,
      },
    })
    const running: RunningWorker = { worker, pending: new Map() }
    worker.on('message', (reply: Reply) => {
      const pending = running.pending.get(reply.id)
      if (!pending) return
      running.pending.delete(reply.id)
      if (running.pending.size === 0) worker.unref()
      clearTimeout(pending.timer)
      pending.resolve(reply)
    })
    const gone = (err: Error) => {
      if (this.#current === running) this.#current = undefined
      failAll(running, err)
    }
    worker.on('error', (err) => {
      this.#log.error({ err }, 'pattern worker failed')
      gone(new ServiceUnavailable('The pattern matcher failed.'))
    })
    worker.on('exit', () => gone(new ServiceUnavailable('The pattern matcher stopped.')))
    // After the listeners: adding a 'message' listener references the worker again.
    worker.unref()
    this.#current = running
    return running
  }
}

/** A worker and the requests it has not answered yet. */
interface RunningWorker {
  readonly worker: Worker
  readonly pending: Map<number, Pending>
}

function failAll(running: RunningWorker, err: Error): void {
  for (const [id, pending] of running.pending) {
    clearTimeout(pending.timer)
    pending.reject(err)
    running.pending.delete(id)
  }
  running.worker.unref()
}

/** Compiled patterns the worker keeps (emptied when full). */
const USER_REGEX_CACHE_ENTRIES = 256

/** The process's one matcher: every API in an embedded cloud shares it. */
export const userPatterns = new UserPatternMatcher()
