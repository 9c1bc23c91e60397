import Type from 'typebox'
import type { Details, Kwargs } from '../wire/messages.js'
import { ErrorUri, isMatchPolicy, isValidUri, matchesWildcard } from '../wire/uris.js'
import type { MatchPolicy } from '../wire/uris.js'
import { WampError } from '../wire/wamp-error.js'
import { FST_WAMP_INVALID_OPTION } from '../errors.js'
import { subscriptionById } from '../realm/meta-visibility.js'
import type { PublishFilter } from './publish-filter.js'
import { payloadBytes } from './retention.js'
import type { Subscription } from './subscription.js'
import type { Session } from '../session/session.js'
import type { Realm } from '../realm/realm.js'

// Event history (spec "Event History"): opt-in per topic or pattern (realm option `history`), each rule a ring of its
// last `limit` publications — in memory, or a capped Redis stream (lib/cluster/redis-storage.ts) shared by the
// instances. A publication is kept by the first rule that matches its topic. `wamp.subscription.get_events` reads
// the publications a subscription covers, filtered by what the caller may see (spec "Security Aspects"): the caller
// must be allowed to subscribe to the subscription's topic, publications restricted by authid/authrole are left out
// for callers they exclude, and publications restricted by session id are never kept.

export interface HistoryRule {
  /** A topic URI, or a pattern with `match`. */
  topic: string
  /** How `topic` matches the publications it keeps: default `exact`. */
  match?: MatchPolicy
  /** Publications kept (the most recent ones). Default 100, at most 100 000. */
  limit?: number
  /** Largest publication kept (args, kwargs, publisher details and authid/authrole rules, msgpack-encoded); larger ones are not kept. Default 64 KiB. */
  maxEventBytes?: number
}

/** A rule, resolved. `key` names its storage (Redis stream). */
export interface ResolvedRule {
  readonly topic: string
  readonly match: MatchPolicy
  readonly limit: number
  readonly maxEventBytes: number
  readonly key: string
  readonly parts: string[] | undefined
}

/** The receiver rules history keeps: by authid and authrole only (session ids do not outlive a session). */
export interface IdentityRules {
  eligibleAuthid?: string[]
  excludeAuthid?: string[]
  eligibleAuthrole?: string[]
  excludeAuthrole?: string[]
}

/** One kept publication. */
export interface StoredEvent {
  readonly topic: string
  readonly publicationId: number
  /** Milliseconds since the epoch, when this instance received it. */
  readonly time: number
  /** Order of arrival where `time` ties (a counter in memory, the stream entry's sequence in Redis). */
  readonly seq: number
  readonly args: unknown[] | undefined
  readonly kwargs: Kwargs | undefined
  readonly publisher: Details | undefined
  readonly rules: IdentityRules | undefined
}

/** Where the kept publications live. */
export interface HistoryStore {
  /** Appends to the rule's ring (dropping the oldest past `rule.limit`). Never throws. */
  record (rule: ResolvedRule, event: Omit<StoredEvent, 'seq'>): void
  /** The rule's publications, oldest first. Rejects with a WampError when the store cannot answer. */
  read (rule: ResolvedRule): StoredEvent[] | Promise<StoredEvent[]>
}

/** In-process history: one array per rule, trimmed to its limit. */
export class LocalHistory implements HistoryStore {
  private readonly rings: Map<string, StoredEvent[]>
  private seq: number

  constructor () {
    this.rings = new Map()
    this.seq = 0
  }

  record (rule: ResolvedRule, event: Omit<StoredEvent, 'seq'>): void {
    let ring = this.rings.get(rule.key)
    if (ring === undefined) this.rings.set(rule.key, ring = [])
    ring.push({ ...event, seq: ++this.seq })
    // Trim in batches: an array shift per publication would cost O(limit).
    if (ring.length >= rule.limit * 2 || ring.length - rule.limit > 1024) ring.splice(0, ring.length - rule.limit)
  }

  read (rule: ResolvedRule): StoredEvent[] {
    const ring = this.rings.get(rule.key) ?? []
    return ring.length > rule.limit ? ring.slice(ring.length - rule.limit) : ring
  }
}

/** A realm's history: its rules and store. */
export class History {
  readonly rules: ResolvedRule[]
  readonly store: HistoryStore

  constructor (rules: ResolvedRule[], store: HistoryStore | undefined) {
    this.rules = rules
    this.store = store ?? new LocalHistory()
  }

  /** Keeps a publication when a rule covers its topic (and it is not restricted by session id). */
  record (topic: string, publicationId: number, args: unknown[] | undefined, kwargs: Kwargs | undefined,
    publisher: Details | undefined, filter: PublishFilter | undefined): void {
    const rule = this.ruleFor(topic)
    if (rule === undefined) return
    if (filter !== undefined && (filter.eligible !== undefined || filter.exclude !== undefined)) return
    const rules = filter === undefined || filter.onlySkips ? undefined : identityRules(filter)
    if (payloadBytes(args, kwargs, publisher, rules) > rule.maxEventBytes) return
    this.store.record(rule, { topic, publicationId, time: Date.now(), args, kwargs, publisher, rules })
  }

  private ruleFor (topic: string): ResolvedRule | undefined {
    for (const rule of this.rules) if (covers(rule, topic)) return rule
    return undefined
  }

  /** `wamp.subscription.get_events` for `session`: the spec's list of event objects. */
  async query (session: Session, subscription: Subscription, query: HistoryQuery): Promise<Details[]> {
    const wanted = (topic: string): boolean => subscription.match === 'exact' ? topic === subscription.topic : subscription.matches(topic)
    // Only the rules that can hold a publication the query wants (each publication is kept by the first rule covering
    // its topic): a get_events must not read, out of Redis, rules whose topics the subscription never receives.
    const rules = this.rules.filter((r) => query.topic !== undefined ? covers(r, query.topic) : overlaps(r, subscription.topic, subscription.match))
    const reads = await Promise.all(rules.map((rule) => this.store.read(rule)))
    // Visibility first: a publication the caller may not see must not bound anything either (its id would answer
    // differently from an unknown one, telling the caller that it exists).
    let events = reads.flat().filter((e) => wanted(e.topic) && visible(e.rules, session))
    if (reads.length > 1) events.sort((a, b) => a.time - b.time || a.seq - b.seq)
    events = bound(events, query)
    events = events.filter((e) => (query.topic === undefined || e.topic === query.topic) &&
      (query.fromTime === undefined || e.time >= query.fromTime) && (query.afterTime === undefined || e.time > query.afterTime) &&
      (query.untilTime === undefined || e.time <= query.untilTime) && (query.beforeTime === undefined || e.time < query.beforeTime))
    if (query.reverse) events.reverse()
    if (query.limit !== undefined && events.length > query.limit) events.length = query.limit
    return events.map((e) => eventObject(e, subscription))
  }
}

function covers (rule: ResolvedRule, topic: string): boolean {
  if (rule.match === 'exact') return topic === rule.topic
  if (rule.match === 'prefix') return topic.startsWith(rule.topic)
  return matchesWildcard(rule.parts as string[], topic)
}

/**
 * Is there a topic that `rule` covers and a (`topic`, `match`) subscription receives? Never false when there is one
 * (then the rule's events are read); may be true when there is none.
 */
export function overlaps (rule: ResolvedRule, topic: string, match: MatchPolicy): boolean {
  if (match === 'exact') return covers(rule, topic)
  const parts = topic.split('.')
  if (rule.match === 'exact') return match === 'prefix' ? rule.topic.startsWith(topic) : matchesWildcard(parts, rule.topic)
  if (rule.match === match) {
    if (match === 'prefix') return rule.topic.startsWith(topic) || topic.startsWith(rule.topic)
    const other = rule.parts as string[]
    return other.length === parts.length && other.every((part, i) => part === '' || parts[i] === '' || part === parts[i])
  }
  return rule.match === 'prefix' ? prefixMeetsWildcard(rule.topic, parts) : prefixMeetsWildcard(topic, rule.parts as string[])
}

/** Is there a topic that starts with `prefix` and matches the wildcard `parts`? */
function prefixMeetsWildcard (prefix: string, parts: string[]): boolean {
  const head = prefix.split('.')
  if (head.length > parts.length) return false
  const last = head.length - 1
  return head.every((part, i) => parts[i] === '' || (i < last ? parts[i] === part : parts[i].startsWith(part)))
}

function identityRules (filter: PublishFilter): IdentityRules {
  const list = (set: Set<string> | undefined): string[] | undefined => set === undefined ? undefined : [...set]
  return {
    eligibleAuthid: list(filter.eligibleAuthid),
    excludeAuthid: list(filter.excludeAuthid),
    eligibleAuthrole: list(filter.eligibleAuthrole),
    excludeAuthrole: list(filter.excludeAuthrole)
  }
}

function visible (rules: IdentityRules | undefined, session: Session): boolean {
  if (rules === undefined) return true
  if (rules.eligibleAuthid !== undefined && !rules.eligibleAuthid.includes(session.authid)) return false
  if (rules.excludeAuthid?.includes(session.authid) === true) return false
  if (rules.eligibleAuthrole !== undefined && !rules.eligibleAuthrole.includes(session.authrole)) return false
  if (rules.excludeAuthrole?.includes(session.authrole) === true) return false
  return true
}

/** The `*_publication` bounds: positions in the subscription's history; an id it does not hold leaves nothing. */
function bound (events: StoredEvent[], query: HistoryQuery): StoredEvent[] {
  let from = 0
  let to = events.length
  const at = (id: number): number => events.findIndex((e) => e.publicationId === id)
  const narrow = (id: number | undefined, start: boolean, inclusive: boolean): void => {
    if (id === undefined) return
    const i = at(id)
    if (i < 0) { from = to; return }
    if (start) from = Math.max(from, inclusive ? i : i + 1)
    else to = Math.min(to, inclusive ? i + 1 : i)
  }
  narrow(query.fromPublication, true, true)
  narrow(query.afterPublication, true, false)
  narrow(query.untilPublication, false, true)
  narrow(query.beforePublication, false, false)
  return from >= to ? [] : events.slice(from, to)
}

function eventObject (e: StoredEvent, subscription: Subscription): Details {
  const details: Details = subscription.match === 'exact' ? { ...e.publisher } : { topic: e.topic, ...e.publisher }
  const event: Details = { timestamp: new Date(e.time).toISOString(), subscription: subscription.id, publication: e.publicationId, details }
  if (e.args !== undefined) event.args = e.args
  if (e.kwargs !== undefined) event.kwargs = e.kwargs
  return event
}

// ---- wamp.subscription.get_events ----------------------------------------------------------------------------

export interface HistoryQuery {
  reverse: boolean
  limit: number | undefined
  topic: string | undefined
  fromTime: number | undefined
  afterTime: number | undefined
  beforeTime: number | undefined
  untilTime: number | undefined
  fromPublication: number | undefined
  afterPublication: number | undefined
  beforePublication: number | undefined
  untilPublication: number | undefined
}

const Id = Type.Integer({ minimum: 1, maximum: 2 ** 53 })
const Time = Type.String({ minLength: 1 })
// Crossbar takes the limit as a second positional argument; the spec as `limit` in kwargs. Both are accepted.
const GetEvents = {
  args: Type.Union([Type.Tuple([Id]), Type.Tuple([Id, Type.Integer({ minimum: 1 })])]),
  kwargs: Type.Object({
    reverse: Type.Optional(Type.Boolean()),
    limit: Type.Optional(Type.Integer({ minimum: 1 })),
    topic: Type.Optional(Type.String()),
    from_time: Type.Optional(Time),
    after_time: Type.Optional(Time),
    before_time: Type.Optional(Time),
    until_time: Type.Optional(Time),
    from_publication: Type.Optional(Id),
    after_publication: Type.Optional(Id),
    before_publication: Type.Optional(Id),
    until_publication: Type.Optional(Id)
  })
}

function time (name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const ms = Date.parse(value)
  if (Number.isNaN(ms)) throw new WampError(ErrorUri.invalidArgument, [`${name} must be an RFC 3339 timestamp, got "${value}"`])
  return ms
}

/** Registers `wamp.subscription.get_events` on `realm` and announces `event_history` in its WELCOME roles. */
export function enableHistory (realm: Realm, history: History): void {
  realm.register('wamp.subscription.get_events', GetEvents, async (args, kw, ctx) => {
    const session = ctx.session as Session
    // Only a subscription the caller may subscribe to (spec "Security Aspects"); another is answered as unknown.
    const subscription = await subscriptionById(realm, ctx, args[0])
    if (kw.topic !== undefined && (!isValidUri(kw.topic) || (subscription.match !== 'exact' ? !subscription.matches(kw.topic) : kw.topic !== subscription.topic))) {
      throw new WampError(ErrorUri.invalidArgument, [`topic "${kw.topic}" is not covered by subscription ${subscription.id}`])
    }
    return await history.query(session, subscription, {
      reverse: kw.reverse === true,
      limit: kw.limit ?? args[1],
      topic: kw.topic,
      fromTime: time('from_time', kw.from_time),
      afterTime: time('after_time', kw.after_time),
      beforeTime: time('before_time', kw.before_time),
      untilTime: time('until_time', kw.until_time),
      fromPublication: kw.from_publication,
      afterPublication: kw.after_publication,
      beforePublication: kw.before_publication,
      untilPublication: kw.until_publication
    })
  })
  ;((realm.roles.broker as Details).features as Details).event_history = true
}

/** Resolves a realm's `history` option at register time; undefined when there is none. */
export function historyRules (realm: string, option: HistoryRule[] | undefined): ResolvedRule[] | undefined {
  if (option === undefined) return undefined
  const where = `realm "${realm}" history`
  if (!Array.isArray(option)) throw new FST_WAMP_INVALID_OPTION(`${where} must be a list of { topic, match?, limit?, maxEventBytes? }`)
  if (option.length === 0) return undefined
  const keys = new Set<string>()
  return option.map((rule, i) => {
    if (typeof rule !== 'object' || rule === null) throw new FST_WAMP_INVALID_OPTION(`${where}[${i}] must be an object { topic, match?, limit?, maxEventBytes? }`)
    const match = rule.match ?? 'exact'
    if (!isMatchPolicy(match)) throw new FST_WAMP_INVALID_OPTION(`${where}[${i}].match must be exact, prefix or wildcard`)
    if (!isValidUri(rule.topic, match)) throw new FST_WAMP_INVALID_OPTION(`${where}[${i}].topic ${JSON.stringify(rule.topic)} is not a valid ${match} URI`)
    const limit = rule.limit ?? 100
    if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new FST_WAMP_INVALID_OPTION(`${where}[${i}].limit must be an integer from 1 to 100000, got ${String(limit)}`)
    const maxEventBytes = rule.maxEventBytes ?? 64 * 1024
    if (!Number.isInteger(maxEventBytes) || maxEventBytes < 1) throw new FST_WAMP_INVALID_OPTION(`${where}[${i}].maxEventBytes must be an integer ≥ 1`)
    const key = `${match}:${rule.topic}`
    if (keys.has(key)) throw new FST_WAMP_INVALID_OPTION(`${where}[${i}]: ${match} "${rule.topic}" is listed twice`)
    keys.add(key)
    return { topic: rule.topic, match, limit, maxEventBytes, key, parts: match === 'wildcard' ? rule.topic.split('.') : undefined }
  })
}
