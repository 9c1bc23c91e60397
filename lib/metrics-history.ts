import type { Counters } from './metrics.js'
import { quantileMs } from './metrics.js'
import type { WampRates, WampSample } from '../types/stats.js'

/** Seconds of history kept (`stats().rates`, the admin dashboard's charts). */
export const HISTORY_SECONDS = 300

/**
 * Once a second (`metrics: true`), the counters' increase since the last tick: the rates of `stats().rates` and
 * a ring of the last HISTORY_SECONDS samples. One timer per plugin, unref'd; nothing on the call paths.
 */
export class MetricsHistory {
  private readonly counters: Counters
  private readonly samples: WampSample[]
  private last: { t: number, calls: number, events: number, errors: number, publications: number, buckets: number[] }
  private timer: NodeJS.Timeout | undefined

  constructor (counters: Counters) {
    this.counters = counters
    this.samples = []
    this.last = this.read(Date.now())
    this.timer = undefined
  }

  start (interval = 1000): void {
    this.timer ??= setInterval(() => this.tick(), interval).unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** The rates over the last completed interval (zeros before the first). */
  rates (): WampRates {
    const s = this.samples[this.samples.length - 1]
    return s === undefined
      ? { callsPerSecond: 0, eventsPerSecond: 0, errorsPerSecond: 0, publicationsPerSecond: 0, p99Ms: 0 }
      : { callsPerSecond: s.calls, eventsPerSecond: s.events, errorsPerSecond: s.errors, publicationsPerSecond: s.publications, p99Ms: s.p99Ms }
  }

  /** The samples, oldest first. */
  history (): WampSample[] {
    return this.samples.slice()
  }

  tick (): void {
    const now = this.read(Date.now())
    const seconds = Math.max(0.001, (now.t - this.last.t) / 1000)
    const per = (a: number, b: number): number => Math.round(((a - b) / seconds) * 10) / 10
    const delta = now.buckets.map((n, i) => n - this.last.buckets[i])
    this.samples.push({
      t: now.t,
      calls: per(now.calls, this.last.calls),
      events: per(now.events, this.last.events),
      errors: per(now.errors, this.last.errors),
      publications: per(now.publications, this.last.publications),
      p99Ms: quantileMs(delta, 0.99)
    })
    if (this.samples.length > HISTORY_SECONDS) this.samples.shift()
    this.last = now
  }

  private read (t: number): { t: number, calls: number, events: number, errors: number, publications: number, buckets: number[] } {
    const c = this.counters
    const buckets: number[] = []
    const l = c.latency
    if (l !== undefined) {
      for (let i = 0; i < l.clientToApp.counts.length; i++) buckets.push(l.clientToApp.counts[i] + l.appToClient.counts[i] + l.routed.counts[i])
    }
    return { t, calls: c.calls + c.invocations + c.routedCalls, events: c.events, errors: c.callErrors, publications: c.publications, buckets }
  }
}
