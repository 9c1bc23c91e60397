import { EventEmitter } from 'node:events'
import type { MatchPolicy } from '../wire/uris.js'
import type { Publication } from '../pubsub/publish-filter.js'
import type { ClusterRpc } from './rpc.js'
import type { ClusterStorage } from './redis-storage.js'
import type { TraceContext } from '../trace-context.js'

// Fan-out between instances: one small interface, the in-process default here, Redis in ./redis.ts.
// The broker always delivers to its own subscribers first; an adapter only carries publications to the other
// instances and brings theirs back, so the local path never depends on the engine being up.

export interface ClusterStats {
  /** Calls sent to other instances. */
  callsOut: number
  /** Calls served for other instances. */
  callsIn: number
  /** Redis messages published by the RPC layer (requests, replies, progress, cancels, events). */
  messagesOut: number
  messagesIn: number
}

export type FanoutStatus = 'connecting' | 'up' | 'down'

/** One publication as it travels between instances. */
export interface RemotePublication extends Publication {
  readonly realm: string
  /** W3C trace context of the publication (its `fastify-wamp:publish` trace on the publishing instance). */
  readonly trace?: TraceContext
}

export interface PublishFailure {
  realm: string
  topic: string
  publicationId: number
  error: Error
}

export interface FanoutStats {
  /** Publications handed to the engine. */
  published: number
  /** Publications received from other instances. */
  received: number
  /** Publications that could not reach the other instances (engine down or command failed). */
  publishFailed: number
  /** Engine errors seen (each failed reconnect attempt counts). */
  errors: number
  lastError: Error | undefined
}

export interface FanoutEvents {
  /** Connected (again), subscriptions restored: remote delivery works. */
  up: []
  /** Connection lost: local delivery continues, remote delivery fails until `up`. */
  down: [error: Error | undefined]
  error: [error: Error]
  'publish-failed': [failure: PublishFailure]
}

/** What an adapter needs from the plugin (`fastify.wamp` implements it). */
export interface FanoutHost {
  /** Open sessions on this instance. */
  readonly count: number
  /** A publication from another instance, for the local subscription (`match`, `topic`) of its realm. */
  receive (publication: RemotePublication, match: MatchPolicy, topic: string): void
}

/**
 * A fan-out engine. The plugin calls `start()` once while registering (so `await app.ready()` means connected),
 * `subscribe()` when a (topic, match) gets its first subscriber on this instance and `unsubscribe()` when its last
 * one leaves, `publish()` after local delivery, and `close()` when Fastify closes. It must never throw out of
 * `publish()`/`subscribe()`: failures are counted in `stats` and emitted as events.
 */
export interface FanoutAdapter extends EventEmitter<FanoutEvents> {
  readonly status: FanoutStatus
  readonly stats: FanoutStats
  /** Cluster-wide RPC, when the adapter offers it (`RedisFanout({ rpc: true })`). @internal */
  readonly rpc?: ClusterRpc | undefined
  /** Retained events and event history shared by the instances (RedisFanout); without it they stay in memory. @internal */
  readonly storage?: ClusterStorage | undefined
  start (host: FanoutHost): Promise<void>
  publish (publication: RemotePublication): void
  /**
   * Returns undefined when the subscription is effective cluster-wide already (or cannot be made now: engine down,
   * local delivery only), else a thenable that settles (never rejects) once it is: the broker answers SUBSCRIBED then.
   */
  subscribe (realm: string, topic: string, match: MatchPolicy): PromiseLike<void> | undefined
  unsubscribe (realm: string, topic: string, match: MatchPolicy): void
  /** The live instances and their session counts (the admin dashboard), when the engine knows them. */
  clusterInstances?: () => Promise<Array<{ instance: string, sessions: number, self: boolean }>>
  /** The number of local sessions changed (the adapter may share it with the cluster). */
  sessionsChanged (): void
  /** Open sessions across all live instances. */
  clusterSessionCount (): Promise<number>
  close (): Promise<void>
}

export function emptyStats (): FanoutStats {
  return { published: 0, received: 0, publishFailed: 0, errors: 0, lastError: undefined }
}

/**
 * The default: one process, nothing to carry. The broker is not even told about it (no call on the publish path);
 * it exists so that `fastify.wamp.fanout.status` and `clusterSessionCount()` work the same with or without Redis.
 */
export class LocalFanout extends EventEmitter<FanoutEvents> implements FanoutAdapter {
  readonly status: FanoutStatus
  readonly stats: FanoutStats
  private host: FanoutHost | undefined

  constructor () {
    super()
    this.status = 'up'
    this.stats = emptyStats()
    this.host = undefined
  }

  async start (host: FanoutHost): Promise<void> {
    this.host = host
  }

  publish (): void {}
  subscribe (): undefined {}
  unsubscribe (): void {}
  sessionsChanged (): void {}

  async clusterSessionCount (): Promise<number> {
    return this.host?.count ?? 0
  }

  async close (): Promise<void> {}
}

/** True for objects that implement the adapter interface (checked once, at register time). */
export function isFanoutAdapter (value: unknown): value is FanoutAdapter {
  if (typeof value !== 'object' || value === null) return false
  const a = value as Record<string, unknown>
  return ['start', 'publish', 'subscribe', 'unsubscribe', 'sessionsChanged', 'clusterSessionCount', 'close', 'on']
    .every((name) => typeof a[name] === 'function')
}

interface Log {
  error (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  info (obj: object, msg: string): void
  debug (obj: object, msg: string): void
}

/**
 * Logs an adapter's life: an outage once at error level (reconnect attempts at debug), and on recovery how many
 * publications did not reach the other instances meanwhile. Also makes sure an 'error' event never goes unheard.
 */
export function watchFanout (adapter: FanoutAdapter, log: Log): void {
  let failedBefore = 0
  adapter.on('error', (err) => {
    if (adapter.status === 'down') log.debug({ err }, 'fastify-wamp: fan-out engine still unreachable')
    else log.error({ err }, 'fastify-wamp: fan-out engine error')
  })
  adapter.on('down', (err) => {
    failedBefore = adapter.stats.publishFailed
    log.error({ err }, 'fastify-wamp: fan-out engine down; publications reach local subscribers only until it is back')
  })
  adapter.on('up', () => {
    const lost = adapter.stats.publishFailed - failedBefore
    if (lost > 0) log.warn({ lost }, 'fastify-wamp: fan-out engine up again; publications made while it was down did not reach other instances')
    else log.info({}, 'fastify-wamp: fan-out engine up')
  })
  adapter.on('publish-failed', (failure) => {
    if (adapter.status === 'up') log.warn({ err: failure.error, topic: failure.topic }, 'fastify-wamp: publication did not reach other instances')
  })
}
