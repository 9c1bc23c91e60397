import type { Session } from './session/session.js'
import type { FanoutAdapter } from './cluster/fanout.js'
import type { HistogramSnapshot, WampRates, WampStats } from '../types/stats.js'

export type { WampStats }

/**
 * Upper bounds of the call duration histograms, in seconds (Prometheus `le`): 100 µs … 10 s, then +Inf. Fixed,
 * so an observation is a short scan and one array increment, and histograms of several instances add up.
 */
export const LATENCY_BUCKETS: readonly number[] = Object.freeze([0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])
const BOUNDS_MS = LATENCY_BUCKETS.map((s) => s * 1000)

/** A call duration histogram: per-bucket counts (not cumulative; the last is +Inf) and the sum in ms. */
export class Histogram {
  readonly counts: number[]
  sumMs: number

  constructor () {
    this.counts = new Array<number>(BOUNDS_MS.length + 1).fill(0)
    this.sumMs = 0
  }

  observe (ms: number): void {
    let i = 0
    while (i < BOUNDS_MS.length && ms > BOUNDS_MS[i]) i++
    this.counts[i]++
    this.sumMs += ms
  }

  snapshot (): HistogramSnapshot {
    const cumulative: number[] = []
    let n = 0
    for (const c of this.counts) cumulative.push(n += c)
    return { buckets: LATENCY_BUCKETS, counts: cumulative, count: n, sum: this.sumMs / 1000 }
  }
}

/** The three call duration histograms (`metrics: true`). */
export interface Latency {
  /** Client → app: CALL received → RESULT/ERROR sent. */
  readonly clientToApp: Histogram
  /** App → client: INVOCATION sent → YIELD/ERROR received (or timeout, cancel). */
  readonly appToClient: Histogram
  /** Client → client (router mode): CALL routed → answer sent to the caller. */
  readonly routed: Histogram
}

/**
 * Distinct error URIs counted one by one in `errorsByUri`; later ones are counted together under `OTHER_ERRORS`.
 * The URIs are not all ours to choose: in router mode a callee's ERROR passes its URI to the caller, so without a
 * bound a client answering every call with a fresh URI grew the map (and the Prometheus exposition) without end.
 */
export const MAX_ERROR_URIS = 256
/** The `errorsByUri` key of errors past the first MAX_ERROR_URIS distinct URIs (not a URI, so it cannot clash). */
export const OTHER_ERRORS = '(other)'

/**
 * Monotonic counters of one `fastify.wamp`, bumped on the hot path with plain integer increments; the rest of
 * `stats()` is counted from the live sessions when asked.
 */
export class Counters {
  /** Client → app CALLs that reached a procedure. */
  calls: number
  /** ERROR answers to client CALLs (every cause, routed calls included), total and by URI. */
  callErrors: number
  readonly errors: Map<string, number>
  /** App → client INVOCATIONs (`session.call`, `fastify.wamp.call`). */
  invocations: number
  /** Client → client calls routed to a callee (router mode). */
  routedCalls: number
  /** Publications: the app's, and client PUBLISHes brokered to subscribers. */
  publications: number
  /** EVENTs written to sockets on this instance. */
  events: number
  sessionsOpened: number
  sessionsClosed: number
  /** Bytes received and sent by sockets already closed (the open ones count on their transport). */
  closedBytesIn: number
  closedBytesOut: number
  /** Only with `metrics: true`: undefined keeps the call paths from reading the clock. */
  readonly latency: Latency | undefined

  constructor (latency = false) {
    this.calls = 0
    this.callErrors = 0
    this.errors = new Map()
    this.invocations = 0
    this.routedCalls = 0
    this.publications = 0
    this.events = 0
    this.sessionsOpened = 0
    this.sessionsClosed = 0
    this.closedBytesIn = 0
    this.closedBytesOut = 0
    this.latency = latency ? { clientToApp: new Histogram(), appToClient: new Histogram(), routed: new Histogram() } : undefined
  }

  failed (uri: string): void {
    this.callErrors++
    const count = this.errors.get(uri)
    if (count !== undefined) this.errors.set(uri, count + 1)
    else if (this.errors.size < MAX_ERROR_URIS) this.errors.set(uri, 1)
    else this.errors.set(OTHER_ERRORS, (this.errors.get(OTHER_ERRORS) ?? 0) + 1)
  }
}

/** The `fastify.wamp.stats()` snapshot. */
export function snapshot (counters: Counters, sessions: Iterable<Session>, connections: Iterable<Session>, fanout: FanoutAdapter,
  rates: WampRates | undefined): WampStats {
  // Maps, not object literals: an authrole is the application's, but often taken from what the client sent, and
  // `constructor` or `__proto__` as a key of `{}` would read (or set) the prototype — a count turned into a string.
  const byRealm = new Map<string, Map<string, number>>()
  const byTransport: Record<string, number> = {}
  let registrations = 0
  let subscriptions = 0
  let callsInFlight = 0
  let invocationsInFlight = 0
  let count = 0
  for (const session of sessions) {
    count++
    const realm = session.joined?.name ?? ''
    let roles = byRealm.get(realm)
    if (roles === undefined) byRealm.set(realm, roles = new Map())
    roles.set(session.authrole, (roles.get(session.authrole) ?? 0) + 1)
    byTransport[session.transport.kind] = (byTransport[session.transport.kind] ?? 0) + 1
    registrations += session.registrations.size
    subscriptions += session.subscriptions.size
    callsInFlight += session.calls.size
    invocationsInFlight += session.invocations.size
  }
  let live = 0
  let bufferedBytes = 0
  let bytesIn = counters.closedBytesIn
  let bytesOut = counters.closedBytesOut
  for (const session of connections) {
    live++
    bufferedBytes += session.transport.buffered
    bytesIn += session.transport.bytesIn
    bytesOut += session.transport.bytesOut
  }
  const stats: WampStats = {
    connections: live,
    sessions: count,
    // fromEntries defines own properties, so every authrole is a plain key of the answer.
    sessionsByRealm: Object.fromEntries([...byRealm].map(([realm, roles]) => [realm, Object.fromEntries(roles)])),
    sessionsByTransport: byTransport,
    registrations,
    subscriptions,
    callsInFlight,
    invocationsInFlight,
    bufferedBytes,
    counters: {
      calls: counters.calls,
      callErrors: counters.callErrors,
      errorsByUri: Object.fromEntries(counters.errors),
      invocations: counters.invocations,
      routedCalls: counters.routedCalls,
      publications: counters.publications,
      events: counters.events,
      sessionsOpened: counters.sessionsOpened,
      sessionsClosed: counters.sessionsClosed,
      bytesIn,
      bytesOut
    },
    fanout: { status: fanout.status, ...fanout.stats }
  }
  const latency = counters.latency
  if (latency !== undefined) {
    stats.latency = { clientToApp: latency.clientToApp.snapshot(), appToClient: latency.appToClient.snapshot(), routed: latency.routed.snapshot() }
  }
  if (rates !== undefined) stats.rates = rates
  return stats
}

/** The p-quantile (0–1) of a histogram's per-bucket counts, in ms: the upper bound of its bucket (10 s past the last). */
export function quantileMs (counts: readonly number[], p: number): number {
  let total = 0
  for (const c of counts) total += c
  if (total === 0) return 0
  const rank = Math.ceil(total * p)
  let n = 0
  for (let i = 0; i < counts.length; i++) {
    n += counts[i]
    if (n >= rank) return BOUNDS_MS[Math.min(i, BOUNDS_MS.length - 1)]
  }
  return BOUNDS_MS[BOUNDS_MS.length - 1]
}
