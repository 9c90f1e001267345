import {
  Invalid,
  MethodNotAllowed,
  NimbusError,
  NotFound,
  PayloadTooLarge,
  UnsupportedMediaType,
} from '../common/errors.ts'

/**
 * The one place where an error becomes an HTTP answer. Each OpenStack API
 * has its own error body; a service names its style and this module renders
 * every NimbusError in it. Anything that is not a NimbusError is a bug: the
 * caller logs it with the request id and the client sees a generic 500.
 */
export type FaultStyle = 'nova' | 'keystone' | 'neutron' | 'glance' | 'plain'

export interface RenderedFault {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: string
  readonly contentType: string
}

/** Nova's `_fault_names` (nova/api/openstack/wsgi.py). */
const NOVA_FAULT_NAMES: Readonly<Record<number, string>> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'badMethod',
  409: 'conflictingRequest',
  413: 'overLimit',
  415: 'badMediaType',
  429: 'overLimit',
  501: 'notImplemented',
  503: 'serviceUnavailable',
}

/** HTTP reason phrases, used as Keystone's `title` and in Glance's pages. */
const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  416: 'Requested Range Not Satisfiable',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

const INTERNAL_ERROR_MESSAGE = 'An unexpected error prevented the server from fulfilling your request.'

/** Turns whatever a handler threw into a NimbusError (unknown -> undefined). */
export function classify(err: unknown): NimbusError | undefined {
  if (err instanceof NimbusError) return err
  if (typeof err !== 'object' || err === null) return undefined
  const e = err as { code?: string; validation?: unknown; statusCode?: number; message?: string }
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PayloadTooLarge('Request is too large.')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new UnsupportedMediaType('Unsupported Content-Type')
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new Invalid('Malformed request body')
    case 'FST_ERR_NOT_FOUND':
      return new NotFound('The resource could not be found.')
    case 'FST_ERR_METHOD_NOT_ALLOWED':
      return new MethodNotAllowed('The method is not allowed for the requested URL.')
  }
  if (err instanceof SyntaxError || (e.statusCode === 400 && /JSON/i.test(e.message ?? ''))) {
    return new Invalid('Malformed request body')
  }
  return undefined
}

/** Renders an error in the API's own style. `err` undefined means an unexpected 500. */
export function renderFault(style: FaultStyle, err: NimbusError | undefined): RenderedFault {
  const status = err?.status ?? 500
  const message = err?.message ?? INTERNAL_ERROR_MESSAGE
  const headers: Record<string, string> = {}
  // A dependency that went away (e.g. DatabaseUnavailable) says when to try
  // again, in every API's style: Retry-After in seconds (RFC 9110 10.2.3).
  const retryAfterS = err?.detail.retryAfterS
  if (status === 503 && typeof retryAfterS === 'number' && retryAfterS > 0) {
    headers['retry-after'] = String(Math.ceil(retryAfterS))
  }
  switch (style) {
    case 'nova':
      return json(status, headers, {
        [NOVA_FAULT_NAMES[status] ?? 'computeFault']: { code: status, message },
      })
    case 'keystone':
      return json(status, headers, {
        error: { code: status, message, title: REASONS[status] ?? 'Error' },
      })
    case 'neutron':
      return json(status, headers, {
        NeutronError: {
          type: (err?.detail.type as string | undefined) ?? err?.name ?? 'HTTPInternalServerError',
          message,
          detail: '',
        },
      })
    case 'glance':
      return { status, headers, contentType: 'text/html; charset=UTF-8', body: webobPage(status, message) }
    case 'plain':
      return { status, headers, contentType: 'text/plain; charset=UTF-8', body: `${message}\n` }
  }
}

function json(status: number, headers: Record<string, string>, body: unknown): RenderedFault {
  return { status, headers, contentType: 'application/json', body: JSON.stringify(body) }
}

/** The HTML page webob renders for an HTTP exception (what Glance answers). */
function webobPage(status: number, message: string): string {
  const title = `${status} ${REASONS[status] ?? 'Error'}`
  const escaped = message.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
  return `<html>\n <head>\n  <title>${title}</title>\n </head>\n <body>\n  <h1>${title}</h1>\n  ${escaped}<br /><br />\n\n\n\n </body>\n</html>`
}
