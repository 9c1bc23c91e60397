import { packStored, unpackStored } from '../wire/serializers/msgpack.js'
import type { Redis } from 'ioredis'
import { isDict } from '../wire/messages.js'
import type { Details, Kwargs } from '../wire/messages.js'
import type { MatchPolicy } from '../wire/uris.js'
import { ErrorUri } from '../wire/uris.js'
import { WampError } from '../wire/wamp-error.js'
import { PublishFilter } from '../pubsub/publish-filter.js'
import type { PublishRules } from '../pubsub/publish-filter.js'
import { isRestricted, newestEligible } from '../pubsub/retention.js'
import type { RetainedEvent, RetainedWanted, RetentionLimits, RetentionStore } from '../pubsub/retention.js'
import type { HistoryStore, IdentityRules, ResolvedRule, StoredEvent } from '../pubsub/history.js'

// Retained events and event history in Redis, shared by every instance with the same prefix.
//
// Retention, per realm:  <prefix><realm>:retained        sorted set: topic → time of its last retain
//                        <prefix><realm>:retained:bytes  hash: topic → bytes of its events; field "" = the total
//                        <prefix><realm>:retained:t:<topic>  list: the topic's retained events, oldest first
// One Lua script updates them together and evicts the least recently retained topics past the bounds, so the
// bounds hold for the cluster as a whole. (The script touches keys it derives: a single Redis, not Redis Cluster.)
// History, per rule:     <prefix><realm>:history:<match>:<topic>  stream capped with XADD MAXLEN = the rule's limit.

/** What RedisFanout offers the realms: stores bound to its connection. */
export interface ClusterStorage {
  retention (realm: string, limits: RetentionLimits): RetentionStore
  history (realm: string): HistoryStore
}

/** Topic names one ZREVRANGE reads while a pattern SUBSCRIBE looks for retained events. */
const NAMES_PER_READ = 500

const RETAIN = `
local idx, sizes, list = KEYS[1], KEYS[2], KEYS[3]
local topic, blob, perTopic, maxTopics, maxBytes, now, listPrefix =
  ARGV[1], ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
if ARGV[3] == '0' then redis.call('DEL', list) end
redis.call('RPUSH', list, blob)
redis.call('LTRIM', list, -perTopic, -1)
local bytes = 0
for _, item in ipairs(redis.call('LRANGE', list, 0, -1)) do bytes = bytes + #item end
local before = tonumber(redis.call('HGET', sizes, topic) or '0')
redis.call('HSET', sizes, topic, bytes)
local total = redis.call('HINCRBY', sizes, '', bytes - before)
redis.call('ZADD', idx, now, topic)
while redis.call('ZCARD', idx) > maxTopics or total > maxBytes do
  local oldest = redis.call('ZRANGE', idx, 0, 0)[1]
  if oldest == nil or oldest == topic then break end
  redis.call('ZREM', idx, oldest)
  redis.call('DEL', listPrefix .. oldest)
  total = redis.call('HINCRBY', sizes, '', -tonumber(redis.call('HGET', sizes, oldest) or '0'))
  redis.call('HDEL', sizes, oldest)
end
return total
`

export class RedisStorage implements ClusterStorage {
  private readonly prefix: string
  /** The command connection while Redis is up, else undefined. */
  private readonly connection: () => Redis | undefined
  private readonly fail: (err: Error) => void

  constructor (prefix: string, connection: () => Redis | undefined, fail: (err: Error) => void) {
    this.prefix = prefix
    this.connection = connection
    this.fail = fail
  }

  retention (realm: string, limits: RetentionLimits): RetentionStore {
    return new RedisRetention(`${this.prefix}${realm}:retained`, limits, this.connection, this.fail)
  }

  history (realm: string): HistoryStore {
    return new RedisHistory(`${this.prefix}${realm}:history:`, this.connection, this.fail)
  }
}

class RedisRetention implements RetentionStore {
  private readonly key: string
  private readonly limits: RetentionLimits
  private readonly connection: () => Redis | undefined
  private readonly fail: (err: Error) => void

  constructor (key: string, limits: RetentionLimits, connection: () => Redis | undefined, fail: (err: Error) => void) {
    this.key = key
    this.limits = limits
    this.connection = connection
    this.fail = fail
  }

  retain (event: RetainedEvent): void {
    const redis = this.connection()
    if (redis === undefined) return this.failed(event.topic, new Error('Redis is not connected'))
    let blob: Buffer
    try {
      blob = encodeRetained(event)
    } catch (err) {
      return this.failed(event.topic, err as Error)
    }
    const l = this.limits
    redis.eval(RETAIN, 3, this.key, `${this.key}:bytes`, `${this.key}:t:${event.topic}`,
      event.topic, blob, isRestricted(event) ? '1' : '0', l.maxEventsPerTopic, l.maxTopics, l.maxBytes, Date.now(), `${this.key}:t:`)
      .catch((err: Error) => this.failed(event.topic, err))
  }

  async lookup (topic: string, match: MatchPolicy, matches: (topic: string) => boolean, wanted?: RetainedWanted): Promise<RetainedEvent[]> {
    const redis = this.connection()
    if (redis === undefined) {
      this.failed(topic, new Error('Redis is not connected'))
      return []
    }
    try {
      if (match === 'exact') return (await this.lists(redis, [topic])).flat()
      if (wanted !== undefined) return await this.newestFirst(redis, matches, wanted)
      return (await this.lists(redis, (await redis.zrange(this.key, 0, -1)).filter(matches))).flat()
    } catch (err) {
      this.failed(topic, err as Error)
      return []
    }
  }

  /**
   * A pattern SUBSCRIBE's events: the topics from the most recently retained on (NAMES_PER_READ names at a time), the
   * events of the matching ones read only for as many topics as are still wanted, until `max` topics have an event
   * `session` may receive. The same answer as reading every matching topic (newestEligible keeps the `max` most
   * recent), but the events read are those sent, plus those of topics with nothing for `session`. A retain meanwhile
   * moves its topic to the front, shifting the names not yet read by one: the `seen` set drops the repeat.
   */
  private async newestFirst (redis: Redis, matches: (topic: string) => boolean, { session, max }: RetainedWanted): Promise<RetainedEvent[]> {
    const picked: RetainedEvent[] = []
    const seen = new Set<string>()
    for (let start = 0; picked.length < max; start += NAMES_PER_READ) {
      const names = await redis.zrevrange(this.key, start, start + NAMES_PER_READ - 1)
      const matching = names.filter((name) => !seen.has(name) && matches(name))
      for (const name of names) seen.add(name)
      for (let i = 0; i < matching.length && picked.length < max;) {
        const batch = matching.slice(i, i + max - picked.length)
        i += batch.length
        for (const events of await this.lists(redis, batch)) picked.push(...newestEligible(events, session))
      }
      if (names.length < NAMES_PER_READ) break
    }
    return picked.reverse()
  }

  /** The events of each of `topics`, oldest first. */
  private async lists (redis: Redis, topics: string[]): Promise<RetainedEvent[][]> {
    if (topics.length === 0) return []
    const pipeline = redis.pipeline()
    for (const name of topics) pipeline.lrangeBuffer(`${this.key}:t:${name}`, 0, -1)
    const lists: RetainedEvent[][] = []
    for (const [err, blobs] of await pipeline.exec() ?? []) {
      if (err !== null) throw err
      lists.push((blobs as Buffer[]).map(decodeRetained))
    }
    return lists
  }

  private failed (topic: string, err: Error): void {
    this.fail(new Error(`retained events of "${topic}" unavailable in Redis (none kept or sent): ${err.message}`, { cause: err }))
  }
}

class RedisHistory implements HistoryStore {
  private readonly key: string
  private readonly connection: () => Redis | undefined
  private readonly fail: (err: Error) => void

  constructor (key: string, connection: () => Redis | undefined, fail: (err: Error) => void) {
    this.key = key
    this.connection = connection
    this.fail = fail
  }

  record (rule: ResolvedRule, event: Omit<StoredEvent, 'seq'>): void {
    const redis = this.connection()
    const failed = (err: Error): void => this.fail(new Error(`publication to "${event.topic}" not kept in the event history: ${err.message}`, { cause: err }))
    if (redis === undefined) return failed(new Error('Redis is not connected'))
    let blob: Buffer
    try {
      blob = packStored([event.topic, event.publicationId, event.time, event.args, event.kwargs, event.publisher ?? null, packIdentity(event.rules)])
    } catch (err) {
      return failed(err as Error)
    }
    redis.xadd(this.key + rule.key, 'MAXLEN', rule.limit, '*', 'e', blob).catch(failed)
  }

  async read (rule: ResolvedRule): Promise<StoredEvent[]> {
    const redis = this.connection()
    if (redis === undefined) throw new WampError(ErrorUri.networkFailure, ['the event history is in Redis, which is not connected'])
    let entries: Array<[Buffer, Buffer[]]>
    try {
      entries = await redis.xrangeBuffer(this.key + rule.key, '-', '+')
    } catch (err) {
      throw new WampError(ErrorUri.networkFailure, [`the event history could not be read from Redis: ${(err as Error).message}`])
    }
    const events: StoredEvent[] = []
    for (const [id, fields] of entries) {
      const event = decodeStored(id.toString(), fields[1])
      if (event !== undefined) events.push(event)
    }
    return events
  }
}

// ---- encoding ----------------------------------------------------------------------------------------------

function encodeRetained (e: RetainedEvent): Buffer {
  const f = e.filter
  const rules = f === undefined ? null : packRules(f.rules())
  return packStored([e.topic, e.publicationId, e.args, e.kwargs, e.publisher ?? null, rules, f?.skip ?? 0, e.bytes])
}

function decodeRetained (blob: Buffer): RetainedEvent {
  const m = unpackStored(blob) as unknown[]
  if (!Array.isArray(m) || m.length !== 8 || typeof m[0] !== 'string' || typeof m[1] !== 'number') throw new Error('malformed retained event in Redis')
  const [topic, publicationId, args, kwargs, publisher, rules, skip, bytes] = m
  return {
    topic,
    publicationId,
    args: Array.isArray(args) ? args : undefined,
    kwargs: isDict(kwargs) ? kwargs as Kwargs : undefined,
    publisher: isDict(publisher) ? publisher as Details : undefined,
    filter: rules === null && skip === 0 ? undefined : new PublishFilter(Array.isArray(rules) ? unpackRules(rules) : {}, Number(skip)),
    bytes: Number(bytes)
  }
}

function decodeStored (id: string, blob: Buffer | undefined): StoredEvent | undefined {
  if (blob === undefined) return undefined
  const m = unpackStored(blob) as unknown[]
  if (!Array.isArray(m) || m.length !== 7 || typeof m[0] !== 'string' || typeof m[1] !== 'number' || typeof m[2] !== 'number') return undefined
  const [topic, publicationId, time, args, kwargs, publisher, rules] = m
  return {
    topic,
    publicationId,
    time,
    seq: Number(id.split('-')[1] ?? 0),
    args: Array.isArray(args) ? args : undefined,
    kwargs: isDict(kwargs) ? kwargs as Kwargs : undefined,
    publisher: isDict(publisher) ? publisher as Details : undefined,
    rules: Array.isArray(rules) ? unpackIdentity(rules) : undefined
  }
}

function packRules (r: PublishRules): unknown[] {
  return [r.eligible ?? null, r.exclude ?? null, r.eligibleAuthid ?? null, r.excludeAuthid ?? null, r.eligibleAuthrole ?? null, r.excludeAuthrole ?? null]
}

function list<T> (v: unknown): T[] | undefined {
  return Array.isArray(v) ? v as T[] : undefined
}

function unpackRules (r: unknown[]): PublishRules {
  return {
    eligible: list(r[0]),
    exclude: list(r[1]),
    eligibleAuthid: list(r[2]),
    excludeAuthid: list(r[3]),
    eligibleAuthrole: list(r[4]),
    excludeAuthrole: list(r[5])
  }
}

function packIdentity (r: IdentityRules | undefined): unknown[] | null {
  return r === undefined ? null : [r.eligibleAuthid ?? null, r.excludeAuthid ?? null, r.eligibleAuthrole ?? null, r.excludeAuthrole ?? null]
}

function unpackIdentity (r: unknown[]): IdentityRules {
  return { eligibleAuthid: list(r[0]), excludeAuthid: list(r[1]), eligibleAuthrole: list(r[2]), excludeAuthrole: list(r[3]) }
}
