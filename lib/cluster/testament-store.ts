import type { ChainableCommander, Redis } from 'ioredis'
import type { ClusterLink } from './link.js'

// Session testaments with cluster-wide RPC (lib/session/testaments.ts), kept in Redis so that when an instance dies
// the survivor that claims its entries (the registry's SET NX lock) publishes them — exactly once, even when the
// instance was not dead:
//   P rpc:testaments:<instance>            hash "<session>" → msgpack of that session's testaments
//   P rpc:testaments-published:<instance>  the same hash, moved there by the claim (RENAME, in the MULTI that
//                                          reads it: a second claim finds nothing); kept for PUBLISHED_TTL
// An instance declared dead while it was only paused or cut off from Redis (past its heartbeat TTL) comes back
// holding those sessions. Before it rewrites its entries it takes the list of its sessions whose testaments were
// published, and drops their testaments: they are not published a second time when those sessions end.

/** How long a claimed instance's list of published testaments waits for that instance to come back. */
const PUBLISHED_TTL = 24 * 3600_000

export class TestamentStore {
  private readonly link: ClusterLink

  constructor (link: ClusterLink) {
    this.link = link
  }

  private key (instance: string): string {
    return `${this.link.prefix}rpc:testaments:${instance}`
  }

  private publishedKey (instance: string): string {
    return `${this.link.prefix}rpc:testaments-published:${instance}`
  }

  /** A session's testaments (msgpack), or none: kept in Redis so that a survivor can publish them. */
  save (session: number, data: Buffer | undefined): void {
    const redis = this.link.connection()
    if (redis === undefined) return
    const key = this.key(this.link.instanceId)
    ;(data === undefined ? redis.hdel(key, String(session)) : redis.hset(key, String(session), data)).catch(noop)
  }

  /** Queues, on `multi`, the rewrite of our hash from `wills` (session id → testaments), after a Redis outage. */
  rewrite (multi: ChainableCommander, wills: Iterable<[number, Buffer]>): void {
    const key = this.key(this.link.instanceId)
    multi.del(key)
    for (const [session, will] of wills) multi.hset(key, String(session), will)
  }

  /** Queues, on `multi`, the removal of our hash (a clean shutdown: the sessions' testaments were published). */
  remove (multi: ChainableCommander): void {
    multi.del(this.key(this.link.instanceId))
  }

  /** A dead instance's testaments, claimed: they are ours to publish, and recorded as published. */
  async claim (redis: Redis, instance: string): Promise<Buffer[]> {
    const key = this.key(instance)
    const published = this.publishedKey(instance)
    const [[, testaments]] = await redis.multi()
      .hgetallBuffer(key)
      .rename(key, published) // fails harmlessly (inside the MULTI) when there is no hash
      .pexpire(published, PUBLISHED_TTL)
      .exec() as [[unknown, Record<string, Buffer> | null]]
    return Object.values(testaments ?? {})
  }

  /** The ids of our sessions whose testaments a survivor published while it took us for dead (read once). */
  async published (redis: Redis): Promise<number[]> {
    const published = this.publishedKey(this.link.instanceId)
    const [[, ids]] = await redis.multi().hkeys(published).del(published).exec() as [[unknown, string[] | null]]
    return (ids ?? []).map(Number)
  }
}

function noop (): void {}
