import type { Redis } from 'ioredis'
import type { ClusterLink } from './link.js'
import type { Session } from '../session/session.js'

// Which instance holds which session, in Redis (under the adapter's prefix P):
//   P rpc:sessions                          hash  "<session>" → JSON [instance, realm, authid, authrole]
//   P rpc:realm:<realm>                     set   "<instance>:<session>" for each session of the realm
//   P rpc:authid:<JSON [realm, authid]>     set   the same, for the realm's sessions with that authid
//   P rpc:authrole:<JSON [realm, authrole]> set   the same, by authrole
// The sets make kill_all, kill_by_authid and kill_by_authrole read the sessions they kill, not every session of the
// cluster. Each session's entries are written and removed in one MULTI; the instance's P rpc:own set records them
// as "s\n<session>\n<JSON [realm, authid, authrole]>" (JSON escapes newlines), for removal by `removeOwned()`.

/** A session on another instance, as the cluster registry lists it. */
export interface RemoteSessionInfo {
  id: number
  instance: string
  realm: string
  authid: string
  authrole: string
}

/** Which sessions of a realm to list: all, or those with this authid or authrole. */
export type SessionFilter = { authid: string } | { authrole: string } | undefined

/** @internal */
type Multi = ReturnType<Redis['multi']>

/** @internal */
export class SessionDirectory {
  private readonly link: ClusterLink
  /** P rpc:sessions */
  readonly hash: string

  constructor (link: ClusterLink) {
    this.link = link
    this.hash = `${link.prefix}rpc:sessions`
  }

  /** Adds `session`'s entries to `multi`, and what `own` must record to remove them. */
  write (multi: Multi, own: string, session: Session): void {
    const realm = realmOf(session)
    const member = `${this.link.instanceId}:${session.id}`
    multi.hset(this.hash, String(session.id), JSON.stringify([this.link.instanceId, realm, session.authid, session.authrole]))
    for (const set of this.sets(realm, session.authid, session.authrole)) multi.sadd(set, member)
    multi.sadd(own, ownEntry(session))
  }

  /** Adds the removal of `session`'s entries to `multi` (it closed). */
  remove (multi: Multi, own: string, session: Session): void {
    const entry = ownEntry(session)
    this.removeOwned(multi, this.link.instanceId, entry)
    multi.srem(own, entry)
  }

  /** Adds the removal of what an own entry of `instance` (`write()`'s) records to `multi`. */
  removeOwned (multi: Multi, instance: string, entry: string): void {
    const [, id, about] = entry.split('\n')
    multi.hdel(this.hash, id)
    // An entry without its realm, authid and authrole: written by an instance of an older version (no sets).
    const listed = about === undefined ? undefined : parsed(about)
    if (listed !== undefined) for (const set of this.sets(...listed)) multi.srem(set, `${instance}:${id}`)
  }

  /** A session anywhere in the cluster (not this instance's: the caller looks in `sessions` first). */
  async session (redis: Redis, id: number): Promise<RemoteSessionInfo | undefined> {
    const value = await redis.hget(this.hash, String(id))
    if (value === null) return undefined
    const [instance, realm, authid, authrole] = JSON.parse(value) as [string, string, string, string]
    if (instance === this.link.instanceId) return undefined
    return { id, instance, realm, authid, authrole }
  }

  /** The sessions of `realm` on the other instances that `filter` picks: one set read, the size of the answer. */
  async where (redis: Redis, realm: string, filter: SessionFilter): Promise<Array<{ instance: string, id: number }>> {
    const [all, byAuthid, byAuthrole] = this.sets(realm, filter !== undefined && 'authid' in filter ? filter.authid : '',
      filter !== undefined && 'authrole' in filter ? filter.authrole : '')
    const set = filter === undefined ? all : 'authid' in filter ? byAuthid : byAuthrole
    const found: Array<{ instance: string, id: number }> = []
    for (const member of await redis.smembers(set)) {
      const [instance, id] = member.split(':')
      if (instance !== this.link.instanceId) found.push({ instance, id: Number(id) })
    }
    return found
  }

  /** The realm's set, its authid's and its authrole's. */
  private sets (realm: string, authid: string, authrole: string): [string, string, string] {
    const p = `${this.link.prefix}rpc:`
    return [`${p}realm:${realm}`, `${p}authid:${JSON.stringify([realm, authid])}`, `${p}authrole:${JSON.stringify([realm, authrole])}`]
  }
}

export function realmOf (session: Session): string {
  return session.joined?.name ?? ''
}

function parsed (about: string): [string, string, string] | undefined {
  try {
    const listed = JSON.parse(about) as unknown
    return Array.isArray(listed) && listed.length === 3 && listed.every((v) => typeof v === 'string') ? listed as [string, string, string] : undefined
  } catch {
    return undefined
  }
}

function ownEntry (session: Session): string {
  return `s\n${session.id}\n${JSON.stringify([realmOf(session), session.authid, session.authrole])}`
}
