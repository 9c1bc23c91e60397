import { Packr } from 'msgpackr'
import { MessageType as T, withPayload } from '../wire/messages.js'
import type { Details, Kwargs, WampMessage } from '../wire/messages.js'
import type { MatchPolicy } from '../wire/uris.js'
import { FST_WAMP_INVALID_OPTION } from '../errors.js'
import type { Publication, PublishFilter } from './publish-filter.js'
import type { Session } from '../session/session.js'
import type { Subscription } from './subscription.js'
import type { Broker } from './broker.js'
import { peerLog } from '../session/peer-log.js'

// Event retention (spec "Event Retention"): PUBLISH `retain: true` keeps the publication as its topic's retained
// event; SUBSCRIBE `get_retained: true` sends the subscriber, right after SUBSCRIBED and before any newer EVENT,
// the most recent retained event it would have received — for a pattern subscription, that of every matching topic.
//
// A topic keeps its last unrestricted retained event plus the restricted ones (black/white listing by session,
// authid or authrole) published after it, at most `maxEventsPerTopic`: a newer unrestricted one supersedes them all,
// since whoever was eligible for an older one is eligible for it. The publisher's own exclusion (`exclude_me`) does
// not count as a restriction. Bounds per realm: `maxTopics` and `maxBytes` (evicting the topics retained least
// recently), `maxEventBytes` per event (a larger one is delivered but not retained).

export interface RetentionOptions {
  /** Most topics with a retained event per realm; past it the least recently retained topic is dropped. Default 10 000. */
  maxTopics?: number
  /** Largest retained event (its args, kwargs, publisher details and receiver rules, msgpack-encoded); a larger one is not retained. Default 64 KiB. */
  maxEventBytes?: number
  /** Bytes of retained events per realm; past it the least recently retained topics are dropped. Default 16 MiB. */
  maxBytes?: number
  /**
   * Retained events kept per topic: the last unrestricted one and restricted ones after it, the oldest dropped first
   * (the unrestricted one too: a subscriber then gets nothing rather than an event older than one it was eligible for). Default 4.
   */
  maxEventsPerTopic?: number
  /**
   * Most retained events one SUBSCRIBE `get_retained` sends (a pattern subscription gets one per matching topic):
   * those of the topics retained most recently, in the order they were retained. Default 100.
   */
  maxEventsPerSubscribe?: number
}

export type RetentionLimits = Required<RetentionOptions>

/** One retained publication. */
export interface RetainedEvent extends Publication {
  /** Size of args, kwargs, publisher details and receiver rules, msgpack-encoded (what the bounds count). */
  readonly bytes: number
}

/**
 * Where a realm's retained events live: in memory (LocalRetention) or in Redis (lib/cluster/redis-storage.ts),
 * shared by every instance.
 */
export interface RetentionStore {
  /** Keeps `event` as its topic's retained event. Never throws: failures are logged by the store. */
  retain (event: RetainedEvent): void
  /**
   * The retained events of the topics that (`topic`, `match`) covers: topics from least to most recently retained,
   * each topic's events oldest first. Never rejects (a store that cannot answer returns none). With `wanted`, a store
   * may leave out what `newestEligible(…, wanted.session, wanted.max)` would not pick (the Redis store reads the most
   * recently retained topics first and stops once it has `max` with an event for `session`).
   */
  lookup (topic: string, match: MatchPolicy, matches: (topic: string) => boolean, wanted?: RetainedWanted): RetainedEvent[] | PromiseLike<RetainedEvent[]>
}

/** Whom a lookup is for: its answer goes through `newestEligible(events, session, max)`. */
export interface RetainedWanted {
  readonly session: Session
  readonly max: number
}

const sizer = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true })

/**
 * The bytes a kept event counts for: its args and kwargs, and what else is kept with it (publisher details, receiver
 * rules — a client chooses their size too); Infinity when it cannot be encoded (then it is not kept).
 */
export function payloadBytes (args: unknown[] | undefined, kwargs: Kwargs | undefined, publisher?: Details, rules?: object): number {
  try {
    return sizer.pack(publisher === undefined && rules === undefined ? [args, kwargs] : [args, kwargs, publisher, rules]).length
  } catch {
    return Infinity
  }
}

/** True when the event does not reach everyone (apart from its publisher's own exclusion). */
export function isRestricted (event: RetainedEvent): boolean {
  return event.filter !== undefined && !event.filter.onlySkips
}

/** In-process retention: one Map from topic to its events, in order of last retain (for eviction). */
export class LocalRetention implements RetentionStore {
  private readonly limits: RetentionLimits
  private readonly topics: Map<string, RetainedEvent[]>
  private bytes: number

  constructor (limits: RetentionLimits) {
    this.limits = limits
    this.topics = new Map()
    this.bytes = 0
  }

  /** Topics with a retained event, and their bytes (for tests and stats). */
  get size (): { topics: number, bytes: number } {
    return { topics: this.topics.size, bytes: this.bytes }
  }

  retain (event: RetainedEvent): void {
    const before = this.topics.get(event.topic)
    let list: RetainedEvent[]
    if (before === undefined) list = [event]
    else {
      this.topics.delete(event.topic)
      this.bytes -= sum(before)
      list = isRestricted(event) ? [...before, event].slice(-this.limits.maxEventsPerTopic) : [event]
    }
    this.topics.set(event.topic, list)
    this.bytes += sum(list)
    for (const [topic, old] of this.topics) {
      if (this.topics.size <= this.limits.maxTopics && this.bytes <= this.limits.maxBytes) break
      if (topic === event.topic) break // the newest topic stays (maxEventBytes ≤ maxBytes)
      this.topics.delete(topic)
      this.bytes -= sum(old)
    }
  }

  lookup (topic: string, match: MatchPolicy, matches: (topic: string) => boolean): RetainedEvent[] {
    if (match === 'exact') return this.topics.get(topic) ?? []
    const found: RetainedEvent[] = []
    for (const [name, list] of this.topics) if (matches(name)) found.push(...list)
    return found
  }
}

function sum (list: RetainedEvent[]): number {
  let bytes = 0
  for (const event of list) bytes += event.bytes
  return bytes
}

/** A realm's retention: its bounds and its store. */
export class Retention {
  readonly limits: RetentionLimits
  readonly store: RetentionStore

  constructor (limits: RetentionLimits, store: RetentionStore | undefined) {
    this.limits = limits
    this.store = store ?? new LocalRetention(limits)
  }

  /** Retains a publication unless it is larger than `maxEventBytes`; returns whether it was retained. */
  retain (topic: string, publicationId: number, args: unknown[] | undefined, kwargs: Kwargs | undefined,
    publisher: Details | undefined, filter: PublishFilter | undefined): boolean {
    const bytes = payloadBytes(args, kwargs, publisher, filter === undefined || filter.onlySkips ? undefined : filter.rules())
    if (bytes > this.limits.maxEventBytes) return false
    this.store.retain({ topic, publicationId, args, kwargs, publisher, filter, bytes })
    return true
  }

  /**
   * After SUBSCRIBED with `get_retained`, when the SUBSCRIBE added `session` to the subscription (a repeated one
   * sends nothing: one request never triggers a burst twice): the retained events for `session`, at most
   * `maxEventsPerSubscribe`, go out before any newer EVENT of the subscription. A store that answers later (Redis)
   * holds back the subscription's live EVENTs to this session meanwhile and sends them after the retained ones (one
   * that arrived live is not sent again as retained).
   */
  send (session: Session, subscription: Subscription): void {
    // Subscribed again (after UNSUBSCRIBE) while the first lookup runs: that one sends the retained events, before
    // any newer EVENT.
    if (subscription.awaiting?.has(session) === true) return
    const found = this.store.lookup(subscription.topic, subscription.match, (topic) => subscription.matches(topic),
      { session, max: this.limits.maxEventsPerSubscribe })
    if (Array.isArray(found)) {
      sendRetained(session, subscription, found, undefined, this.limits.maxEventsPerSubscribe)
      return
    }
    const held = new HeldEvents(session, subscription)
    subscription.awaiting ??= new Map()
    subscription.awaiting.set(session, held)
    const done = (events: RetainedEvent[]): void => {
      if (held.release()) return
      if (!session.isOpen || !subscription.sessions.has(session)) return
      sendRetained(session, subscription, events, held.messages, this.limits.maxEventsPerSubscribe)
      for (const msg of held.messages) if (session.send(msg)) session.hub.counters.events++
    }
    ;(found as PromiseLike<RetainedEvent[]>).then(done, () => done([]))
  }
}

/**
 * A publication that reaches clients: retained when asked and the realm retains (too large to retain: the
 * publisher `from`, if a client, hears of it in the log), kept when one of the realm's history rules covers it.
 */
export function keep (broker: Broker, topic: string, publicationId: number, args: unknown[] | undefined, kwargs: Kwargs | undefined,
  publisher: Details | undefined, filter: PublishFilter | undefined, retain: boolean, from?: Session): void {
  const retention = broker.retention
  if (retain && retention?.retain(topic, publicationId, args, kwargs, publisher, filter) === false) {
    if (from !== undefined) peerLog(from, 'warn', { topic, maxEventBytes: retention.limits.maxEventBytes }, 'fastify-wamp: publication too large to retain')
  }
  broker.history?.record(topic, publicationId, args, kwargs, publisher, filter)
}

/** EVENTs held back for one subscriber while its retained events are fetched; at most MAX_HELD. */
const MAX_HELD = 1000

export class HeldEvents {
  readonly messages: WampMessage[]
  private readonly session: Session
  private readonly subscription: Subscription
  /** Too many EVENTs arrived meanwhile: they went out, and the retained events (now older than them) will not. */
  private gaveUp: boolean

  constructor (session: Session, subscription: Subscription) {
    this.messages = []
    this.session = session
    this.subscription = subscription
    this.gaveUp = false
  }

  push (msg: WampMessage): void {
    this.messages.push(msg)
    if (this.messages.length < MAX_HELD) return
    this.gaveUp = true
    this.release()
    this.session.log.debug({ topic: this.subscription.topic }, 'fastify-wamp: retained events skipped: newer EVENTs came first')
    for (const held of this.messages) if (this.session.send(held)) this.session.hub.counters.events++
    this.messages.length = 0
  }

  /** Stops holding; returns true when the retained events are no longer to be sent. */
  release (): boolean {
    const awaiting = this.subscription.awaiting
    if (awaiting?.get(this.session) === this) awaiting.delete(this.session)
    if (awaiting?.size === 0) this.subscription.awaiting = undefined
    return this.gaveUp
  }
}

/**
 * Per topic, the newest of `events` (as a store's lookup returns them) that `session` is eligible for; topics in the
 * order of their latest retain, only the `max` retained most recently.
 */
export function newestEligible (events: RetainedEvent[], session: Session, max = Infinity): RetainedEvent[] {
  const chosen = new Map<string, RetainedEvent>()
  for (const event of events) {
    if (event.filter !== undefined && !event.filter.admits(session)) continue
    chosen.delete(event.topic)
    chosen.set(event.topic, event)
  }
  const newest = [...chosen.values()]
  return newest.length > max ? newest.slice(newest.length - max) : newest
}

/** The retained events for `session` (at most `maxEventsPerSubscribe`), with `details.retained: true`. */
function sendRetained (session: Session, subscription: Subscription, events: RetainedEvent[], held: WampMessage[] | undefined, max: number): void {
  const live = held === undefined || held.length === 0 ? undefined : new Set(held.map((msg) => msg[2]))
  for (const event of newestEligible(events, session, max)) {
    if (live?.has(event.publicationId) === true) continue
    const details: Details = subscription.match === 'exact' ? { ...event.publisher, retained: true } : { topic: event.topic, ...event.publisher, retained: true }
    if (session.send(withPayload([T.EVENT, subscription.id, event.publicationId, details, event.args, event.kwargs]))) session.hub.counters.events++
  }
}

const DEFAULTS: RetentionLimits = { maxTopics: 10_000, maxEventBytes: 64 * 1024, maxBytes: 16 * 1024 * 1024, maxEventsPerTopic: 4, maxEventsPerSubscribe: 100 }

/** Resolves a realm's `retention` option at register time; undefined when retention is off. */
export function retentionLimits (realm: string, option: boolean | RetentionOptions | undefined): RetentionLimits | undefined {
  if (option === false) return undefined
  if (option === undefined || option === true) return DEFAULTS
  if (typeof option !== 'object' || option === null) throw new FST_WAMP_INVALID_OPTION(`realm "${realm}": retention must be true, false or { maxTopics, maxEventBytes, maxBytes, maxEventsPerTopic, maxEventsPerSubscribe }`)
  const limits = { ...DEFAULTS }
  for (const [key, value] of Object.entries(option)) {
    if (!Object.hasOwn(DEFAULTS, key)) throw new FST_WAMP_INVALID_OPTION(`realm "${realm}": unknown retention option "${key}"`)
    if (value === undefined) continue
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new FST_WAMP_INVALID_OPTION(`realm "${realm}": retention.${key} must be an integer ≥ 1, got ${String(value)}`)
    limits[key as keyof RetentionLimits] = value
  }
  if (limits.maxEventBytes > limits.maxBytes) throw new FST_WAMP_INVALID_OPTION(`realm "${realm}": retention.maxEventBytes (${limits.maxEventBytes}) must not exceed retention.maxBytes (${limits.maxBytes})`)
  return limits
}
