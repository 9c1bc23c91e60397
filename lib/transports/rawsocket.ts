import { createServer as createTcpServer } from 'node:net'
import type { AddressInfo, Server, Socket } from 'node:net'
import { createServer as createTlsServer } from 'node:tls'
import type { FastifyBaseLogger } from 'fastify'
import type { Serializer } from '../wire/serializers/index.js'
import { fitsIn } from '../wire/transport.js'
import type { SessionTransport, TransportKind, TransportSink } from '../wire/transport.js'
import { FrameDecoder, FrameType, handshakeErrorReply, HandshakeError, handshakeReply, parseHandshake, rawSocketFrames, writePrefix } from '../wire/rawsocket-framing.js'
import { writeFrames } from '../wire/frames.js'
import { flushSoon } from '../wire/flush-queue.js'
import { kTransport } from '../symbols.js'
import type { Hub } from '../hub.js'
import type { NormalizedRawSocketOptions } from './rawsocket-options.js'

// WAMP-over-RawSocket (rfc/text/advanced/transport_rawsocket.md): an opt-in TCP, TLS or Unix-socket listener. Each
// connection does the 4-octet handshake here, then becomes a SessionTransport of an ordinary session (same realms,
// limits, authentication, shutdown). Frames are length-prefixed; a message per frame, never batched. RawSocket has
// no close codes: closing is ending the TCP stream.

const HANDSHAKING = 0
const OPEN = 1
const ENDED = 2

type RawSocket = Socket & { [kTransport]: RawSocketTransport }

export class RawSocketTransport implements SessionTransport {
  readonly kind: TransportKind
  readonly socket: Socket
  serializer: Serializer
  readonly batched: boolean
  readonly textChecked: boolean
  separator: number
  bytesIn: number
  bytesOut: number
  alive: boolean
  private readonly server: RawSocketServer
  private phase: number
  /** Handshake octets received so far (at most 4 are needed). */
  private head: Buffer
  private decoder: FrameDecoder | undefined
  private binary: boolean
  /** The largest message we may send: the client's announced length, and maxPayload. */
  private room: number
  private corked: boolean
  /** The messages written this tick (framed together at the flush, lib/wire/frames.ts), and their size. */
  private pending: Array<string | Buffer>
  private pendingBytes: number
  private timer: NodeJS.Timeout | undefined
  private sink: TransportSink | undefined
  /** PONGs written and not yet handed to the kernel, and what counts them down (made at the first PING). */
  private pongs: number
  private pongWritten: (() => void) | undefined

  constructor (socket: Socket, server: RawSocketServer) {
    this.kind = 'rawsocket'
    this.socket = socket
    this.serializer = server.placeholder
    this.batched = false
    this.textChecked = false
    this.separator = 0
    this.bytesIn = 0
    this.bytesOut = 0
    this.alive = true
    this.server = server
    this.phase = HANDSHAKING
    this.head = EMPTY
    this.decoder = undefined
    this.binary = false
    this.room = 0
    this.corked = false
    this.pending = []
    this.pendingBytes = 0
    this.timer = server.handshakeTimeout > 0 ? setTimeout(handshakeTimedOut, server.handshakeTimeout, this) : undefined
    this.sink = undefined
    this.pongs = 0
    this.pongWritten = undefined
    ;(socket as RawSocket)[kTransport] = this
    server.connections.add(this)
    socket.on('data', onData)
    socket.on('close', onClose)
    socket.on('error', onError)
  }

  get remoteAddress (): string | undefined {
    return this.socket.remoteAddress
  }

  get handshaking (): boolean {
    return this.phase === HANDSHAKING
  }

  get open (): boolean {
    return this.phase === OPEN && this.socket.writable
  }

  get buffered (): number {
    return this.socket.writableLength + this.pendingBytes
  }

  attach (sink: TransportSink): void {
    this.sink = sink
  }

  fits (data: string | Buffer): boolean {
    return fitsIn(data, this.room)
  }

  write (data: string | Buffer): boolean {
    if (!this.open) return false
    const socket = this.socket
    if (socket.writableLength + this.pendingBytes + data.length > this.server.maxBufferedBytes) {
      this.sink?.log.warn({ bufferedBytes: socket.writableLength + this.pendingBytes, frameBytes: data.length, maxBufferedBytes: this.server.maxBufferedBytes },
        'fastify-wamp: closing a session that does not read (outbound buffer over maxBufferedBytes)')
      this.terminate()
      return false
    }
    this.cork()
    this.bytesOut += data.length
    this.pending.push(data)
    this.pendingBytes += data.length
    return true
  }

  flush (): void {
    if (!this.corked) return
    this.corked = false
    const messages = this.pending
    if (messages.length > 0) {
      this.pending = []
      this.pendingBytes = 0
      if (!this.socket.destroyed) writeFrames(this.socket, messages, rawSocketFrames)
    }
    if (!this.socket.destroyed) this.socket.uncork()
  }

  /** Ends the stream (RawSocket has no close codes); one not closed by the peer within closeTimeout is destroyed. */
  close (): void {
    if (this.phase === ENDED) return
    this.phase = ENDED
    this.flush()
    this.socket.end()
    this.clearTimer()
    if (!this.socket.destroyed) this.timer = setTimeout(terminateLate, this.server.closeTimeout, this)
  }

  terminate (): void {
    this.phase = ENDED
    this.socket.destroy()
  }

  pause (): void {
    this.socket.pause()
  }

  resume (): void {
    this.socket.resume()
  }

  ping (): boolean {
    // Without RawSocket pings (the default), TCP keepalive probes watch the connection.
    if (!this.server.options.ping || !this.open) return true
    if (!this.alive) return false
    this.alive = false
    this.cork()
    this.socket.write(PING)
    return true
  }

  /** Octets from the socket: the handshake first, then frames. */
  received (chunk: Buffer): void {
    if (this.phase === HANDSHAKING) {
      this.head = this.head.length === 0 ? chunk : Buffer.concat([this.head, chunk])
      if (this.head.length < 4) return
      const rest = this.head.subarray(4)
      if (!this.handshake(this.head.subarray(0, 4))) return
      this.head = EMPTY
      chunk = rest
    }
    if (this.phase !== OPEN) return
    const decoder = this.decoder as FrameDecoder
    decoder.push(chunk)
    while (decoder.next()) {
      this.alive = true
      if (decoder.type === FrameType.message) (this.sink as TransportSink).receive(decoder.payload, this.binary)
      else if (decoder.type === FrameType.ping) this.pong(decoder.payload)
      // A violation (or a fault of ours) has closed the transport: the rest is moot.
      if (this.phase !== OPEN) return
    }
    if (decoder.error !== undefined) (this.sink as TransportSink).violation(decoder.error)
  }

  /** The socket has closed, whichever way: the session cleans up (once). */
  closed (): void {
    this.phase = ENDED
    this.clearTimer()
    this.server.connections.delete(this)
    this.sink?.cleanup()
  }

  get log (): FastifyBaseLogger {
    return this.sink?.log ?? this.server.log
  }

  private handshake (octets: Buffer): boolean {
    const request = parseHandshake(octets)
    if (request === -1) return this.refuse(0, 'not a RawSocket handshake (first octet is not 0x7F)')
    if (typeof request === 'number') return this.refuse(request, 'reserved handshake octets are not zero')
    const serializer = request.serializer === undefined ? undefined : this.server.serializers.get(request.serializer)
    if (serializer === undefined) return this.refuse(HandshakeError.serializerUnsupported, `serializer id ${request.serializerId} is not spoken here`)
    const hub = this.server.hub
    if (hub.full || hub.shuttingDown) return this.refuse(HandshakeError.maxConnections, hub.full ? 'maxSessions reached' : 'shutting down')
    this.clearTimer()
    this.serializer = serializer
    this.binary = serializer.binary
    this.room = Math.min(request.maxLength, this.server.maxPayload)
    this.decoder = new FrameDecoder(this.server.options.maxMessageLength)
    this.phase = OPEN
    this.socket.setNoDelay(true)
    if (hub.options.pingInterval > 0) this.socket.setKeepAlive(true, hub.options.pingInterval)
    this.socket.write(handshakeReply(request.serializerId, this.server.options.maxMessageLength))
    hub.open(this)
    return true
  }

  /** A handshake error reply (none when the peer is not speaking RawSocket at all), then the connection ends. */
  private refuse (code: number, reason: string): false {
    this.server.log.debug({ remoteAddress: this.socket.remoteAddress, reason }, 'fastify-wamp: RawSocket handshake refused')
    this.clearTimer()
    this.phase = ENDED
    if (code === 0) {
      this.socket.destroy()
      return false
    }
    this.socket.end(handshakeErrorReply(code))
    this.timer = setTimeout(terminateLate, this.server.closeTimeout, this)
    return false
  }

  private pong (payload: Buffer): void {
    if (!this.open) return
    // A peer that PINGs without reading its PONGs is bounded like one that does not read its messages: by octets,
    // and by PONGs not yet handed to the kernel (each costs far more than its octets), as ws bounds its auto-pongs
    // (maxPendingAutoPongs). The PONG is a copy: a view of the PING would pin the whole read it came in (64 KiB for
    // a 1-octet PING), which maxBufferedBytes does not see.
    if (this.pongs >= MAX_PENDING_PONGS || this.socket.writableLength + 4 + payload.length > this.server.maxBufferedBytes) return this.terminate()
    this.cork()
    const frame = Buffer.allocUnsafe(4 + payload.length)
    writePrefix(frame, 0, FrameType.pong, payload.length)
    payload.copy(frame, 4)
    this.pongs++
    this.socket.write(frame, this.pongWritten ??= () => { this.pongs-- })
  }

  private cork (): void {
    if (this.corked) return
    this.corked = true
    this.socket.cork()
    flushSoon(this)
  }

  private clearTimer (): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }
}

/** The listener: accepts connections, owns them until their session takes over, stops and closes with the app. */
export class RawSocketServer {
  readonly hub: Hub
  readonly options: NormalizedRawSocketOptions
  readonly serializers: Map<string, Serializer>
  /** Every connection of the listener, in its handshake or with a session (which the hub owns and shuts down). */
  readonly connections: Set<RawSocketTransport>
  readonly log: FastifyBaseLogger
  readonly maxPayload: number
  readonly maxBufferedBytes: number
  readonly closeTimeout: number
  /** Milliseconds a connection has to complete its handshake: helloTimeout (10 s when that is 0). */
  readonly handshakeTimeout: number
  /** The serializer of a connection before its handshake chose one. */
  readonly placeholder: Serializer
  private readonly server: Server
  /** Every accepted socket, TLS ones still in their TLS handshake included: cut at close. */
  private readonly sockets: Set<Socket>

  constructor (hub: Hub, options: NormalizedRawSocketOptions, serializers: Map<string, Serializer>) {
    this.hub = hub
    this.options = options
    this.serializers = serializers
    this.connections = new Set()
    this.log = hub.log
    this.maxPayload = hub.options.maxPayload
    this.maxBufferedBytes = hub.options.maxBufferedBytes
    this.closeTimeout = hub.options.closeTimeout
    this.handshakeTimeout = hub.options.helloTimeout > 0 ? hub.options.helloTimeout : 10_000
    this.placeholder = serializers.values().next().value as Serializer
    this.sockets = new Set()
    this.server = options.tls === undefined
      ? createTcpServer({ noDelay: true }, (socket) => this.accept(socket))
      // The TLS handshake is bounded like the RawSocket one (tls's own default is 120 s).
      : createTlsServer({ handshakeTimeout: this.handshakeTimeout, ...options.tls }, (socket) => this.accept(socket))
    // Connections still in their handshake are not sessions yet: without a cap, idle TCP connections could hold
    // sockets (file descriptors) beyond maxSessions until the handshake timeout. Past 2 × maxSessions, Node drops them.
    this.server.maxConnections = 2 * hub.options.maxSessions
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket)
      socket.once('close', () => this.sockets.delete(socket))
    })
    this.server.on('tlsClientError', (err: Error, socket: Socket) => {
      this.log.debug({ err, remoteAddress: socket.remoteAddress }, 'fastify-wamp: RawSocket TLS handshake failed')
      socket.destroy()
    })
  }

  /** Starts listening (resolves once bound; rejects with the listen error, e.g. EADDRINUSE). */
  listen (): Promise<void> {
    const { port, host, path } = this.options
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(path !== undefined ? { path } : { port, host }, () => {
        this.server.off('error', reject)
        this.server.on('error', (err) => this.log.error({ err }, 'fastify-wamp: RawSocket listener error'))
        resolve()
      })
    })
  }

  address (): AddressInfo | string | null {
    return this.server.address()
  }

  /** Stops accepting connections and cuts the ones still in their handshake; sessions end with the hub's shutdown. */
  stop (): void {
    if (this.server.listening) this.server.close()
    for (const transport of this.connections) if (transport.handshaking) transport.terminate()
  }

  /** After the hub's shutdown: cuts what is left and resolves once the listener is closed. */
  async close (): Promise<void> {
    this.stop()
    for (const transport of this.connections) transport.terminate()
    for (const socket of this.sockets) socket.destroy()
    if (this.server.listening) await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private accept (socket: Socket): void {
    new RawSocketTransport(socket, this) // eslint-disable-line no-new
  }
}

const EMPTY = Buffer.alloc(0)
const PING = Buffer.from([FrameType.ping, 0, 0, 0])
/** PONGs that may wait for the kernel at once (ws's maxPendingAutoPongs default): past it the peer is not reading. */
const MAX_PENDING_PONGS = 60

function terminateLate (transport: RawSocketTransport): void {
  transport.terminate()
}

function handshakeTimedOut (transport: RawSocketTransport): void {
  transport.log.debug({ remoteAddress: transport.remoteAddress }, 'fastify-wamp: RawSocket handshake not completed in time')
  transport.terminate()
}

function onData (this: Socket, chunk: Buffer): void {
  (this as RawSocket)[kTransport].received(chunk)
}

function onClose (this: Socket): void {
  (this as RawSocket)[kTransport].closed()
}

function onError (this: Socket, err: Error): void {
  (this as RawSocket)[kTransport].log.debug({ err }, 'fastify-wamp: RawSocket connection error')
}
