import { randomUUID } from 'node:crypto'
import { createReadStream, existsSync, statSync } from 'node:fs'
import { adminContext } from '../common/context.ts'
import type { Config } from '../common/config.ts'
import { logger } from '../common/log.ts'
import { createFlavor } from '../compute/db/flavors.ts'
import type { Database } from '../db/index.ts'
import { buildGuestImage, guestImageCurrent } from '../guest-image/build.ts'
import { debCacheDir, defaultGuestImagePath } from '../guest-image/command.ts'
import { createImageManager } from '../image/client.ts'

const log = logger('cmd.guest-assets')

/** The image and flavor `nimbus up` offers with the libvirt driver (issue #8). */
export const GUEST_IMAGE_NAME = 'nimbus-tiny'
export const GUEST_FLAVOR = {
  name: 'm1.tiny',
  // Nova's m1.tiny.
  memoryMb: 512,
  vcpus: 1,
  rootGb: 1,
} as const

export interface GuestAssets {
  readonly imageId: string
  readonly flavorId: string
  /** What was made now (empty when both existed). */
  readonly made: readonly ('image' | 'flavor')[]
}

/**
 * Makes sure the cloud has flavor `m1.tiny` and a public active image
 * `nimbus-tiny` (the guest image of `nimbus image build`, built first when
 * the file is missing or stale; `imageFile` names an image built already).
 * Idempotent: what exists is reused.
 */
export async function ensureGuestAssets(
  config: Config,
  db: Database,
  opts: { readonly imageFile?: string | undefined } = {},
): Promise<GuestAssets> {
  const made: ('image' | 'flavor')[] = []
  let flavor = await db.kysely
    .selectFrom('flavors')
    .select('flavorid')
    .where('name', '=', GUEST_FLAVOR.name)
    .executeTakeFirst()
  if (!flavor) {
    const free = !(await db.kysely
      .selectFrom('flavors')
      .select('flavorid')
      .where('flavorid', '=', '1')
      .executeTakeFirst())
    const created = await createFlavor(db.kysely, {
      flavorid: free ? '1' : randomUUID(),
      name: GUEST_FLAVOR.name,
      memoryMb: GUEST_FLAVOR.memoryMb,
      vcpus: GUEST_FLAVOR.vcpus,
      rootGb: GUEST_FLAVOR.rootGb,
      ephemeralGb: 0,
      swapMb: 0,
      rxtxFactor: 1,
      isPublic: true,
      description: null,
    })
    flavor = { flavorid: created.flavorid }
    made.push('flavor')
  }
  const existing = await db.kysely
    .selectFrom('images')
    .select('id')
    .where('name', '=', GUEST_IMAGE_NAME)
    .where('status', '=', 'active')
    .executeTakeFirst()
  if (existing) return { imageId: existing.id, flavorId: flavor.flavorid, made }
  const file = opts.imageFile ?? defaultGuestImagePath(config.stateDir)
  if (!opts.imageFile && (!existsSync(file) || !guestImageCurrent(file))) {
    log.info({ file }, 'building the guest image (nimbus image build)')
    await buildGuestImage({ output: file, cacheDir: debCacheDir(config.stateDir) })
  }
  const images = createImageManager(config, db)
  const ctx = adminContext()
  const image = await images.create(ctx, {
    name: GUEST_IMAGE_NAME,
    disk_format: 'qcow2',
    container_format: 'bare',
    visibility: 'public',
  })
  await images.upload(ctx, image.id, createReadStream(file), statSync(file).size)
  made.push('image')
  log.info({ image: image.id, flavor: flavor.flavorid }, 'guest image uploaded')
  return { imageId: image.id, flavorId: flavor.flavorid, made }
}
