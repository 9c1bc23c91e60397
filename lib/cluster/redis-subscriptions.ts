import type { Redis } from 'ioredis'
import type { MatchPolicy } from '../wire/uris.js'

// What the Redis adapter's subscriber connection must be subscribed to: one channel per exact (realm, topic), one
// glob per prefix/wildcard subscription (several WAMP subscriptions may share a glob: its targets), kept in step
// with the connection: (P)SUBSCRIBE on the first local subscriber, a full resubscribe on every new connection.

export interface Target { readonly realm: string, readonly match: MatchPolicy, readonly topic: string }

const BATCH = 500

export function escapeGlob (text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&')
}

export class RedisSubscriptions {
  readonly channels: Set<string>
  readonly patterns: Map<string, Target[]>
  /** The connection is subscribed to everything in the tables (set by `restore()`, cleared on close). */
  ready: boolean
  /** (P)SUBSCRIBEs sent but not yet confirmed by Redis: channel or pattern → settles once confirmed (or failed). */
  private readonly confirming: Map<string, Promise<void>>
  private readonly prefix: string
  private readonly fail: (err: Error) => void
  private sub: Redis | undefined

  constructor (prefix: string, fail: (err: Error) => void) {
    this.channels = new Set()
    this.patterns = new Map()
    this.ready = false
    this.confirming = new Map()
    this.prefix = prefix
    this.fail = fail
    this.sub = undefined
  }

  /** @internal */
  attach (sub: Redis): void {
    this.sub = sub
  }

  detach (): void {
    this.sub = undefined
    this.ready = false
  }

  channel (realm: string, topic: string): string {
    return `${this.prefix}${realm}:t:${topic}`
  }

  pattern (realm: string, topic: string, match: MatchPolicy): string {
    const base = escapeGlob(`${this.prefix}${realm}:t:`)
    if (match === 'prefix') return `${base}${escapeGlob(topic)}*`
    return base + topic.split('.').map((part) => (part === '' ? '*' : escapeGlob(part))).join('.')
  }

  /** Settles once Redis confirmed; undefined when it is confirmed already or cannot be sent now (not ready). */
  add (realm: string, topic: string, match: MatchPolicy): Promise<void> | undefined {
    if (match === 'exact') {
      const channel = this.channel(realm, topic)
      if (this.channels.has(channel)) return this.confirming.get(channel)
      this.channels.add(channel)
      return this.ready ? this.confirm('subscribe', channel) : undefined
    }
    const pattern = this.pattern(realm, topic, match)
    const targets = this.patterns.get(pattern)
    if (targets !== undefined) {
      targets.push({ realm, match, topic })
      return this.confirming.get(pattern)
    }
    this.patterns.set(pattern, [{ realm, match, topic }])
    return this.ready ? this.confirm('psubscribe', pattern) : undefined
  }

  remove (realm: string, topic: string, match: MatchPolicy): void {
    if (match === 'exact') {
      const channel = this.channel(realm, topic)
      if (this.channels.delete(channel) && this.ready) this.send('unsubscribe', channel)
      return
    }
    const pattern = this.pattern(realm, topic, match)
    const targets = this.patterns.get(pattern)
    if (targets === undefined) return
    const rest = targets.filter((t) => t.realm !== realm || t.match !== match || t.topic !== topic)
    if (rest.length > 0) {
      this.patterns.set(pattern, rest)
      return
    }
    this.patterns.delete(pattern)
    if (this.ready) this.send('punsubscribe', pattern)
  }

  /** Subscribes everything in the tables on a fresh connection; `ready` once done (rejects if it dropped again). */
  async restore (): Promise<void> {
    const sub = this.sub
    if (sub === undefined) return
    const channels = [...this.channels]
    const patterns = [...this.patterns.keys()]
    try {
      for (let i = 0; i < channels.length; i += BATCH) await sub.subscribe(...channels.slice(i, i + BATCH))
      for (let i = 0; i < patterns.length; i += BATCH) await sub.psubscribe(...patterns.slice(i, i + BATCH))
    } catch (err) {
      this.fail(err as Error) // the connection dropped again: the next 'ready' retries
      throw err
    }
    if (this.sub !== sub || sub.status !== 'ready') return
    this.ready = true
    // (Un)subscriptions made while we were restoring.
    for (const channel of this.channels) if (!channels.includes(channel)) this.send('subscribe', channel)
    for (const channel of channels) if (!this.channels.has(channel)) this.send('unsubscribe', channel)
    for (const pattern of this.patterns.keys()) if (!patterns.includes(pattern)) this.send('psubscribe', pattern)
    for (const pattern of patterns) if (!this.patterns.has(pattern)) this.send('punsubscribe', pattern)
  }

  private confirm (command: 'subscribe' | 'psubscribe', name: string): Promise<void> | undefined {
    if (this.sub === undefined) return undefined
    const done = this.sub[command](name).then(noop, (err: Error) => this.fail(err))
      .then(() => { if (this.confirming.get(name) === done) this.confirming.delete(name) })
    this.confirming.set(name, done)
    return done
  }

  private send (command: 'subscribe' | 'unsubscribe' | 'psubscribe' | 'punsubscribe', name: string): void {
    this.sub?.[command](name).catch((err: Error) => this.fail(err))
  }
}

function noop (): void {}
