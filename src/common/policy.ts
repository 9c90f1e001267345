import { readFileSync } from 'node:fs'
import yaml from 'js-yaml'
import type { RequestContext } from './context.ts'
import { Forbidden } from './errors.ts'
import { logger } from './log.ts'

/**
 * The policy engine every API service uses: oslo.policy's rule language,
 * evaluated over the caller's credentials (from the token) and a target
 * (what the request acts on). A service brings its own defaults, e.g.
 * `{ 'identity:get_project': 'rule:admin_required or project_id:%(target.project.id)s' }`;
 * an operator file (YAML or JSON, `name: rule`) overrides or adds rules.
 *
 * The language, as oslo.policy has it:
 *   `role:admin`                      the caller has the role (case-insensitive)
 *   `rule:name`                       another rule
 *   `user_id:%(target.user.id)s`      a credential equals a target value
 *   `'member':%(target.role.name)s`   a literal ('...', None, True, False, numbers) equals a target value
 *   `system_scope:all`                a credential equals a literal
 *   `@` always, `!` never, `""` always
 *   `not`, `and`, `or` (tightest first) and parentheses.
 * A `%(...)s` naming something the target lacks makes the check false.
 */

/** What a rule may test about the caller (oslo.policy's "credentials"). */
export interface PolicyCredentials {
  readonly user_id: string | null
  readonly user_domain_id: string | null
  readonly project_id: string | null
  readonly project_domain_id: string | null
  readonly domain_id: string | null
  /** `'all'` for a system-scoped token, else null. */
  readonly system_scope: string | null
  readonly roles: readonly string[]
  readonly is_admin: boolean
  /** Keystone's rules read the token's scope through `token.domain.id` and `token.project.domain.id`. */
  readonly token: {
    readonly domain: { readonly id: string | null }
    readonly project: { readonly domain: { readonly id: string | null } }
  }
}

/** What the request acts on: nested objects, read by dotted path (`target.project.id`). */
export type PolicyTarget = Readonly<Record<string, unknown>>

/** Rule name -> rule text. */
export type PolicyRules = Readonly<Record<string, string>>

export class PolicySyntaxError extends Error {
  override readonly name = 'PolicySyntaxError'
}

const log = logger('policy')

/** Deepest chain of `rule:` references followed (a loop in a policy file must not hang a request). */
const MAX_RULE_DEPTH = 32
/** Name of the rule used for an unknown rule, as in oslo.policy. */
const DEFAULT_RULE = 'default'

/** A compiled rule. */
export interface Check {
  /** True when the rule allows the caller (`env.creds`) to act on `env.target`. */
  eval(env: Env, depth: number): boolean
}

/** What a check is evaluated against. */
export interface Env {
  readonly creds: PolicyCredentials
  readonly target: PolicyTarget
  readonly engine: PolicyEngine
}

export interface PolicyEngineOptions {
  /** Rules from an operator file, applied over the defaults. */
  readonly overrides?: PolicyRules
  /** The message of the Forbidden thrown by `enforce`, in the service's wording. */
  readonly forbiddenMessage?: (rule: string) => string
}

/** A compiled rule set. Immutable once built. */
export class PolicyEngine {
  readonly #rules = new Map<string, Check>()
  readonly #texts = new Map<string, string>()
  readonly #forbiddenMessage: (rule: string) => string

  constructor(defaults: PolicyRules, opts: PolicyEngineOptions = {}) {
    this.#forbiddenMessage =
      opts.forbiddenMessage ?? ((rule) => `You are not authorized to perform the requested action: ${rule}.`)
    for (const [name, text] of Object.entries({ ...defaults, ...(opts.overrides ?? {}) })) {
      try {
        this.#rules.set(name, parseRule(text))
        this.#texts.set(name, text)
      } catch (err) {
        throw new PolicySyntaxError(`policy rule ${name}: ${(err as Error).message}`)
      }
    }
  }

  /** Builds an engine from defaults and an optional operator file (YAML or JSON). */
  static fromFile(
    defaults: PolicyRules,
    file: string | undefined,
    opts: PolicyEngineOptions = {},
  ): PolicyEngine {
    const overrides = file ? readPolicyFile(file) : {}
    if (file) log.info({ file, rules: Object.keys(overrides).length }, 'policy file loaded')
    return new PolicyEngine(defaults, { ...opts, overrides: { ...(opts.overrides ?? {}), ...overrides } })
  }

  /** The text of a rule as in force, or undefined. */
  ruleText(name: string): string | undefined {
    return this.#texts.get(name)
  }

  /** True when `rule` allows the caller to act on the target. An unknown rule uses `default`, else denies. */
  check(rule: string, creds: PolicyCredentials, target: PolicyTarget = {}): boolean {
    return this.evalRule(rule, { creds, target, engine: this }, 0)
  }

  /** Throws Forbidden unless `rule` allows it. */
  enforce(rule: string, creds: PolicyCredentials, target: PolicyTarget = {}): void {
    if (!this.check(rule, creds, target)) throw new Forbidden(this.#forbiddenMessage(rule))
  }

  /** @internal used by `rule:` checks. */
  evalRule(name: string, env: Env, depth: number): boolean {
    if (depth > MAX_RULE_DEPTH) {
      log.warn({ rule: name }, 'policy rule references nest too deeply; denying')
      return false
    }
    const check = this.#rules.get(name) ?? (depth === 0 ? this.#rules.get(DEFAULT_RULE) : undefined)
    if (!check) {
      if (depth === 0) log.warn({ rule: name }, 'no such policy rule; denying')
      return false
    }
    return check.eval(env, depth + 1)
  }
}

/** The credentials of a request context, as Keystone's tokens present them to oslo.policy. */
export function credentialsFromContext(ctx: RequestContext): PolicyCredentials {
  return {
    user_id: ctx.userId ?? null,
    user_domain_id: ctx.userDomainId ?? null,
    project_id: ctx.projectId ?? null,
    project_domain_id: ctx.projectDomainId ?? null,
    domain_id: ctx.domainId ?? null,
    system_scope: ctx.system ? 'all' : null,
    roles: ctx.roles,
    is_admin: ctx.isAdmin,
    token: { domain: { id: ctx.domainId ?? null }, project: { domain: { id: ctx.projectDomainId ?? null } } },
  }
}

/** Reads a policy file: a YAML (or JSON) mapping of rule names to rule strings. */
export function readPolicyFile(file: string): Record<string, string> {
  let doc: unknown
  try {
    doc = yaml.load(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new PolicySyntaxError(`policy file ${file}: ${(err as Error).message}`)
  }
  if (doc === undefined || doc === null) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new PolicySyntaxError(`policy file ${file}: expected a mapping of rule names to rules`)
  }
  const out: Record<string, string> = {}
  for (const [name, rule] of Object.entries(doc as Record<string, unknown>)) {
    if (typeof rule !== 'string')
      throw new PolicySyntaxError(`policy file ${file}: rule ${name} is not a string`)
    out[name] = rule
  }
  return out
}

// ---- parsing ----

type Token =
  { readonly kind: '(' | ')' | 'and' | 'or' | 'not' } | { readonly kind: 'check'; readonly check: Check }

/** Compiles one rule string. Throws PolicySyntaxError. */
export function parseRule(text: string): Check {
  const tokens = tokenize(text)
  if (tokens.length === 0) return ALWAYS
  const parser = new Parser(tokens)
  const check = parser.parseOr()
  if (!parser.done()) throw new PolicySyntaxError(`unexpected ${parser.peekKind()} in "${text}"`)
  return check
}

function tokenize(text: string): Token[] {
  const out: Token[] = []
  for (let word of text.trim().split(/\s+/).filter(Boolean)) {
    while (word.startsWith('(')) {
      out.push({ kind: '(' })
      word = word.slice(1)
    }
    let closing = 0
    // `%(...)s` ends in 's', so a trailing ')' always closes a group.
    while (word.endsWith(')')) {
      closing++
      word = word.slice(0, -1)
    }
    if (word === 'and' || word === 'or' || word === 'not') out.push({ kind: word })
    else if (word !== '') out.push({ kind: 'check', check: parseAtom(word) })
    for (let i = 0; i < closing; i++) out.push({ kind: ')' })
  }
  return out
}

class Parser {
  #pos = 0
  readonly #tokens: readonly Token[]

  constructor(tokens: readonly Token[]) {
    this.#tokens = tokens
  }

  done(): boolean {
    return this.#pos >= this.#tokens.length
  }

  peekKind(): string {
    return this.#tokens[this.#pos]?.kind ?? 'end'
  }

  parseOr(): Check {
    const parts = [this.#parseAnd()]
    while (this.peekKind() === 'or') {
      this.#pos++
      parts.push(this.#parseAnd())
    }
    return parts.length === 1 ? parts[0]! : new AnyOf(parts)
  }

  #parseAnd(): Check {
    const parts = [this.#parseNot()]
    while (this.peekKind() === 'and') {
      this.#pos++
      parts.push(this.#parseNot())
    }
    return parts.length === 1 ? parts[0]! : new AllOf(parts)
  }

  #parseNot(): Check {
    const token = this.#tokens[this.#pos++]
    if (!token) throw new PolicySyntaxError('rule ends early')
    if (token.kind === 'not') return new Not(this.#parseNot())
    if (token.kind === 'check') return token.check
    if (token.kind === '(') {
      const inner = this.parseOr()
      if (this.#tokens[this.#pos++]?.kind !== ')') throw new PolicySyntaxError('missing )')
      return inner
    }
    throw new PolicySyntaxError(`unexpected ${token.kind}`)
  }
}

function parseAtom(word: string): Check {
  if (word === '@') return ALWAYS
  if (word === '!') return NEVER
  const colon = word.indexOf(':')
  if (colon <= 0) throw new PolicySyntaxError(`"${word}" is not a check (kind:match)`)
  const kind = word.slice(0, colon)
  const match = word.slice(colon + 1)
  if (kind === 'rule') return new RuleCheck(match)
  if (kind === 'role') return new RoleCheck(new Template(match))
  return new GenericCheck(kind, new Template(match))
}

// ---- checks ----

const ALWAYS: Check = { eval: () => true }
const NEVER: Check = { eval: () => false }

class AnyOf implements Check {
  constructor(readonly parts: readonly Check[]) {}
  eval(env: Env, depth: number): boolean {
    return this.parts.some((p) => p.eval(env, depth))
  }
}

class AllOf implements Check {
  constructor(readonly parts: readonly Check[]) {}
  eval(env: Env, depth: number): boolean {
    return this.parts.every((p) => p.eval(env, depth))
  }
}

class Not implements Check {
  constructor(readonly inner: Check) {}
  eval(env: Env, depth: number): boolean {
    return !this.inner.eval(env, depth)
  }
}

class RuleCheck implements Check {
  constructor(readonly name: string) {}
  eval(env: Env, depth: number): boolean {
    return env.engine.evalRule(this.name, env, depth)
  }
}

class RoleCheck implements Check {
  constructor(readonly match: Template) {}
  eval(env: Env): boolean {
    const role = this.match.render(env.target)
    if (role === undefined) return false
    const wanted = role.toLowerCase()
    return env.creds.roles.some((r) => r.toLowerCase() === wanted)
  }
}

/** `kind:match`: a credential (or a literal kind) compared as text with the rendered match. */
class GenericCheck implements Check {
  readonly #literal: string | undefined
  readonly #path: readonly string[]

  constructor(
    kind: string,
    readonly match: Template,
  ) {
    this.#literal = pythonLiteral(kind)
    this.#path = kind.split('.')
  }

  eval(env: Env): boolean {
    const match = this.match.render(env.target)
    if (match === undefined) return false
    if (this.#literal !== undefined) return match === this.#literal
    const value = lookup(env.creds as unknown as Record<string, unknown>, this.#path)
    if (value === undefined) return false
    if (Array.isArray(value)) return value.some((v) => pythonStr(v) === match)
    return pythonStr(value) === match
  }
}

/** A match string with `%(name)s` placeholders filled from the target. */
class Template {
  readonly #parts: readonly (string | { readonly key: string })[]

  constructor(text: string) {
    const parts: (string | { key: string })[] = []
    const re = /%\(([^)]+)\)s/g
    let last = 0
    for (let m = re.exec(text); m; m = re.exec(text)) {
      if (m.index > last) parts.push(text.slice(last, m.index))
      parts.push({ key: m[1]! })
      last = m.index + m[0].length
    }
    if (last < text.length) parts.push(text.slice(last))
    this.#parts = parts
  }

  /** The filled-in text, or undefined when the target lacks a named value. */
  render(target: PolicyTarget): string | undefined {
    let out = ''
    for (const part of this.#parts) {
      if (typeof part === 'string') {
        out += part
        continue
      }
      const value = part.key in target ? target[part.key] : lookup(target, part.key.split('.'))
      if (value === undefined) return undefined
      out += pythonStr(value)
    }
    return out
  }
}

function lookup(obj: Readonly<Record<string, unknown>>, path: readonly string[]): unknown {
  let cur: unknown = obj
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object' || !(seg in cur)) return undefined
    cur = (cur as Record<string, unknown>)[seg]
  }
  return cur
}

/** Text of a value as Python's str() writes it, since rules compare what oslo.policy compares. */
function pythonStr(v: unknown): string {
  if (v === null) return 'None'
  if (v === true) return 'True'
  if (v === false) return 'False'
  return String(v)
}

/** The value of a kind written as a Python literal ('x', "x", None, True, False, 12), else undefined. */
function pythonLiteral(kind: string): string | undefined {
  if (/^'.*'$/.test(kind) || /^".*"$/.test(kind)) return kind.slice(1, -1)
  if (kind === 'None' || kind === 'True' || kind === 'False') return kind
  if (/^-?\d+(\.\d+)?$/.test(kind)) return String(Number(kind))
  return undefined
}
