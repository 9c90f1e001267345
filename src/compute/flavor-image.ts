import { Forbidden, Invalid } from '../common/errors.ts'
import type { FlavorSnapshot } from './objects.ts'

/** What compute checks of an image against a flavor, at the API and again on the host. */
export interface ImageSizes {
  readonly minRamMb: number
  readonly minDiskGb: number
  readonly sizeBytes: number
}

const GIB_BYTES = 1024 ** 3

/**
 * Nova's `_validate_flavor_image_nostatus`: memory against min_ram, the root
 * disk against the image size and min_disk, and zero-disk flavors (admins
 * only, since they imply a volume).
 */
export function checkFlavorFitsImage(flavor: FlavorSnapshot, image: ImageSizes, isAdmin: boolean): void {
  if (flavor.memoryMb < image.minRamMb) throw new Invalid("Flavor's memory is too small for requested image.")
  const minDisk = image.minDiskGb * GIB_BYTES
  const dest = flavor.rootGb * GIB_BYTES
  if (dest === 0) {
    if (!isAdmin) throw new Forbidden('Only volume-backed servers are allowed for flavors with zero disk.')
    return
  }
  if (image.sizeBytes > dest) {
    throw new Invalid(
      `Flavor's disk is too small for requested image. Flavor disk is ${dest} bytes, image is ${image.sizeBytes} bytes.`,
    )
  }
  if (minDisk > dest) {
    throw new Invalid(
      `Flavor's disk is too small for requested image. Flavor disk is ${dest} bytes, minimum size is ${minDisk} bytes.`,
    )
  }
}
