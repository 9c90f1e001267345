/** Wording helpers for filter reasons and NoValidHost summaries. */

const DISPLAY_DECIMALS = 2

/** A number for a message: integers as is, fractions to two places, no trailing zeros. */
export function amount(value: number): string {
  if (Number.isInteger(value)) return String(value)
  return String(Number(value.toFixed(DISPLAY_DECIMALS)))
}

/** A ratio for a message: always with a decimal point (`1.0`, `1.5`), as in nova.conf. */
export function ratio(value: number): string {
  return Number.isInteger(value) ? value.toFixed(1) : amount(value)
}

/** `count` with the noun, plural when not 1: `1 host`, `3 hosts`. */
export function counted(count: number, noun: string, pluralNoun = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : pluralNoun}`
}

/** The largest value of `values`, or 0 when empty; never below 0 (an overcommitted host has none free). */
export function mostOf(values: readonly number[]): number {
  return Math.max(0, ...values)
}

/** Distinct values in first-seen order, for lists in summaries. */
export function distinct(values: readonly string[]): string[] {
  return [...new Set(values)]
}

/** The summary line every filter gives: `RamFilter rejected 3 of 3 hosts: <detail>`. */
export function rejectedLine(filter: string, rejected: number, considered: number, detail: string): string {
  return `${filter} rejected ${rejected} of ${counted(considered, 'host')}: ${detail}`
}

/** Items a summary names before it says "and N more": a fault message stays one readable line. */
export const SUMMARY_MAX_LISTED = 5

/** `a, b, c` or `a, b, c, d, e and 3 more`. */
export function listed(values: readonly string[], max = SUMMARY_MAX_LISTED): string {
  if (values.length <= max) return values.join(', ')
  return `${values.slice(0, max).join(', ')} and ${values.length - max} more`
}

/** `1 vCPU`, `2 vCPUs`, `1.5 vCPUs`. */
export function vcpus(count: number): string {
  return count === 1 ? '1 vCPU' : `${amount(count)} vCPUs`
}
