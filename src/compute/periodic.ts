import { adminContext, runInBackground, runWithContext } from '../common/context.ts'
import { logger } from '../common/log.ts'

const log = logger('periodic')

/**
 * Periodic tasks of a service (Nova's `periodic_task`): each runs every
 * `intervalMs`, never twice at once, in its own admin context so its log
 * lines carry a request id. A failing run is logged and the task goes on.
 * `stop()` cancels the timers and waits for runs in progress.
 */
export class PeriodicTasks {
  readonly #tasks: { name: string; intervalMs: number; fn: () => Promise<unknown> }[] = []
  readonly #timers = new Set<NodeJS.Timeout>()
  /** The run in progress of each task, so a task never runs twice at once. */
  readonly #active = new Map<string, Promise<void>>()
  #stopped = true

  /** Registers a task; tasks start with `start()`. */
  add(name: string, intervalMs: number, fn: () => Promise<unknown>): void {
    this.#tasks.push({ name, intervalMs, fn })
  }

  start(): void {
    this.#stopped = false
    for (const task of this.#tasks) this.#schedule(task)
  }

  /** Runs one task now (tests), outside its schedule. */
  async runNow(name: string): Promise<void> {
    const task = this.#tasks.find((t) => t.name === name)
    if (!task) throw new Error(`no periodic task ${name}`)
    await this.#run(task)
  }

  async stop(): Promise<void> {
    this.#stopped = true
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    await Promise.allSettled([...this.#active.values()])
  }

  #schedule(task: { name: string; intervalMs: number; fn: () => Promise<unknown> }): void {
    if (this.#stopped) return
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      void this.#run(task).finally(() => this.#schedule(task))
    }, task.intervalMs)
    timer.unref()
    this.#timers.add(timer)
  }

  async #run(task: { name: string; fn: () => Promise<unknown> }): Promise<void> {
    const previous = this.#active.get(task.name)
    if (previous) await previous
    const run = runWithContext(adminContext(), () => runInBackground(() => task.fn())).then(
      () => undefined,
      (err: unknown) => {
        log.error({ err, task: task.name }, 'periodic task failed')
      },
    )
    this.#active.set(task.name, run)
    try {
      await run
    } finally {
      if (this.#active.get(task.name) === run) this.#active.delete(task.name)
    }
  }
}
