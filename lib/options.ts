import type { RegisterOptions } from 'fastify'
import { FST_WAMP_INVALID_OPTION } from './errors.js'
import { isValidUri } from './wire/uris.js'
import type { RealmOptions } from './realm/realm.js'
import type { Serializer } from './wire/serializers/index.js'
import { DEFAULT_MAX_DEPTH } from './wire/serializers/plain-data.js'
import type { SessionHook } from './hub.js'
import { checkAuthOptions } from './session/auth/index.js'
import type { RealmAuthOptions } from './session/auth/index.js'
import { checkAuthorizeOptions } from './realm/authorize.js'
import type { AuthorizeHook, Permissions } from './realm/authorize.js'
import { isFanoutAdapter } from './cluster/fanout.js'
import type { FanoutAdapter } from './cluster/fanout.js'
import { RedisFanout } from './cluster/redis-fanout.js'
import { normalizeAsyncApi } from './asyncapi/route.js'
import type { AsyncApiOptions, NormalizedAsyncApi } from './asyncapi/route.js'
import type { RedisClient } from './cluster/redis-fanout.js'
import { normalizeLongPoll } from './transports/longpoll.js'
import type { LongPollOptions, NormalizedLongPoll } from './transports/longpoll.js'
import { normalizeRawSocket } from './transports/rawsocket-options.js'
import type { NormalizedRawSocketOptions, RawSocketOptions } from './transports/rawsocket-options.js'
import { adminOption } from './admin/options.js'
import type { AdminOptions, NormalizedAdminOptions } from './admin/options.js'

export interface FastifyWampOptions {
  /** WebSocket route path. Default `/ws`. */
  path?: string
  /** The realm served (default `realm1`), or use `realms` for several. */
  realm?: string
  /** Several realms, each with its own procedures and topics; the first is the default realm. */
  realms?: Array<string | RealmOptions>
  /** Milliseconds a client has to send HELLO after connecting. Default 10 000. */
  helloTimeout?: number
  /** Largest accepted frame in bytes; larger frames close the socket with 1009. Default 1 MiB. */
  maxPayload?: number
  /** Extra serializers, offered as `wamp.2.<id>` next to json, msgpack and cbor. */
  serializers?: Serializer[]
  /**
   * Deepest nesting of lists and dicts accepted in an incoming message, the message list itself counting as 1
   * (so a CALL's args list is at depth 2). A deeper message → ABORT `wamp.error.protocol_violation`. From 8
   * to 1 000. Default 64.
   */
  maxDepth?: number
  /** Send the text of unexpected handler exceptions to callers (default false: a generic message). */
  exposeErrors?: boolean
  /**
   * Serve the WAMP Meta API in every realm: `wamp.session.*`, `wamp.subscription.*`, `wamp.registration.*`
   * procedures and the `wamp.session.on_join`/`on_leave` events. Default false: it shows clients who else is
   * connected, so turn it on deliberately (and restrict it with `permissions`/`authorize`).
   */
  metaApi?: boolean
  /**
   * Interface reflection in every realm that does not set its own `reflection`: `wamp.reflection.*` procedures
   * describing, as JSON Schema, what each session may call and subscribe to (docs/reflection.md). Default false.
   */
  reflection?: boolean
  /**
   * Serve an AsyncAPI 3 document of a realm's procedures and topics (default `/asyncapi.json`) and a readable
   * HTML page of it (default `/asyncapi.html`), as ordinary routes guarded by the app's hooks
   * (docs/reflection.md). Default false.
   */
  asyncapi?: boolean | AsyncApiOptions
  /** Milliseconds to wait for GOODBYE replies and running handlers when Fastify closes. Default 2 000. */
  shutdownGrace?: number
  /** Most WebSocket connections at once; further upgrades are refused with HTTP 503. Default 10 000. */
  maxSessions?: number
  /** Most calls one session may have in flight; more → ERROR `fastify_wamp.error.limit_exceeded`. Default 1 000. */
  maxCallsPerSession?: number
  /**
   * Bytes of streamed input (progressive call invocations) one session's calls may hold unread, together; past it
   * the call whose chunk passed it fails with ERROR `fastify_wamp.error.limit_exceeded` and the rest of its chunks
   * are dropped. Default 4 MiB.
   */
  maxStreamBufferBytes?: number
  /**
   * Milliseconds a streamed call that ended before the caller's final chunk keeps swallowing that request id's
   * chunks (spec "Continuations on Completed Calls"); the final chunk frees the id earlier. Default 10 000.
   */
  streamGrace?: number
  /** Most procedures one session may register; more → ERROR `fastify_wamp.error.limit_exceeded`. Default 1 000. */
  maxRegistrationsPerSession?: number
  /** Most subscriptions one session may hold; more → ERROR `fastify_wamp.error.limit_exceeded`. Default 1 000. */
  maxSubscriptionsPerSession?: number
  /**
   * Most async topic handlers running at once for one session's PUBLISHes; past it an acknowledged PUBLISH gets
   * ERROR `fastify_wamp.error.limit_exceeded` and an unacknowledged one is dropped (logged). Default 1 000.
   */
  maxTopicHandlersPerSession?: number
  /**
   * Milliseconds the server waits for the peer to complete a close handshake it started (after ABORT, GOODBYE…)
   * before it terminates the TCP connection and frees the slot. Default 1 000.
   */
  closeTimeout?: number
  /**
   * Bytes that may wait unsent for one socket (at least `maxPayload`). A client that lets more pile up is not
   * reading: its socket is terminated and the reason logged. Default 4 MiB.
   */
  maxBufferedBytes?: number
  /** Milliseconds between WebSocket pings; a peer that misses a pong is terminated. 0 disables. Default 30 000. */
  pingInterval?: number
  onSessionOpen?: SessionHook | SessionHook[]
  onSessionClose?: SessionHook | SessionHook[]
  /**
   * Scale-out: several instances behind a load balancer share publications through Redis. An ioredis client
   * (duplicated for the plugin's two connections; yours is never used or closed) or a redis:// URL. Shorthand for
   * `fanout: new RedisFanout({ redis })`.
   */
  redis?: RedisClient | string
  /** A fan-out adapter carrying publications between instances, e.g. `new RedisFanout({ redis, prefix })`. */
  fanout?: FanoutAdapter
  /** Authentication for every realm that does not set its own `auth` (see RealmOptions). */
  auth?: RealmAuthOptions
  /** Authorization hook for every realm that does not set its own. */
  authorize?: AuthorizeHook
  /** Role permissions for every realm that does not set its own. */
  permissions?: Permissions
  /**
   * HTTP long-poll transport (WAMP spec), for clients that cannot open a WebSocket: `true` for the defaults or
   * `{ path, pollTimeout, idleTimeout }`. Off by default. See docs/longpoll.md.
   */
  longPoll?: boolean | LongPollOptions
  /** An opt-in WAMP-over-RawSocket listener (TCP, TLS or Unix socket) next to the WebSocket route (docs/transports.md). */
  rawsocket?: RawSocketOptions
  /**
   * Call duration histograms (`stats().latency`, Prometheus `fastify_wamp_call_duration_seconds`) and one-second
   * rates with five minutes of history (`stats().rates`). Two clock reads per call. Default false (on with `admin`).
   */
  metrics?: boolean
  /**
   * A live admin dashboard (an HTML page with live stats over SSE, sessions you can kill): off by default, and it
   * refuses to register without `admin.preHandler` (your auth check) or `admin.public: true`. Turns `metrics` on.
   */
  admin?: AdminOptions
}

/** Fastify's own register options, which every plugin accepts; applied to the WebSocket route. */
export type FastifyRegisterOptions = Pick<RegisterOptions, 'prefix' | 'logLevel' | 'logSerializers'>
export type FastifyWampPluginOptions = FastifyWampOptions & FastifyRegisterOptions

export interface NormalizedOptions {
  path: string
  realms: RealmOptions[]
  helloTimeout: number
  maxPayload: number
  serializers: Serializer[]
  maxDepth: number
  exposeErrors: boolean
  metaApi: boolean
  /** undefined: no AsyncAPI routes. */
  asyncapi: NormalizedAsyncApi | undefined
  shutdownGrace: number
  maxSessions: number
  maxCallsPerSession: number
  maxStreamBufferBytes: number
  streamGrace: number
  maxRegistrationsPerSession: number
  maxSubscriptionsPerSession: number
  maxTopicHandlersPerSession: number
  closeTimeout: number
  maxBufferedBytes: number
  pingInterval: number
  onSessionOpen: SessionHook[]
  onSessionClose: SessionHook[]
  /** undefined: this instance is alone (the broker skips fan-out entirely). */
  fanout: FanoutAdapter | undefined
  agent: string
  /** undefined: no long-poll transport. */
  longPoll: NormalizedLongPoll | undefined
  rawsocket: NormalizedRawSocketOptions | undefined
  metrics: boolean
  admin: NormalizedAdminOptions | undefined
}

const KNOWN = new Set(['path', 'realm', 'realms', 'helloTimeout', 'maxPayload', 'serializers', 'maxDepth', 'exposeErrors', 'metaApi', 'reflection', 'asyncapi',
  'shutdownGrace', 'onSessionOpen', 'onSessionClose', 'maxSessions', 'maxCallsPerSession', 'maxStreamBufferBytes', 'streamGrace',
  'maxRegistrationsPerSession', 'maxSubscriptionsPerSession', 'maxTopicHandlersPerSession', 'closeTimeout', 'maxBufferedBytes',
  'pingInterval', 'redis', 'fanout', 'auth', 'authorize', 'permissions', 'rawsocket', 'longPoll', 'metrics', 'admin'])

function fail (message: string): never {
  throw new FST_WAMP_INVALID_OPTION(message)
}

function count (name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) fail(`${name} must be an integer ≥ ${min}, got ${String(value)}`)
  return value
}

/** A positive integer, or Infinity for "no limit". */
function limit (name: string, value: unknown, fallback: number): number {
  if (value === Infinity) return value
  return count(name, value, fallback, 1)
}

function flag (name: string, value: unknown): boolean {
  if (value !== undefined && typeof value !== 'boolean') fail(`${name} must be true or false, got ${String(value)}`)
  return value === true
}

function hooks (name: string, value: unknown): SessionHook[] {
  const list = value === undefined ? [] : Array.isArray(value) ? value : [value]
  for (const hook of list) if (typeof hook !== 'function') fail(`${name} must be a function or a list of functions`)
  return list as SessionHook[]
}

/**
 * Checks every option once, at register time, with a message that names the option. By hand rather than with a
 * TypeBox schema: most options are functions, class instances (fan-out adapters, serializers) or unions with
 * Infinity, the realm/auth/authorize checks live beside their modules, several rules span options (realm vs realms,
 * maxBufferedBytes ≥ maxPayload, redis vs fanout), and TypeBox's messages would need rewriting to name the option.
 * A new option is its field in FastifyWampOptions and NormalizedOptions, its name in KNOWN, and one line below.
 */
export function normalizeOptions (options: FastifyWampOptions, agent: string): NormalizedOptions {
  for (const key of Object.keys(options)) if (!KNOWN.has(key)) fail(`unknown option "${key}"`)
  const path = options.path ?? '/ws'
  if (typeof path !== 'string' || !path.startsWith('/')) fail(`path must start with "/", got ${String(path)}`)
  if (options.realm !== undefined && options.realms !== undefined) fail('give either realm or realms, not both')
  const given = options.realms ?? [options.realm ?? 'realm1']
  if (!Array.isArray(given) || given.length === 0) fail('realms must be a non-empty list')
  const security = { auth: options.auth, authorize: options.authorize, permissions: options.permissions }
  const secured = options.auth !== undefined || options.authorize !== undefined || options.permissions !== undefined
  const realms = given.map((r) => {
    const realm = typeof r === 'string' ? { name: r } : r
    if (!secured || typeof realm !== 'object' || realm === null) return realm
    // Per key: a realm option holding undefined (`auth: env.AUTH`) sets nothing, so the top-level one applies — a
    // spread would let that undefined erase it and open the realm.
    return { ...realm, auth: realm.auth ?? security.auth, authorize: realm.authorize ?? security.authorize, permissions: realm.permissions ?? security.permissions }
  })
  const names = new Set<string>()
  for (const realm of realms) {
    if (typeof realm !== 'object' || realm === null || !isValidUri(realm.name)) fail(`realm name ${JSON.stringify(realm?.name ?? realm)} is not a valid URI`)
    if (names.has(realm.name)) fail(`realm "${realm.name}" is listed twice`)
    names.add(realm.name)
    checkAuthOptions(realm.auth, `realm "${realm.name}" auth`)
    checkAuthorizeOptions(realm.authorize, realm.permissions, `realm "${realm.name}"`)
    if (realm.reflection !== undefined && typeof realm.reflection !== 'boolean') fail(`realm "${realm.name}" reflection must be true or false`)
  }
  const reflection = flag('reflection', options.reflection)
  // The plugin-level default, resolved here so that each realm carries its own answer.
  if (reflection) for (let i = 0; i < realms.length; i++) if (realms[i].reflection === undefined) realms[i] = { ...realms[i], reflection }
  const serializers = options.serializers ?? []
  for (const s of serializers) {
    if (typeof s?.id !== 'string' || typeof s.encode !== 'function' || typeof s.decode !== 'function' || typeof s.binary !== 'boolean') {
      fail('each serializer needs id, binary, encode() and decode()')
    }
  }
  const maxPayload = count('maxPayload', options.maxPayload, 1024 * 1024, 1)
  const maxBufferedBytes = count('maxBufferedBytes', options.maxBufferedBytes, Math.max(4 * 1024 * 1024, maxPayload), 1)
  if (maxBufferedBytes < maxPayload) fail(`maxBufferedBytes (${maxBufferedBytes}) must be at least maxPayload (${maxPayload})`)
  // At least 8: a HELLO's roles → role → features already nest 5 deep.
  const maxDepth = count('maxDepth', options.maxDepth, DEFAULT_MAX_DEPTH, 8)
  // The check recurses once per level: a bound keeps it far from the stack limit.
  if (maxDepth > 1000) fail(`maxDepth must be at most 1000, got ${maxDepth}`)
  return {
    path,
    realms,
    helloTimeout: count('helloTimeout', options.helloTimeout, 10_000, 0),
    maxPayload,
    serializers,
    maxDepth,
    exposeErrors: flag('exposeErrors', options.exposeErrors),
    metaApi: flag('metaApi', options.metaApi),
    asyncapi: normalizeAsyncApi(options.asyncapi),
    shutdownGrace: count('shutdownGrace', options.shutdownGrace, 2000, 0),
    maxSessions: limit('maxSessions', options.maxSessions, 10_000),
    maxCallsPerSession: limit('maxCallsPerSession', options.maxCallsPerSession, 1000),
    maxStreamBufferBytes: limit('maxStreamBufferBytes', options.maxStreamBufferBytes, 4 * 1024 * 1024),
    streamGrace: count('streamGrace', options.streamGrace, 10_000, 0),
    maxRegistrationsPerSession: limit('maxRegistrationsPerSession', options.maxRegistrationsPerSession, 1000),
    maxSubscriptionsPerSession: limit('maxSubscriptionsPerSession', options.maxSubscriptionsPerSession, 1000),
    maxTopicHandlersPerSession: limit('maxTopicHandlersPerSession', options.maxTopicHandlersPerSession, 1000),
    closeTimeout: count('closeTimeout', options.closeTimeout, 1000, 0),
    maxBufferedBytes,
    pingInterval: count('pingInterval', options.pingInterval, 30_000, 0),
    onSessionOpen: hooks('onSessionOpen', options.onSessionOpen),
    onSessionClose: hooks('onSessionClose', options.onSessionClose),
    fanout: fanoutOption(options),
    agent,
    rawsocket: normalizeRawSocket(options.rawsocket, maxPayload, fail),
    longPoll: normalizeLongPoll(options.longPoll),
    metrics: flag('metrics', options.metrics) || options.admin !== undefined,
    admin: adminOption(options.admin)
  }
}

function fanoutOption (options: FastifyWampOptions): FanoutAdapter | undefined {
  if (options.fanout !== undefined && options.redis !== undefined) fail('give either redis or fanout, not both')
  if (options.redis !== undefined) return new RedisFanout({ redis: options.redis })
  if (options.fanout !== undefined && !isFanoutAdapter(options.fanout)) fail('fanout must be a fan-out adapter, e.g. new RedisFanout({ redis })')
  return options.fanout
}
