import { NimbusError, registerErrorClass } from '../common/errors.ts'

/**
 * The server has no endpoint method of that name (oslo's NoSuchMethod). Sent
 * back to a caller like any other typed error; registered here so the calling
 * side rebuilds this class rather than RemoteError.
 */
export class NoSuchMethod extends NimbusError {
  override readonly status: number = 501
}

registerErrorClass(NoSuchMethod)
