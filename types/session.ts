import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { Details, Kwargs } from '../lib/wire/messages.js'
import type { MatchPolicy } from '../lib/wire/uris.js'
import type { PayloadSchema } from '../lib/validation.js'
import type { CallResult, ClientCallOptions } from './call.js'
import type { Realm } from './realm.js'

/** Per-session application state; extend it with `declare module 'fastify-wamp' { interface SessionData { … } }`. */
export interface SessionData { [key: string]: unknown }

/** How a session's client is connected (docs/transports.md). */
export type TransportKind = 'websocket' | 'longpoll' | 'rawsocket'

/** A session's connection, as the application sees it. */
export interface TransportInfo {
  readonly kind: TransportKind
  /** The peer's IP address; undefined on a Unix socket or once the connection is gone. */
  readonly remoteAddress: string | undefined
}

/** A procedure a client registered (REGISTER), as the application sees it. */
export interface RegistrationInfo {
  /** The registration id (shared by every callee of a shared registration). */
  readonly id: number
  readonly uri: string
  readonly match: MatchPolicy
  /** REGISTER.Options as the client sent them. */
  readonly options: Readonly<Details>
  /** ISO 8601 time of the REGISTER. */
  readonly created: string
}

/** A subscription a client holds (SUBSCRIBE), as the application sees it. */
export interface SubscriptionInfo {
  readonly id: number
  readonly topic: string
  readonly match: MatchPolicy
  /** ISO 8601 time the subscription was created (it may be shared with other sessions). */
  readonly created: string
}

export interface WaitOptions {
  /** Milliseconds; on expiry the promise rejects with `wamp.error.timeout`. */
  timeout?: number
  /** Aborting it rejects the promise with `wamp.error.canceled`. */
  signal?: AbortSignal
}

/**
 * One WAMP session of a client on this instance: its identity (read-only), your `data`, and what the application
 * may do with it. Handed to hooks and handlers (`ctx.session`) and listed in `fastify.wamp.sessions`. A client that
 * says GOODBYE and HELLO again on the same connection gets a new one; this one stays closed.
 */
export interface WampSession {
  /** The session id (WELCOME). */
  readonly id: number
  /** The realm the session joined. */
  readonly realm: Realm
  readonly authid: string
  readonly authrole: string
  readonly authmethod: string
  readonly authprovider: string
  readonly authextra: Readonly<Details>
  /** The client roles announced in HELLO, each with the features it announced as `true` (at most 64 per role). */
  readonly roles: Readonly<Details>
  /** The WebSocket subprotocol, e.g. `wamp.2.json` or `wamp.2.msgpack.batched` (its equivalent on other transports). */
  readonly protocol: string
  /**
   * The HTTP request that opened the session (WebSocket upgrade, long-poll open): headers, `request.user` set by
   * your auth hooks, its logger. Undefined on RawSocket, which has no HTTP.
   */
  readonly request: FastifyRequest | undefined
  /** The transport: `kind` ('websocket', 'rawsocket', 'longpoll') and the peer's address. */
  readonly transport: TransportInfo
  /** When the session was welcomed. */
  readonly connectedAt: Date
  /** True until the session starts closing. */
  readonly isOpen: boolean
  /** A logger bound to this session's id. */
  readonly log: FastifyBaseLogger
  /** Your per-session state. */
  data: SessionData

  /**
   * Calls a procedure this client registered (INVOCATION). Resolves with the YIELD's args/kwargs — validated and
   * typed when `options.result` is a schema — and rejects with a WampError on ERROR, timeout, cancel or disconnect.
   */
  call<S extends PayloadSchema | undefined = undefined> (uri: string, args?: unknown[], kwargs?: Kwargs,
    options?: ClientCallOptions<S>): Promise<CallResult<S>>
  /** Sends an EVENT to this session if it subscribed to `topic`; returns the number of EVENTs sent (0 or more). */
  publish (topic: string, args?: unknown[], kwargs?: Kwargs): number

  /** Whether this client has registered `uri` (with the given match policy, default `exact`). */
  hasRegistration (uri: string, match?: MatchPolicy): boolean
  /** Whether this client is subscribed to `topic` (with the given match policy, default `exact`). */
  hasSubscription (topic: string, match?: MatchPolicy): boolean
  /**
   * Resolves once this client has registered `uri` (at once if it already has): the way to call a client from
   * `onSessionOpen`, since a client registers its procedures only after WELCOME. Rejects when the session closes.
   */
  registered (uri: string, options?: WaitOptions): Promise<RegistrationInfo>

  /**
   * Ends the session gracefully: GOODBYE with `reason` (default `wamp.close.close_realm`), then waits for the
   * client's GOODBYE (at most `grace` ms) and closes the socket.
   */
  close (reason?: string, message?: string, grace?: number): Promise<void>
  /** Ends the session at once: GOODBYE `reason` (default `wamp.close.killed`), then the socket closes. */
  kill (reason?: string, message?: string): void

  /**
   * Ends this client's registration `id` (spec "Registration Revocation"): `[UNREGISTERED, 0, {registration, reason}]`
   * if the client announced `registration_revocation`, the meta events and `onUnregister` hooks either way. Calls in
   * flight are not interrupted. False when the session holds no registration `id`.
   */
  revokeRegistration (id: number, reason?: string): boolean
  /**
   * Ends this client's subscription `id` (spec "Subscription Revocation"): `[UNSUBSCRIBED, 0, {subscription, reason}]`
   * if the client announced `subscription_revocation`, the meta events and `onUnsubscribe` hooks either way. False
   * when the session holds no subscription `id`.
   */
  revokeSubscription (id: number, reason?: string): boolean
}

/**
 * A session between HELLO and WELCOME, as `authenticate` functions see it (`ctx.session`): no id, realm or identity
 * yet — only what the client brought, and `data` to keep what authentication learns.
 */
export interface PendingSession {
  readonly protocol: string
  /** Undefined on RawSocket (no HTTP request). */
  readonly request: FastifyRequest | undefined
  readonly transport: TransportInfo
  readonly roles: Readonly<Details>
  readonly log: FastifyBaseLogger
  data: SessionData
}

/** `onSessionOpen` / `onSessionClose` hook. */
export type SessionHook = (session: WampSession) => unknown
/** `onRegister` / `onUnregister` hook. */
export type RegistrationHook = (session: WampSession, registration: RegistrationInfo) => unknown
/** `onSubscribe` / `onUnsubscribe` hook. */
export type SubscriptionHook = (session: WampSession, subscription: SubscriptionInfo) => unknown
