// Registry lookups that missed while the registry is rebuilt after a Redis outage (./registry.ts): the entry may
// not be rewritten yet, so the lookup is tried again — once a change has been announced since it began, or once the
// rebuild is over. One check every RETRY ms serves every waiting lookup, so a burst of calls to URIs nobody
// registered costs Redis one SMEMBERS per check and a lookup per change announced, not a lookup per call per tick.

/** Milliseconds between the checks of whether the rebuild is over, while lookups wait. */
const RETRY = 50

interface Waiting {
  /** The registry's change count when the lookup began. */
  readonly version: number
  readonly retry: (again: boolean) => void
}

export class MissedLookups {
  /** Resolves true once the rebuild is over (may read Redis). */
  private readonly rebuilt: () => Promise<boolean>
  /** The registry's change count now. */
  private readonly version: () => number
  private readonly waiting: Waiting[]
  private timer: NodeJS.Timeout | undefined
  private checking: boolean

  constructor (rebuilt: () => Promise<boolean>, version: () => number) {
    this.rebuilt = rebuilt
    this.version = version
    this.waiting = []
    this.timer = undefined
    this.checking = false
  }

  /** Resolves true when the lookup begun at `version` should be tried again (false only at `stop()`). */
  wait (version: number): Promise<boolean> {
    return new Promise((resolve) => {
      this.waiting.push({ version, retry: resolve })
      this.timer ??= setInterval(() => { this.check().catch(() => this.release(true)) }, RETRY).unref()
    })
  }

  /** Every waiting lookup is answered `again` (false: the cluster is closing). */
  stop (): void {
    this.release(false)
  }

  private async check (): Promise<void> {
    if (this.checking) return
    this.checking = true
    try {
      if (await this.rebuilt()) return this.release(true)
    } finally {
      this.checking = false
    }
    const now = this.version()
    let kept = 0
    for (const w of this.waiting) {
      if (w.version !== now) w.retry(true)
      else this.waiting[kept++] = w
    }
    this.waiting.length = kept
    if (kept === 0) this.idle()
  }

  private release (again: boolean): void {
    for (const w of this.waiting.splice(0)) w.retry(again)
    this.idle()
  }

  private idle (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }
}
