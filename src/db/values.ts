import { randomUUID } from 'node:crypto'

/**
 * The value conventions every table follows, so rows read the same on
 * SQLite and PostgreSQL and sort the same in SQL and in JS.
 */

/** A new id: a random (v4) uuid, stored as text. */
export function newId(): string {
  return randomUUID()
}

/**
 * Now, as stored in every timestamp column: ISO-8601 UTC with milliseconds,
 * e.g. `2024-05-01T12:00:00.000Z`. Fixed width, so text order is time order
 * on both backends and `where created_at < :cutoff` works as expected.
 */
export function nowIso(): string {
  return toIso(new Date())
}

/** A Date in the stored timestamp form. */
export function toIso(date: Date): string {
  return date.toISOString()
}

/** A JSON column's stored form (text on both backends). */
export function toJsonText(value: unknown): string {
  return JSON.stringify(value)
}

/** A JSON column read back. The caller owns validation of the shape. */
export function fromJsonText<T>(text: string): T {
  return JSON.parse(text) as T
}
