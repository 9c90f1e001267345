import { Invalid } from '../common/errors.ts'
import { limits } from '../common/limits.ts'

/**
 * Request bodies as JSON, bounded before they are parsed. The body size is
 * bounded by the HTTP layer (`maxRequestBodyBytes`); this bounds how deep
 * arrays and objects nest (`maxJsonDepth`), because everything after the
 * parser (schema validation, Python-style error messages, deep copies)
 * walks a body recursively and a 5,000-deep body would exhaust the stack.
 */

const OPEN_BRACE = 0x7b // {
const OPEN_BRACKET = 0x5b // [
const CLOSE_BRACE = 0x7d // }
const CLOSE_BRACKET = 0x5d // ]
const QUOTE = 0x22 // "
const BACKSLASH = 0x5c // \

/**
 * The deepest nesting of arrays and objects in `text`, read in one linear
 * pass that skips strings; it stops early once `max` is exceeded. Text that
 * is not valid JSON gives some number: the parser rejects it afterwards.
 */
export function jsonDepth(text: string, max = Number.POSITIVE_INFINITY): number {
  let depth = 0
  let deepest = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === BACKSLASH) i++
      else if (c === QUOTE) inString = false
    } else if (c === QUOTE) {
      inString = true
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++
      if (depth > deepest) {
        deepest = depth
        if (deepest > max) return deepest
      }
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--
    }
  }
  return deepest
}

/** Neutron names this fault's type (neutron-lib's MalformedRequestBody); other styles ignore it. */
const MALFORMED = { type: 'MalformedRequestBody' }

/**
 * Parses a JSON request body. Malformed JSON, or JSON nesting deeper than
 * `limits.maxJsonDepth`, is an Invalid (400 in the API's own fault style).
 */
export function parseJsonBody(text: string): unknown {
  if (jsonDepth(text, limits.maxJsonDepth) > limits.maxJsonDepth) {
    throw new Invalid(
      `Malformed request body: JSON nested deeper than ${limits.maxJsonDepth} levels`,
      MALFORMED,
    )
  }
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new Invalid('Malformed request body', MALFORMED)
  }
}
