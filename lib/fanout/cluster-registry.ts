import type { Redis } from 'ioredis'
import type { ClientRegistration, Registration } from '../registry.js'
import type { Session } from '../session.js'

// The cluster registry in Redis: which instance holds which session and client registration (exact URIs).
// All keys under the adapter's prefix P:
//   P rpc:reg:<realm>:<uri>   hash  "<instance>:<session>:<registration>" → JSON [created ms, routed 0|1, invoke]
//   P rpc:sessions            hash  "<session>" → JSON [instance, realm, authid, authrole]
//   P rpc:own:<instance>      set   what that instance wrote ("r\n<hash key>\n<field>" | "s\n<session>"), for cleanup
//   P rpc:instances           set   instances that have registry entries
//   P rpc:rr:<realm>:<uri>    roundrobin counter of a shared registration
//   P rpc:lock:<instance>     who removes a dead instance's entries (SET NX PX)
//   P instance:<instance>     the adapter's heartbeat key (TTL 3 × heartbeat): alive while it exists
// Writes are fire-and-forget on REGISTER/UNREGISTER/session open/close; while Redis is down they are skipped and
// `sync()` rewrites this instance's entries when it is back (also when a peer swept us by mistake).

/** What the registry needs from the adapter that carries it. */
export interface ClusterLink {
  readonly instanceId: string
  readonly prefix: string
  readonly heartbeat: number
  /** The command connection while Redis is up; undefined while it is down. @internal (ioredis stays out of the .d.ts) */
  connection (): Redis | undefined
}

/** What it needs from the plugin (`fastify.wamp`). */
export interface ClusterHost {
  readonly sessions: Map<number, Session>
}

/** A session on another instance, as the cluster registry lists it. */
export interface RemoteSessionInfo {
  id: number
  instance: string
  realm: string
  authid: string
  authrole: string
}

/** One callee of the cluster registry. */
export interface RemoteCallee { instance: string, session: number, registration: number }

export class ClusterRegistry {
  private readonly link: ClusterLink
  private host: ClusterHost | undefined

  constructor (link: ClusterLink) {
    this.link = link
    this.host = undefined
  }

  attach (host: ClusterHost): void {
    this.host = host
  }

  private key (name: string): string {
    return `${this.link.prefix}rpc:${name}`
  }

  private regKey (realm: string, uri: string): string {
    return this.key(`reg:${realm}:${uri}`)
  }

  sessionOpened (session: Session): void {
    const redis = this.link.connection()
    if (redis === undefined) return // written by sync() when Redis is back
    const own = this.key(`own:${this.link.instanceId}`)
    redis.multi()
      .hset(this.key('sessions'), String(session.id), sessionEntry(this.link.instanceId, session))
      .sadd(own, `s\n${session.id}`)
      .sadd(this.key('instances'), this.link.instanceId)
      .exec().catch(noop)
  }

  sessionClosed (session: Session): void {
    this.link.connection()?.multi()
      .hdel(this.key('sessions'), String(session.id))
      .srem(this.key(`own:${this.link.instanceId}`), `s\n${session.id}`)
      .exec().catch(noop)
  }

  registered (callee: ClientRegistration, registration: Registration): void {
    if (callee.match !== 'exact') return // pattern registrations are reached on their own instance only
    const redis = this.link.connection()
    if (redis === undefined) return
    const hash = this.regKey(realmOf(callee.session), callee.uri)
    const field = `${this.link.instanceId}:${callee.session.id}:${callee.id}`
    redis.multi()
      .hset(hash, field, regEntry(callee, registration))
      .sadd(this.key(`own:${this.link.instanceId}`), `r\n${hash}\n${field}`)
      .sadd(this.key('instances'), this.link.instanceId)
      .exec().catch(noop)
  }

  unregistered (callee: ClientRegistration): void {
    if (callee.match !== 'exact') return
    const hash = this.regKey(realmOf(callee.session), callee.uri)
    const field = `${this.link.instanceId}:${callee.session.id}:${callee.id}`
    this.link.connection()?.multi()
      .hdel(hash, field)
      .srem(this.key(`own:${this.link.instanceId}`), `r\n${hash}\n${field}`)
      .exec().catch(noop)
  }

  /** Rewrites this instance's entries (Redis is back, maybe empty; or a peer wrongly swept us). */
  async sync (): Promise<void> {
    const redis = this.link.connection()
    if (redis === undefined || this.host === undefined) return
    const own = this.key(`own:${this.link.instanceId}`)
    const old = await redis.smembers(own)
    const multi = redis.multi()
    removeOwned(multi, this.key('sessions'), old)
    multi.del(own)
    for (const session of this.host.sessions.values()) {
      multi.hset(this.key('sessions'), String(session.id), sessionEntry(this.link.instanceId, session))
      multi.sadd(own, `s\n${session.id}`)
      for (const callee of session.registrations.values()) {
        if (callee.match !== 'exact') continue
        const registration = session.realm?.dealer.registry.byId.get(callee.id)
        if (registration === undefined) continue
        const hash = this.regKey(realmOf(session), callee.uri)
        const field = `${this.link.instanceId}:${session.id}:${callee.id}`
        multi.hset(hash, field, regEntry(callee, registration))
        multi.sadd(own, `r\n${hash}\n${field}`)
      }
    }
    multi.sadd(this.key('instances'), this.link.instanceId)
    await multi.exec()
  }

  /** Removes the entries of instances whose heartbeat key expired; re-syncs us if a peer swept us. */
  async sweep (): Promise<void> {
    const redis = this.link.connection()
    if (redis === undefined) return
    const ids = await redis.smembers(this.key('instances'))
    if (!ids.includes(this.link.instanceId) && this.host !== undefined && this.host.sessions.size > 0) await this.sync()
    const others = ids.filter((id) => id !== this.link.instanceId)
    if (others.length === 0) return
    const alive = await redis.mget(others.map((id) => `${this.link.prefix}instance:${id}`))
    for (let i = 0; i < others.length; i++) if (alive[i] === null) await this.remove(redis, others[i])
  }

  private async remove (redis: Redis, instance: string): Promise<void> {
    if (await redis.set(this.key(`lock:${instance}`), this.link.instanceId, 'PX', this.link.heartbeat * 10, 'NX') !== 'OK') return
    const own = this.key(`own:${instance}`)
    const entries = await redis.smembers(own)
    const multi = redis.multi()
    removeOwned(multi, this.key('sessions'), entries)
    multi.del(own).srem(this.key('instances'), instance)
    await multi.exec()
  }

  /** Our entries go at a clean shutdown (rather than after the heartbeat TTL). @internal */
  leave (redis: Redis): Promise<unknown> {
    const own = this.key(`own:${this.link.instanceId}`)
    return redis.smembers(own).then((entries) => {
      const multi = redis.multi()
      removeOwned(multi, this.key('sessions'), entries)
      return multi.del(own).srem(this.key('instances'), this.link.instanceId).exec()
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

  /**
   * The callee a call to `uri` goes to: the oldest registration, or for a shared routed one the registration's
   * policy over the cluster's callees in registration order (roundrobin: one Redis counter per URI). @internal
   */
  async pick (redis: Redis, realm: string, uri: string, includeLocal: boolean): Promise<RemoteCallee | undefined> {
    const hash = this.regKey(realm, uri)
    const all = await redis.hgetall(hash)
    const callees = Object.entries(all)
      .map(([field, value]) => ({ field, entry: JSON.parse(value) as [number, number, string] }))
      .filter((c) => includeLocal || !c.field.startsWith(`${this.link.instanceId}:`))
      .sort((a, b) => a.entry[0] - b.entry[0] || (a.field < b.field ? -1 : 1))
    if (callees.length === 0) return undefined
    let chosen = callees[0]
    const invoke = chosen.entry[1] === 1 ? chosen.entry[2] : 'single'
    if (invoke === 'last') chosen = callees[callees.length - 1]
    else if (invoke === 'random') chosen = callees[Math.floor(Math.random() * callees.length)]
    else if (invoke === 'roundrobin') chosen = callees[(await redis.incr(this.key(`rr:${realm}:${uri}`))) % callees.length]
    const [instance, session, registration] = chosen.field.split(':')
    return { instance, session: Number(session), registration: Number(registration) }
  }
}

export function realmOf (session: Session): string {
  return session.realm?.name ?? ''
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
