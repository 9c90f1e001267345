import type { HostState, HostWeigher } from '../types.ts'

/**
 * Pushes down hosts whose recent builds failed (Nova's BuildFailureWeigher),
 * so a broken host stops attracting every new build. The raw weight is the
 * count of consecutive failures; the multiplier is Nova's
 * `build_failure_weight_multiplier` negated, so with the default 1000000 one
 * failure outweighs every resource weigher together.
 */
export class BuildFailureWeigher implements HostWeigher {
  readonly name = 'BuildFailureWeigher'
  readonly multiplier: number

  /** @param configuredMultiplier `build_failure_weight_multiplier` as configured (positive penalises). */
  constructor(configuredMultiplier: number) {
    this.multiplier = -configuredMultiplier
  }

  weigh(host: HostState): number {
    return host.failedBuilds
  }
}
