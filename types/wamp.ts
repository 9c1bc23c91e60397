import type { AddressInfo } from 'node:net'
import type { ClusterStats, FanoutAdapter } from '../lib/cluster/fanout.js'
import type { RemoteSession } from '../lib/cluster/remote-session.js'
import type { Realm, RealmApi } from './realm.js'
import type { RegistrationHook, SessionHook, SubscriptionHook, WampSession } from './session.js'
import type { WampStats } from './stats.js'

/**
 * `fastify.wamp`: the WAMP endpoint. Procedure, topic and call methods act on the default realm (the first one
 * configured); `realm(name)` reaches the others.
 */
export interface FastifyWamp extends RealmApi {
  /** The WebSocket route's path, e.g. `/ws` (with the register prefix, if any). */
  readonly path: string
  /** Number of connections of every transport, welcomed or not (what `maxSessions` bounds). */
  readonly connections: number
  /** Number of open sessions across all realms on this instance. */
  readonly count: number
  /** Every open session on this instance, all realms, by session id. */
  readonly sessions: ReadonlyMap<number, WampSession>
  /** Carries publications between instances: `status` ('connecting' | 'up' | 'down'), `stats`, events. */
  readonly fanout: FanoutAdapter
  /** Cross-instance RPC counters with `RedisFanout({ rpc: true })`; undefined without it. */
  readonly clusterStats: ClusterStats | undefined

  /** The configured realms by name, the default one first. */
  readonly realms: ReadonlyMap<string, Realm>
  /** A realm by name; throws FST_WAMP_NO_SUCH_REALM for one that is not configured. */
  realm (name: string): Realm

  /**
   * A session anywhere in the cluster: this instance's session, else (with `RedisFanout({ rpc: true })`) a
   * `RemoteSession` handle from the cluster registry, else undefined.
   */
  session (id: number): Promise<WampSession | RemoteSession | undefined>
  /** Open sessions on every instance sharing the fan-out engine. Rejects while the engine is down. */
  clusterSessionCount (): Promise<number>
  /** A snapshot of this instance: sessions, registrations, calls in flight, counters (docs/observability.md). */
  stats (): WampStats
  /**
   * Where the RawSocket listener (option `rawsocket`) is bound: `{ address, family, port }`, or the Unix socket path;
   * null without the option or before `ready()`.
   */
  rawsocketAddress (): AddressInfo | string | null

  /** Runs after WELCOME is sent. The client registers its procedures after WELCOME: see `session.registered()`. */
  onSessionOpen (hook: SessionHook): this
  /** Runs once when a session ends, however it ends. */
  onSessionClose (hook: SessionHook): this
  /** Runs when a client's REGISTER succeeded (after REGISTERED went out). */
  onRegister (hook: RegistrationHook): this
  /** Runs when a client's registration ends (UNREGISTER or the session leaving). */
  onUnregister (hook: RegistrationHook): this
  /** Runs when a client's SUBSCRIBE succeeded (after SUBSCRIBED went out). */
  onSubscribe (hook: SubscriptionHook): this
  /** Runs when a client's subscription ends (UNSUBSCRIBE or the session leaving). */
  onUnsubscribe (hook: SubscriptionHook): this
}
