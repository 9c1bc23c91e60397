import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { EMPTY, MessageType as T, withPayload } from '../wire/messages.js'
import type { Details, Kwargs, WampMessage } from '../wire/messages.js'
import { CloseUri, ErrorUri } from '../wire/uris.js'
import { WampError } from '../wire/wamp-error.js'
import { CloseCode } from '../wire/transport.js'
import type { SessionTransport, TransportSink } from '../wire/transport.js'
import type { Realm } from '../realm/realm.js'
import type { Hub } from '../hub.js'
import type { IncomingCall } from '../rpc/incoming-call.js'
import { callClient } from '../rpc/outgoing-call.js'
import type { CallResult, ClientCallOptions, OutgoingCall } from '../rpc/outgoing-call.js'
import type { PayloadSchema } from '../validation.js'
import type { Subscription } from '../pubsub/subscription.js'
import type { ClientRegistration } from '../rpc/registry.js'
import type { RoutedCall } from '../rpc/routed-call.js'
import type { ClusterRoutedCall } from '../cluster/cluster-call.js'
import { helloTimedOut } from './handshake.js'
import { handle, receiveBatch } from './inbox.js'
import { describeError } from '../wire/serializers/index.js'
import { State } from './state.js'
import { cleanupSession, closeSession, drained } from './teardown.js'
import type { StateValue } from './state.js'
import { CallerStreams } from '../rpc/caller-streams.js'
import type { AuthFlow } from './auth/index.js'
import { RegistrationWaiters } from './registration-waiters.js'
import { revokeRegistration, revokeSubscription } from '../realm/revocation.js'
import type { MatchPolicy } from '../wire/uris.js'
import { peerLog } from './peer-log.js'
import type { PeerLogBudget } from './peer-log.js'
import type { RegistrationInfo, SessionData, WaitOptions, WampSession } from '../../types/session.js'

export type { SessionData }

export { State }

const CLOSE_NORMAL: number = CloseCode.normal
const CLOSE_PROTOCOL_ERROR: number = CloseCode.protocolError

/**
 * One WAMP session: the actor that owns one connection (a `SessionTransport`: WebSocket, RawSocket, long-poll), its
 * state (establishing → open → closing → closed) and its cleanup, which runs exactly once whichever way the
 * connection ends.
 */
export class Session implements WampSession, TransportSink {
  /** Session id, assigned at WELCOME (0 before). */
  id: number
  /** The realm joined at WELCOME; undefined before and after the WAMP session. */
  joined: Realm | undefined
  /** When the session was welcomed (the socket's upgrade time before). */
  connectedAt: Date
  /** The HTTP request that opened the session; undefined on RawSocket. */
  readonly request: FastifyRequest | undefined
  readonly protocol: string
  /** Your per-session state. */
  data: SessionData
  authid: string
  authrole: string
  authmethod: string
  authprovider: string
  authextra: Details
  /** The client roles announced in HELLO, each with the features announced as true (lib/session/handshake.ts). */
  roles: Details
  state: StateValue
  /** Client → server calls in flight (and, in router mode, client → client calls), by CALL request id. */
  readonly calls: Map<number, IncomingCall | RoutedCall | ClusterRoutedCall>
  /** Server → client calls in flight, by INVOCATION request id. */
  readonly invocations: Map<number, OutgoingCall>
  /** Router mode: other clients' calls this session is answering, by INVOCATION request id. */
  readonly routed: Map<number, RoutedCall>
  readonly subscriptions: Set<Subscription>
  readonly registrations: Map<number, ClientRegistration>
  /** The progressive call invocations this caller started, until their final chunk (lib/rpc/caller-streams.ts). */
  readonly streams: CallerStreams
  /** Size in bytes of the frame being handled (what a streamed chunk costs to buffer). */
  frameBytes: number
  /** Streamed input queued unread in this session's calls, in frame bytes (bounded by maxStreamBufferBytes). */
  streamBuffered: number
  /** False when the message being handled carries a value JSON cannot (a BigInt): see lib/wire/serializers/plain-data.ts. */
  portable: boolean
  readonly transport: SessionTransport
  readonly hub: Hub
  helloTimer: NodeJS.Timeout | undefined
  /** The authentication in progress between HELLO and WELCOME (lib/auth). */
  handshake: AuthFlow | undefined
  nextRequestId: number
  /** Shutting down: calls in flight finish, new CALLs are refused (see `drain()`). */
  draining: boolean
  /** Why the last `send` that failed could not encode its message (undefined: it was too large). */
  private unencodable: string | undefined
  /** Async topic handlers still running for this session's PUBLISHes (bounded by maxTopicHandlersPerSession). */
  topicHandlers: number
  /** Messages received while an async authorization decides (lib/session/inbox.ts `hold()`), as (data, isBinary) pairs. @internal */
  held: Array<Buffer | boolean> | undefined
  /** The logger bound to the session id, made on first use (reset by `reestablish`). @internal */
  logger: FastifyBaseLogger | undefined
  /** The logger before WELCOME: the request's, else (no HTTP request) the app's, bound to the transport. */
  private readonly baseLog: FastifyBaseLogger
  /** The log lines its peer can still cause (lib/session/peer-log.ts), made at the first one. */
  peerLogBudget: PeerLogBudget | undefined
  /** Resolves the `close()` promises once the socket has closed (lib/session/teardown.ts). @internal */
  onClosed: (() => void) | undefined
  /** Resolves the `drain()` promise once the last call in flight has settled. @internal */
  onDrained: (() => void) | undefined
  /** `registered()` calls waiting for a REGISTER. @internal */
  waiters: RegistrationWaiters | undefined
  /** After the client's GOODBYE: the session that took the socket over (PROTOCOL §7.8). @internal */
  successor: Session | undefined

  constructor (hub: Hub, transport: SessionTransport, request?: FastifyRequest) {
    this.id = 0
    this.joined = undefined
    this.connectedAt = new Date()
    this.request = request
    this.protocol = `wamp.2.${transport.serializer.id}${transport.batched ? '.batched' : ''}`
    this.data = {}
    this.authid = ''
    this.authrole = ''
    this.authmethod = ''
    this.authprovider = ''
    this.authextra = EMPTY
    this.roles = EMPTY
    this.state = State.establishing
    this.calls = new Map()
    this.invocations = new Map()
    this.routed = new Map()
    this.subscriptions = new Set()
    this.registrations = new Map()
    this.streams = new CallerStreams(this.calls, hub.options.maxCallsPerSession, hub.options.streamGrace)
    this.frameBytes = 0
    this.streamBuffered = 0
    this.portable = true
    this.transport = transport
    this.hub = hub
    this.helloTimer = hub.options.helloTimeout > 0 ? setTimeout(helloTimedOut, hub.options.helloTimeout, this) : undefined
    this.handshake = undefined
    this.nextRequestId = 1
    this.draining = false
    this.unencodable = undefined
    this.topicHandlers = 0
    this.held = undefined
    this.logger = undefined
    this.baseLog = request !== undefined ? request.log : hub.log.child({ transport: transport.kind, remoteAddress: transport.remoteAddress })
    this.peerLogBudget = undefined
    this.onClosed = undefined
    this.onDrained = undefined
    this.waiters = undefined
    this.successor = undefined
    transport.attach(this)
  }

  /** A child of the request's logger (without one, of the app's), bound to this session's id. */
  get log (): FastifyBaseLogger {
    // Before WELCOME there is no id to bind: the request's logger (with its reqId) speaks for the session.
    if (this.id === 0) return this.baseLog
    if (this.logger === undefined) this.logger = this.baseLog.child({ wampSession: this.id })
    return this.logger
  }

  /** Whether the client announced `feature` of `role` in HELLO (`roles.callee.features.call_canceling`…). */
  announces (role: 'caller' | 'callee' | 'publisher' | 'subscriber', feature: string): boolean {
    return (this.roles[role] as { features: Details } | undefined)?.features[feature] === true
  }

  /** The realm the session joined (read only after WELCOME). */
  get realm (): Realm {
    return this.joined as Realm
  }

  get isOpen (): boolean {
    return this.state === State.open
  }

  /**
   * Calls a procedure this client registered (INVOCATION). Resolves with the YIELD's args/kwargs — validated and
   * typed when `options.result` is a schema — and rejects with a WampError on ERROR, timeout, cancel or disconnect.
   */
  call<S extends PayloadSchema | undefined = undefined> (uri: string, args?: unknown[], kwargs?: Kwargs,
    options: ClientCallOptions<S> = {}): Promise<CallResult<S>> {
    return callClient(this, uri, args, kwargs, options) as Promise<CallResult<S>>
  }

  /** Sends an EVENT to this session if it subscribed to `topic`; returns the number of EVENTs sent (0 or more). */
  publish (topic: string, args?: unknown[], kwargs?: Kwargs): number {
    if (this.state !== State.open) return 0
    return this.realm.broker.publish(topic, args, kwargs, this)
  }

  hasRegistration (uri: string, match: MatchPolicy = 'exact'): boolean {
    return this.registrationOf(uri, match) !== undefined
  }

  private registrationOf (uri: string, match: MatchPolicy): ClientRegistration | undefined {
    for (const r of this.registrations.values()) if (r.uri === uri && r.match === match) return r
    return undefined
  }

  hasSubscription (topic: string, match: MatchPolicy = 'exact'): boolean {
    for (const s of this.subscriptions) if (s.topic === topic && s.match === match) return true
    return false
  }

  registered (uri: string, options: WaitOptions = {}): Promise<RegistrationInfo> {
    const known = this.registrationOf(uri, 'exact')
    if (known !== undefined) return Promise.resolve(known)
    if (this.state !== State.open) return Promise.reject(new WampError(ErrorUri.canceled, ['the session is closed']))
    return (this.waiters ??= new RegistrationWaiters()).wait(uri, options)
  }

  /** A REGISTER succeeded: `registered()` calls waiting for it resolve. */
  didRegister (registration: RegistrationInfo): void {
    this.waiters?.registered(registration)
  }

  kill (reason: string = CloseUri.killed, message?: string): void {
    if (this.state !== State.open) return
    // The session ends now; the socket waits (closeTimeout at most) for the GOODBYE reply, so clients see a clean close.
    this.close(reason, message, this.hub.options.closeTimeout).catch(() => {})
  }

  revokeRegistration (id: number, reason?: string): boolean {
    return revokeRegistration(this, id, reason)
  }

  revokeSubscription (id: number, reason?: string): boolean {
    return revokeSubscription(this, id, reason)
  }

  // ---- receiving -------------------------------------------------------------------------------------------

  /** One transport message: one WAMP message, or on a batched transport one or more (lib/wire/batch.ts). */
  receive (data: Buffer, isBinary: boolean): void {
    this.transport.bytesIn += data.length
    if (!this.transport.batched) return handle(this, data, isBinary)
    if (this.state === State.closed) return
    receiveBatch(this, data, isBinary)
  }

  // ---- sending ---------------------------------------------------------------------------------------------

  /**
   * Encodes and queues a message; never throws. Returns false, sending nothing, when the encoded message is larger
   * than `maxPayload` or cannot be encoded (a BigInt, a cycle, a value too deep for the serializer…): the caller
   * decides what to say instead, with `unsentError()` (PROTOCOL §5 `payload_size_exceeded`, §7.1).
   */
  send (msg: WampMessage): boolean {
    if (this.state === State.closed) return true
    // After our GOODBYE (or ABORT) only the closing handshake goes out (PROTOCOL §7.6); the rest is dropped.
    if (this.state === State.closing && msg[0] !== T.GOODBYE && msg[0] !== T.ABORT) return true
    let data: string | Buffer
    try {
      data = this.transport.serializer.encode(msg)
    } catch (err) {
      this.unencodable = describeError(err)
      peerLog(this, 'warn', { messageType: msg[0], reason: this.unencodable }, `fastify-wamp: outgoing message cannot be encoded as ${this.protocol}; not sent`)
      return false
    }
    if (!this.transport.fits(data)) {
      this.unencodable = undefined
      peerLog(this, 'warn', { messageType: msg[0], maxPayload: this.hub.options.maxPayload }, 'fastify-wamp: outgoing message larger than maxPayload not sent')
      return false
    }
    this.transport.write(data)
    return true
  }

  /**
   * Right after `send` returned false: the ERROR (URI and args) telling a requester why `what` (e.g. "the result")
   * did not reach its peer — `payload_size_exceeded` when it was too large, else `uri` (`invalid_argument` when the
   * requester supplied the value, `runtime_error` when the answering side did) for a value that cannot be encoded.
   * @internal
   */
  unsentError (what: string, uri: string): [string, string[]] {
    if (this.unencodable === undefined) return [ErrorUri.payloadSizeExceeded, [`${what} is larger than maxPayload`]]
    return [uri, [`${what} cannot be encoded as ${this.protocol}: ${this.unencodable}`]]
  }

  /**
   * ERROR in answer to a client request; when its payload cannot be sent (too large, not encodable), an ERROR
   * saying so, without the payload.
   */
  sendError (requestType: number, requestId: number, uri: string, args?: unknown[], kwargs?: Kwargs): void {
    if (requestType === T.CALL) this.hub.counters.failed(uri)
    if (this.send(withPayload([T.ERROR, requestType, requestId, EMPTY, uri, args, kwargs]))) return
    const [reason, message] = this.unsentError(`the ${uri} error`, ErrorUri.runtimeError)
    // The explanation quotes the encoder: should it trip the encoder too, the bare URI still ends the request.
    if (!this.send([T.ERROR, requestType, requestId, EMPTY, reason, message])) this.send([T.ERROR, requestType, requestId, EMPTY, reason])
  }

  /**
   * A message the session cannot open without (WELCOME, CHALLENGE) could not be sent (`send()` false): ABORT saying
   * why, rather than a client waiting for it.
   */
  abortUnsent (what: string): void {
    const [uri, [message]] = this.unsentError(what, ErrorUri.runtimeError)
    this.abort(uri, message)
  }

  /** ABORT with a reason and a human-readable message, then close. Used before WELCOME and for violations. */
  abort (uri: string, message: string, code = CLOSE_NORMAL): void {
    if (this.state === State.closed) return
    // After our GOODBYE (a violation while waiting for the reply): one terminal message was enough, only the close follows.
    // A message the peer cannot take (a RawSocket client accepting 512 octets; a message quoting what the client sent,
    // a realm name JSON escapes sixfold): the reason alone still tells it why, rather than a bare close.
    if (this.state !== State.closing && !this.send([T.ABORT, { message }, uri])) this.send([T.ABORT, EMPTY, uri])
    this.closeSocket(code)
  }

  /** The peer broke the protocol: ABORT protocol_violation, saying what was wrong, then close. */
  violation (message: string): void {
    this.log.debug({ reason: message }, 'fastify-wamp: protocol violation')
    this.abort(ErrorUri.protocolViolation, message, CLOSE_PROTOCOL_ERROR)
  }

  /**
   * Ends the session from the server side with GOODBYE. Resolves once the socket is closed: after the peer's
   * GOODBYE, or after `grace` ms at the latest (lib/session/teardown.ts).
   */
  close (reason: string = CloseUri.closeRealm, message?: string, grace = 2000): Promise<void> {
    return closeSession(this, reason, message, grace)
  }

  /** A call in flight ended: it leaves `calls`, and a drain learns when the last one did. */
  endCall (requestId: number, call: object): void {
    if (this.calls.get(requestId) !== call) return
    this.calls.delete(requestId)
    this.streams.ended(requestId)
    if (this.calls.size === 0 && this.draining) drained(this)
  }

  closeSocket (code: number): void {
    // The socket now carries the next session: this one may not close it.
    if (this.successor !== undefined) return
    if (this.state !== State.closed) this.state = State.closing
    this.transport.flush()
    this.transport.close(code)
  }

  // ---- cleanup ---------------------------------------------------------------------------------------------

  /** Runs exactly once, when the socket has closed (cleanly or not). */
  cleanup (): void {
    cleanupSession(this)
  }
}
