/**
 * The compute API's microversion range. The maximum rises only when every
 * microversion up to it is implemented as Nova defines it.
 */
export const COMPUTE_MIN_MICROVERSION = '2.1'
export const COMPUTE_MAX_MICROVERSION = '2.1'
