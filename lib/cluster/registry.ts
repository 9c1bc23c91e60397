import type { Redis } from 'ioredis'
import { TestamentStore } from './testament-store.js'
import { MissedLookups } from './missed-lookups.js'
import type { ClusterHost, ClusterLink } from './link.js'
import { announcement, CACHE_MAX, EVERYTHING, RegistryCache, scoped } from './registry-cache.js'
import type { Listed, RemoteCallee } from './registry-cache.js'
import { realmOf, SessionDirectory } from './session-directory.js'
import type { ClientRegistration, Registration } from '../rpc/registry.js'
import type { Session } from '../session/session.js'

export type { RemoteCallee } from './registry-cache.js'
export type { RemoteSessionInfo, SessionFilter } from './session-directory.js'
export { realmOf } from './session-directory.js'

// The cluster registry in Redis: which instance holds which client registration (and, through ./session-directory.ts,
// which session). All keys under the adapter's prefix P:
//   P rpc:reg:<realm>:<uri>   hash  "<instance>:<session>:<registration>" → JSON [created ms, routed 0|1, invoke]
//                                   (P rpc:reg#<realm>#<uri> for a realm name with a colon, see `scoped()`)
//   P rpc:pat:<realm>         hash  the same fields for routed prefix/wildcard registrations
//                                   → JSON [created ms, 1, invoke, match, pattern] (read only when no exact one)
//   P rpc:own:<instance>      set   what that instance wrote ("r\n<hash key>\n<field>" | a session's, see there),
//                                   for cleanup
//   P rpc:instances           set   instances that have written their entries (only `sync()` adds to it, in the same
//                                   MULTI as the entries, so membership means "its entries are all there")
//   P rpc:rr:<realm>:<uri>    roundrobin counter of a shared registration (rr#<realm>#<uri> likewise)
//   P rpc:lock:<instance>     who removes a dead instance's entries (SET NX PX)
//   P rpc:testaments:<instance> hash "<session>" → msgpack of that session's testaments (lib/session/testaments.ts)
//   P instance:<instance>     the adapter's heartbeat key (TTL 3 × heartbeat): alive while it exists
// Writes are fire-and-forget on REGISTER/UNREGISTER/session open/close; while Redis is down they are skipped and
// `sync()` rewrites this instance's entries when it is back (also when a peer swept us by mistake).
//
// Lookups read the hashes through ./registry-cache.ts: each write announces what it changed on P rpc:changed in its
// MULTI, and every instance updates what it keeps in place. Nothing is kept while the registry is rebuilt after an
// outage, and nothing kept is trusted once announcements may have been missed (Redis down, then up again).

/** A realm's registry hash keys: its pattern hash, and each URI's exact one. */
interface RealmKeys { pattern: string, exact: Map<string, string> }

export class ClusterRegistry {
  private readonly link: ClusterLink
  private host: ClusterHost | undefined
  /** The other live instances as of the last sweep before an outage: those that must re-announce after it. */
  private known: string[]
  /** Until then (ms since epoch) the registry is being rebuilt after an outage, unless all `known` are back. */
  private rebuildUntil: number
  /** The registry hashes as last read, updated in place by the announcements. */
  private readonly cache: RegistryCache
  /** The registry hash keys of each realm, memoized; cleared past CACHE_MAX keys (clients choose the URIs they call). */
  private readonly realmKeys: Map<string, RealmKeys>
  private keyCount: number
  /** The rewrite in progress (`sync()`), if any. */
  private syncing: Promise<void> | undefined
  /** Lookups that missed while the registry is rebuilt, waiting to be tried again (`retryAfterMiss`). */
  private readonly waiting: MissedLookups
  /** The channel on which every registry write is announced (P rpc:changed). */
  readonly changedChannel: string
  /** Our sessions' testaments in Redis, and a dead instance's claim. @internal */
  readonly testaments: TestamentStore
  /** Which instance holds which session. @internal */
  readonly sessions: SessionDirectory

  constructor (link: ClusterLink) {
    this.link = link
    this.host = undefined
    this.known = []
    this.rebuildUntil = 0
    this.cache = new RegistryCache(() => Date.now() >= this.rebuildUntil)
    this.realmKeys = new Map()
    this.keyCount = 0
    this.syncing = undefined
    this.waiting = new MissedLookups(() => this.rebuilt(), () => this.cache.version)
    this.changedChannel = `${link.prefix}rpc:changed`
    this.testaments = new TestamentStore(link)
    this.sessions = new SessionDirectory(link)
  }

  /** A registry write was announced (on P rpc:changed): what we keep of it follows (./registry-cache.ts). */
  changed (message: string): void {
    this.cache.changed(message)
  }

  /** Announcements may have been missed (Redis down, or just back): nothing kept is trusted. */
  forget (): void {
    this.cache.forget()
  }

  attach (host: ClusterHost): void {
    this.host = host
  }

  private key (name: string): string {
    return `${this.link.prefix}rpc:${name}`
  }

  /** The registry hash keys of `realm` (memoized: built for every call otherwise). */
  private keysOf (realm: string): RealmKeys {
    let keys = this.realmKeys.get(realm)
    if (keys === undefined) {
      this.counted()
      this.realmKeys.set(realm, keys = { pattern: this.key(`pat:${realm}`), exact: new Map() })
    }
    return keys
  }

  /** The registry hash of `uri`'s exact registrations. */
  private regKey (realm: string, uri: string): string {
    let key = this.keysOf(realm).exact.get(uri)
    if (key === undefined) {
      this.counted()
      this.keysOf(realm).exact.set(uri, key = this.key(scoped('reg', realm, uri)))
    }
    return key
  }

  /** One more memoized key: past CACHE_MAX, the memo starts again. */
  private counted (): void {
    if (++this.keyCount <= CACHE_MAX) return
    this.realmKeys.clear()
    this.keyCount = 1
  }

  /** The registry hash of `realm`'s pattern registrations. */
  private patKey (realm: string): string {
    return this.keysOf(realm).pattern
  }

  sessionOpened (session: Session): void {
    const redis = this.link.connection()
    if (redis === undefined) return // written by sync() when Redis is back
    const multi = redis.multi()
    this.sessions.write(multi, this.key(`own:${this.link.instanceId}`), session)
    multi.exec().catch(noop)
  }

  sessionClosed (session: Session): void {
    const multi = this.link.connection()?.multi()
    if (multi === undefined) return
    this.sessions.remove(multi, this.key(`own:${this.link.instanceId}`), session)
    multi.exec().catch(noop)
  }

  /** Where a client registration is listed: [hash, field, value]; undefined for a private pattern registration. */
  private entry (callee: ClientRegistration, registration: Registration): [string, string, string] | undefined {
    const field = `${this.link.instanceId}:${callee.session.id}:${callee.id}`
    if (callee.match === 'exact') return [this.regKey(realmOf(callee.session), callee.uri), field, regEntry(callee, registration)]
    if (!registration.routed) return undefined
    return [this.patKey(realmOf(callee.session)), field,
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
      .publish(this.changedChannel, announcement(hash, field, value))
      .exec().catch(noop)
  }

  unregistered (callee: ClientRegistration): void {
    const hash = callee.match === 'exact' ? this.regKey(realmOf(callee.session), callee.uri) : this.patKey(realmOf(callee.session))
    const field = `${this.link.instanceId}:${callee.session.id}:${callee.id}`
    this.link.connection()?.multi()
      .hdel(hash, field)
      .srem(this.key(`own:${this.link.instanceId}`), `r\n${hash}\n${field}`)
      .publish(this.changedChannel, announcement(hash, field, undefined))
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
    this.removeOwned(multi, this.link.instanceId, old)
    multi.del(own)
    const wills: Array<[number, Buffer]> = []
    for (const session of this.host.sessions.values()) {
      this.sessions.write(multi, own, session)
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

  /** Redis is back after an outage and the other instances may not have written their keys again yet. */
  get rebuilding (): boolean {
    return Date.now() < this.rebuildUntil
  }

  /** Counts the changes announced; a lookup that misses passes the count it started with to `retryAfterMiss`. */
  get version (): number {
    return this.cache.version
  }

  /**
   * A lookup begun at `version` missed: try it again? While the registry is rebuilt after an outage (a miss may be an
   * entry not rewritten yet), true once a change is announced or the rebuild is over (./missed-lookups.ts); else false.
   * @internal
   */
  retryAfterMiss (version: number): Promise<boolean> {
    if (Date.now() >= this.rebuildUntil) return Promise.resolve(false)
    if (version !== this.cache.version) return Promise.resolve(true)
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
    this.removeOwned(multi, instance, entries)
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
      this.removeOwned(multi, this.link.instanceId, entries)
      this.testaments.remove(multi)
      return multi.del(own).srem(this.key('instances'), this.link.instanceId).publish(this.changedChannel, EVERYTHING).exec()
    })
  }

  /** Removes what `instance` recorded in its own set (`entries`), in `multi`. */
  private removeOwned (multi: ReturnType<Redis['multi']>, instance: string, entries: string[]): void {
    for (const entry of entries) {
      if (entry.startsWith('s\n')) this.sessions.removeOwned(multi, instance, entry)
      else {
        const parts = entry.split('\n')
        multi.hdel(parts[1], parts[2])
      }
    }
  }

  /**
   * Without this instance's callees unless `includeLocal`; with `routedOnly` (a client's CALL), only the registrations
   * their instance's router `allow` rules offer to other clients — the others are the application's to call.
   */
  private eligible (listed: Listed[], includeLocal: boolean, routedOnly: boolean): Listed[] {
    const mine = includeLocal ? undefined : this.link.instanceId
    return keepOnly(listed, mine, routedOnly)
  }

  /**
   * `pick()` without Redis, when that can be: the URI's exact registrations are cached, a routed one is listed and its
   * policy needs no counter (not roundrobin), or only private ones are and no cached pattern takes the call first.
   * Undefined otherwise (then `pick()` decides). @internal
   */
  cachedPick (realm: string, uri: string, includeLocal: boolean, routedOnly: boolean): RemoteCallee | undefined {
    const listed = this.cache.get(this.regKey(realm, uri))
    if (listed === undefined) return undefined
    const exact = this.eligible(listed, includeLocal, routedOnly)
    const routed = routedOf(exact)
    if (routed.length > 0) return routed[0].entry[2] === 'roundrobin' ? undefined : byPolicy(routed, 0).callee
    if (exact.length === 0) return undefined
    const patternKey = this.patKey(realm)
    const patterns = this.cache.get(patternKey)
    if (patterns === undefined || this.bestPattern(patternKey, patterns, uri, includeLocal, routedOnly) !== undefined) return undefined
    return exact[0].callee
  }

  /**
   * The callee a call to `uri` goes to, by the router's rules as Dealer.invoke() applies them locally: a routed exact
   * registration by its policy over the cluster's callees in registration order (roundrobin: one Redis counter per
   * URI), else the routed pattern registration of highest precedence likewise, else — for the application, not a
   * client's CALL — the oldest private registration of `uri`. @internal
   */
  async pick (redis: Redis, realm: string, uri: string, includeLocal: boolean, routedOnly: boolean): Promise<RemoteCallee | undefined> {
    const exact = this.eligible(await this.cache.read(redis, this.regKey(realm, uri)), includeLocal, routedOnly)
    const routed = routedOf(exact)
    if (routed.length > 0) return await this.choose(redis, routed, scoped('rr', realm, uri))
    const patternKey = this.patKey(realm)
    const best = this.bestPattern(patternKey, await this.cache.read(redis, patternKey), uri, includeLocal, routedOnly)
    if (best !== undefined) return await this.choose(redis, best, scoped('rr', realm, `${best[0].entry[3]}:${best[0].entry[4]}`))
    return exact[0]?.callee
  }

  /** The eligible callees of the pattern registration that takes a call to `uri` (the spec's precedence), if any. */
  private bestPattern (key: string, all: Listed[], uri: string, includeLocal: boolean, routedOnly: boolean): Listed[] | undefined {
    const patterns = this.eligible(all, includeLocal, routedOnly)
    if (patterns.length === 0) return undefined
    const best = this.cache.precedence(key, all, patterns, (includeLocal ? 1 : 0) + (routedOnly ? 2 : 0)).lookup(uri)
    if (best === undefined) return undefined
    return patterns.filter((c) => c.entry[3] === best.match && c.entry[4] === best.uri)
  }

  /** One of a routed registration's callees (in registration order) by its policy. */
  private async choose (redis: Redis, callees: Listed[], counter: string): Promise<RemoteCallee> {
    if (callees[0].entry[2] !== 'roundrobin') return byPolicy(callees, 0).callee
    return byPolicy(callees, await redis.incr(this.key(counter))).callee
  }
}

/** The routed registrations among `listed` (the router offers them; a private one is the application's). */
function routedOf (listed: Listed[]): Listed[] {
  return keepOnly(listed, undefined, true)
}

/**
 * `listed` without the callees on instance `drop` and, with `routedOnly`, without private registrations: `listed`
 * itself when nothing goes (the common case on every call, so no closure and no copy).
 */
function keepOnly (listed: Listed[], drop: string | undefined, routedOnly: boolean): Listed[] {
  let kept: Listed[] | undefined
  for (let i = 0; i < listed.length; i++) {
    const c = listed[i]
    const dropped = c.callee.instance === drop || (routedOnly && c.entry[1] !== 1)
    if (dropped) kept ??= listed.slice(0, i)
    else kept?.push(c)
  }
  return kept ?? listed
}

/** The callee a routed registration's policy picks among `callees` (`turn`: the roundrobin counter). */
function byPolicy (callees: Listed[], turn: number): Listed {
  switch (callees[0].entry[2]) {
    case 'last': return callees[callees.length - 1]
    case 'random': return callees[Math.floor(Math.random() * callees.length)]
    case 'roundrobin': return callees[turn % callees.length]
    default: return callees[0]
  }
}

function regEntry (callee: ClientRegistration, registration: Registration): string {
  return JSON.stringify([Date.parse(callee.created), registration.routed ? 1 : 0, registration.invoke])
}

function noop (): void {}
