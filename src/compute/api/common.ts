import { Invalid, NotFound } from '../../common/errors.ts'
import { limits } from '../../common/limits.ts'
import type { ApiRequest, Route } from '../../service/http.ts'
import { negotiateVersion, versionResponseHeaders, type ApiVersion } from './microversions.ts'

/**
 * What every compute route handler gets and the helpers Nova's
 * `api/openstack/common.py` provides: the negotiated microversion, query
 * parameters as lists, links and pagination.
 */
export interface ComputeRequest<B = any> {
  readonly api: ApiRequest<B, Record<string, unknown>, Record<string, string>>
  readonly mv: ApiVersion
  /** Query parameters as name -> values, in the order given (Nova's `GET.dict_of_lists()`). */
  readonly query: Readonly<Record<string, readonly string[]>>
  readonly params: Readonly<Record<string, string>>
  readonly body: B
}

export type ComputeHandler = (req: ComputeRequest) => Promise<unknown> | unknown

/**
 * A route whose handler sees the negotiated microversion. Negotiation runs
 * after authentication, as in Nova (keystonemiddleware answers 401 first);
 * every answer from here on, faults included, carries the version headers.
 */
export function versionedRoute(route: Omit<Route, 'handler'> & { readonly handler: ComputeHandler }): Route {
  return {
    ...route,
    handler: async (api: ApiRequest) => {
      const mv = negotiateVersion(api.headers)
      for (const [k, v] of Object.entries(versionResponseHeaders(mv))) api.reply.header(k, v)
      return route.handler({
        api: api as ComputeRequest['api'],
        mv,
        query: queryLists(api.query),
        params: api.params as Record<string, string>,
        body: api.body,
      })
    },
  }
}

function queryLists(query: Record<string, unknown>): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined) continue
    out[k] = (Array.isArray(v) ? v : [v]).map(String)
  }
  return out
}

/** The first microversion without Nova's network proxy APIs (its MAX_PROXY_API_SUPPORT_VERSION is 2.35). */
export const NETWORK_PROXY_REMOVED_AT = '2.36'

/**
 * A route of Nova's network proxy APIs (os-networks, os-floating-ips,
 * os-security-groups, ...): served up to 2.35, a 404 from 2.36 on.
 */
export function networkProxyRoute(
  method: Route['method'],
  path: string,
  status: number,
  handler: ComputeHandler,
): Route {
  return versionedRoute({
    method,
    path,
    status,
    handler: (req) => {
      if (req.mv.atLeast(NETWORK_PROXY_REMOVED_AT)) throw new NotFound('The resource could not be found.')
      return handler(req)
    },
  })
}

/** The first value of a query parameter (webob's `GET.get`), or undefined. */
export function first(query: Readonly<Record<string, readonly string[]>>, name: string): string | undefined {
  return query[name]?.[0]
}

/** The last value of a query parameter (webob's `params[name]` returns the last), or undefined. */
export function last(query: Readonly<Record<string, readonly string[]>>, name: string): string | undefined {
  return query[name]?.at(-1)
}

// ---- links ----

/** The API root a client used: `http://host:port/v2.1`. */
export function apiRoot(req: ComputeRequest): string {
  return `${req.api.baseUrl}/v2.1`
}

/** Nova's `_get_links`: self (versioned) and bookmark (unversioned) links to one resource. */
export function resourceLinks(req: ComputeRequest, collection: string, id: string | number) {
  return [
    { rel: 'self', href: `${apiRoot(req)}/${collection}/${id}` },
    { rel: 'bookmark', href: bookmarkLink(req, collection, id) },
  ]
}

export function bookmarkLink(req: ComputeRequest, collection: string, id: string | number): string {
  return `${req.api.baseUrl}/${collection}/${id}`
}

/**
 * Nova's `_get_collection_links`: a `next` link when the page is full (the
 * requested limit, capped by the maximum page size, equals the number of
 * items), carrying every query parameter with the marker replaced.
 */
export function collectionLinks(
  req: ComputeRequest,
  collection: string,
  count: number,
  lastId: string | number | undefined,
): { rel: string; href: string }[] {
  const limitText = last(req.query, 'limit')
  const requested = limitText === undefined ? limits.maxPageSize : Number(limitText)
  const maxItems = Math.min(requested, limits.maxPageSize)
  if (!maxItems || maxItems !== count || lastId === undefined) return []
  const params = new URLSearchParams()
  for (const key of Object.keys(req.query).sort()) {
    if (key === 'marker') continue
    params.set(key, last(req.query, key)!)
  }
  params.set('marker', String(lastId))
  return [{ rel: 'next', href: `${apiRoot(req)}/${collection}?${params.toString()}` }]
}

/** Nova's `get_limit_and_marker`: limit capped at the maximum page size, marker as given. */
export function limitAndMarker(req: ComputeRequest): { limit: number; marker: string | undefined } {
  let limit = limits.maxPageSize
  const limitText = last(req.query, 'limit')
  if (limitText !== undefined) limit = Math.min(limit, validateInteger(limitText, 'limit', 0))
  return { limit, marker: last(req.query, 'marker') }
}

/** oslo's `validate_integer`, with Nova's InvalidInput wording. */
export function validateInteger(value: string | number, name: string, min?: number, max?: number): number {
  const text = String(value).trim()
  if (!/^[+-]?\d+$/.test(text)) throw new Invalid(`Invalid input received: ${name} must be an integer`)
  const n = Number(text)
  if (min !== undefined && n < min) throw new Invalid(`Invalid input received: ${name} must be >= ${min}`)
  if (max !== undefined && n > max) throw new Invalid(`Invalid input received: ${name} must be <= ${max}`)
  return n
}

/** Nova's `get_id_from_href`: the last path segment of an href, or the value itself. */
export function idFromHref(href: string | number): string {
  const text = String(href)
  try {
    const url = new URL(text)
    return url.pathname.split('/').at(-1) ?? ''
  } catch {
    return text.split('?')[0]!.split('/').at(-1) ?? ''
  }
}

// ---- Nova's value formats ----

/** oslo's `strutils.bool_from_string`; strict: anything unknown is an error (undefined). */
export function boolFromString(value: unknown, strict = false, fallback = false): boolean | undefined {
  if (typeof value === 'boolean') return value
  const text = String(value ?? '')
    .trim()
    .toLowerCase()
  if (['1', 't', 'true', 'on', 'y', 'yes'].includes(text)) return true
  if (['0', 'f', 'false', 'off', 'n', 'no'].includes(text)) return false
  return strict ? undefined : fallback
}

/** Nova's `utils.isotime`: `2013-09-03T04:01:32Z`. */
export function isoTime(stored: string | null): string | null {
  return stored === null ? null : `${stored.slice(0, 19)}Z`
}

/** A naive datetime as oslo's JSON serializer prints it: `2018-04-25T01:26:36.790544`. */
export function naiveTime(stored: string | null): string | null {
  return stored === null ? null : `${stored.slice(0, 19)}.${stored.slice(20, 23)}000`
}

/** Nova's `common.normalize_name`. */
export function normalizeName(name: string): string {
  return name.trim()
}
