import { Invalid, NotAcceptable } from '../../common/errors.ts'
import { limits } from '../../common/limits.ts'

/**
 * The compute API's microversion range and negotiation, as Nova does it
 * (nova/api/openstack/api_version_request.py, wsgi.py and
 * microversion_parse). The maximum rises only when every microversion up to
 * it is implemented as Nova defines it for every route Nimbus serves; see
 * docs/compute.md for the list.
 */
export const COMPUTE_MIN_MICROVERSION = '2.1'
export const COMPUTE_MAX_MICROVERSION = '2.93'

/** The version a request without a version header gets. */
export const DEFAULT_MICROVERSION = '2.1'

export const API_VERSION_HEADER = 'OpenStack-API-Version'
export const LEGACY_API_VERSION_HEADER = 'X-OpenStack-Nova-API-Version'
const SERVICE_TYPE = 'compute'
const LATEST = 'latest'
const VERSION_PATTERN = /^([1-9]\d*)\.([1-9]\d*|0)$/

/** A microversion `X.Y`, comparable. */
export class ApiVersion {
  readonly major: number
  readonly minor: number

  constructor(major: number, minor: number) {
    this.major = major
    this.minor = minor
  }

  /** Parses `X.Y`; Invalid (400) with Nova's message for anything else. */
  static parse(text: string): ApiVersion {
    const m = VERSION_PATTERN.exec(text)
    if (!m) {
      throw new Invalid(
        `API Version String ${text} is of invalid format. Must be of format MajorNum.MinorNum.`,
      )
    }
    return new ApiVersion(Number(m[1]), Number(m[2]))
  }

  compare(other: ApiVersion | string): number {
    const o = typeof other === 'string' ? parsedBound(other) : other
    return this.major - o.major || this.minor - o.minor
  }

  /** True when this version is `min` or later. */
  atLeast(min: string): boolean {
    return this.compare(min) >= 0
  }

  /** True when this version is `max` or earlier. */
  atMost(max: string): boolean {
    return this.compare(max) <= 0
  }

  /** True when `min <= this <= max` (an absent bound is open). */
  between(min: string | undefined, max: string | undefined): boolean {
    return (min === undefined || this.atLeast(min)) && (max === undefined || this.atMost(max))
  }

  toString(): string {
    return `${this.major}.${this.minor}`
  }
}

/**
 * Bounds written in the code (`version.atLeast('2.47')`), parsed once:
 * every view and handler compares the request's version many times.
 */
const BOUNDS = new Map<string, ApiVersion>()

function parsedBound(text: string): ApiVersion {
  let version = BOUNDS.get(text)
  if (version === undefined) {
    version = ApiVersion.parse(text)
    if (BOUNDS.size >= limits.microversionCacheEntries) BOUNDS.clear()
    BOUNDS.set(text, version)
  }
  return version
}

export const MIN_VERSION = ApiVersion.parse(COMPUTE_MIN_MICROVERSION)
export const MAX_VERSION = ApiVersion.parse(COMPUTE_MAX_MICROVERSION)

type Headers = Readonly<Record<string, string | string[] | undefined>>

function headerValues(headers: Headers, name: string): string[] {
  const v = headers[name.toLowerCase()]
  if (v === undefined) return []
  return (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(','))
}

/**
 * The requested version string: the compute entry of `OpenStack-API-Version`
 * (`compute 2.37`, possibly among other services' entries) wins over
 * `X-OpenStack-Nova-API-Version`; undefined when neither names one.
 */
export function requestedVersion(headers: Headers): string | undefined {
  for (const item of headerValues(headers, API_VERSION_HEADER)) {
    const [service, version, ...rest] = item.trim().split(/\s+/)
    if (service?.toLowerCase() === SERVICE_TYPE && version !== undefined && rest.length === 0) return version
  }
  const legacy = headerValues(headers, LEGACY_API_VERSION_HEADER)
    .map((s) => s.trim())
    .filter(Boolean)
  return legacy[0]
}

/**
 * Negotiates the request's microversion: the default without a header,
 * the maximum for `latest`, else the requested one; NotAcceptable (406)
 * with Nova's message outside the supported range, Invalid (400) when
 * malformed.
 */
export function negotiateVersion(headers: Headers): ApiVersion {
  // A client sends the same header on every request: negotiate each header value once.
  const current = headers[API_VERSION_HEADER_KEY]
  const legacy = headers[LEGACY_API_VERSION_HEADER_KEY]
  const key =
    (current === undefined || typeof current === 'string') &&
    (legacy === undefined || typeof legacy === 'string')
      ? `${current ?? ''}\n${legacy ?? ''}`
      : undefined
  const known = key === undefined ? undefined : NEGOTIATED.get(key)
  if (known) return known
  const version = negotiate(headers)
  if (key !== undefined) {
    if (NEGOTIATED.size >= limits.microversionCacheEntries) NEGOTIATED.clear()
    NEGOTIATED.set(key, version)
  }
  return version
}

const API_VERSION_HEADER_KEY = API_VERSION_HEADER.toLowerCase()
const LEGACY_API_VERSION_HEADER_KEY = LEGACY_API_VERSION_HEADER.toLowerCase()
/** Negotiated versions by header values (both headers; an error is never kept). */
const NEGOTIATED = new Map<string, ApiVersion>()

function negotiate(headers: Headers): ApiVersion {
  const requested = requestedVersion(headers)
  if (requested === undefined) return ApiVersion.parse(DEFAULT_MICROVERSION)
  if (requested.toLowerCase() === LATEST) return MAX_VERSION
  const version = ApiVersion.parse(requested)
  if (!version.between(COMPUTE_MIN_MICROVERSION, COMPUTE_MAX_MICROVERSION)) {
    throw new NotAcceptable(
      `Version ${version} is not supported by the API. Minimum is ${COMPUTE_MIN_MICROVERSION} and maximum is ${COMPUTE_MAX_MICROVERSION}.`,
    )
  }
  return version
}

/** The headers every versioned response carries. */
export function versionResponseHeaders(version: ApiVersion): Record<string, string> {
  return {
    [API_VERSION_HEADER]: `${SERVICE_TYPE} ${version}`,
    [LEGACY_API_VERSION_HEADER]: String(version),
    Vary: `${API_VERSION_HEADER}, ${LEGACY_API_VERSION_HEADER}`,
  }
}
