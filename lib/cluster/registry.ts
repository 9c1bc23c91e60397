import type { Redis } from 'ioredis'
import { TestamentStore } from './testament-store.js'
import { MissedLookups } from './missed-lookups.js'
import type { ClusterHost, ClusterLink } from './link.js'
import { Registry } from '../rpc/registry.js'
import type { ClientRegistration, Registration } from '../rpc/registry.js'
import type { Session } from '../session/session.js'
import type { MatchPolicy } from '../wire/uris.js'

// The cluster registry in Redis: which instance holds which session and client registration.
// All keys under the adapter's prefix P:
//   P rpc:reg:<realm>:<uri>   hash  "<instance>:<session>:<registration>" → JSON [created ms, routed 0|1, invoke]
//   P rpc:pat:<realm>         hash  the same fields for routed prefix/wildcard registrations
//                                   → JSON [created ms, 1, invoke, match, pattern] (read only when no exact one)
//   P rpc:sessions            hash  "<session>" → JSON [instance, realm, authid, authrole]
//   P rpc:own:<instance>      set   what that instance wrote ("r\n<hash key>\n<field>" | "s\n<session>"), for cleanup
//   P rpc:instances           set   instances that have written their entries (only `sync()` adds to it, in the same
//                                   MULTI as the entries, so membership means "its entries are all there")
//   P rpc:rr:<realm>:<uri>    roundrobin counter of a shared registration
//   P rpc:lock:<instance>     who removes a dead instance's entries (SET NX PX)
//   P rpc:testaments:<instance> hash "<session>" → msgpack of that session's testaments (lib/session/testaments.ts)
//   P instance:<instance>     the adapter's heartbeat key (TTL 3 × heartbeat): alive while it exists
// Writes are fire-and-forget on REGISTER/UNREGISTER/session open/close; while Redis is down they are skipped and
// `sync()` rewrites this instance's entries when it is back (also when a peer swept us by mistake).
//
// Lookups are cached per hash (parsed and sorted once), so a call in the steady state costs no registry read. Every
// write of a registry hash PUBLISHes the hash's key on P rpc:changed in the same MULTI (`*` for a sync, a sweep or
// a leave, which touch many), and every instance drops what it cached of it. A lookup caches its answer only if no
// change arrived while it was in flight, and the whole cache goes whenever the subscriber connection may have missed
// one (Redis down, then up again) and while the registry is rebuilt after an outage.

/** A session on another instance, as the cluster registry lists it. */
export interface RemoteSessionInfo {
  id: number
  instance: string
  realm: string
  authid: string
  authrole: string
}

/** One callee of the cluster registry. */
export interface RemoteCallee { readonly instance: string, readonly session: number, readonly registration: number }

/** One callee of a registry hash, parsed once when read: its field `<instance>:<session>:<registration>` and its entry. */
interface Listed { field: string, entry: Entry, callee: RemoteCallee }

/** Most registry hashes cached at once (a miss is cached too, and clients choose the URIs they call). */
const CACHE_MAX = 10_000
/** What `changed` carries for "anything may have changed". */
const EVERYTHING = '*'

export class ClusterRegistry {
  private readonly link: ClusterLink
  private host: ClusterHost | undefined
  /** The other live instances as of the last sweep before an outage: those that must re-announce after it. */
  private known: string[]
  /** Until then (ms since epoch) the registry is being rebuilt after an outage, unless all `known` are back. */
  private rebuildUntil: number
  /** Registry hashes as last read, by key, until a change of theirs is announced. */
  private readonly cache: Map<string, Listed[]>
  /** Counts the changes announced: a lookup caches its answer only if none arrived while it was in flight. */
  private epoch: number
  /** regKey()'s memo, realm → URI → key; cleared past CACHE_MAX keys (clients choose the URIs they call). */
  private readonly regKeys: Map<string, Map<string, string>>
  private regKeyCount: number
  /** The rewrite in progress (`sync()`), if any. */
  private syncing: Promise<void> | undefined
  /** Lookups that missed while the registry is rebuilt, waiting to be tried again (`retryAfterMiss`). */
  private readonly waiting: MissedLookups
  /** The channel on which every registry write is announced (P rpc:changed). */
  readonly changedChannel: string
  /** Our sessions' testaments in Redis, and a dead instance's claim. @internal */
  readonly testaments: TestamentStore

  constructor (link: ClusterLink) {
    this.link = link
    this.host = undefined
    this.known = []
    this.rebuildUntil = 0
    this.cache = new Map()
    this.epoch = 0
    this.regKeys = new Map()
    this.regKeyCount = 0
    this.syncing = undefined
    this.waiting = new MissedLookups(() => this.rebuilt(), () => this.epoch)
    this.changedChannel = `${link.prefix}rpc:changed`
    this.testaments = new TestamentStore(link)
  }

  /** A registry write was announced (on P rpc:changed): what we cached of that hash, or of everything, goes. */
  changed (key: string): void {
    this.epoch++
    if (key === EVERYTHING) this.cache.clear()
    else this.cache.delete(key)
  }

  /** Announcements may have been missed (Redis down, or just back): nothing cached is trusted. */
  forget (): void {
    this.changed(EVERYTHING)
  }

  attach (host: ClusterHost): void {
    this.host = host
  }

  private key (name: string): string {
    return `${this.link.prefix}rpc:${name}`
  }

  /** The registry hash of `uri`'s exact registrations (memoized: built for every call otherwise). */
  private regKey (realm: string, uri: string): string {
    let keys = this.regKeys.get(realm)
    if (keys === undefined) this.regKeys.set(realm, keys = new Map())
    let key = keys.get(uri)
    if (key === undefined) {
      if (++this.regKeyCount > CACHE_MAX) {
        this.regKeys.clear()
        this.regKeys.set(realm, keys = new Map())
        this.regKeyCount = 1
      }
      keys.set(uri, key = this.key(`reg:${realm}:${uri}`))
    }
    return key
  }

  sessionOpened (session: Session): void {
    const redis = this.link.connection()
    if (redis === undefined) return // written by sync() when Redis is back
    const own = this.key(`own:${this.link.instanceId}`)
    redis.multi()
      .hset(this.key('sessions'), String(session.id), sessionEntry(this.link.instanceId, session))
      .sadd(own, `s\n${session.id}`)
      .exec().catch(noop)
  }

  sessionClosed (session: Session): void {
    this.link.connection()?.multi()
      .hdel(this.key('sessions'), String(session.id))
      .srem(this.key(`own:${this.link.instanceId}`), `s\n${session.id}`)
      .exec().catch(noop)
  }

  /** Where a client registration is listed: [hash, field, value]; undefined for a private pattern registration. */
  private entry (callee: ClientRegistration, registration: Registration): [string, string, string] | undefined {
    const field = `${this.link.instanceId}:${callee.session.id}:${callee.id}`
    if (callee.match === 'exact') return [this.regKey(realmOf(callee.session), callee.uri), field, regEntry(callee, registration)]
    if (!registration.routed) return undefined
    return [this.key(`pat:${realmOf(callee.session)}`), field,
      JSON.stringify([Date.parse(callee.created), 1, registration.invoke, callee.match, callee.uri])]
  }

  registered (callee: ClientRegistration, registration: Registration): void {
    const redis = this.link.connection()
    const entry = this.entry(callee, registration)
    if (redis === undefined || entry === undefined) return
    const [hash, field, value] = entry
    redis.multi()
      .hset(hash, field, value)
      .sadd(this.key(`own:${this.link.instanceId}`), `r\n${hash}\n${field}`)
      .publish(this.changedChannel, hash)
      .exec().catch(noop)
  }

  unregistered (callee: ClientRegistration): void {
    const hash = callee.match === 'exact' ? this.regKey(realmOf(callee.session), callee.uri) : this.key(`pat:${realmOf(callee.session)}`)
    const field = `${this.link.instanceId}:${callee.session.id}:${callee.id}`
    this.link.connection()?.multi()
      .hdel(hash, field)
      .srem(this.key(`own:${this.link.instanceId}`), `r\n${hash}\n${field}`)
      .publish(this.changedChannel, hash)
      .exec().catch(noop)
  }

  /**
   * Rewrites this instance's entries (Redis is back, maybe empty; or a peer wrongly swept us). Several reasons to
   * (the connection up, the heartbeat or the sweep finding us unlisted) arriving together share one rewrite.
   */
  sync (): Promise<void> {
    this.syncing ??= this.rewrite().finally(() => { this.syncing = undefined })
    return this.syncing
  }

  private async rewrite (): Promise<void> {
    const redis = this.link.connection()
    if (redis === undefined || this.host === undefined) return
    const own = this.key(`own:${this.link.instanceId}`)
    // A survivor that took us for dead published some of our sessions' testaments: they are not kept (nor rewritten).
    const published = await this.testaments.published(redis)
    if (published.length > 0) this.host.testamentsPublished?.(published)
    const old = await redis.smembers(own)
    const multi = redis.multi()
    removeOwned(multi, this.key('sessions'), old)
    multi.del(own)
    const wills: Array<[number, Buffer]> = []
    for (const session of this.host.sessions.values()) {
      multi.hset(this.key('sessions'), String(session.id), sessionEntry(this.link.instanceId, session))
      multi.sadd(own, `s\n${session.id}`)
      const will = this.host.testamentsOf?.(session)
      if (will !== undefined) wills.push([session.id, will])
      for (const callee of session.registrations.values()) {
        const registration = session.joined?.dealer.registry.byId.get(callee.id)
        const entry = registration === undefined ? undefined : this.entry(callee, registration)
        if (entry === undefined) continue
        multi.hset(entry[0], entry[1], entry[2])
        multi.sadd(own, `r\n${entry[0]}\n${entry[1]}`)
      }
    }
    this.testaments.rewrite(multi, wills)
    multi.sadd(this.key('instances'), this.link.instanceId)
    multi.publish(this.changedChannel, EVERYTHING)
    await multi.exec()
  }

  /** Removes the entries of instances whose heartbeat key expired; re-syncs us if a peer swept us. */
  async sweep (): Promise<void> {
    const redis = this.link.connection()
    if (redis === undefined) return
    const ids = await redis.smembers(this.key('instances'))
    if (!ids.includes(this.link.instanceId) && this.host !== undefined && this.host.sessions.size > 0) await this.sync()
    const others = ids.filter((id) => id !== this.link.instanceId)
    // While rebuilding, the set lacks the instances that have not re-announced yet: keep the list from before.
    if (Date.now() >= this.rebuildUntil) this.known = others
    if (others.length === 0) return
    const alive = await redis.mget(others.map((id) => `${this.link.prefix}instance:${id}`))
    for (let i = 0; i < others.length; i++) if (alive[i] === null) await this.remove(redis, others[i])
  }

  /** Redis is back after an outage: it may have lost everything, and the other instances are rewriting it. */
  rebuild (): void {
    this.rebuildUntil = Date.now() + this.link.rebuildWindow
    this.forget()
  }

  /** Counts the changes announced; a lookup that misses passes the count it started with to `retryAfterMiss`. */
  get version (): number {
    return this.epoch
  }

  /**
   * A lookup begun at `version` missed: try it again? While the registry is rebuilt after an outage (a miss may be an
   * entry not rewritten yet), true once a change is announced or the rebuild is over (./missed-lookups.ts); else false.
   * @internal
   */
  retryAfterMiss (version: number): Promise<boolean> {
    if (Date.now() >= this.rebuildUntil) return Promise.resolve(false)
    if (version !== this.epoch) return Promise.resolve(true)
    return this.waiting.wait(version)
  }

  /** Is the rebuild over (Redis is gone too, or every instance known before the outage is back, or time is up)? */
  private async rebuilt (): Promise<boolean> {
    const redis = this.link.connection()
    if (redis === undefined || Date.now() >= this.rebuildUntil) return true
    const present = new Set(await redis.smembers(this.key('instances')))
    if (this.known.every((id) => present.has(id))) this.rebuildUntil = 0
    return this.rebuildUntil === 0
  }

  /** Lookups still waiting for the rebuild get their answer now (the cluster is closing). @internal */
  stopWaiting (): void {
    this.waiting.stop()
  }

  private async remove (redis: Redis, instance: string): Promise<void> {
    if (await redis.set(this.key(`lock:${instance}`), this.link.instanceId, 'PX', this.link.heartbeat * 10, 'NX') !== 'OK') return
    const own = this.key(`own:${instance}`)
    const entries = await redis.smembers(own)
    const multi = redis.multi()
    removeOwned(multi, this.key('sessions'), entries)
    multi.del(own).srem(this.key('instances'), instance)
    multi.publish(this.changedChannel, EVERYTHING)
    await multi.exec()
    // The lock makes this instance the only one to publish the dead instance's testaments (./testament-store.ts).
    const testaments = await this.testaments.claim(redis, instance)
    if (testaments.length > 0) this.host?.testamentsOrphaned?.(testaments)
  }

  /** Our entries go at a clean shutdown (rather than after the heartbeat TTL). @internal */
  leave (redis: Redis): Promise<unknown> {
    const own = this.key(`own:${this.link.instanceId}`)
    return redis.smembers(own).then((entries) => {
      const multi = redis.multi()
      removeOwned(multi, this.key('sessions'), entries)
      this.testaments.remove(multi)
      return multi.del(own).srem(this.key('instances'), this.link.instanceId).publish(this.changedChannel, EVERYTHING).exec()
    })
  }

  /** A session anywhere in the cluster (not this instance's: the caller looks in `sessions` first). @internal */
  async session (redis: Redis, id: number): Promise<RemoteSessionInfo | undefined> {
    const value = await redis.hget(this.key('sessions'), String(id))
    if (value === null) return undefined
    const [instance, realm, authid, authrole] = JSON.parse(value) as [string, string, string, string]
    if (instance === this.link.instanceId) return undefined
    return { id, instance, realm, authid, authrole }
  }

  /** The sessions of `realm` on the other instances. @internal */
  async sessionsOf (redis: Redis, realm: string): Promise<RemoteSessionInfo[]> {
    const found: RemoteSessionInfo[] = []
    for (const [id, value] of Object.entries(await redis.hgetall(this.key('sessions')))) {
      const [instance, r, authid, authrole] = JSON.parse(value) as [string, string, string, string]
      if (instance !== this.link.instanceId && r === realm) found.push({ id: Number(id), instance, realm, authid, authrole })
    }
    return found
  }

  /** A registry hash's callees in registration order (without this instance's unless `includeLocal`). */
  private async callees (redis: Redis, key: string, includeLocal: boolean, routedOnly: boolean): Promise<Listed[]> {
    let listed = this.cache.get(key)
    if (listed === undefined) {
      const epoch = this.epoch
      listed = Object.entries(await redis.hgetall(key))
        .map(([field, value]) => ({ field, entry: JSON.parse(value) as Entry, callee: calleeOf(field) }))
        .sort((a, b) => a.entry[0] - b.entry[0] || (a.field < b.field ? -1 : 1))
      // Not while the registry is rebuilt (a miss may be an entry not rewritten yet), nor if a change crossed the read.
      if (epoch === this.epoch && Date.now() >= this.rebuildUntil) {
        if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string)
        this.cache.set(key, listed)
      }
    }
    return this.eligible(listed, includeLocal, routedOnly)
  }

  /**
   * Without this instance's callees unless `includeLocal`; with `routedOnly` (a client's CALL), only the registrations
   * their instance's router `allow` rules offer to other clients — the others are the application's to call.
   */
  private eligible (listed: Listed[], includeLocal: boolean, routedOnly: boolean): Listed[] {
    const mine = this.link.instanceId
    const drop = (c: Listed): boolean => (!includeLocal && c.callee.instance === mine) || (routedOnly && c.entry[1] !== 1)
    return listed.some(drop) ? listed.filter((c) => !drop(c)) : listed
  }

  /**
   * `pick()` without Redis, when that can be: the URI's exact registrations are cached and listed and the policy
   * needs no counter (not roundrobin). Undefined otherwise (then `pick()` decides). @internal
   */
  cachedPick (realm: string, uri: string, includeLocal: boolean, routedOnly: boolean): RemoteCallee | undefined {
    const listed = this.cache.get(this.regKey(realm, uri))
    if (listed === undefined) return undefined
    const callees = this.eligible(listed, includeLocal, routedOnly)
    if (callees.length === 0) return undefined
    const invoke = callees[0].entry[1] === 1 ? callees[0].entry[2] : 'single'
    if (invoke === 'roundrobin') return undefined
    return (invoke === 'last' ? callees[callees.length - 1] : invoke === 'random' ? callees[Math.floor(Math.random() * callees.length)] : callees[0]).callee
  }

  /**
   * The callee a call to `uri` goes to: the oldest registration, or for a shared routed one the registration's
   * policy over the cluster's callees in registration order (roundrobin: one Redis counter per URI). @internal
   */
  async pick (redis: Redis, realm: string, uri: string, includeLocal: boolean, routedOnly: boolean): Promise<RemoteCallee | undefined> {
    let callees = await this.callees(redis, this.regKey(realm, uri), includeLocal, routedOnly)
    let counter = `rr:${realm}:${uri}`
    if (callees.length === 0) {
      // No exact registration anywhere: the pattern registrations, by the spec's precedence (as Registry.lookup()).
      const patterns = await this.callees(redis, this.key(`pat:${realm}`), includeLocal, routedOnly)
      if (patterns.length === 0) return undefined
      const precedence = new Registry()
      for (const c of patterns) if (precedence.find(c.entry[4], c.entry[3]) === undefined) precedence.create(c.entry[4], c.entry[3], 'single', true)
      const best = precedence.lookup(uri)
      if (best === undefined) return undefined
      callees = patterns.filter((c) => c.entry[3] === best.match && c.entry[4] === best.uri)
      counter = `rr:${realm}:${best.match}:${best.uri}`
    }
    if (callees.length === 0) return undefined
    let chosen = callees[0]
    const invoke = chosen.entry[1] === 1 ? chosen.entry[2] : 'single'
    if (invoke === 'last') chosen = callees[callees.length - 1]
    else if (invoke === 'random') chosen = callees[Math.floor(Math.random() * callees.length)]
    else if (invoke === 'roundrobin') chosen = callees[(await redis.incr(this.key(counter))) % callees.length]
    return chosen.callee
  }
}

type Entry = [created: number, routed: number, invoke: string, match: MatchPolicy, pattern: string]

function calleeOf (field: string): RemoteCallee {
  const [instance, session, registration] = field.split(':')
  return { instance, session: Number(session), registration: Number(registration) }
}

export function realmOf (session: Session): string {
  return session.joined?.name ?? ''
}

export function sessionEntry (instance: string, session: Session): string {
  return JSON.stringify([instance, realmOf(session), session.authid, session.authrole])
}

export function regEntry (callee: ClientRegistration, registration: Registration): string {
  return JSON.stringify([Date.parse(callee.created), registration.routed ? 1 : 0, registration.invoke])
}

/** @internal */
export function removeOwned (multi: ReturnType<Redis['multi']>, sessions: string, entries: string[]): void {
  for (const entry of entries) {
    const parts = entry.split('\n')
    if (parts[0] === 's') multi.hdel(sessions, parts[1])
    else multi.hdel(parts[1], parts[2])
  }
}

function noop (): void {}
