import type { Redis } from 'ioredis'
import { Registry } from '../rpc/registry.js'
import type { MatchPolicy } from '../wire/uris.js'

// What this instance knows of the registry hashes in Redis (./registry.ts), so that a call in the steady state reads
// nothing. Every write of a registry hash PUBLISHes on P rpc:changed, in the same MULTI, what it changed:
//   "+\n<hash>\n<field>\n<value>"   a callee listed (or listed again)
//   "-\n<hash>\n<field>"            a callee gone
//   "*"                             anything may have changed (a rewrite after an outage, a sweep, a leave)
//   "<hash>"                        that hash may have changed (what an instance of an older version announces)
// and every instance updates what it keeps of that hash in place, so a change costs what it changed — one entry —
// not a re-read of the hash on every instance (a client churning a pattern registration would otherwise make every
// instance re-read the realm's whole pattern list once per change).
//
// In place is exact: announcements arrive in the order of the writes (one channel, each published in its write's
// MULTI), and each sets or deletes one field, so replaying ones the state already reflects changes nothing. A read
// in flight keeps the announcements that arrive meanwhile and replays them on what it read: any write its HGETALL
// did not see was announced after the read was sent. Whatever cannot be replayed ("*", a bare hash, an entry that
// does not parse) drops what it concerns, and the whole cache goes when announcements may have been missed (the
// subscriber connection dropped: `forget()`). One read per hash is in flight at a time, shared by its lookups.

/** A registry entry: JSON [created ms, routed 0|1, invoke] (exact), [created ms, 1, invoke, match, pattern] (pattern). */
export type Entry = [created: number, routed: number, invoke: string, match: MatchPolicy, pattern: string]

/** One callee of the cluster registry. */
export interface RemoteCallee { readonly instance: string, readonly session: number, readonly registration: number }

/** One callee of a registry hash, parsed once when read: its field `<instance>:<session>:<registration>` and its entry. */
export interface Listed { readonly field: string, readonly entry: Entry, readonly callee: RemoteCallee }

/** Most registry hashes cached at once (a miss is cached too, and clients choose the URIs they call). */
export const CACHE_MAX = 10_000
/** The announcement of "anything may have changed". */
export const EVERYTHING = '*'

/**
 * The key of `kind` for `rest` (a URI) in `realm`: `<kind>:<realm>:<rest>`, as older versions write it — unless the
 * realm name holds a colon, where that is ambiguous (realm "a", URI "b:c" and realm "a:b", URI "c" would share a
 * registry hash, and a call in one realm could reach a callee of the other). Then `<kind>#<realm>#<rest>`: realm
 * names and URIs never hold a `#`.
 */
export function scoped (kind: string, realm: string, rest: string): string {
  return realm.includes(':') ? `${kind}#${realm}#${rest}` : `${kind}:${realm}:${rest}`
}

/** The announcement of a write of `field` in registry hash `hash`: its new value, or undefined when deleted. */
export function announcement (hash: string, field: string, value: string | undefined): string {
  return value === undefined ? `-\n${hash}\n${field}` : `+\n${hash}\n${field}\n${value}`
}

/** A hash's callees as read, and what lookups derived from them (pattern precedence, by eligibility). */
interface Cached {
  readonly listed: Listed[]
  readonly precedence: Map<number, Registry>
}

/** A read in flight: the announcements of its hash that arrived meanwhile, replayed on what it reads. */
interface Read {
  promise: Promise<Listed[]>
  readonly replay: Array<[field: string, value: string | undefined]>
}

/** @internal */
export class RegistryCache {
  /** Counts the announcements received (a lookup that missed during a rebuild waits for the next one). */
  version: number
  private readonly hashes: Map<string, Cached>
  private readonly reads: Map<string, Read>
  /** False while what is read must not be kept (the registry is rebuilt after an outage). */
  private readonly keeping: () => boolean

  constructor (keeping: () => boolean) {
    this.version = 0
    this.hashes = new Map()
    this.reads = new Map()
    this.keeping = keeping
  }

  /** The callees of `hash` in registration order, if kept. */
  get (hash: string): Listed[] | undefined {
    return this.hashes.get(hash)?.listed
  }

  /** The callees of `hash` in registration order: kept, or read (one read at a time per hash). */
  read (redis: Redis, hash: string): Promise<Listed[]> {
    const cached = this.hashes.get(hash)
    if (cached !== undefined) return Promise.resolve(cached.listed)
    const reading = this.reads.get(hash)
    if (reading !== undefined) return reading.promise
    const started: Read = { promise: undefined as unknown as Promise<Listed[]>, replay: [] }
    this.reads.set(hash, started)
    started.promise = redis.hgetall(hash).then((values) => {
      let listed = Object.entries(values).map(([field, value]) => listedOf(field, value)).filter((c) => c !== undefined)
        .sort(registrationOrder)
      for (const [field, value] of started.replay) listed = updated(listed, field, value)
      // Not kept if something that cannot be replayed crossed it (it is no longer the hash's read then).
      if (this.reads.get(hash) === started) {
        this.reads.delete(hash)
        if (this.keeping()) this.keep(hash, listed)
      }
      return listed
    }, (err: unknown) => {
      if (this.reads.get(hash) === started) this.reads.delete(hash)
      throw err
    })
    return started.promise
  }

  /** The registry precedence (Registry.lookup()) over `listed`, a pattern hash's callees filtered as `variant` says. */
  precedence (hash: string, all: Listed[], listed: Listed[], variant: number): Registry {
    const cached = this.hashes.get(hash)
    if (cached === undefined || cached.listed !== all) return precedenceOf(listed)
    let precedence = cached.precedence.get(variant)
    if (precedence === undefined) cached.precedence.set(variant, precedence = precedenceOf(listed))
    return precedence
  }

  /** An announcement on P rpc:changed (see the top of this file). */
  changed (message: string): void {
    this.version++
    const write = writeOf(message)
    if (write === undefined) return message === EVERYTHING ? this.clear() : this.drop(message)
    const [hash, field, value] = write
    const read = this.reads.get(hash)
    const cached = this.hashes.get(hash)
    if (read === undefined && cached === undefined) return // not a hash we look up
    if (value !== undefined && listedOf(field, value) === undefined) return this.drop(hash)
    read?.replay.push([field, value])
    if (cached === undefined || (value === undefined && !cached.listed.some((c) => c.field === field))) return
    this.hashes.set(hash, { listed: updated(cached.listed, field, value), precedence: new Map() })
  }

  /** Announcements may have been missed (Redis down, or just back): nothing kept or being read is trusted. */
  forget (): void {
    this.version++
    this.clear()
  }

  private clear (): void {
    this.hashes.clear()
    this.reads.clear()
  }

  private drop (hash: string): void {
    this.hashes.delete(hash)
    this.reads.delete(hash)
  }

  private keep (hash: string, listed: Listed[]): void {
    if (this.hashes.size >= CACHE_MAX) this.hashes.delete(this.hashes.keys().next().value as string)
    this.hashes.set(hash, { listed, precedence: new Map() })
  }
}

/** [hash, field, value (undefined: deleted)] of a "+" or "-" announcement; undefined for any other. */
function writeOf (message: string): [string, string, string | undefined] | undefined {
  const kind = message.slice(0, 2)
  if (kind !== '+\n' && kind !== '-\n') return undefined
  const hashEnd = message.indexOf('\n', 2)
  if (hashEnd === -1) return undefined
  const hash = message.slice(2, hashEnd)
  if (kind === '-\n') return [hash, message.slice(hashEnd + 1), undefined]
  const fieldEnd = message.indexOf('\n', hashEnd + 1)
  return fieldEnd === -1 ? undefined : [hash, message.slice(hashEnd + 1, fieldEnd), message.slice(fieldEnd + 1)]
}

function listedOf (field: string, value: string): Listed | undefined {
  const [instance, session, registration] = field.split(':')
  let entry: Entry
  try {
    entry = JSON.parse(value) as Entry
  } catch {
    return undefined
  }
  if (!Array.isArray(entry) || typeof entry[0] !== 'number' || registration === undefined) return undefined
  return { field, entry, callee: { instance, session: Number(session), registration: Number(registration) } }
}

function registrationOrder (a: Listed, b: Listed): number {
  return a.entry[0] - b.entry[0] || (a.field < b.field ? -1 : a.field > b.field ? 1 : 0)
}

/** `listed` with `field` set to `value` (or deleted), in registration order; a new array (lookups may hold the old). */
function updated (listed: Listed[], field: string, value: string | undefined): Listed[] {
  const next = listed.filter((c) => c.field !== field)
  const added = value === undefined ? undefined : listedOf(field, value)
  if (added === undefined) return next
  let i = next.length
  while (i > 0 && registrationOrder(next[i - 1], added) > 0) i--
  next.splice(i, 0, added)
  return next
}

/** The spec's precedence over pattern callees (as Registry.lookup() locally). */
function precedenceOf (patterns: Listed[]): Registry {
  const precedence = new Registry()
  for (const c of patterns) if (precedence.find(c.entry[4], c.entry[3]) === undefined) precedence.create(c.entry[4], c.entry[3], 'single', true)
  return precedence
}
