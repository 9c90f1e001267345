import type { FastifyInstance } from 'fastify'
import { parseJsonBody } from '../../service/json-body.ts'

/**
 * Request bodies as Neutron reads them: its body hook parses whatever the
 * request carries as JSON, whatever its Content-Type says or when it has
 * none (Tempest's neutron plugin sends `PUT` with `If-Match` and no
 * Content-Type; clients send `DELETE` with `Content-Type: application/json`
 * and no body). An empty body is no body; the route then says what it
 * needed ("Resource body required"). JSON that does not parse, or nests
 * deeper than the edge's bound, is a 400 (neutron-lib's MalformedRequestBody).
 */
export function neutronBodies(app: FastifyInstance): void {
  // One parser for every type (Fastify's own would take text/plain as a string).
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, text, done) => {
    const raw = typeof text === 'string' ? text : String(text)
    if (raw.trim() === '') return done(null, undefined)
    try {
      done(null, parseJsonBody(raw))
    } catch (err) {
      done(err as Error, undefined)
    }
  })
}
