import { isAbsolute } from 'node:path'
import { Invalid } from '../common/errors.ts'

/** The two backends Nimbus runs on. */
export type DialectName = 'sqlite' | 'postgres'

/** A database URL, parsed. `safeUrl` is the form that may appear in logs and errors. */
export type DatabaseTarget =
  | { readonly dialect: 'sqlite'; readonly path: string; readonly safeUrl: string }
  | {
      readonly dialect: 'postgres'
      readonly connectionString: string
      readonly safeUrl: string
      readonly password: string
    }

const SQLITE_PREFIX = 'sqlite://'
const SQLITE_MEMORY = ':memory:'
const POSTGRES_PROTOCOLS: ReadonlySet<string> = new Set(['postgresql:', 'postgres:'])
const MASK = '***'

/**
 * Parses `sqlite:///absolute/path.db`, `sqlite://:memory:`,
 * `postgresql://user[:password]@host[:port]/dbname` (or `postgres://`).
 * Anything else is `Invalid`.
 */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  if (url.startsWith(SQLITE_PREFIX)) return parseSqlite(url)
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new Invalid(`database URL ${redactUrl(url)} is not a URL`)
  }
  if (!POSTGRES_PROTOCOLS.has(parsed.protocol)) {
    throw new Invalid(`database URL ${redactUrl(url)}: scheme must be sqlite, postgresql or postgres`)
  }
  if (parsed.pathname.length <= 1) throw new Invalid(`database URL ${redactUrl(url)} names no database`)
  const password = decodeURIComponent(parsed.password) || (parsed.searchParams.get('password') ?? '')
  return { dialect: 'postgres', connectionString: url, safeUrl: redactUrl(url), password }
}

function parseSqlite(url: string): DatabaseTarget {
  const path = url.slice(SQLITE_PREFIX.length)
  if (path === SQLITE_MEMORY) return { dialect: 'sqlite', path, safeUrl: url }
  // `sqlite://relative.db` would depend on the working directory of whichever
  // process opens it, so two services could silently use two databases.
  if (!isAbsolute(path)) {
    throw new Invalid(`database URL ${url}: use sqlite:///absolute/path.db or sqlite://:memory:`)
  }
  return { dialect: 'sqlite', path, safeUrl: url }
}

/** The URL with its password (in the userinfo or a `password=` parameter) replaced by `***`. */
export function redactUrl(url: string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    // Not parseable: mask anything that looks like `user:secret@`.
    return url.replace(/\/\/([^/:@]*):[^@/]*@/, `//$1:${MASK}@`)
  }
  if (parsed.password) parsed.password = MASK
  if (parsed.searchParams.has('password')) parsed.searchParams.set('password', MASK)
  return parsed.toString()
}
