import type { TransportKind } from './session.js'
import type { FanoutStats, FanoutStatus } from '../lib/cluster/fanout.js'

/** `fastify.wamp.stats()`: a snapshot of this instance (docs/observability.md). Counters only grow. */
export interface WampStats {
  /** Connections of every transport, welcomed or not. */
  connections: number
  /** Open WAMP sessions. */
  sessions: number
  /** Open sessions by realm, then by authrole. */
  sessionsByRealm: Record<string, Record<string, number>>
  /** Open sessions by transport kind (`websocket`, `rawsocket`, `longpoll`); a kind without sessions is absent. */
  sessionsByTransport: Partial<Record<TransportKind, number>>
  /** Client registrations (REGISTER), counted per callee session. */
  registrations: number
  /** Client subscriptions, counted per subscriber session. */
  subscriptions: number
  /** Client → app and routed calls in flight (asynchronous ones; a synchronous handler answers at once). */
  callsInFlight: number
  /** App → client calls awaiting the client's answer. */
  invocationsInFlight: number
  /** Bytes queued in the sockets' send buffers. */
  bufferedBytes: number
  counters: WampCounters
  /** The fan-out engine: status and its counters. */
  fanout: FanoutStats & { status: FanoutStatus }
  /** Call duration histograms, with `metrics: true`. */
  latency?: WampLatency
  /** Rates over the last second, with `metrics: true`. */
  rates?: WampRates
}

/** `stats().counters`: monotonic counters since the plugin started. */
export interface WampCounters {
  /** Client → app CALLs that reached a procedure. */
  calls: number
  /** ERROR answers to client CALLs, every cause (no such procedure, invalid argument, handler error…). */
  callErrors: number
  /** The same by error URI: the first 256 distinct URIs, later ones together under the key `(other)`. */
  errorsByUri: Record<string, number>
  /** App → client calls (`session.call`, `fastify.wamp.call`). */
  invocations: number
  /** Client → client calls routed to a callee (router mode). */
  routedCalls: number
  /** The app's publications and client PUBLISHes brokered to subscribers. */
  publications: number
  /** EVENTs written to sockets on this instance. */
  events: number
  sessionsOpened: number
  sessionsClosed: number
  /** WebSocket message payload received (text frames: counted in UTF-16 code units, i.e. ≈ bytes for ASCII). */
  bytesIn: number
  /** WebSocket message payload sent (the same measure). */
  bytesOut: number
}

/** A histogram in Prometheus's form: cumulative counts per upper bound (seconds), then +Inf last. */
export interface HistogramSnapshot {
  /** Upper bounds in seconds (`le`), +Inf excluded. */
  buckets: readonly number[]
  /** Cumulative counts: `counts[i]` observations ≤ `buckets[i]`; the last (one more than buckets) is +Inf. */
  counts: number[]
  count: number
  /** Sum of the observations, in seconds. */
  sum: number
}

/** `stats().latency`: call durations by kind (`metrics: true`). */
export interface WampLatency {
  /** Client → app: CALL received → RESULT or ERROR sent. */
  clientToApp: HistogramSnapshot
  /** App → client: INVOCATION sent → YIELD or ERROR received (or timeout, cancel). */
  appToClient: HistogramSnapshot
  /** Client → client, router mode: CALL routed → the caller's answer. */
  routed: HistogramSnapshot
}

/** `stats().rates`: per second over the last one-second interval (`metrics: true`). */
export interface WampRates {
  /** Calls of every kind (client → app, app → client, routed). */
  callsPerSecond: number
  eventsPerSecond: number
  /** ERROR answers to client CALLs. */
  errorsPerSecond: number
  publicationsPerSecond: number
  /** p99 call duration (all kinds) over that interval, in ms: the upper bound of its histogram bucket. */
  p99Ms: number
}

/** One second of history (the admin dashboard's charts): rates per second, p99 in ms. */
export interface WampSample {
  /** End of the interval, ms since the epoch. */
  t: number
  calls: number
  events: number
  errors: number
  publications: number
  p99Ms: number
}
