import { Invalid } from '../common/errors.ts'
import { RangeNotSatisfiable } from './errors.ts'
import type { ByteRange } from './store/file-store.ts'

/**
 * The `Range` header of a download, read as Glance (through webob) reads it:
 * one range only (`bytes=a-b`, `bytes=a-`, `bytes=-n`); several ranges are a
 * 400; a malformed one or one starting past the end is a 416. Returns the
 * bytes to send, both ends included, or undefined for the whole image.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined
  if (header.includes(',')) {
    throw new Invalid(
      'Requests with multiple ranges are not supported in Glance. You may make multiple single-range requests instead.',
    )
  }
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header)
  const [, first = '', last = ''] = match ?? []
  if (!match || (first === '' && last === '')) throw new RangeNotSatisfiable('Invalid Range header.')
  if (first === '') return suffixRange(Number(last), size)
  const start = Number(first)
  if (last !== '' && Number(last) < start) throw new RangeNotSatisfiable('Invalid Range header.')
  if (start >= size) {
    throw new RangeNotSatisfiable(
      `Invalid start position in Range header. Start position MUST be in the inclusive range [0, ${size - 1}].`,
    )
  }
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1)
  return { start, end }
}

/** `bytes=-n`: the last n bytes (all of them when n is the size or more). */
function suffixRange(length: number, size: number): ByteRange {
  if (length === 0 || size === 0) throw new RangeNotSatisfiable('Invalid Range header.')
  return { start: length < size ? size - length : 0, end: size - 1 }
}
