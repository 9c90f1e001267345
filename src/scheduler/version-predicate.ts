/**
 * `img_hv_requested_version` checks, e.g. `>=6.0,<7.0`: the subset of
 * distutils' VersionPredicate that Nova's ImagePropertiesFilter relies on.
 * Hypervisor versions arrive as Nova encodes them: one integer with three
 * decimal digits per component (6002000 is 6.2.0).
 */

const VERSION_COMPONENT_FACTOR = 1000
const COMPARISON_PATTERN = /^(<=|>=|==|!=|<|>)\s*(\d+(?:\.\d+)*)$/

type Comparator = '<' | '<=' | '==' | '!=' | '>' | '>='

interface Comparison {
  readonly op: Comparator
  readonly version: readonly number[]
}

/** `6002000` -> `6.2.0`, as oslo's `convert_version_to_str`. */
export function versionToString(version: number): string {
  const parts: number[] = []
  for (let rest = Math.trunc(version); rest > 0; rest = Math.trunc(rest / VERSION_COMPONENT_FACTOR)) {
    parts.unshift(rest % VERSION_COMPONENT_FACTOR)
  }
  return parts.join('.')
}

/** Parses `>=6.0,<7.0`; undefined when any part is not a comparison with a version. */
export function parseVersionPredicate(text: string): readonly Comparison[] | undefined {
  const comparisons: Comparison[] = []
  for (const part of text.split(',')) {
    const match = COMPARISON_PATTERN.exec(part.trim())
    if (!match) return undefined
    comparisons.push({ op: match[1] as Comparator, version: match[2]!.split('.').map(Number) })
  }
  return comparisons.length > 0 ? comparisons : undefined
}

/** Whether `version` (Nova's integer form) satisfies every comparison. */
export function satisfies(version: number, predicate: readonly Comparison[]): boolean {
  const actual = versionToString(version).split('.').map(Number)
  return predicate.every(({ op, version: wanted }) => holds(op, compareVersions(actual, wanted)))
}

/** Component-wise comparison; missing components count as 0 (`6.0` == `6.0.0`). */
function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const diff = (a[i] ?? 0) - (b[i] ?? 0)
    if (diff !== 0) return Math.sign(diff)
  }
  return 0
}

function holds(op: Comparator, order: number): boolean {
  switch (op) {
    case '<':
      return order < 0
    case '<=':
      return order <= 0
    case '==':
      return order === 0
    case '!=':
      return order !== 0
    case '>':
      return order > 0
    case '>=':
      return order >= 0
  }
}
