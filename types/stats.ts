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
}

/** `stats().counters`: monotonic counters since the plugin started. */
export interface WampCounters {
  /** Client → app CALLs that reached a procedure. */
  calls: number
  /** ERROR answers to client CALLs, every cause (no such procedure, invalid argument, handler error…). */
  callErrors: number
  /** The same by error URI. */
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
}
