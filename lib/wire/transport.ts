import type { Socket } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import type { WebSocket } from 'ws'
import type { Serializer } from './serializers/index.js'
import { kSession, kTransport } from '../symbols.js'
import { batchOverhead, joinBatch, SEPARATOR } from './batch.js'
import { binaryFrames, textFrames, writeFrames } from './frames.js'
import { flushSoon } from './flush-queue.js'
import { readFramesDirectly } from './frame-reader.js'
import type { TransportInfo, TransportKind } from '../../types/session.js'

export type { TransportInfo, TransportKind }

// The session ↔ transport boundary. A session (lib/session/session.ts) speaks to its connection only through
// `SessionTransport`, and a transport hands it bytes only through `TransportSink`, so WebSocket, RawSocket
// (lib/transports/rawsocket.ts) and HTTP long-poll share one session implementation, one set of limits and one
// shutdown sequence.
//
// The WebSocket implementation below is the ws glue: write batching, the outbound bound, the outgoing size check and
// the keepalive flag. The messages a session sends in one tick are held and leave together at the next check phase:
// framed by lib/wire/frames.ts in one buffer and one write (by ws, frame by frame, on a connection with an
// extension). On a batched subprotocol (wamp.2.<id>.batched) they leave as one WebSocket message at that same flush
// (several, when together they would pass maxPayload).

/** WebSocket close codes a session asks for; other transports map them to their own ending (RawSocket: none). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  tryAgainLater: 1013
} as const

/**
 * What a session needs of its connection. Implementations keep the hot path free of allocations: `write` queues,
 * `flush` (run once per tick by the transport itself) hands everything written in the tick to the kernel.
 */
export interface SessionTransport extends TransportInfo {
  readonly serializer: Serializer
  /** Several WAMP messages per transport message, both ways (lib/wire/batch.ts). */
  readonly batched: boolean
  /** Text messages arrive already checked as UTF-8 (WebSocket); otherwise the session checks them. */
  readonly textChecked: boolean
  /** Batched text: the record separator written, the one the peer last used (lib/wire/batch.ts). */
  separator: number
  /** True while frames can still be written. */
  readonly open: boolean
  /** Bytes accepted but not yet handed to the kernel (`stats().bufferedBytes`). */
  readonly buffered: number
  /** Whether an encoded message is within the transport's message size bound, framing included. */
  fits (data: string | Buffer): boolean
  /**
   * Queues one encoded message; false when it was not queued (closed, or over maxBufferedBytes: then the
   * transport has terminated the connection and the session cleans up when it reports closure).
   */
  write (data: string | Buffer): boolean
  /** Payload received (counted by the session) and accepted by `write`, in bytes (text: UTF-16 code units), for `stats()`. */
  bytesIn: number
  bytesOut: number
  /** Hands what was written this tick to the kernel now (before a close). */
  flush (): void
  /** Ends the connection gracefully (`code` is a WebSocket close code, see `CloseCode`), bounded by closeTimeout. */
  close (code: number, reason?: string): void
  /** Ends the connection at once. */
  terminate (): void
  /** Stops reading inbound messages (an async authorization is deciding) until `resume()`. */
  pause (): void
  resume (): void
  /** A keepalive round: false when the previous ping was not answered (the caller terminates). */
  ping (): boolean
  /**
   * Binds the session: from now on the transport calls `sink.receive` for each inbound message and
   * `sink.cleanup` exactly once when the connection has ended, however it ended. Called again after the client's
   * GOODBYE, with the session that takes the connection over (PROTOCOL §7.8): from then on only that one.
   */
  attach (sink: TransportSink): void
}

/** What a transport delivers to: the session. */
export interface TransportSink {
  /** One inbound transport message (on a batched transport, one batch). */
  receive (data: Buffer, isBinary: boolean): void
  /** The connection has ended. */
  cleanup (): void
  /** The peer broke the transport's framing: ABORT protocol_violation saying what was wrong, then close. */
  violation (message: string): void
  readonly log: FastifyBaseLogger
}

export interface TransportLimits {
  /** Largest frame the server sends (the same bound as for frames it accepts). */
  readonly maxPayload: number
  /** Bytes that may wait in the outbound buffer of one socket; beyond that the peer is not reading. */
  readonly maxBufferedBytes: number
  /** Milliseconds a close handshake we started may take before the connection is terminated. */
  readonly closeTimeout: number
}

/**
 * Whether `data` is at most `room` bytes: a string's UTF-8 size is between 1 and 3 × its length, so the exact
 * count is needed only in between.
 */
export function fitsIn (data: string | Buffer, room: number): boolean {
  if (data.length > room) return false
  if (typeof data !== 'string' || data.length * 3 <= room) return true
  return Buffer.byteLength(data) <= room
}

const TEXT = { binary: false, compress: false }
const BINARY = { binary: true, compress: false }

type WsWithSession = WebSocket & { [kSession]: TransportSink, [kTransport]: WebSocketTransport }

export class WebSocketTransport implements SessionTransport {
  readonly kind: TransportKind
  readonly socket: WebSocket
  readonly serializer: Serializer
  readonly batched: boolean
  readonly textChecked: boolean
  separator: number
  /** False once a keepalive ping went out; the pong sets it back (lib/session/keepalive.ts). */
  alive: boolean
  bytesIn: number
  bytesOut: number
  private readonly raw: Socket | undefined
  private readonly frame: { binary: boolean, compress: boolean }
  private readonly maxPayload: number
  /** Largest encoded message that fits in a frame: maxPayload less the batch framing. */
  private readonly room: number
  /** The messages written this tick, and their size. */
  private pending: Array<string | Buffer>
  private pendingBytes: number
  /** Frames are written by lib/wire/frames.ts (no extension negotiated), not by ws. */
  private readonly direct: boolean
  private readonly maxBuffered: number
  private readonly closeTimeout: number
  /** A flush is queued for this loop iteration (lib/wire/flush-queue.ts). */
  private queued: boolean
  private closeTimer: NodeJS.Timeout | undefined
  private sink: TransportSink | undefined

  constructor (socket: WebSocket, serializer: Serializer, limits: TransportLimits, batched = false) {
    this.kind = 'websocket'
    this.socket = socket
    this.serializer = serializer
    this.batched = batched
    this.separator = SEPARATOR
    this.alive = true
    this.bytesIn = 0
    this.bytesOut = 0
    this.raw = (socket as unknown as { _socket?: Socket })._socket
    this.frame = serializer.binary ? BINARY : TEXT
    this.maxPayload = limits.maxPayload
    this.room = batched ? limits.maxPayload - batchOverhead(serializer.binary) : limits.maxPayload
    this.pending = []
    this.pendingBytes = 0
    this.direct = directFraming(socket)
    // ws checks text, and the frame reader hands it what it finds is not UTF-8, unless told to skip (a WebSocket
    // server the app registered itself): then the session checks.
    this.textChecked = (socket as unknown as WsInternals)._receiver?._skipUTF8Validation === false
    this.maxBuffered = limits.maxBufferedBytes
    this.closeTimeout = limits.closeTimeout
    this.queued = false
    this.closeTimer = undefined
    this.sink = undefined
  }

  get remoteAddress (): string | undefined {
    return this.raw?.remoteAddress
  }

  attach (sink: TransportSink): void {
    const socket = this.socket as WsWithSession
    const again = this.sink !== undefined
    this.sink = sink
    socket[kSession] = sink
    // A new session after the client's GOODBYE: the listeners, which find it through the symbol, are in place.
    if (again) return
    socket[kTransport] = this
    // Listeners defined once at module level find their owners through the symbols: no closure per socket.
    socket.on('message', onMessage)
    socket.on('pong', onPong)
    socket.on('close', onClose)
    socket.on('error', onError)
    if (this.direct) readFramesDirectly(this.socket)
  }

  get open (): boolean {
    return this.socket.readyState === 1
  }

  get buffered (): number {
    return this.socket.bufferedAmount + this.pendingBytes
  }

  fits (data: string | Buffer): boolean {
    return fitsIn(data, this.room)
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
    this.bytesOut += data.length
    if (!this.queued) {
      this.queued = true
      // ws frames each message itself when an extension was negotiated: cork, so they leave in one writev.
      if (!this.direct) this.raw?.cork()
      flushSoon(this)
    }
    this.pending.push(data)
    this.pendingBytes += data.length
    return true
  }

  /** Hands every message written this tick to the kernel at once (batched: first joins them into WebSocket messages). */
  flush (): void {
    if (!this.queued) return
    this.queued = false
    if (this.pending.length > 0) this.sendPending()
    if (!this.direct && this.raw !== undefined && !this.raw.destroyed) this.raw.uncork()
  }

  /**
   * Starts the close handshake, bounded by `closeTimeout`: a peer that never answers the close frame would
   * otherwise hold its connection (and its `maxSessions` slot) for ws's 30 s.
   */
  close (code: number, reason?: string): void {
    if (this.socket.readyState > 1) return
    this.socket.close(code, reason)
    this.boundClose()
  }

  terminate (): void {
    this.socket.terminate()
  }

  /** ws began the close handshake itself (a frame it refused): flush, and bound the handshake by closeTimeout. */
  closing (): void {
    this.flush()
    this.boundClose()
  }

  /** A close handshake under way ends by closeTimeout at the latest. */
  private boundClose (): void {
    if (this.closeTimer === undefined && this.socket.readyState !== 3) this.closeTimer = setTimeout(terminateLate, this.closeTimeout, this)
  }

  pause (): void {
    this.socket.pause()
  }

  resume (): void {
    this.socket.resume()
  }

  /** The socket has closed: the close timer has nothing left to do. */
  closed (): void {
    if (this.closeTimer !== undefined) clearTimeout(this.closeTimer)
    this.closeTimer = undefined
  }

  ping (): boolean {
    if (this.socket.readyState !== 1) return true
    if (!this.alive) return false
    this.alive = false
    this.socket.ping()
    return true
  }

  private sendPending (): void {
    const messages = this.pending
    this.pending = []
    this.pendingBytes = 0
    // A close frame (ours after a flush, or ws's answer to the peer's) ends the data frames: the rest is moot.
    if (this.socket.readyState !== 1) return
    const framing = this.direct ? (this.serializer.binary ? binaryFrames : textFrames) : undefined
    if (!this.batched) {
      if (framing !== undefined) return writeFrames(this.raw as Socket, messages, framing)
      for (const message of messages) this.socket.send(message, this.frame)
      return
    }
    // Batched: each WebSocket message is built once, with its frame header when we frame.
    const frames = joinBatch(messages, this.serializer.binary, this.maxPayload, this.separator, framing)
    if (framing === undefined) {
      for (const frame of frames) this.socket.send(frame, this.frame)
      return
    }
    // Several WebSocket messages (the tick's messages passed maxPayload together): still one writev.
    const raw = this.raw as Socket
    if (frames.length > 1) raw.cork()
    for (const frame of frames) raw.write(frame)
    if (frames.length > 1) raw.uncork()
  }

  private overflow (size: number): void {
    this.sink?.log.warn({ bufferedBytes: this.socket.bufferedAmount, frameBytes: size, maxBufferedBytes: this.maxBuffered },
      'fastify-wamp: closing a session that does not read (outbound buffer over maxBufferedBytes)')
    this.terminate()
  }
}

/**
 * The socket reported an error (ws refused a frame and began closing with its code, or the connection failed):
 * hand what is queued to the kernel and bound the close handshake by closeTimeout — or end a socket that carries
 * no session at once.
 */
export function socketFailed (socket: WebSocket): void {
  const transport = (socket as Partial<WsWithSession>)[kTransport]
  if (transport === undefined) return socket.terminate()
  transport.closing()
}

/** Whether `socket`'s data frames can be written by lib/wire/frames.ts: a server socket without extensions. */
interface WsInternals {
  _socket?: Socket
  _extensions?: object
  _receiver?: { _skipUTF8Validation?: boolean }
}

function directFraming (socket: WebSocket): boolean {
  const internals = socket as unknown as WsInternals
  const extensions = internals._extensions
  return internals._socket !== undefined && typeof extensions === 'object' && extensions !== null && Object.keys(extensions).length === 0
}

function terminateLate (transport: SessionTransport): void {
  transport.terminate()
}

function onMessage (this: WebSocket, data: Buffer, isBinary: boolean): void {
  (this as WsWithSession)[kSession].receive(data, isBinary)
}

function onPong (this: WebSocket): void {
  (this as WsWithSession)[kTransport].alive = true
}

function onClose (this: WebSocket): void {
  (this as WsWithSession)[kTransport].closed()
  ;(this as WsWithSession)[kSession].cleanup()
}

function onError (this: WebSocket, err: Error): void {
  (this as WsWithSession)[kSession].log.debug({ err }, 'fastify-wamp: socket error')
}
