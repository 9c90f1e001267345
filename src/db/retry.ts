import { AsyncLocalStorage } from 'node:async_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { DatabaseUnavailable } from '../common/errors.ts'
import { inBackground } from '../common/context.ts'
import { limits } from '../common/limits.ts'
import { logger } from '../common/log.ts'
import type { DbFailure } from './errors.ts'

const log = logger('db.retry')

/**
 * Retries on a database that went away (oslo.db's `wrap_db_retry`, applied by
 * the database layer itself, so no caller has to remember it).
 *
 * What is retried: getting a connection; a read, or any statement that was
 * certainly not applied, outside a transaction; and a whole transaction
 * (`Database.transaction`) whose failure left nothing committed. Never a lone
 * statement inside a transaction (its transaction is gone with the
 * connection), and never an autocommit write or a COMMIT that was in flight
 * when the connection died (it may have been applied): those fail with a
 * `DatabaseUnavailable` whose `detail.retryable` is false.
 *
 * Retries pause `dbRetryInitialDelayMs`, doubling up to `dbRetryMaxDelayMs`,
 * for at most `dbRetryRequestWaitMs` in an API request and
 * `dbRetryBackgroundWaitMs` in background work (RPC handlers, periodic
 * tasks), then the last error is thrown: the APIs answer it with 503 and
 * Retry-After.
 */

/** Set while a retry loop runs: inner operations leave the retrying to it. */
const owner = new AsyncLocalStorage<string>()

/** Where a failure happened, which with its `DbFailure` decides whether it may be retried. */
export type DbPhase = 'connect' | 'read' | 'write' | 'in_transaction' | 'commit' | 'rollback'

/** Whether an operation that failed with `failure` during `phase` certainly did not take effect. */
export function safeToRetry(failure: DbFailure, phase: DbPhase): boolean {
  switch (failure) {
    case 'unreachable':
    case 'busy':
      return true
    case 'lost':
      // The connection died mid-statement: a read did nothing; the server
      // rolls back a transaction whose connection is gone. An autocommit
      // write or a COMMIT may have been applied before the reply was lost.
      return phase === 'connect' || phase === 'read' || phase === 'in_transaction' || phase === 'rollback'
    case 'refused':
      return false
  }
}

/** Marks a translated error with whether the failed operation may be retried. */
export function markRetryable(err: unknown, phase: DbPhase): unknown {
  if (err instanceof DatabaseUnavailable) {
    const failure = err.detail.dbFailure as DbFailure | undefined
    err.detail.retryable = failure !== undefined && safeToRetry(failure, phase)
    err.detail.phase = phase
  }
  return err
}

/** Whether `err` is a database failure the layer marked as safe to retry. */
export function isRetryable(err: unknown): boolean {
  return err instanceof DatabaseUnavailable && err.detail.retryable === true
}

/** Whether a retry loop is running around the current call. */
export function insideRetryLoop(): boolean {
  return owner.getStore() !== undefined
}

/** Runs `attempt` once with retries inside it turned off: for a caller with its own loop. */
export function singleAttempt<T>(what: string, attempt: () => Promise<T>): Promise<T> {
  return owner.run(what, attempt)
}

/** The wait budget of the current call chain. */
export function retryWaitMs(): number {
  return inBackground() ? limits.dbRetryBackgroundWaitMs : limits.dbRetryRequestWaitMs
}

/**
 * Runs `attempt` and runs it again while it fails with a retryable database
 * error, within the wait budget. Inside another retry loop it runs once: the
 * outer loop (a whole transaction) owns the retrying. `before(n)` runs before
 * attempt n > 1 (e.g. to replace a dead connection).
 */
export async function withDbRetry<T>(
  what: string,
  attempt: () => Promise<T>,
  before?: (n: number) => Promise<void>,
): Promise<T> {
  if (insideRetryLoop()) return attempt()
  return owner.run(what, async () => {
    const started = Date.now()
    const deadline = started + retryWaitMs()
    let delayMs = limits.dbRetryInitialDelayMs
    for (let n = 1; ; n++) {
      try {
        if (n > 1 && before) await before(n)
        const result = await attempt()
        if (n > 1) log.info({ what, attempts: n, waitedMs: Date.now() - started }, 'database answered again')
        return result
      } catch (err) {
        const leftMs = deadline - Date.now()
        if (!isRetryable(err) || leftMs <= 0) throw err
        const message = err instanceof Error ? err.message : String(err)
        if (n === 1) log.warn({ what, err: message }, 'database unavailable; retrying')
        else log.debug({ what, attempt: n, err: message }, 'database still unavailable')
        // The last pause ends at the deadline, for one last attempt there.
        await sleep(Math.min(delayMs, leftMs))
        delayMs = Math.min(delayMs * 2, limits.dbRetryMaxDelayMs)
      }
    }
  })
}
