import { randomBytes } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { FastifyReply } from 'fastify'
import type { Serializer } from '../wire/serializers/index.js'
import { batchOverhead, joinBatch, SEPARATOR } from '../wire/batch.js'
import { fitsIn } from '../wire/transport.js'
import type { SessionTransport, TransportKind, TransportSink } from '../wire/transport.js'

// One WAMP session over HTTP long-poll (WAMP spec "HTTP Longpoll Transport"): the client POSTs each message (or
// batch) to /<id>/send and keeps one POST to /<id>/receive open, which the server answers when it has something to
// say (or after pollTimeout, empty). What the session writes waits in a bounded queue (maxBufferedBytes) until a
// receive takes it: one message per receive unbatched, everything that fits in maxPayload batched.
//
// The ending mirrors a WebSocket's: close() is the close handshake — what is queued (the ABORT or GOODBYE) still
// goes out, and the transport ends when the client POSTs /close or after closeTimeout; terminate() ends it at once.
// A client that stops polling (no receive for idleTimeout) is gone, like a socket that dropped. Either way the
// session's cleanup runs once, and the id is forgotten (later requests for it get 404).

export interface LongPollLimits {
  readonly maxPayload: number
  readonly maxBufferedBytes: number
  readonly closeTimeout: number
  /** Milliseconds a receive is held when there is nothing to send; then it is answered empty (204). */
  readonly pollTimeout: number
  /** Milliseconds without a receive (none pending, none arriving) after which the client is considered gone. */
  readonly idleTimeout: number
}

/** The transports of one plugin instance, by id; what the routes look ids up in. */
export type LongPollTable = Map<string, LongPollTransport>

/** The plugin (the hub): whether the app is closing. */
export interface LongPollHost {
  readonly shuttingDown: boolean
}

/** What a send held while the session is paused counts against maxBufferedBytes at least (see `received`). */
export const HELD_SEND_BYTES = 1024

const OPEN = 0
const CLOSING = 1
const ENDED = 2

/** 128 bits from the CSPRNG, URL-safe: a transport id is the only credential of /send and /receive. */
export function newTransportId (): string {
  return randomBytes(16).toString('base64url')
}

/** The Content-Type of what a receive answers with, by serializer. */
export function contentTypeOf (serializer: Serializer): string {
  switch (serializer.id) {
    case 'json': return 'application/json; charset=utf-8'
    case 'msgpack': return 'application/x-msgpack'
    case 'cbor': return 'application/cbor'
    default: return serializer.binary ? 'application/octet-stream' : 'text/plain; charset=utf-8'
  }
}

export class LongPollTransport implements SessionTransport {
  readonly kind: TransportKind
  readonly id: string
  readonly remoteAddress: string | undefined
  readonly serializer: Serializer
  readonly batched: boolean
  readonly textChecked: boolean
  separator: number
  bytesIn: number
  bytesOut: number
  private readonly table: LongPollTable
  private readonly host: LongPollHost
  private readonly limits: LongPollLimits
  private readonly contentType: string
  /** Largest encoded message that fits in one receive answer: maxPayload less the batch framing. */
  private readonly room: number
  private readonly queue: Array<string | Buffer>
  private queuedBytes: number
  /** The receive being held open, if any. */
  private poll: FastifyReply | undefined
  private pollTimer: NodeJS.Timeout | undefined
  private idleTimer: NodeJS.Timeout | undefined
  private closeTimer: NodeJS.Timeout | undefined
  private phase: number
  private scheduled: boolean
  private paused: boolean
  /** Send requests answered only once the session resumes reading (see pause()). */
  private readonly waiting: Array<() => void>
  /** Bytes of the sends taken while paused: HTTP has no backpressure, so they are bounded by maxBufferedBytes. */
  private waitingBytes: number
  /**
   * Receive answers sent but not yet taken by the client (the kernel's buffers full), with their bytes: they count
   * against maxBufferedBytes as a WebSocket's unsent bytes do, or a client polling on connections it never reads
   * would make the server hold every answer (HTTP has no timeout for a response being written).
   */
  private readonly unread: Map<ServerResponse, number>
  private unreadBytes: number
  private sink: TransportSink | undefined

  constructor (host: LongPollHost, table: LongPollTable, serializer: Serializer, batched: boolean, limits: LongPollLimits, remoteAddress: string | undefined) {
    this.kind = 'longpoll'
    this.id = newTransportId()
    this.remoteAddress = remoteAddress
    this.serializer = serializer
    this.batched = batched
    this.textChecked = false
    this.separator = SEPARATOR
    this.bytesIn = 0
    this.bytesOut = 0
    this.table = table
    this.host = host
    this.limits = limits
    this.contentType = contentTypeOf(serializer)
    this.room = batched ? limits.maxPayload - batchOverhead(serializer.binary) : limits.maxPayload
    this.queue = []
    this.queuedBytes = 0
    this.poll = undefined
    this.pollTimer = undefined
    this.idleTimer = setTimeout(expire, limits.idleTimeout, this)
    this.closeTimer = undefined
    this.phase = OPEN
    this.scheduled = false
    this.paused = false
    this.waiting = []
    this.waitingBytes = 0
    this.unread = new Map()
    this.unreadBytes = 0
    this.sink = undefined
    table.set(this.id, this)
  }

  attach (sink: TransportSink): void {
    this.sink = sink
  }

  get open (): boolean {
    return this.phase === OPEN
  }

  /** A receive is held open, waiting for something to send. */
  get polling (): boolean {
    return this.poll !== undefined
  }

  /** Bytes queued for the client and not yet taken by a receive. */
  get buffered (): number {
    return this.queuedBytes + this.unreadBytes
  }

  fits (data: string | Buffer): boolean {
    return fitsIn(data, this.room)
  }

  /**
   * Queues one encoded message for the next receive. A client that lets more than maxBufferedBytes pile up is not
   * polling: the transport ends (as a WebSocket whose peer does not read is terminated).
   */
  write (data: string | Buffer): boolean {
    if (this.phase !== OPEN) return false
    const size = byteSize(data)
    if (this.queuedBytes + this.unreadBytes + size > this.limits.maxBufferedBytes) {
      this.sink?.log.warn({ bufferedBytes: this.queuedBytes + this.unreadBytes, frameBytes: size, maxBufferedBytes: this.limits.maxBufferedBytes },
        'fastify-wamp: closing a long-poll session that does not poll (queue over maxBufferedBytes)')
      this.terminate()
      return false
    }
    this.queue.push(data)
    this.queuedBytes += size
    this.bytesOut += data.length
    // The messages of one tick leave together (batched), as on a WebSocket.
    if (this.poll !== undefined && !this.scheduled) {
      this.scheduled = true
      process.nextTick(flushLater, this)
    }
    return true
  }

  flush (): void {
    this.scheduled = false
    if (this.poll !== undefined && this.queue.length > 0) this.answer(this.poll)
  }

  /** The close handshake: what is queued still goes out; the transport ends at the client's /close or closeTimeout. */
  close (): void {
    if (this.phase !== OPEN) return
    this.phase = CLOSING
    this.flush()
    this.closeTimer = setTimeout(endLate, this.limits.closeTimeout, this)
  }

  /** Ends at once: answers the client is not reading go too, as a WebSocket's unsent bytes go with its socket. */
  terminate (): void {
    this.end()
    this.cutUnread()
  }

  /** The session waits for an async decision: sends are held unanswered until resume(), which slows the client down. */
  pause (): void {
    this.paused = true
  }

  resume (): void {
    this.paused = false
    this.waitingBytes = 0
    for (const answer of this.waiting.splice(0)) answer()
  }

  /** Long-poll has no ping: a client that stops polling ends by idleTimeout instead. */
  ping (): boolean {
    return true
  }

  // ---- the HTTP side (lib/transports/longpoll.ts) --------------------------------------------------------------

  /** A /send body: one message, or a batch. `done` runs when the reply may go (later while the session is paused). */
  received (body: Buffer, done: () => void): void {
    // A socket stops being read while paused; HTTP requests keep coming: a client that piles up more than
    // maxBufferedBytes of them floods us, and the transport ends (as one that does not poll). A held request costs
    // its connection whatever its body: an empty one counts HELD_SEND_BYTES, or empty sends could pile up unbounded.
    const cost = Math.max(body.length, HELD_SEND_BYTES)
    if (this.paused && this.phase !== ENDED && this.waitingBytes + cost > this.limits.maxBufferedBytes) {
      this.sink?.log.warn({ waitingBytes: this.waitingBytes, maxBufferedBytes: this.limits.maxBufferedBytes },
        'fastify-wamp: closing a long-poll session that sends past maxBufferedBytes while its session is held')
      this.terminate()
      return done()
    }
    this.sink?.receive(body, this.serializer.binary)
    if (this.paused && this.phase !== ENDED) {
      this.waiting.push(done)
      this.waitingBytes += cost
    } else done()
  }

  /** A /receive: answered now when something is queued, else held until something is (or pollTimeout). */
  receive (reply: FastifyReply): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer)
    this.idleTimer = undefined
    // A newer receive replaces a held one (the client gave up on it): the old one is answered empty, losing nothing.
    if (this.poll !== undefined) this.release(204)
    if (this.queue.length > 0) return this.answer(reply)
    this.poll = reply
    this.pollTimer = setTimeout(pollTimedOut, this.limits.pollTimeout, this)
    reply.raw.once('close', () => { if (this.poll === reply) this.lost() })
  }

  /** The client's /close: the transport ends, as when a WebSocket closes. */
  closeRequested (): void {
    this.end()
  }

  /** The held receive's connection went away before it was answered: the client is polling no more, for now. */
  private lost (): void {
    this.clearPoll()
    if (this.phase !== ENDED) this.idleTimer = setTimeout(expire, this.limits.idleTimeout, this)
  }

  /** Answers `reply` with the queue's head: one message, or (batched) as many as fit in maxPayload. */
  private answer (reply: FastifyReply): void {
    const overhead = this.batched ? batchOverhead(this.serializer.binary) : 0
    let count = 0
    let bytes = 0
    for (; count < this.queue.length; count++) {
      if (count > 0 && (!this.batched || bytes + byteSize(this.queue[count]) + overhead * (count + 1) > this.limits.maxPayload)) break
      bytes += byteSize(this.queue[count])
    }
    const taken = this.queue.splice(0, count)
    this.queuedBytes -= bytes
    const body = this.batched ? joinBatch(taken, this.serializer.binary, Infinity, this.separator)[0] : taken[0]
    if (this.poll === reply) this.clearPoll()
    reply.code(200).header('content-type', this.contentType).header('cache-control', 'no-store').send(body)
    this.sent(reply.raw, bytes)
    // While the app closes, Fastify answers every new request 503: that was the client's last receive.
    if (this.host.shuttingDown) this.end()
    else if (this.phase === OPEN) this.idleTimer ??= setTimeout(expire, this.limits.idleTimeout, this)
  }

  /** An answer handed to HTTP (app onSend hooks may still hold it): its bytes count until its response is done. */
  private sent (res: ServerResponse, bytes: number): void {
    if (res.destroyed) return
    this.unread.set(res, bytes)
    this.unreadBytes += bytes
    res.once('close', () => {
      this.unreadBytes -= this.unread.get(res) ?? 0
      this.unread.delete(res)
    })
  }

  /** Answers the held receive with nothing (204). */
  private release (status: number): void {
    const reply = this.poll
    this.clearPoll()
    if (reply !== undefined && !reply.sent) reply.code(status).header('cache-control', 'no-store').send()
  }

  private clearPoll (): void {
    if (this.pollTimer !== undefined) clearTimeout(this.pollTimer)
    this.pollTimer = undefined
    this.poll = undefined
  }

  /** Held receive timed out: answered empty; the client polls again (idleTimeout runs until it does). */
  pollTimedOut (): void {
    this.release(204)
    if (this.phase !== ENDED) this.idleTimer ??= setTimeout(expire, this.limits.idleTimeout, this)
  }

  /** Once: the id is forgotten, a held receive gets what is left (or nothing), sends held by pause() are answered. */
  end (): void {
    if (this.phase === ENDED) return
    this.phase = ENDED
    this.table.delete(this.id)
    if (this.poll !== undefined) {
      if (this.queue.length > 0) this.answer(this.poll)
      else this.release(204)
    }
    this.queue.length = 0
    this.queuedBytes = 0
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer)
    if (this.closeTimer !== undefined) clearTimeout(this.closeTimer)
    this.idleTimer = undefined
    this.closeTimer = undefined
    this.waitingBytes = 0
    for (const answer of this.waiting.splice(0)) answer()
    // On the next tick, as a socket's 'close' event: never inside the session's own call that ended the transport
    // (a write over maxBufferedBytes in the middle of a publication, say).
    if (this.sink !== undefined) process.nextTick(cleanupSink, this.sink)
    // Answers still being written get closeTimeout to be read, as a close handshake does; nothing else would free them.
    if (this.unread.size > 0) setTimeout(cutUnreadLate, this.limits.closeTimeout, this).unref()
  }

  /** Destroys the connections of answers written that their client is not reading. */
  cutUnread (): void {
    for (const res of this.unread.keys()) if (res.headersSent && (res.socket?.writableLength ?? 0) > 0) res.destroy()
  }

  /** idleTimeout passed without a receive. */
  expired (): void {
    this.idleTimer = undefined
    if (this.phase === ENDED) return
    this.sink?.log.debug({ idleTimeout: this.limits.idleTimeout }, 'fastify-wamp: long-poll transport expired (no receive)')
    this.end()
  }
}

function byteSize (data: string | Buffer): number {
  return typeof data === 'string' ? Buffer.byteLength(data) : data.length
}

function cleanupSink (sink: TransportSink): void {
  sink.cleanup()
}

function flushLater (transport: LongPollTransport): void {
  transport.flush()
}

function cutUnreadLate (transport: LongPollTransport): void {
  transport.cutUnread()
}

function endLate (transport: LongPollTransport): void {
  transport.end()
}

function expire (transport: LongPollTransport): void {
  transport.expired()
}

function pollTimedOut (transport: LongPollTransport): void {
  transport.pollTimedOut()
}
