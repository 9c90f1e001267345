import { Invalid, NimbusError, NotFound, registerErrorClass } from '../common/errors.ts'

/**
 * The image as other services see it (Nova's `ImageMeta`): what the image
 * service's door (`image/client.ts`) answers, whether in process or over
 * Glance's HTTP API. Plain data: it crosses RPC in build requests.
 */
export interface ImageMeta {
  readonly id: string
  readonly name: string | null
  readonly status: string
  readonly minRamMb: number
  readonly minDiskGb: number
  readonly sizeBytes: number
  readonly diskFormat: string | null
  readonly containerFormat: string | null
  /** Glance's `checksum`: md5 hex of the data; null before upload. Optional: older messages lack it. */
  readonly checksum?: string | null | undefined
  /** Glance's `os_hash_algo` (sha512) and `os_hash_value`, the multihash of the data. */
  readonly osHashAlgo?: string | null | undefined
  readonly osHashValue?: string | null | undefined
  /** The extra (free-form) properties. */
  readonly properties: Readonly<Record<string, string>>
}

/** Nova's ImageNotFound ("Image X could not be found."). */
export class ImageNotFound extends NotFound {}
registerErrorClass(ImageNotFound)

/** Nova's ImageNotActive ("Image X is not active."), a 400 at create. */
export class ImageNotActive extends Invalid {}
registerErrorClass(ImageNotActive)

/** The image service answered with something its client did not expect, or not at all. */
export class ImageServiceError extends NimbusError {
  override readonly status: number = 500
}
registerErrorClass(ImageServiceError)
