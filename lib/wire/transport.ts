import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import type { Serializer } from './serializers/index.js'
import { kSession, kTransport } from '../symbols.js'
import { batchOverhead, joinBatch, SEPARATOR } from './batch.js'
import type { Session } from '../session/session.js'

// The ws glue: frame options, write batching, the outbound bound, the outgoing size check and the keepalive flag.
// Every frame a session sends in one tick leaves in one writev, because the TCP socket stays corked until the
// next tick. On a batched subprotocol (wamp.2.<id>.batched) the messages of one tick are held instead and leave
// as one WebSocket message at that same flush (several, when together they would pass maxPayload).

const TEXT = { binary: false, compress: false }
const BINARY = { binary: true, compress: false }

export interface TransportLimits {
  /** Largest frame the server sends (the same bound as for frames it accepts). */
  readonly maxPayload: number
  /** Bytes that may wait in the outbound buffer of one socket; beyond that the peer is not reading. */
  readonly maxBufferedBytes: number
  /** Milliseconds a close handshake we started may take before the connection is terminated. */
  readonly closeTimeout: number
}

export class Transport {
  readonly socket: WebSocket
  readonly serializer: Serializer
  /** Several WAMP messages per WebSocket message, both ways (lib/wire/batch.ts). */
  readonly batched: boolean
  /** Batched text: the record separator written, the one the peer last used (lib/wire/batch.ts). */
  separator: number
  /** False once a keepalive ping went out; the pong sets it back (lib/session/keepalive.ts). */
  alive: boolean
  /** Payload received and queued for sending, in bytes (text: UTF-16 code units), for `stats()`. */
  received: number
  written: number
  private readonly raw: Socket | undefined
  private readonly frame: { binary: boolean, compress: boolean }
  private readonly maxPayload: number
  /** Largest encoded message that fits in a frame: maxPayload less the batch framing. */
  private readonly room: number
  /** Batched: the messages written this tick, and their size. */
  private readonly pending: Array<string | Buffer>
  private pendingBytes: number
  private readonly maxBuffered: number
  private readonly closeTimeout: number
  private corked: boolean
  private closeTimer: NodeJS.Timeout | undefined

  constructor (socket: WebSocket, serializer: Serializer, limits: TransportLimits, batched = false) {
    this.socket = socket
    this.serializer = serializer
    this.batched = batched
    this.separator = SEPARATOR
    this.alive = true
    this.received = 0
    this.written = 0
    this.raw = (socket as unknown as { _socket?: Socket })._socket
    this.frame = serializer.binary ? BINARY : TEXT
    this.maxPayload = limits.maxPayload
    this.room = batched ? limits.maxPayload - batchOverhead(serializer.binary) : limits.maxPayload
    this.pending = []
    this.pendingBytes = 0
    this.maxBuffered = limits.maxBufferedBytes
    this.closeTimeout = limits.closeTimeout
    this.corked = false
    this.closeTimer = undefined
    ;(socket as WebSocket & { [kTransport]?: Transport })[kTransport] = this
    socket.on('pong', onPong)
    socket.on('close', onSocketClose)
  }

  get open (): boolean {
    return this.socket.readyState === 1
  }

  /** Bytes accepted but not yet handed to the kernel. */
  get buffered (): number {
    return this.socket.bufferedAmount + this.pendingBytes
  }

  encode (message: unknown[]): string | Buffer {
    return this.serializer.encode(message)
  }

  /**
   * Whether an encoded message is within maxPayload, batch framing included (a string's UTF-8 size is between 1
   * and 3 × its length).
   */
  fits (data: string | Buffer): boolean {
    if (data.length > this.room) return false
    if (typeof data !== 'string' || data.length * 3 <= this.room) return true
    return Buffer.byteLength(data) <= this.room
  }

  /**
   * Queues one frame. Returns false when it was not queued: the socket is not open, or the frame would take the
   * outbound buffer past maxBufferedBytes — the peer is not reading, so the socket is terminated (its session
   * cleans up on close) rather than letting the buffer, and the server's memory, grow without bound.
   */
  write (data: string | Buffer): boolean {
    const socket = this.socket
    if (socket.readyState !== 1) return false
    if (socket.bufferedAmount + this.pendingBytes + data.length > this.maxBuffered) {
      this.overflow(data.length)
      return false
    }
    this.written += data.length
    if (!this.corked) {
      this.corked = true
      this.raw?.cork()
      process.nextTick(flush, this)
    }
    if (this.batched) {
      this.pending.push(data)
      this.pendingBytes += data.length
    } else {
      socket.send(data, this.frame)
    }
    return true
  }

  /** Hands every frame written this tick to the kernel at once (batched: first joins them into WebSocket messages). */
  flush (): void {
    if (!this.corked) return
    this.corked = false
    if (this.pending.length > 0) this.sendBatch()
    if (this.raw !== undefined && !this.raw.destroyed) this.raw.uncork()
  }

  /**
   * Starts the close handshake, bounded by `closeTimeout`: a peer that never answers the close frame would
   * otherwise hold its connection (and its `maxSessions` slot) for ws's 30 s.
   */
  close (code: number, reason?: string): void {
    if (this.socket.readyState > 1) return
    this.socket.close(code, reason)
    if (this.closeTimer === undefined && this.socket.readyState !== 3) this.closeTimer = setTimeout(terminateLate, this.closeTimeout, this)
  }

  terminate (): void {
    this.socket.terminate()
  }

  /** The socket has closed: the close timer has nothing left to do. */
  closed (): void {
    if (this.closeTimer !== undefined) clearTimeout(this.closeTimer)
    this.closeTimer = undefined
  }

  /** A keepalive round: false when the previous ping was not answered (the caller terminates). */
  ping (): boolean {
    if (this.socket.readyState !== 1) return true
    if (!this.alive) return false
    this.alive = false
    this.socket.ping()
    return true
  }

  private sendBatch (): void {
    const messages = this.pending.splice(0)
    this.pendingBytes = 0
    if (this.socket.readyState !== 1) return
    for (const frame of joinBatch(messages, this.serializer.binary, this.maxPayload, this.separator)) this.socket.send(frame, this.frame)
  }

  private overflow (size: number): void {
    const session = (this.socket as WebSocket & { [kSession]?: Session })[kSession]
    session?.log.warn({ bufferedBytes: this.socket.bufferedAmount, frameBytes: size, maxBufferedBytes: this.maxBuffered },
      'fastify-wamp: closing a session that does not read (outbound buffer over maxBufferedBytes)')
    this.terminate()
  }
}

function terminateLate (transport: Transport): void {
  transport.terminate()
}

function onSocketClose (this: WebSocket): void {
  const transport = (this as WebSocket & { [kTransport]: Transport })[kTransport]
  transport.closed()
}

function flush (transport: Transport): void {
  transport.flush()
}

function onPong (this: WebSocket): void {
  (this as WebSocket & { [kTransport]: Transport })[kTransport].alive = true
}
