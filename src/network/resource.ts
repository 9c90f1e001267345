import { newId } from '../db/values.ts'
import type { Caller } from './authz.ts'
import type { Doc, Kind, Store } from './store.ts'

/** Fields every Neutron resource carries, filled on create. */
export function baseDoc(projectId: string, id: string = newId()): Doc & Record<string, unknown> {
  const now = neutronTime()
  return {
    id,
    project_id: projectId,
    tenant_id: projectId,
    created_at: now,
    updated_at: now,
    revision_number: 0,
    tags: [],
  }
}

/** A changed copy with `updated_at` and `revision_number` bumped, as Neutron does on every update. */
export function revised(doc: Doc, changes: Record<string, unknown>): Doc {
  return {
    ...doc,
    ...changes,
    updated_at: neutronTime(),
    revision_number: Number(doc.revision_number ?? 0) + 1,
  }
}

/**
 * Bumps the revision of a parent whose children changed (a network when its
 * subnets do, a security group when its rules do, a router when its
 * interfaces do), as Neutron's revision plugin does for related resources.
 */
export async function bumpRevision(store: Store, kind: Kind, id: string): Promise<void> {
  const doc = await store.get(kind, id)
  if (doc) await store.update(kind, revised(doc, {}))
}

/** Neutron's timestamp form: ISO-8601 UTC without fractions (`2024-05-01T12:00:00Z`). */
export function neutronTime(date: Date = new Date()): string {
  return `${date.toISOString().slice(0, 19)}Z`
}

/** Picks the named keys of a request body that are present. */
export function pick(body: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => body[k] !== undefined).map((k) => [k, body[k]]))
}

export type { Caller }
