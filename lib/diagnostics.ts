import { tracingChannel } from 'node:diagnostics_channel'
import type { Session } from './session/session.js'
import type { TraceContext } from './trace-context.js'

/**
 * Node `diagnostics_channel` TracingChannels for the WAMP work (docs/observability.md). Every call site checks
 * `hasSubscribers` first, so with nobody listening no context object is built. A context object is the same
 * object through one operation's start … asyncEnd, as TracingChannel subscribers (e.g. an OpenTelemetry bridge)
 * expect: they may store their span on it.
 */

/** Who did it: the WAMP session's identity, on every context. */
export interface SessionFields {
  realm: string
  sessionId: number
  authid: string
  authrole: string
  authmethod: string
  /** `json`, `msgpack` or `cbor`. */
  serializer: string
}

/** `fastify-wamp:session`: start/end at WELCOME, asyncStart/asyncEnd when the session ends. */
export interface SessionTrace extends SessionFields {
  /** When the session was welcomed (ms since the epoch). */
  openedAt: number
  /** Set at asyncEnd: how long the session lasted in ms. */
  duration?: number
}

/**
 * The W3C trace context an operation continues (docs/observability.md, "Trace context"). At `start` it is the
 * parent's: what the client sent in CALL.Options (`_traceparent`, `_tracestate`), what the app passed in the call's
 * options, or what the calling instance sent through Redis. A subscriber that starts a span may replace both fields
 * during `start` with its span's context: what is there when `start` returns goes on to the next hop (another
 * instance). Undefined: no trace context.
 */
export interface TraceFields {
  traceparent?: string
  tracestate?: string
}

/** `fastify-wamp:call` (client → app) and `fastify-wamp:invoke` (app → client, client → client routed). */
export interface CallTrace extends SessionFields, TraceFields {
  procedure: string
  /** The request id on this session's wire (CALL for `call`, INVOCATION for `invoke`). */
  requestId: number
  /**
   * `invoke`: `app` for the app's calls, `routed` for a client's call (here or from another instance). `call`:
   * undefined for a call to an app procedure, `cluster` for a client's CALL sent to a callee on another instance
   * (router mode with cluster RPC; the callee's instance traces it as `invoke` `routed`).
   */
  kind?: 'app' | 'routed' | 'cluster'
  /** `invoke` with kind `routed`: the calling session. */
  callerId?: number
  /** True once the handler (or callee) went asynchronous: the outcome comes at asyncStart/asyncEnd. */
  async: boolean
  /** The WAMP error URI the call ended with (set before the `error` event). */
  errorUri?: string
  /** What the handler threw or rejected with, or a description of the WAMP error. */
  error?: unknown
}

/** A call's context with what the call sites need. */
export interface CallState extends CallTrace {
  /** The outcome was published. */
  done: boolean
}

/** `fastify-wamp:publish`: synchronous start/end around one publication's local delivery. */
export interface PublishTrace extends TraceFields {
  realm: string
  topic: string
  /** The publishing client, for a client PUBLISH brokered to subscribers; undefined for the app's publications. */
  sessionId?: number
  authid?: string
  authrole?: string
  /** Set at end: EVENTs sent on this instance. */
  receivers?: number
  /** A publication from another instance, delivered here (its publisher's identity is not carried). */
  remote: boolean
}

/** `fastify-wamp:subscribe` and `fastify-wamp:register`: a client's SUBSCRIBE/REGISTER succeeded (start/end). */
export interface ClientEventTrace extends SessionFields {
  uri: string
  match: string
  /** Subscription or registration id. */
  id: number
}

export const sessionChannel = tracingChannel<string, SessionTrace & object>('fastify-wamp:session')
export const callChannel = tracingChannel<string, CallTrace & object>('fastify-wamp:call')
export const invokeChannel = tracingChannel<string, CallTrace & object>('fastify-wamp:invoke')
export const publishChannel = tracingChannel<string, PublishTrace & object>('fastify-wamp:publish')
export const subscribeChannel = tracingChannel<string, ClientEventTrace & object>('fastify-wamp:subscribe')
export const registerChannel = tracingChannel<string, ClientEventTrace & object>('fastify-wamp:register')

type Channels = typeof callChannel

/** The serializer's name from the subprotocol (`wamp.2.json` → `json`). */
function serializerOf (session: Session): string {
  return session.protocol.slice(7)
}

// Context objects are built as one literal each (no spread): V8 gives them one fast shape, and a spread of the
// session fields measured ~1.5 µs per object on Node 20.

// ---- sessions ------------------------------------------------------------------------------------------------

const openSessions = new WeakMap<Session, SessionTrace>()

export function traceSessionOpen (session: Session): void {
  const trace: SessionTrace = {
    realm: session.joined?.name ?? '',
    sessionId: session.id,
    authid: session.authid,
    authrole: session.authrole,
    authmethod: session.authmethod,
    serializer: serializerOf(session),
    openedAt: session.connectedAt.getTime()
  }
  openSessions.set(session, trace)
  sessionChannel.start.publish(trace)
  sessionChannel.end.publish(trace)
}

export function traceSessionClose (session: Session): void {
  const trace = openSessions.get(session)
  if (trace === undefined) return
  openSessions.delete(session)
  trace.duration = Date.now() - trace.openedAt
  sessionChannel.asyncStart.publish(trace)
  sessionChannel.asyncEnd.publish(trace)
}

// ---- calls -----------------------------------------------------------------------------------------------------

/** Publishes `start` and returns the context to finish with `traceReturned` / `traceSettled`. */
export function traceCallStart (channel: Channels, session: Session, procedure: string, requestId: number,
  kind?: 'app' | 'routed' | 'cluster', callerId?: number, parent?: TraceContext): CallState {
  const trace: CallState = {
    realm: session.joined?.name ?? '',
    sessionId: session.id,
    authid: session.authid,
    authrole: session.authrole,
    authmethod: session.authmethod,
    serializer: serializerOf(session),
    procedure,
    requestId,
    kind,
    callerId,
    async: false,
    done: false,
    errorUri: undefined,
    error: undefined,
    traceparent: parent?.traceparent,
    tracestate: parent?.tracestate
  }
  channel.start.publish(trace)
  return trace
}

/** What a traced operation passes on to the next hop: its context's trace fields after `start` (see TraceFields). */
export function traceContextAfterStart (trace: TraceFields): TraceContext | undefined {
  return trace.traceparent === undefined ? undefined : { traceparent: trace.traceparent, tracestate: trace.tracestate }
}

/** The handler returned a promise or async iterator (or the INVOCATION went out): `end` now, outcome later. */
export function traceReturned (channel: Channels, trace: CallState): void {
  if (trace.done) return
  trace.async = true
  channel.end.publish(trace)
}

/** The call's outcome: `error` (if any), then `end` (synchronous) or `asyncStart` + `asyncEnd`. */
export function traceSettled (channel: Channels, trace: CallState, errorUri: string | undefined): void {
  if (trace.done) return
  trace.done = true
  if (errorUri !== undefined) {
    trace.errorUri = errorUri
    trace.error ??= new Error(errorUri)
    channel.error.publish(trace)
  }
  if (!trace.async) return channel.end.publish(trace)
  channel.asyncStart.publish(trace)
  channel.asyncEnd.publish(trace)
}

// ---- pubsub and registrations ----------------------------------------------------------------------------------

export function tracePublishStart (realm: string, topic: string, publisher?: Session, parent?: TraceContext, remote = false): PublishTrace {
  const trace: PublishTrace = {
    realm,
    topic,
    sessionId: publisher?.id,
    authid: publisher?.authid,
    authrole: publisher?.authrole,
    receivers: undefined,
    remote,
    traceparent: parent?.traceparent,
    tracestate: parent?.tracestate
  }
  publishChannel.start.publish(trace)
  return trace
}

export function tracePublishEnd (trace: PublishTrace, receivers: number): void {
  trace.receivers = receivers
  publishChannel.end.publish(trace)
}

export function traceClientEvent (event: 'register' | 'subscribe', session: Session, uri: string, match: string, id: number): void {
  const channel = event === 'register' ? registerChannel : subscribeChannel
  if (!channel.hasSubscribers) return
  const trace: ClientEventTrace = {
    realm: session.joined?.name ?? '',
    sessionId: session.id,
    authid: session.authid,
    authrole: session.authrole,
    authmethod: session.authmethod,
    serializer: serializerOf(session),
    uri,
    match,
    id
  }
  channel.start.publish(trace)
  channel.end.publish(trace)
}
