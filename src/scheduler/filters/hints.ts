import type { RequestSpec } from '../types.ts'

/**
 * A scheduler hint that names instances, as a list. The API passes one uuid
 * as a string and several as an array (Nova's `get_scheduler_hint` and
 * `instance_uuids_overlap` accept both); empty strings are dropped.
 */
export function hintUuids(spec: RequestSpec, hint: 'same_host' | 'different_host'): readonly string[] {
  const value = spec.schedulerHints[hint]
  if (value === undefined) return []
  return (typeof value === 'string' ? [value] : value).filter((uuid) => uuid !== '')
}
