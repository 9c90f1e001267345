// The service walls: src/<a> imports src/<b> (another service) only through
// b's door. See docs/architecture.md ("Doors and walls") for the picture,
// the doors and the allow-list of today's exceptions, which only shrinks.
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root: this file is <root>/eslint/service-walls.js. */
export const ROOT = dirname(dirname(fileURLToPath(import.meta.url)))

/** The folders of src/ that are services (each may run on its own machine). */
export const SERVICES = ['identity', 'image', 'compute', 'conductor', 'scheduler', 'network', 'metadata']

/**
 * A service's door, the files other services may import: `client.ts` (or a
 * `client/` folder) and its RPC clients (`rpcapi.ts`, `*-rpcapi.ts`, Nova's
 * rpcapi: the client side of its RPC interface). Shapes that cross services
 * live in src/objects/, which every service may import.
 */
export function isDoor(inner) {
  return (
    inner === 'client.ts' ||
    inner.startsWith('client/') ||
    inner === 'rpcapi.ts' ||
    (!inner.includes('/') && inner.endsWith('-rpcapi.ts'))
  )
}

/** `src/<service>/...` of an absolute path: `{ service, inner }`, or undefined outside a service. */
export function placeOf(path, root = ROOT) {
  const rel = relative(join(root, 'src'), path).split(sep).join('/')
  if (rel.startsWith('..')) return undefined
  const [top, ...rest] = rel.split('/')
  if (!SERVICES.includes(top) || rest.length === 0) return undefined
  return { service: top, inner: rest.join('/') }
}

/**
 * The wall an import from `filename` of `source` crosses, if it goes around
 * a door: `{ from, to }` with `to` as `<service>/<file>`; undefined when it
 * is allowed (same service, not a service, a door, or not relative).
 */
export function wallCrossed(filename, source, root = ROOT) {
  if (!source.startsWith('.')) return undefined
  const from = placeOf(filename, root)
  if (!from) return undefined
  const target = placeOf(resolve(dirname(filename), source), root)
  if (!target || target.service === from.service || isDoor(target.inner)) return undefined
  return { from: from.service, to: `${target.service}/${target.inner}` }
}

/** @type {import('eslint').Rule.RuleModule} */
export const serviceWallsRule = {
  meta: {
    type: 'problem',
    docs: {
      description:
        'a service imports another service only through its door (client.ts, rpcapi.ts) or src/objects/',
    },
    schema: [
      {
        type: 'object',
        properties: {
          allow: {
            type: 'array',
            items: {
              type: 'object',
              properties: { from: { type: 'string' }, to: { type: 'string' }, why: { type: 'string' } },
              required: ['from', 'to', 'why'],
              additionalProperties: false,
            },
          },
          root: { type: 'string' },
        },
        additionalProperties: false,
      },
    ],
    messages: {
      wall: "src/{{from}} may not import src/{{to}}: go through src/{{service}}'s door (client.ts, rpcapi.ts) or src/objects/ (docs/architecture.md)",
    },
  },
  create(context) {
    const options = context.options[0] ?? {}
    const root = options.root ?? ROOT
    const allowed = new Set((options.allow ?? []).map((a) => `${a.from}->${a.to}`))
    const check = (node, source) => {
      if (typeof source !== 'string') return
      const crossed = wallCrossed(context.filename, source, root)
      if (!crossed || allowed.has(`${crossed.from}->${crossed.to}`)) return
      context.report({
        node,
        messageId: 'wall',
        data: { from: crossed.from, to: crossed.to, service: crossed.to.split('/')[0] },
      })
    }
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
      TSImportType: (node) => check(node, node.argument?.literal?.value ?? node.argument?.value),
    }
  },
}

export default { rules: { 'service-walls': serviceWallsRule } }
