import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * The metadata proxy's proof that it named the instance (Nova's
 * `_validate_shared_secret`): `X-Instance-ID-Signature` is the hex
 * HMAC-SHA256 of the instance id keyed with `[metadata]
 * metadata_proxy_shared_secret`. Only the proxy and the metadata service
 * know the secret, so a guest that sends its own X-Instance-ID cannot sign it.
 */
export function signInstanceId(secret: string, instanceId: string): string {
  return createHmac('sha256', secret).update(instanceId, 'utf8').digest('hex')
}

/** Constant-time check of a signature (Nova: hmac.compare_digest). */
export function validSignature(secret: string, instanceId: string, signature: string | undefined): boolean {
  if (!signature) return false
  const expected = Buffer.from(signInstanceId(secret, instanceId), 'utf8')
  const given = Buffer.from(signature, 'utf8')
  return expected.length === given.length && timingSafeEqual(expected, given)
}
