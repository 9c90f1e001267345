import type { RequestContext } from '../common/context.ts'
import { Forbidden, NotFound } from '../common/errors.ts'
import {
  PolicyEngine,
  credentialsFromContext,
  type PolicyRules,
  type PolicyTarget,
} from '../common/policy.ts'
import type { Image } from './model.ts'

/**
 * Glance's authorization, as a Zed cloud with default settings applies it.
 *
 * Rules: Zed's defaults are the secure-RBAC rules below, but with
 * `enforce_new_defaults = False` oslo.policy also accepts each rule's
 * deprecated form, `rule:default` (which is `""`: anyone). So the rule
 * texts here are "new default or rule:default": an operator who sets
 * `default: role:admin` in image.policy_file gets the new defaults.
 *
 * On top of the rules, Glance (with `enforce_secure_rbac = False`) makes
 * hard-coded checks: only the owner or an admin may change, upload, delete,
 * deactivate an image (`checkMutable`), and only an admin may create an
 * image for another project. Visibility (who may see which image) is the
 * repository's query for lists and `canSee` for single images.
 */

const PROJECT_MEMBER = 'role:member and project_id:%(project_id)s'
const PROJECT_READER = 'role:reader and project_id:%(project_id)s'
const IMAGE_MEMBER = 'project_id:%(member_id)s'
const VISIBLE_TO_ALL = "'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s"
const ADMIN_OR_MEMBER = `role:admin or (${PROJECT_MEMBER})`
const ADMIN_OR_READER = `role:admin or (${PROJECT_READER})`
const OR_DEPRECATED = ' or rule:default'

export const IMAGE_POLICY_DEFAULTS: PolicyRules = {
  default: '',
  context_is_admin: 'role:admin',
  add_image: `role:admin or (${PROJECT_MEMBER} and project_id:%(owner)s)${OR_DEPRECATED}`,
  delete_image: ADMIN_OR_MEMBER + OR_DEPRECATED,
  get_image: `role:admin or (role:reader and (project_id:%(project_id)s or ${IMAGE_MEMBER} or ${VISIBLE_TO_ALL}))${OR_DEPRECATED}`,
  get_images: ADMIN_OR_READER + OR_DEPRECATED,
  modify_image: ADMIN_OR_MEMBER + OR_DEPRECATED,
  publicize_image: 'role:admin',
  communitize_image: ADMIN_OR_MEMBER + OR_DEPRECATED,
  download_image: `role:admin or (role:member and (project_id:%(project_id)s or ${IMAGE_MEMBER} or ${VISIBLE_TO_ALL}))${OR_DEPRECATED}`,
  upload_image: ADMIN_OR_MEMBER + OR_DEPRECATED,
  delete_image_location: 'role:admin' + OR_DEPRECATED,
  get_image_location: ADMIN_OR_READER + OR_DEPRECATED,
  set_image_location: ADMIN_OR_MEMBER + OR_DEPRECATED,
  add_member: ADMIN_OR_MEMBER + OR_DEPRECATED,
  delete_member: ADMIN_OR_MEMBER + OR_DEPRECATED,
  get_member: `role:admin or role:reader and (project_id:%(project_id)s or ${IMAGE_MEMBER})${OR_DEPRECATED}`,
  get_members: `role:admin or role:reader and (project_id:%(project_id)s or ${IMAGE_MEMBER})${OR_DEPRECATED}`,
  modify_member: `role:admin or (role:member and ${IMAGE_MEMBER})${OR_DEPRECATED}`,
  deactivate: ADMIN_OR_MEMBER + OR_DEPRECATED,
  reactivate: ADMIN_OR_MEMBER + OR_DEPRECATED,
  copy_image: 'role:admin',
}

/** What a create is about to make, for the create-time rules. */
export interface ProposedImage {
  readonly owner: string | null
  readonly visibility: string
}

export class ImagePolicy {
  readonly #engine: PolicyEngine

  constructor(engine: PolicyEngine) {
    this.#engine = engine
  }

  /** The Glance defaults, with an operator file (YAML or JSON) over them when given. */
  static fromFile(file: string | undefined): ImagePolicy {
    return new ImagePolicy(
      PolicyEngine.fromFile(IMAGE_POLICY_DEFAULTS, file || undefined, {
        forbiddenMessage: (rule) => `You are not authorized to complete ${rule} action.`,
      }),
    )
  }

  /** Glance's context.is_admin: the `context_is_admin` rule (or a context built as admin). */
  isAdmin(ctx: RequestContext): boolean {
    return ctx.isAdmin || this.#engine.check('context_is_admin', credentialsFromContext(ctx))
  }

  /**
   * Enforces `rule` on an existing image, hiding the image (404) when the
   * caller could not even see it, as Glance's ImageAPIPolicy does.
   */
  enforce(ctx: RequestContext, rule: string, image: Image): void {
    const creds = credentialsFromContext(ctx)
    const target = imageTarget(ctx, image)
    if (this.#engine.check(rule, creds, target)) return
    if (rule === 'get_image' || !this.#engine.check('get_image', creds, target)) {
      throw new NotFound(`No image found with ID ${image.id}`)
    }
    this.#engine.enforce(rule, creds, target)
  }

  /** True when `rule` allows the caller on `image` (no hiding, no throwing). */
  check(ctx: RequestContext, rule: string, image: Image): boolean {
    return this.#engine.check(rule, credentialsFromContext(ctx), imageTarget(ctx, image))
  }

  /** `get_images`: may the caller list at all. */
  enforceList(ctx: RequestContext): void {
    this.#engine.enforce('get_images', credentialsFromContext(ctx), { project_id: ctx.projectId ?? null })
  }

  /** `add_image` plus the visibility rules and Glance's owner check, for a create. */
  enforceCreate(ctx: RequestContext, proposed: ProposedImage): void {
    const target = { project_id: proposed.owner, owner: proposed.owner, visibility: proposed.visibility }
    const creds = credentialsFromContext(ctx)
    if (!this.#engine.check('add_image', creds, target)) {
      if (proposed.owner !== (ctx.projectId ?? null)) throw notPermittedOwner(proposed.owner)
      this.#engine.enforce('add_image', creds, target)
    }
    this.enforceVisibility(ctx, proposed.visibility, target)
    if (!this.isAdmin(ctx) && proposed.owner !== (ctx.projectId ?? null))
      throw notPermittedOwner(proposed.owner)
  }

  /** Making an image public or community needs its own rule (publicize_image is admin-only). */
  enforceVisibility(ctx: RequestContext, visibility: unknown, target: PolicyTarget): void {
    const creds = credentialsFromContext(ctx)
    if (visibility === 'public') this.#engine.enforce('publicize_image', creds, target)
    else if (visibility === 'community') this.#engine.enforce('communitize_image', creds, target)
  }

  /** The target an image presents to rules (Glance's ImageTarget). */
  target(ctx: RequestContext, image: Image): PolicyTarget {
    return imageTarget(ctx, image)
  }

  /** Glance's check_is_image_mutable: only the owner (or an admin) changes an image. */
  checkMutable(ctx: RequestContext, image: Image): void {
    if (this.isAdmin(ctx)) return
    if (image.owner === null || ctx.projectId === undefined || image.owner !== ctx.projectId) {
      throw new Forbidden('You do not own this image')
    }
  }
}

function notPermittedOwner(owner: string | null): Forbidden {
  return new Forbidden(`You are not permitted to create images owned by '${owner}'.`)
}

function imageTarget(ctx: RequestContext, image: Image): PolicyTarget {
  // Glance sets `member` on a shared image found by a non-owner: it was found through membership.
  const member =
    image.visibility === 'shared' && ctx.projectId !== image.owner ? (ctx.projectId ?? null) : null
  const { properties, ...fields } = image
  return { ...properties, ...fields, project_id: image.owner, member_id: member }
}
