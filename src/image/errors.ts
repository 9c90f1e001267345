import { NimbusError, registerErrorClass } from '../common/errors.ts'

/** 410: the image was deleted while its data was being uploaded (Glance answers Gone). */
export class ImageGone extends NimbusError {
  override readonly status: number = 410
}

/** 416: a download `Range` the image's size cannot satisfy. */
export class RangeNotSatisfiable extends NimbusError {
  override readonly status: number = 416
}

for (const cls of [ImageGone, RangeNotSatisfiable]) registerErrorClass(cls)
