import { logger } from '../common/log.ts'

const log = logger('compute.reverter')

/**
 * Undo for multi-step work (Incus's reverter): after each step succeeds,
 * `add` how to undo it; call `success()` when every step is done; call
 * `fail()` in `finally`. If `success()` was not reached, `fail()` runs the
 * undos newest first. An undo that throws is logged and the others still
 * run, so one broken cleanup never strands the rest.
 *
 * ```ts
 * const revert = new Reverter()
 * try {
 *   const ip = await allocate(); revert.add('release ip', () => release(ip))
 *   await spawn(); revert.add('destroy guest', () => destroy())
 *   revert.success()
 * } finally {
 *   await revert.fail()
 * }
 * ```
 */
export class Reverter {
  readonly #undos: { readonly what: string; readonly fn: () => Promise<unknown> | unknown }[] = []
  #done = false

  /** Registers how to undo the step that just succeeded. */
  add(what: string, fn: () => Promise<unknown> | unknown): void {
    this.#undos.push({ what, fn })
  }

  /** Every step succeeded: `fail()` will do nothing. */
  success(): void {
    this.#done = true
  }

  /** Undoes every registered step, newest first, unless `success()` was called. Never throws. */
  async fail(): Promise<void> {
    if (this.#done) return
    this.#done = true
    for (const undo of this.#undos.reverse()) {
      try {
        await undo.fn()
      } catch (err) {
        log.error({ err, undo: undo.what }, 'undo failed')
      }
    }
  }
}
