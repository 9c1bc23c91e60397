import { Packr } from 'msgpackr'
import type { ClusterStats } from './fanout.js'
import type { ClusterLink } from './registry.js'

// The wire of cluster-wide RPC: one Redis channel per instance (`<prefix>rpc:<instance>`), msgpack messages, and an
// outbox that sends everything addressed to one instance in one tick as ONE PUBLISH. With calls in flight
// concurrently (the case that matters for throughput) that is one Redis command per tick and peer instead of one
// per message: Redis, ioredis and both instances do a fraction of the work per call. A tick with one message for a
// peer sends it alone, as before batching (an instance of an older version still understands it).

export const REQUEST = 1
export const CANCEL = 2
export const PROGRESS = 3
export const RESULT = 4
export const ERROR = 5
export const EVENT = 6
export const KILL = 7
export const REVOKE_REGISTRATION = 8
export const REVOKE_SUBSCRIPTION = 9
/** [BATCH, message, message, …]: the messages of one tick for one instance, in the order they were sent. */
export const BATCH = 10

/** How long, and how often, a call's final answer is tried again while it cannot reach the caller's instance. */
const ANSWER_RETRY_FOR = 5000
const ANSWER_RETRY = 100

const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', variableMapSize: true })

/** The messages of one PUBLISH (a batch is unpacked to its parts); [] for a payload that is not ours. */
export function unpackRpc (data: Buffer): unknown[][] {
  let m: unknown
  try {
    m = packr.unpack(data)
  } catch {
    return []
  }
  if (!Array.isArray(m)) return []
  if (m[0] !== BATCH) return [m]
  const parts: unknown[][] = []
  for (let i = 1; i < m.length; i++) if (Array.isArray(m[i])) parts.push(m[i] as unknown[])
  return parts
}

/** What happens to a REQUEST that could not be delivered: the call fails (it never ran). */
export type Undelivered = (callId: number, reason: 'lost' | Error | undefined) => void

export class RpcOutbox {
  private readonly link: ClusterLink
  private readonly stats: ClusterStats
  private readonly undelivered: Undelivered
  /** Per instance, the messages sent this tick (in order). */
  private readonly queues: Map<string, unknown[][]>
  private scheduled: boolean

  constructor (link: ClusterLink, stats: ClusterStats, undelivered: Undelivered) {
    this.link = link
    this.stats = stats
    this.undelivered = undelivered
    this.queues = new Map()
    this.scheduled = false
  }

  /** Queues `message` for `instance`; it leaves with the rest of this tick's at setImmediate. */
  send (instance: string, message: unknown[]): void {
    this.stats.messagesOut++
    const queue = this.queues.get(instance)
    if (queue !== undefined) queue.push(message)
    else this.queues.set(instance, [message])
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(flush, this)
  }

  /** Sends every queued message now (one PUBLISH per instance). */
  flush (): void {
    this.scheduled = false
    if (this.queues.size === 0) return
    for (const [instance, messages] of this.queues) this.publish(instance, messages, 0)
    this.queues.clear()
  }

  /** Drops what is queued (shutdown, Redis down: the calls concerned are failed by the caller). */
  clear (): void {
    this.queues.clear()
  }

  /**
   * One PUBLISH of `messages`. REQUESTs that reach nobody (the instance is gone) or fail (Redis) are reported to
   * `undelivered`; final answers (RESULT, ERROR) are tried again until `deadline` — around a Redis restart the
   * caller's instance may not be subscribed again yet — so a caller is not left to its timeout. The rest (PROGRESS,
   * CANCEL, EVENT, KILL, REVOKE_*) is fire and forget.
   */
  private publish (instance: string, messages: unknown[][], deadline: number): void {
    let data: Buffer
    try {
      data = packr.pack(messages.length === 1 ? messages[0] : [BATCH, ...messages])
    } catch {
      // Only values decoded from clients go out here (strictly checked, so always encodable); a message that is
      // not must not take the others of its tick with it.
      if (messages.length > 1) for (const m of messages) this.publish(instance, [m], deadline)
      else this.missed(instance, messages, new Error('a cluster message could not be encoded'), deadline)
      return
    }
    const redis = this.link.publisher()
    if (redis === undefined) return this.missed(instance, messages, undefined, deadline)
    redis.publish(`${this.link.prefix}rpc:${instance}`, data).then((receivers) => {
      if (receivers === 0) this.missed(instance, messages, 'lost', deadline)
    }, (err: Error) => this.missed(instance, messages, err, deadline))
  }

  private missed (instance: string, messages: unknown[][], reason: 'lost' | Error | undefined, deadline: number): void {
    let answers: unknown[][] | undefined
    for (const m of messages) {
      if (m[0] === REQUEST) this.undelivered(m[2] as number, reason)
      else if (m[0] === RESULT || m[0] === ERROR) (answers ??= []).push(m)
    }
    if (answers === undefined) return
    const until = deadline === 0 ? Date.now() + ANSWER_RETRY_FOR : deadline
    if (Date.now() >= until) return
    const retry = answers
    setTimeout(() => { this.publish(instance, retry, until) }, ANSWER_RETRY).unref()
  }
}

function flush (outbox: RpcOutbox): void {
  outbox.flush()
}
