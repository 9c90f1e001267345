import type { Visibility } from './model.ts'

/**
 * Who may see an image: Glance's rule, written once. `ImageManager` applies
 * it to one image (Glance's `is_image_visible`); the repository's list query
 * is its SQL form (Glance's `_select_images_query`) built from the same
 * constants. Other services never apply it themselves: they ask the image
 * service through its door (`client.ts`), which answers with this rule.
 */

/** The caller, as far as visibility cares. */
export interface Viewer {
  readonly projectId: string | undefined
  readonly isAdmin: boolean
}

/** The image fields the rule reads. */
export interface VisibilitySubject {
  readonly owner: string | null
  readonly visibility: string
}

/** Visibilities every project sees (community images are listed only on request, but always shown by id). */
export const VISIBLE_TO_ALL: readonly Visibility[] = ['public', 'community']
/** The visibility whose images members of the image see too. */
export const VISIBLE_TO_MEMBERS: Visibility = 'shared'

/**
 * Whether `viewer` may see `image`: admins and ownerless images always;
 * public and community for all; the owner's project; for a shared image,
 * its members whatever their membership status (Glance shows a shared image
 * by id to every member). `isMember` is asked only in that last case.
 */
export async function imageVisible(
  viewer: Viewer,
  image: VisibilitySubject,
  isMember: (projectId: string) => Promise<boolean>,
): Promise<boolean> {
  if (viewer.isAdmin || image.owner === null) return true
  if (VISIBLE_TO_ALL.includes(image.visibility as Visibility)) return true
  if (viewer.projectId === undefined) return false
  if (viewer.projectId === image.owner) return true
  if (image.visibility !== VISIBLE_TO_MEMBERS) return false
  return isMember(viewer.projectId)
}
