import { EventEmitter } from 'node:events'
import { randomBytes } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import type { MatchPolicy } from '../wire/uris.js'
import { FST_WAMP_FANOUT_CONNECT, FST_WAMP_INVALID_OPTION } from '../errors.js'
import { emptyStats } from './fanout.js'
import type { FanoutAdapter, FanoutEvents, FanoutHost, FanoutStats, FanoutStatus, RemotePublication } from './fanout.js'
import { decodePublication, encodePublication, isFrom } from './codec.js'
import { ClusterRpc } from './rpc.js'
import { RedisSubscriptions } from './redis-subscriptions.js'
import { RedisStorage } from './redis-storage.js'
import { connectionOptions, loadIoredis, redisFanoutSettings } from './redis-options.js'
import type { RedisClient, RedisFanoutOptions } from './redis-options.js'

export { escapeGlob } from './redis-subscriptions.js'
export type { RedisClient, RedisFanoutOptions } from './redis-options.js'

// Fan-out through Redis pub/sub. One channel per (realm, topic): `<prefix><realm>:t:<topic>`. An instance
// SUBSCRIBEs to a topic's channel while it has local subscribers, and PSUBSCRIBEs a glob for each prefix/wildcard
// subscription (a wildcard's empty component becomes `*`, which also spans dots, so the broker re-checks
// `subscription.matches()`). A message is dispatched per Redis subscription to the local subscriptions registered
// under it, so a subscriber gets each publication exactly once per WAMP subscription. An instance drops its own
// messages (it delivered locally already). All publishes go out on one connection, so each publisher's order holds.
// The subscription tables and the subscriber connection's state: ./redis-subscriptions.ts.
//
// Both connections are ours (duplicates of the client you pass, or built from a URL): no offline queue, no resend
// of unfulfilled commands, and in-flight commands fail at once on disconnect, so a publication either reaches
// Redis or is reported. ioredis reconnects; on each 'ready' we re-subscribe from our own tables and only then
// report 'up'. `ioredis` is only imported when a URL is given, so it stays an optional dependency.

const COUNT_DELAY = 50
const CLOSE_WAIT = 1000

export class RedisFanout extends EventEmitter<FanoutEvents> implements FanoutAdapter {
  status: FanoutStatus
  readonly stats: FanoutStats
  /** This instance's id in Redis (hex). */
  readonly instanceId: string
  readonly prefix: string
  private readonly origin: Buffer
  private readonly source: RedisClient | string
  private readonly heartbeat: number
  private readonly commandTimeout: number
  private readonly pingInterval: number
  /** Redis stopped answering the health PING (the connections may still look open). */
  private hung: boolean
  private pinging: boolean
  private pingTimer: NodeJS.Timeout | undefined
  private readonly countKey: string
  private readonly instancesKey: string
  /** The channels and patterns this instance needs in Redis. */
  private readonly subscriptions: RedisSubscriptions
  private host: FanoutHost | undefined
  private pub: Redis | undefined
  private sub: Redis | undefined
  private pubReady: boolean
  private downError: Error
  private heartbeatTimer: NodeJS.Timeout | undefined
  private countTimer: NodeJS.Timeout | undefined
  private closed: boolean
  /** Cluster-wide RPC, when enabled (`rpc: true`). @internal */
  readonly rpc: ClusterRpc | undefined
  /** Retained events and event history in Redis. @internal */
  readonly storage: RedisStorage

  constructor (options: RedisFanoutOptions) {
    super()
    const { redis, prefix, heartbeat, rpc, commandTimeout, pingInterval, probeInterval, rebuildWindow } = redisFanoutSettings(options)
    this.status = 'connecting'
    this.stats = emptyStats()
    this.origin = randomBytes(8)
    this.instanceId = this.origin.toString('hex')
    this.prefix = prefix
    this.source = redis
    this.heartbeat = heartbeat
    this.commandTimeout = commandTimeout
    this.pingInterval = pingInterval
    this.hung = false
    this.pinging = false
    this.pingTimer = undefined
    this.countKey = `${prefix}instance:${this.instanceId}`
    this.instancesKey = `${prefix}instances`
    this.subscriptions = new RedisSubscriptions(prefix, (err) => this.fail(err))
    this.host = undefined
    this.pub = undefined
    this.sub = undefined
    this.pubReady = false
    this.downError = new Error('Redis is not connected yet')
    this.heartbeatTimer = undefined
    this.countTimer = undefined
    this.closed = false
    this.rpc = rpc
      ? new ClusterRpc({
        instanceId: this.instanceId,
        prefix,
        heartbeat,
        probeInterval,
        rebuildWindow,
        connection: () => (this.status === 'up' ? this.pub : undefined),
        publisher: () => (this.pubReady && !this.hung ? this.pub : undefined)
      })
      : undefined
    if (this.rpc !== undefined) {
      this.subscriptions.channels.add(this.rpc.channel)
      this.subscriptions.channels.add(this.rpc.registry.changedChannel)
    }
    this.storage = new RedisStorage(prefix, () => (this.status === 'up' ? this.pub : undefined), (err) => this.fail(err))
  }

  channel (realm: string, topic: string): string {
    return this.subscriptions.channel(realm, topic)
  }

  pattern (realm: string, topic: string, match: MatchPolicy): string {
    return this.subscriptions.pattern(realm, topic, match)
  }

  // ---- lifecycle -------------------------------------------------------------------------------------------

  async start (host: FanoutHost): Promise<void> {
    if (this.host !== undefined) throw new FST_WAMP_INVALID_OPTION('a RedisFanout serves one fastify-wamp instance; create one per app')
    this.host = host
    let pub: Redis
    let sub: Redis
    const own = connectionOptions(this.commandTimeout, false)
    // The commands of one tick (registry writes, heartbeats) leave in one write; PUBLISH is written at once.
    const pipelined = connectionOptions(this.commandTimeout, true)
    if (typeof this.source === 'string') {
      const Redis = await loadIoredis()
      pub = new Redis(this.source, pipelined)
      sub = new Redis(this.source, own)
    } else {
      pub = this.source.duplicate(pipelined) as Redis
      sub = this.source.duplicate(own) as Redis
    }
    this.pub = pub
    this.sub = sub
    pub.on('ready', () => { this.pubReady = true; this.update(); this.writeCount() })
    this.subscriptions.attach(sub)
    sub.on('ready', () => { this.subscriptions.restore().then(() => this.update(), noop) })
    pub.on('close', () => { this.pubReady = false; this.update() })
    sub.on('close', () => { this.subscriptions.ready = false; this.update() })
    pub.on('error', (err: Error) => this.fail(err))
    sub.on('error', (err: Error) => this.fail(err))
    const rpcChannel = this.rpc === undefined ? undefined : Buffer.from(this.rpc.channel)
    const changedChannel = this.rpc === undefined ? undefined : Buffer.from(this.rpc.registry.changedChannel)
    sub.on('messageBuffer', (channel: Buffer, data: Buffer) => {
      if (rpcChannel !== undefined && rpcChannel.equals(channel)) (this.rpc as ClusterRpc).receive(data)
      else if (changedChannel !== undefined && changedChannel.equals(channel)) (this.rpc as ClusterRpc).registry.changed(data.toString())
      else this.onMessage(data)
    })
    sub.on('pmessageBuffer', (pattern: string, channel: Buffer, data: Buffer) => this.onPatternMessage(pattern, data))
    try {
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error): void => {
          this.off('up', done)
          this.off('error', done)
          if (err === undefined) resolve()
          else reject(err)
        }
        this.once('up', done)
        this.once('error', done)
        pub.connect().catch(done)
        sub.connect().catch(done)
      })
    } catch (err) {
      this.closed = true
      pub.disconnect()
      sub.disconnect()
      throw new FST_WAMP_FANOUT_CONNECT((err as Error).message, { cause: err })
    }
    this.heartbeatTimer = setInterval(() => this.beat(), this.heartbeat).unref()
    this.pingTimer = setInterval(() => this.ping(), this.pingInterval).unref()
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.heartbeatTimer)
    clearInterval(this.pingTimer)
    clearTimeout(this.countTimer)
    this.rpc?.close()
    const pub = this.pub
    if (pub !== undefined && this.pubReady) {
      // Leave the cluster count at once rather than after the heartbeat TTL; a hung Redis must not hold up close.
      const leave = Promise.all([
        this.rpc?.registry.leave(pub),
        pub.multi().del(this.countKey).srem(this.instancesKey, this.instanceId).exec()
      ]).catch(noop)
      await Promise.race([leave, delay(CLOSE_WAIT, undefined, { ref: false })])
    }
    pub?.disconnect()
    this.sub?.disconnect()
    this.subscriptions.detach()
    this.pubReady = false
    this.status = 'down'
  }

  private update (): void {
    if (this.closed) return
    const up = this.pubReady && this.subscriptions.ready && !this.hung
    if (up && this.status !== 'up') {
      // After an outage the registry may be empty (Redis restarted): the other instances are rewriting it.
      if (this.status === 'down') this.rpc?.registry.rebuild()
      this.status = 'up'
      this.rpc?.registry.sync().catch((err: Error) => this.fail(err))
      this.emit('up')
    } else if (!up && this.status === 'up') {
      this.status = 'down'
      const cause = this.hung ? new Error(`Redis did not answer a PING within ${this.commandTimeout} ms`) : this.stats.lastError
      this.downError = new Error(`Redis connection lost${cause !== undefined ? ` (${cause.message})` : ''}`)
      this.rpc?.down(cause)
      this.emit('down', cause)
    }
  }

  /**
   * The health check: a Redis that stops answering (paused, overloaded, a half-open connection) keeps the sockets
   * open, so only a deadline notices it. Commands time out after `commandTimeout`, so a PING that fails means `down`.
   */
  private ping (): void {
    if (this.closed || this.pinging || !this.pubReady) return
    this.pinging = true
    ;(this.pub as Redis).ping().then(() => {
      this.pinging = false
      if (!this.hung) return
      this.hung = false
      this.update()
    }, (err: Error) => {
      this.pinging = false
      if (this.closed || !/timed out/i.test(err.message)) return
      this.fail(err)
      this.hung = true
      this.update()
    })
  }

  private fail (err: Error): void {
    if (this.closed) return
    this.stats.errors++
    this.stats.lastError = err
    if (this.listenerCount('error') > 0) this.emit('error', err)
  }

  // ---- subscriptions ---------------------------------------------------------------------------------------

  /**
   * Resolves once Redis has confirmed the (P)SUBSCRIBE, so that a publication from another instance made after it
   * reaches this one (the broker answers SUBSCRIBED then). While Redis is down it returns undefined at once: the
   * subscription is made when Redis is back, and delivery is local only meanwhile (status `down`). It never rejects.
   */
  subscribe (realm: string, topic: string, match: MatchPolicy): Promise<void> | undefined {
    return this.subscriptions.add(realm, topic, match)
  }

  unsubscribe (realm: string, topic: string, match: MatchPolicy): void {
    this.subscriptions.remove(realm, topic, match)
  }

  // ---- publications ----------------------------------------------------------------------------------------

  publish (publication: RemotePublication): void {
    if (this.status !== 'up') return this.failed(publication, this.downError)
    let data: Buffer
    try {
      data = encodePublication(this.origin, publication)
    } catch (err) {
      return this.failed(publication, err as Error)
    }
    this.stats.published++
    ;(this.pub as Redis).publish(this.channel(publication.realm, publication.topic), data)
      .catch((err: Error) => this.failed(publication, err))
  }

  private failed (publication: RemotePublication, error: Error): void {
    this.stats.publishFailed++
    if (this.listenerCount('publish-failed') === 0) return
    this.emit('publish-failed', { realm: publication.realm, topic: publication.topic, publicationId: publication.publicationId, error })
  }

  private onMessage (data: Buffer): void {
    if (isFrom(this.origin, data)) return
    const publication = this.decode(data)
    if (publication === undefined) return
    this.stats.received++
    this.deliver(publication, 'exact', publication.topic)
  }

  private onPatternMessage (pattern: string, data: Buffer): void {
    const targets = this.subscriptions.patterns.get(pattern)
    if (targets === undefined || isFrom(this.origin, data)) return
    const publication = this.decode(data)
    if (publication === undefined) return
    this.stats.received++
    for (const target of targets) {
      if (target.realm === publication.realm) this.deliver(publication, target.match, target.topic)
    }
  }

  private decode (data: Buffer): RemotePublication | undefined {
    try {
      return decodePublication(data)
    } catch (err) {
      this.fail(err as Error)
      return undefined
    }
  }

  private deliver (publication: RemotePublication, match: MatchPolicy, topic: string): void {
    try {
      (this.host as FanoutHost).receive(publication, match, topic)
    } catch (err) {
      this.fail(err as Error)
    }
  }

  // ---- cluster-wide session count --------------------------------------------------------------------------

  sessionsChanged (): void {
    if (this.countTimer !== undefined || this.closed) return
    this.countTimer = setTimeout(() => { this.countTimer = undefined; this.writeCount() }, COUNT_DELAY).unref()
  }

  private beat (): void {
    this.writeCount()
    if (this.rpc === undefined || this.status !== 'up') return
    this.rpc.check().catch((err: Error) => this.fail(err))
    this.rpc.registry.sweep().catch((err: Error) => this.fail(err))
  }

  private writeCount (): void {
    if (!this.pubReady || this.closed) return
    const count = (this.host as FanoutHost).count
    ;(this.pub as Redis).multi()
      .set(this.countKey, count, 'PX', this.heartbeat * 3)
      .sadd(this.instancesKey, this.instanceId)
      .exec()
      .then((replies) => {
        // Not listed any more while we were up: a peer took us for dead (we were paused, or our heartbeats could not
        // reach Redis, past the TTL) and removed our entries. They are rewritten now, whatever else noticed it.
        if (replies?.[1]?.[1] === 1 && this.status === 'up') this.rpc?.registry.sync().catch((err: Error) => this.fail(err))
      }, (err: Error) => this.fail(err))
  }

  /** The live instances (heartbeat not expired) with their session counts, this one first. */
  async clusterInstances (): Promise<Array<{ instance: string, sessions: number, self: boolean }>> {
    if (this.status !== 'up') throw this.downError
    const pub = this.pub as Redis
    const ids = (await pub.smembers(this.instancesKey)).filter((id) => id !== this.instanceId).sort()
    const counts = ids.length === 0 ? [] : await pub.mget(ids.map((id) => `${this.prefix}instance:${id}`))
    const found = [{ instance: this.instanceId, sessions: (this.host as FanoutHost).count, self: true }]
    for (let i = 0; i < ids.length; i++) if (counts[i] !== null) found.push({ instance: ids[i], sessions: Number(counts[i]), self: false })
    return found
  }

  /** Sessions on every live instance: ours counted now, the others as of their last heartbeat or change. */
  async clusterSessionCount (): Promise<number> {
    if (this.status !== 'up') throw this.downError
    const pub = this.pub as Redis
    const ids = (await pub.smembers(this.instancesKey)).filter((id) => id !== this.instanceId)
    let total = (this.host as FanoutHost).count
    if (ids.length === 0) return total
    const counts = await pub.mget(ids.map((id) => `${this.prefix}instance:${id}`))
    const gone: string[] = []
    for (let i = 0; i < ids.length; i++) {
      const value = counts[i]
      if (value === null) gone.push(ids[i])
      else total += Number(value)
    }
    if (gone.length > 0) await pub.srem(this.instancesKey, ...gone).catch(noop)
    return total
  }
}

function noop (): void {}
