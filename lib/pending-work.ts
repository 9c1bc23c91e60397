/**
 * Application code still running on behalf of the plugin: async procedure and topic handlers, async session
 * hooks. Shutdown waits (bounded) for it, so `fastify.close()` does not pull resources from under a handler.
 */
export class PendingWork {
  size: number
  private waiters: Array<() => void>

  constructor () {
    this.size = 0
    this.waiters = []
  }

  /** Counts `work` until it settles, whichever way. */
  add (work: PromiseLike<unknown>): void {
    this.size++
    // Promise.resolve: a foreign thenable whose `then` throws is a rejection here too, never an exception.
    Promise.resolve(work).then(this.done, this.done)
  }

  /** Resolves true once nothing is pending, or false after `ms` with work still running. */
  settled (ms: number): Promise<boolean> {
    if (this.size === 0) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter)
        resolve(false)
      }, ms)
      const waiter = (): void => {
        clearTimeout(timer)
        resolve(true)
      }
      this.waiters.push(waiter)
    })
  }

  private readonly done = (): void => {
    if (--this.size > 0 || this.waiters.length === 0) return
    const waiters = this.waiters
    this.waiters = []
    for (const waiter of waiters) waiter()
  }
}
