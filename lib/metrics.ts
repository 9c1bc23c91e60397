import type { Session } from './session/session.js'
import type { FanoutAdapter } from './cluster/fanout.js'
import type { WampStats } from '../types/stats.js'

export type { WampStats }

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

  constructor () {
    this.calls = 0
    this.callErrors = 0
    this.errors = new Map()
    this.invocations = 0
    this.routedCalls = 0
    this.publications = 0
    this.events = 0
    this.sessionsOpened = 0
    this.sessionsClosed = 0
  }

  failed (uri: string): void {
    this.callErrors++
    this.errors.set(uri, (this.errors.get(uri) ?? 0) + 1)
  }
}

/** The `fastify.wamp.stats()` snapshot. */
export function snapshot (counters: Counters, sessions: Iterable<Session>, connections: number, fanout: FanoutAdapter): WampStats {
  const byRealm: Record<string, Record<string, number>> = {}
  const byTransport: Record<string, number> = {}
  let registrations = 0
  let subscriptions = 0
  let callsInFlight = 0
  let invocationsInFlight = 0
  let bufferedBytes = 0
  let count = 0
  for (const session of sessions) {
    count++
    const realm = session.joined?.name ?? ''
    const roles = byRealm[realm] ??= {}
    roles[session.authrole] = (roles[session.authrole] ?? 0) + 1
    byTransport[session.transport.kind] = (byTransport[session.transport.kind] ?? 0) + 1
    registrations += session.registrations.size
    subscriptions += session.subscriptions.size
    callsInFlight += session.calls.size
    invocationsInFlight += session.invocations.size
    bufferedBytes += session.transport.buffered
  }
  return {
    connections,
    sessions: count,
    sessionsByRealm: byRealm,
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
      sessionsClosed: counters.sessionsClosed
    },
    fanout: { status: fanout.status, ...fanout.stats }
  }
}
