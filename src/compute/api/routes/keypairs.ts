import type { RequestContext } from '../../../common/context.ts'
import { NotFound, OverQuota, registerErrorClass, Invalid } from '../../../common/errors.ts'
import { respond, type Route } from '../../../service/http.ts'
import { countKeyPairs, createKeyPair, deleteKeyPair, getKeyPair, listKeyPairs } from '../../db/keypairs.ts'
import {
  generateSshKeyPair,
  generateX509KeyPair,
  sshFingerprint,
  x509Fingerprint,
} from '../../keypair-crypto.ts'
import type { KeyPair } from '../../objects.ts'
import {
  collectionLinks,
  first,
  limitAndMarker,
  naiveTime,
  normalizeName,
  versionedRoute,
  type ComputeRequest,
} from '../common.ts'
import type { ApiDeps } from '../deps.ts'
import { CREATE_SCHEMAS, INDEX_QUERY_SCHEMAS, ITEM_QUERY_SCHEMAS } from '../schemas/keypairs.ts'
import { schemaFor, validateBody, validateQuery } from '../validation.ts'

/** Nova's KeypairLimitExceeded (403). */
export class KeypairLimitExceeded extends OverQuota {}
registerErrorClass(KeypairLimitExceeded)

/** os-keypairs: per-user key pairs, imported or (until 2.92) generated. */
export function keypairRoutes(deps: ApiDeps): Route[] {
  return [
    versionedRoute({ method: 'GET', path: '/v2.1/os-keypairs', handler: (req) => listKeypairs(deps, req) }),
    versionedRoute({ method: 'POST', path: '/v2.1/os-keypairs', handler: (req) => createKeypair(deps, req) }),
    versionedRoute({
      method: 'GET',
      path: '/v2.1/os-keypairs/:name',
      handler: (req) => showKeypair(deps, req),
    }),
    versionedRoute({
      method: 'DELETE',
      path: '/v2.1/os-keypairs/:name',
      handler: (req) => deleteKeypair(deps, req),
    }),
  ]
}

/** From 2.10 an admin may name another user (`?user_id=` or `keypair.user_id`). */
function userIdOf(req: ComputeRequest, given?: string): string {
  const fromQuery = req.mv.atLeast('2.10') ? first(req.query, 'user_id') : undefined
  return given ?? fromQuery ?? req.api.ctx.userId ?? ''
}

function view(k: KeyPair, fields: readonly string[]): Record<string, unknown> {
  const all: Record<string, unknown> = {
    name: k.name,
    public_key: k.publicKey,
    fingerprint: k.fingerprint,
    user_id: k.userId,
    type: k.type,
    created_at: naiveTime(k.createdAt),
    updated_at: naiveTime(k.updatedAt),
    deleted: false,
    deleted_at: null,
    id: k.id,
  }
  return Object.fromEntries(fields.map((f) => [f, all[f]]))
}

const INDEX_FIELDS = ['name', 'public_key', 'fingerprint']
const CREATE_FIELDS = [...INDEX_FIELDS, 'user_id']
const SHOW_FIELDS = [...CREATE_FIELDS, 'created_at', 'deleted', 'deleted_at', 'id', 'updated_at']

async function createKeypair(deps: ApiDeps, req: ComputeRequest) {
  validateBody(schemaFor(CREATE_SCHEMAS, req.mv)!, req.body)
  const ctx = req.api.ctx
  const params = (req.body as { keypair: Record<string, string> }).keypair
  const userId = req.mv.atLeast('2.10') ? (params.user_id ?? ctx.userId ?? '') : (ctx.userId ?? '')
  deps.policy.authorize(ctx, 'os_compute_api:os-keypairs:create', { user_id: userId })
  const type = (params.type ?? 'ssh') as 'ssh' | 'x509'
  const name = normalizeName(params.name!)
  await checkKeypairQuota(deps, ctx, userId)
  let privateKey: string | undefined
  let material: { publicKey: string; fingerprint: string }
  if (params.public_key !== undefined) {
    const publicKey = params.public_key
    material = {
      publicKey,
      fingerprint: type === 'x509' ? x509Fingerprint(publicKey) : sshFingerprint(publicKey),
    }
  } else {
    const generated =
      type === 'x509' ? generateX509KeyPair(userId, ctx.projectId ?? '') : generateSshKeyPair()
    privateKey = generated.privateKey
    material = generated
  }
  const keypair = await createKeyPair(deps.db.kysely, { name, userId, type, ...material })
  const fields = [
    ...(privateKey ? ['private_key'] : []),
    ...(req.mv.atLeast('2.2') ? ['type'] : []),
    ...CREATE_FIELDS,
  ]
  const body = {
    keypair: {
      ...view(
        keypair,
        fields.filter((f) => f !== 'private_key'),
      ),
      ...(privateKey ? { private_key: privateKey } : {}),
    },
  }
  return respond(req.mv.atLeast('2.2') ? 201 : 200, body)
}

/** Nova's key pair quota: counted per user, against the user's limit in the caller's project. */
async function checkKeypairQuota(deps: ApiDeps, ctx: RequestContext, userId: string): Promise<void> {
  const allowed = (await deps.quotas.limits(deps.db.kysely, ctx.projectId ?? '', userId)).key_pairs
  if (allowed < 0) return
  const count = await countKeyPairs(deps.db.kysely, userId)
  if (count + 1 > allowed) throw new KeypairLimitExceeded('Quota exceeded, too many key pairs.')
}

async function listKeypairs(deps: ApiDeps, req: ComputeRequest) {
  validateQuery(schemaFor(INDEX_QUERY_SCHEMAS, req.mv)!, req.query)
  const userId = userIdOf(req)
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-keypairs:index', { user_id: userId })
  const paged = req.mv.atLeast('2.35')
  const { limit, marker } = paged ? limitAndMarker(req) : { limit: undefined, marker: undefined }
  let page
  try {
    page = await listKeyPairs(deps.db.kysely, userId, { limit, marker })
  } catch (err) {
    if (err instanceof NotFound && marker !== undefined) throw new Invalid(err.message)
    throw err
  }
  const fields = req.mv.atLeast('2.2') ? [...INDEX_FIELDS, 'type'] : INDEX_FIELDS
  const keypairs = page.items.map((k) => ({ keypair: view(k, fields) }))
  if (!paged) return { keypairs }
  const links = collectionLinks(req, 'os-keypairs', page.items.length, page.items.at(-1)?.name)
  return links.length ? { keypairs, keypairs_links: links } : { keypairs }
}

async function showKeypair(deps: ApiDeps, req: ComputeRequest) {
  validateQuery(schemaFor(ITEM_QUERY_SCHEMAS, req.mv)!, req.query)
  const userId = userIdOf(req)
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-keypairs:show', { user_id: userId })
  const keypair = await getKeyPair(deps.db.kysely, userId, req.params.name!)
  const fields = req.mv.atLeast('2.2') ? [...SHOW_FIELDS, 'type'] : SHOW_FIELDS
  return { keypair: view(keypair, fields) }
}

async function deleteKeypair(deps: ApiDeps, req: ComputeRequest) {
  validateQuery(schemaFor(ITEM_QUERY_SCHEMAS, req.mv)!, req.query)
  const userId = userIdOf(req)
  deps.policy.authorize(req.api.ctx, 'os_compute_api:os-keypairs:delete', { user_id: userId })
  await deleteKeyPair(deps.db.kysely, userId, req.params.name!)
  return respond(req.mv.atLeast('2.2') ? 204 : 202)
}
