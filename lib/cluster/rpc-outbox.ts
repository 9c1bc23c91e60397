import { packStored, unpackStored } from '../wire/serializers/msgpack.js'
import { isDict } from '../wire/messages.js'
import { isValidUri } from '../wire/uris.js'
import type { ClusterStats } from './fanout.js'
import type { ClusterLink } from './link.js'
import { describeError } from '../wire/serializers/index.js'

// The wire of cluster-wide RPC: one Redis channel per instance (`<prefix>rpc:<instance>`), msgpack messages, and an
// outbox that sends everything addressed to one instance in one tick as ONE PUBLISH. With calls in flight
// concurrently (the case that matters for throughput) that is one Redis command per tick and peer instead of one
// per message: Redis, ioredis and both instances do a fraction of the work per call. A tick with one message for a
// peer sends it alone, as before batching (an instance of an older version still understands it).
//
// A batch is bounded (MAX_BATCH messages, MAX_BATCH_BYTES): a full one leaves at once, so a large tick crosses
// Redis in several PUBLISHes while the rest is still being produced, and no PUBLISH comes near Redis's pub/sub
// output buffer limit (32 MiB by default, past which Redis drops the subscriber). Each message is encoded when it
// is sent, alone: one that cannot be encoded fails alone, and a batch is the concatenation of its parts.

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
/** [DESCRIBE, from, callId, realm, session, 0 registration | 1 subscription, id] → RESULT [uri, match] or [] (none). */
export const DESCRIBE = 11

/** How long, and how often, a call's final answer (or CANCEL) is tried again while it cannot reach its instance. */
const ANSWER_RETRY_FOR = 5000
const ANSWER_RETRY = 100
/** Most messages, and most encoded bytes, in one PUBLISH (a message larger than that goes alone). */
export const MAX_BATCH = 32
export const MAX_BATCH_BYTES = 256 * 1024

/**
 * The well-formed messages of one PUBLISH (a batch is unpacked to its parts); [] for a payload that is not ours.
 * Every message is checked against its kind's shape, so what reaches `ClusterRpc` holds the types it reads (another
 * program, or a broken peer, on our channel cannot make us send a GOODBYE whose reason is not a URI, say).
 */
export function unpackRpc (data: Buffer): unknown[][] {
  let m: unknown
  try {
    m = unpackStored(data)
  } catch {
    return []
  }
  if (!Array.isArray(m)) return []
  if (m[0] !== BATCH) return wellFormed(m) ? [m] : []
  const parts: unknown[][] = []
  for (let i = 1; i < m.length; i++) if (Array.isArray(m[i]) && wellFormed(m[i] as unknown[])) parts.push(m[i] as unknown[])
  return parts
}

const isId = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isString = (v: unknown): boolean => typeof v === 'string'
const isArgs = (v: unknown): boolean => v === null || v === undefined || Array.isArray(v)
const isKwargs = (v: unknown): boolean => v === null || v === undefined || isDict(v)
const isOptionalString = (v: unknown): boolean => v === null || v === undefined || typeof v === 'string'
const isCaller = (v: unknown): boolean => v === null || v === undefined ||
  (Array.isArray(v) && isId(v[0]) && isString(v[1]) && isString(v[2]) && typeof v[3] === 'boolean')

/** The shape of each kind (what ClusterRpc and ServedCalls read of it). */
function wellFormed (m: unknown[]): boolean {
  switch (m[0]) {
    case REQUEST: return isString(m[1]) && isId(m[2]) && isString(m[3]) && isString(m[4]) && isId(m[5]) && isId(m[6]) &&
      isArgs(m[7]) && isKwargs(m[8]) && typeof m[9] === 'boolean' && isCaller(m[10])
    case CANCEL: return isString(m[1]) && isId(m[2])
    case PROGRESS:
    case RESULT: return isId(m[1]) && isArgs(m[2]) && isKwargs(m[3])
    case ERROR: return isId(m[1]) && isString(m[2]) && isArgs(m[3]) && isKwargs(m[4])
    case EVENT: return isString(m[1]) && isId(m[2]) && isString(m[3]) && isArgs(m[4]) && isKwargs(m[5])
    case KILL: return isString(m[1]) && isId(m[2]) && isValidUri(m[3]) && isOptionalString(m[4])
    case REVOKE_REGISTRATION:
    case REVOKE_SUBSCRIPTION: return isString(m[1]) && isId(m[2]) && isId(m[3]) && isOptionalString(m[4])
    case DESCRIBE: return isString(m[1]) && isId(m[2]) && isString(m[3]) && isId(m[4]) && (m[5] === 0 || m[5] === 1) && isId(m[6])
    default: return false
  }
}

/** A message that a call of ours waits on the answer to (its call id is its third field). */
function asks (kind: unknown): boolean {
  return kind === REQUEST || kind === DESCRIBE
}

/** What happens to a REQUEST (or DESCRIBE) that could not be delivered (nobody listens, Redis failed): the call fails (it never ran). */
export type Undelivered = (callId: number, reason: 'lost' | Error | undefined) => void

/**
 * The messages of one PUBLISH, each encoded alone, in the order sent, with what `missed()` needs of each (its kind,
 * and a REQUEST's call id): the messages themselves are not kept past their encoding.
 */
interface Batch { parts: Buffer[], kinds: number[], ids: number[], bytes: number }

function newBatch (): Batch {
  return { parts: [], kinds: [], ids: [], bytes: 0 }
}

export class RpcOutbox {
  private readonly link: ClusterLink
  private readonly stats: ClusterStats
  private readonly undelivered: Undelivered
  /** Per instance, what was sent this tick and has not left yet. */
  private readonly queues: Map<string, Batch>
  private scheduled: boolean

  constructor (link: ClusterLink, stats: ClusterStats, undelivered: Undelivered) {
    this.link = link
    this.stats = stats
    this.undelivered = undelivered
    this.queues = new Map()
    this.scheduled = false
  }

  /**
   * Queues `message` for `instance`; it leaves with the rest of this tick's at setImmediate, or when a batch is full.
   * Returns why it cannot be encoded, sending nothing (a payload msgpack refuses: a BigInt beyond 64 bits, a
   * symbol, a cycle…); the sender says so to whoever waits for it (no REQUEST or answer just vanishes).
   */
  send (instance: string, message: unknown[]): string | undefined {
    let part: Buffer
    try {
      part = packStored(message)
    } catch (err) {
      return describeError(err)
    }
    this.stats.messagesOut++
    let batch = this.queues.get(instance)
    if (batch !== undefined && batch.bytes + part.length > MAX_BATCH_BYTES) {
      this.leave(instance, batch)
      batch = undefined
    }
    if (batch === undefined) this.queues.set(instance, batch = newBatch())
    batch.parts.push(part)
    batch.kinds.push(message[0] as number)
    batch.ids.push(asks(message[0]) ? message[2] as number : 0)
    batch.bytes += part.length
    if (batch.parts.length >= MAX_BATCH || batch.bytes >= MAX_BATCH_BYTES) {
      this.leave(instance, batch)
      return undefined
    }
    if (this.scheduled) return undefined
    this.scheduled = true
    setImmediate(flush, this)
    return undefined
  }

  /** A full batch leaves now, without waiting for the end of the tick. */
  private leave (instance: string, batch: Batch): void {
    this.queues.delete(instance)
    this.publish(instance, batch, 0)
  }

  /** Sends every queued message now (one PUBLISH per instance). */
  flush (): void {
    this.scheduled = false
    if (this.queues.size === 0) return
    for (const [instance, batch] of this.queues) this.publish(instance, batch, 0)
    this.queues.clear()
  }

  /**
   * One PUBLISH of `batch`. REQUESTs that reach nobody (the instance is gone) or fail (Redis) are reported to
   * `undelivered`; final answers (RESULT, ERROR) are tried again until `deadline` — around a Redis restart the
   * caller's instance may not be subscribed again yet — so a caller is not left to its timeout; so is CANCEL, so a
   * callee is not left answering nobody. The rest (PROGRESS, EVENT, KILL, REVOKE_*) is fire and forget.
   */
  private publish (instance: string, batch: Batch, deadline: number): void {
    const redis = this.link.publisher()
    if (redis === undefined) return this.missed(instance, batch, undefined, deadline)
    redis.publish(`${this.link.prefix}rpc:${instance}`, encodeBatch(batch.parts)).then((receivers) => {
      if (receivers === 0) this.missed(instance, batch, 'lost', deadline)
    }, (err: Error) => this.missed(instance, batch, err, deadline))
  }

  private missed (instance: string, batch: Batch, reason: 'lost' | Error | undefined, deadline: number): void {
    let answers: Batch | undefined
    for (let i = 0; i < batch.parts.length; i++) {
      const kind = batch.kinds[i]
      if (asks(kind)) this.undelivered(batch.ids[i], reason)
      else if (kind === RESULT || kind === ERROR || kind === CANCEL) {
        answers ??= newBatch()
        answers.kinds.push(kind)
        answers.ids.push(0)
        answers.parts.push(batch.parts[i])
        answers.bytes += batch.parts[i].length
      }
    }
    if (answers === undefined) return
    const until = deadline === 0 ? Date.now() + ANSWER_RETRY_FOR : deadline
    if (Date.now() >= until) return
    const retry = answers
    setTimeout(() => { this.publish(instance, retry, until) }, ANSWER_RETRY).unref()
  }
}

/** One message as it is; several as the msgpack array [BATCH, …parts] (an array header, then the parts). */
function encodeBatch (parts: Buffer[]): Buffer {
  if (parts.length === 1) return parts[0]
  const n = parts.length + 1
  const header = n < 16 ? Buffer.of(0x90 | n, BATCH) : Buffer.of(0xdc, n >> 8, n & 0xff, BATCH)
  return Buffer.concat([header, ...parts])
}

function flush (outbox: RpcOutbox): void {
  outbox.flush()
}
