import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import { Realm } from './realm/realm.js'
import { DefaultRealmApi } from './default-realm-api.js'
import type { MatchPolicy } from './wire/uris.js'
import { LocalFanout, watchFanout } from './cluster/fanout.js'
import type { ClusterStats, FanoutAdapter, FanoutHost, RemotePublication } from './cluster/fanout.js'
import type { Serializer } from './wire/serializers/index.js'
import { CloseCode, WebSocketTransport } from './wire/transport.js'
import type { SessionTransport } from './wire/transport.js'
import type { AddressInfo } from 'node:net'
import type { RawSocketServer } from './transports/rawsocket.js'
import { Session } from './session/session.js'
import { drainSession } from './session/teardown.js'
import { CloseUri } from './wire/uris.js'
import { FST_WAMP_NO_SUCH_REALM } from './errors.js'
import type { NormalizedOptions } from './options.js'
import { Keepalive } from './session/keepalive.js'
import { enableMetaApi, publishJoin, publishLeave } from './realm/meta.js'
import { enableReflection } from './realm/reflection.js'
import { PendingWork } from './pending-work.js'
import { Hooks } from './hooks.js'
import type { ClusterRpc } from './cluster/rpc.js'
import { dropTestaments, packedTestaments, publishOrphaned, publishTestaments } from './session/testaments.js'
import { RemoteSession } from './cluster/remote-session.js'
import type { FastifyWamp } from '../types/wamp.js'
import { Counters, snapshot } from './metrics.js'
import type { WampStats } from './metrics.js'
import { MetricsHistory } from './metrics-history.js'
import { sessionChannel, traceSessionClose, traceSessionOpen } from './diagnostics.js'
import type { RegistrationHook, SessionHook, SubscriptionHook } from '../types/session.js'

export type { SessionHook }

/**
 * `fastify.wamp`: the realms, the registry of open sessions and the session hooks. Procedure and topic methods
 * act on the default realm (the first one configured, lib/default-realm-api.ts); `realm(name)` reaches the others.
 */
export class Hub extends DefaultRealmApi implements FanoutHost, FastifyWamp {
  readonly options: NormalizedOptions
  readonly realms: Map<string, Realm>
  /** Every open session, all realms, by session id. */
  readonly sessions: Map<number, Session>
  readonly agent: string
  /** Async handlers and hooks still running; shutdown waits for them (bounded by `shutdownGrace`). */
  readonly pending: PendingWork
  /** Carries publications between instances: `status` ('connecting' | 'up' | 'down'), `stats`, events. */
  readonly fanout: FanoutAdapter
  /** Cluster-wide RPC (`RedisFanout({ rpc: true })`); undefined otherwise. */
  readonly cluster: ClusterRpc | undefined
  /** Hot-path counters behind `stats()`. */
  readonly counters: Counters
  /** The RawSocket listener (option `rawsocket`), set by the plugin. */
  rawsocket: RawSocketServer | undefined
  /** One-second rates and their history (`metrics: true`). */
  readonly history: MetricsHistory | undefined
  private readonly live: Set<Session>
  /** Connections refused at maxSessions since the last warning, and when that was (`refusedFull`). */
  private refusedAtLimit = 0
  private lastLimitWarning = -Infinity
  /** The application's session hooks (lib/hooks.ts). */
  readonly hooks: Hooks
  /** The app's logger (sessions without an HTTP request log through a child of it). */
  readonly log: FastifyBaseLogger
  private readonly keepalive: Keepalive
  private closing: boolean

  constructor (fastify: FastifyInstance, options: NormalizedOptions) {
    const counters = new Counters(options.metrics)
    const realms = new Map(options.realms.map((r) => [r.name, new Realm(r, options.fanout, counters)]))
    super(realms.get(options.realms[0].name) as Realm)
    this.options = options
    this.counters = counters
    this.history = options.metrics ? new MetricsHistory(this.counters) : undefined
    this.history?.start()
    this.realms = realms
    if (options.metaApi) for (const realm of this.realms.values()) enableMetaApi(realm)
    for (const r of options.realms) if (r.reflection === true) enableReflection(this.realms.get(r.name) as Realm)
    this.sessions = new Map()
    this.agent = options.agent
    this.live = new Set()
    this.log = fastify.log
    this.keepalive = new Keepalive(this.live, options.pingInterval)
    this.pending = new PendingWork()
    this.hooks = new Hooks(options.onSessionOpen, options.onSessionClose, this.pending)
    this.fanout = options.fanout ?? new LocalFanout()
    this.cluster = this.fanout.rpc
    this.closing = false
    this.rawsocket = undefined
  }

  /** Where the RawSocket listener is bound (port, or Unix socket path); null when it is not listening. */
  rawsocketAddress (): AddressInfo | string | null {
    return this.rawsocket?.address() ?? null
  }

  /** The WebSocket route's path, e.g. `/ws`. */
  get path (): string {
    return this.options.path
  }

  /** Number of connections of every transport, welcomed or not (what `maxSessions` bounds). */
  get connections (): number {
    return this.live.size
  }

  /** True when a new connection would pass `maxSessions` (every transport counts). */
  get full (): boolean {
    return this.live.size >= this.options.maxSessions
  }

  get clusterStats (): ClusterStats | undefined {
    return this.cluster?.stats
  }

  /** Number of open sessions across all realms. */
  get count (): number {
    return this.sessions.size
  }

  realm (name: string): Realm {
    const realm = this.realms.get(name)
    if (realm === undefined) throw new FST_WAMP_NO_SUCH_REALM(name)
    return realm
  }

  /**
   * A session anywhere in the cluster: this instance's `Session`, else (with `RedisFanout({ rpc: true })`) a
   * `RemoteSession` handle from the cluster registry, else undefined. Rejects with wamp.error.network_failure when
   * the id is not local and Redis is down.
   */
  async session (id: number): Promise<Session | RemoteSession | undefined> {
    const local = this.sessions.get(id)
    if (local !== undefined || this.cluster === undefined) return local
    const info = await this.cluster.session(id)
    return info === undefined ? undefined : new RemoteSession(info, this.cluster)
  }

  /**
   * Open sessions on every instance sharing the fan-out engine (this one's counted live, the others as of their
   * last report). Rejects while the engine is down.
   */
  clusterSessionCount (): Promise<number> {
    return this.fanout.clusterSessionCount()
  }

  /** A snapshot of this instance: sessions, registrations, calls in flight, counters (docs/observability.md). */
  stats (): WampStats {
    return snapshot(this.counters, this.sessions.values(), this.live, this.fanout, this.history?.rates())
  }

  /** Runs after WELCOME is sent; the session can already be called and published to. */
  onSessionOpen (hook: SessionHook): this {
    this.hooks.open.push(hook)
    return this
  }

  /** Runs once when a session ends, however it ends. */
  onSessionClose (hook: SessionHook): this {
    this.hooks.close.push(hook)
    return this
  }

  onRegister (hook: RegistrationHook): this {
    this.hooks.events.register.push(hook)
    return this
  }

  onUnregister (hook: RegistrationHook): this {
    this.hooks.events.unregister.push(hook)
    return this
  }

  onSubscribe (hook: SubscriptionHook): this {
    this.hooks.events.subscribe.push(hook)
    return this
  }

  onUnsubscribe (hook: SubscriptionHook): this {
    this.hooks.events.unsubscribe.push(hook)
    return this
  }

  // ---- internals -------------------------------------------------------------------------------------------

  /** A WebSocket upgraded on the plugin's route. */
  accept (socket: WebSocket, request: FastifyRequest, serializer: Serializer, batched = false): void {
    // The route's onRequest hook refuses upgrades at the limit with 503; this catches concurrent upgrades.
    if (this.full) return refuseSocket(socket, this.options.closeTimeout)
    this.open(new WebSocketTransport(socket, serializer, this.options, batched), request)
  }

  /**
   * A connection of any transport, already admitted under `maxSessions` (check `full` first): its session starts,
   * waiting for HELLO. `request` is the HTTP request that opened it, if any; `newConnection` false when the
   * connection is already counted (`succeed`).
   */
  open (transport: SessionTransport, request?: FastifyRequest, newConnection = true): Session {
    const session = new Session(this, transport, request)
    this.live.add(session)
    if (newConnection) this.keepalive.added()
    if (this.closing) session.close(CloseUri.systemShutdown).catch(() => {})
    return session
  }

  /** The client said GOODBYE and its connection stays (PROTOCOL §7.8): a new session takes it over, and its slot. */
  succeed (ended: Session): Session {
    this.live.delete(ended)
    return this.open(ended.transport, ended.request, false)
  }

  /**
   * A connection refused at `maxSessions`. Anyone can cause these, as fast as they can connect: the first is a
   * warning, then at most one every 10 s, saying how many were refused since the last.
   */
  refusedFull (log: FastifyBaseLogger, what: string): void {
    this.refusedAtLimit++
    const now = Date.now()
    if (now - this.lastLimitWarning < LIMIT_WARNING_INTERVAL) return
    log.warn({ maxSessions: this.options.maxSessions, refused: this.refusedAtLimit }, `fastify-wamp: ${what} refused, maxSessions reached`)
    this.lastLimitWarning = now
    this.refusedAtLimit = 0
  }

  /** Shutting down: transports refuse new connections. */
  get shuttingDown (): boolean {
    return this.closing
  }

  sessionOpened (session: Session): void {
    this.sessions.set(session.id, session)
    this.counters.sessionsOpened++
    if (sessionChannel.hasSubscribers) traceSessionOpen(session)
    session.log.debug({ realm: session.joined?.name, authid: session.authid, authrole: session.authrole, authmethod: session.authmethod, serializer: session.transport.serializer.id }, 'fastify-wamp: session opened')
    this.fanout.sessionsChanged()
    this.cluster?.registry.sessionOpened(session)
  }

  /** Connects the fan-out engine (called while the plugin registers, so `await app.ready()` means connected). */
  async startFanout (): Promise<void> {
    watchFanout(this.fanout, this.log)
    this.cluster?.attach(this)
    await this.fanout.start(this)
  }

  /** A dead instance's testaments, claimed by this instance (ClusterHost). */
  testamentsOrphaned (entries: Buffer[]): void {
    const published = publishOrphaned(this.realms, entries)
    this.log.info({ testaments: published }, 'fastify-wamp: published the testaments of a lost instance\'s sessions')
  }

  /** A survivor that took this instance for dead published these sessions' testaments (ClusterHost). */
  testamentsPublished (sessions: number[]): void {
    let dropped = 0
    for (const id of sessions) {
      const session = this.sessions.get(id)
      if (session !== undefined && dropTestaments(session)) dropped++
    }
    this.log.warn({ testaments: dropped }, 'fastify-wamp: this instance was taken for dead (no heartbeat in Redis): another instance published its sessions\' testaments, which are dropped here')
  }

  /** A session's testaments as the cluster registry keeps them in Redis (ClusterHost). */
  testamentsOf (session: Session): Buffer | undefined {
    return packedTestaments(session)
  }

  /** A publication from another instance (FanoutHost). */
  receive (publication: RemotePublication, match: MatchPolicy, topic: string): void {
    this.realms.get(publication.realm)?.broker.receive(publication, match, topic)
  }

  /** The socket closed: its slot under `maxSessions` is free. */
  socketClosed (session: Session): void {
    if (this.live.delete(session)) {
      this.counters.closedBytesIn += session.transport.bytesIn
      this.counters.closedBytesOut += session.transport.bytesOut
    }
    this.keepalive.removed()
  }

  /** A welcomed WAMP session ended (its socket may stay for another HELLO): it leaves the registry, hooks run. */
  sessionLeft (session: Session): void {
    if (this.sessions.get(session.id) !== session) return
    this.sessions.delete(session.id)
    this.counters.sessionsClosed++
    traceSessionClose(session)
    session.log.debug({ realm: session.joined?.name, authid: session.authid, authrole: session.authrole, duration: Date.now() - session.connectedAt.getTime() }, 'fastify-wamp: session closed')
    this.fanout.sessionsChanged()
    this.cluster?.registry.sessionClosed(session)
    const realm = session.joined
    if (this.options.metaApi && realm !== undefined) publishTestaments(session, realm)
    if (this.options.metaApi) publishLeave(session)
    this.hooks.closed(session)
  }

  runOpenHooks (session: Session): void {
    if (this.options.metaApi) publishJoin(session)
    this.hooks.opened(session)
  }

  /**
   * Graceful shutdown within `shutdownGrace` in all (PROTOCOL §1.8): calls in flight finish and answer (new CALLs
   * are refused), then GOODBYE system_shutdown goes to every session and the server waits for the replies, then
   * for the handlers and hooks still running. A closed session's calls have their AbortSignal fired and no new
   * message is dispatched, so nothing new starts; work that outlives the grace is logged.
   */
  async shutdown (): Promise<void> {
    this.closing = true
    const grace = this.options.shutdownGrace
    const deadline = Date.now() + grace
    // Calls in flight answer first (their callers still listen), for at most half the grace; then GOODBYE.
    const draining: Array<Promise<void>> = []
    for (const session of this.live) draining.push(drainSession(session, grace / 2))
    await Promise.all(draining)
    const closing: Array<Promise<void>> = []
    for (const session of this.live) closing.push(session.close(CloseUri.systemShutdown, undefined, Math.max(0, deadline - Date.now())))
    await Promise.all(closing)
    this.keepalive.stop()
    this.history?.stop()
    if (!await this.pending.settled(Math.max(0, deadline - Date.now()))) {
      this.log.warn({ pending: this.pending.size, shutdownGrace: this.options.shutdownGrace }, 'fastify-wamp: handlers still running after shutdownGrace')
    }
    this.log.debug({ sessions: closing.length }, 'fastify-wamp: all sessions closed')
  }
}

/** How often a refusal at maxSessions may be logged (`Hub.refusedFull`). */
const LIMIT_WARNING_INTERVAL = 10_000

/** Closes a socket over maxSessions; one that does not complete the close within `closeTimeout` is cut. */
function refuseSocket (socket: WebSocket, closeTimeout: number): void {
  socket.close(CloseCode.tryAgainLater, 'too many sessions')
  const timer = setTimeout(() => socket.terminate(), closeTimeout)
  socket.once('close', () => clearTimeout(timer))
}
