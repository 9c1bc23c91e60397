import { isUtf8 } from 'node:buffer'
import type { EventEmitter } from 'node:events'
import type { Socket } from 'node:net'
import { endianness } from 'node:os'
import type { WebSocket } from 'ws'

// Reads a client's WebSocket frames straight off the TCP socket, for the frames nearly all traffic is made of:
// masked text and binary frames (fragmented or not) within maxPayload, pings and pongs. ws's Receiver is a Writable
// stream: per read a trip through the stream machinery, per frame ~1 KB of Buffer views, state and events
// (BENCHMARKS.md, "allocation per call"), and every read kept as its own Buffer until its frame is whole. Here the
// header is read in place, the unmasked payload leaves as the WebSocket's 'message' event, as ws's own, and a frame
// or message arriving in many reads is gathered in one buffer grown by doubling.
//
// Anything else — a close frame, a reserved bit or opcode, an unmasked or oversize frame, text that is not UTF-8, a
// continuation with no message to continue — goes to ws's Receiver from that frame's first byte on, for good: its
// refusals (1002, 1007, 1009) and the close handshake stay ws's own. Within a fragmented message, which ws has not
// seen, such a frame is refused by handing ws a frame it refuses with the same code (a close frame still goes to ws
// as it is): ws then closes as after its own refusals, ending the TCP connection once its close frame is out. Pings
// and pongs are handed to the Receiver's own events, so ws answers pings as it would have.

/** The parts of ws's WebSocket and Receiver this reads: checked at attach, else ws reads as before. */
interface WsInternals extends EventEmitter {
  close (code: number): void
  _socket?: Socket
  _receiver?: ReceiverInternals
}

interface ReceiverInternals extends EventEmitter {
  _state: number
  _bufferedBytes: number
  _fragmented: number
  _maxPayload: number
}

/**
 * A frame ws's Receiver refuses with each code, first of all it reads: a continuation with no message to continue;
 * a masked text frame holding 0xFF; a 64-bit length past 2^53.
 */
const REFUSED = {
  1002: [0x80, 0x80, 0, 0, 0, 0],
  1007: [0x81, 0x81, 0, 0, 0, 0, 0xff],
  1009: [0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0]
}

/** Unmasking a payload this long or longer goes word by word (a typed-array view costs more than it saves below). */
const WORDWISE = 512
const LITTLE_ENDIAN = endianness() === 'LE'

/**
 * Takes over reading `socket`'s frames when ws's Receiver has not read anything yet and its internals are the ones
 * this module knows (ws 8); returns whether it did. Call it only for a connection without extensions.
 */
export function readFramesDirectly (socket: WebSocket): boolean {
  const ws = socket as unknown as WsInternals
  const raw = ws._socket
  const receiver = ws._receiver
  if (raw === undefined || receiver === undefined) return false
  if (receiver._state !== 0 || receiver._bufferedBytes !== 0 || receiver._fragmented !== 0 || typeof receiver._maxPayload !== 'number') return false
  const listeners = raw.listeners('data')
  if (listeners.length !== 1 || listeners[0].name !== 'socketOnData') return false
  const wsOnData = listeners[0] as (chunk: Buffer) => void
  ;(raw as ReadSocket)[kReader] = new FrameReader(ws, raw, receiver, wsOnData)
  raw.removeListener('data', wsOnData)
  raw.on('data', onData)
  // ws reads what the socket still holds when it closes: read it here first, while the frame boundary is ours.
  raw.prependListener('close', onClose)
  return true
}

const kReader = Symbol('fastify-wamp.frameReader')
type ReadSocket = Socket & { [kReader]: FrameReader }

// Defined once: the socket finds its reader through the symbol, so no closure is made per connection.
function onData (this: Socket, chunk: Buffer): void {
  (this as ReadSocket)[kReader].read(chunk)
}

function onClose (this: Socket): void {
  (this as ReadSocket)[kReader].drain()
}

class FrameReader {
  private readonly wsOnData: (chunk: Buffer) => void
  private readonly ws: WsInternals
  private readonly socket: Socket
  private readonly receiver: ReceiverInternals
  private readonly maxPayload: number
  /**
   * An incomplete frame's octets so far, from its first: the rest of a read, then a buffer grown by doubling. A peer
   * trickling a frame an octet per read holds at most twice what it sent, not a Buffer object per read.
   */
  private part: Buffer | undefined
  private partBytes: number
  /** The whole incomplete frame's size, once its header is in (0 before). */
  private need: number
  /** A fragmented message in progress: its opcode (1 text, 2 binary; 0 none), its octets so far, their count. */
  private fragmented: number
  private message: Buffer | undefined
  private messageBytes: number
  private reading: boolean

  constructor (ws: WsInternals, socket: Socket, receiver: ReceiverInternals, wsOnData: (chunk: Buffer) => void) {
    this.ws = ws
    this.socket = socket
    this.receiver = receiver
    this.wsOnData = wsOnData
    this.maxPayload = receiver._maxPayload > 0 ? receiver._maxPayload : Number.MAX_SAFE_INTEGER
    this.part = undefined
    this.partBytes = 0
    this.need = 0
    this.fragmented = 0
    this.message = undefined
    this.messageBytes = 0
    this.reading = true
  }

  read (chunk: Buffer): void {
    if (this.part !== undefined) {
      this.part = roomFor(this.part, this.partBytes, chunk.length, this.need)
      chunk.copy(this.part, this.partBytes)
      this.partBytes += chunk.length
      if (this.partBytes < this.need) return
      chunk = this.part.subarray(0, this.partBytes)
      this.part = undefined
      this.partBytes = 0
    }
    this.need = 0
    const end = chunk.length
    let at = 0
    while (end - at >= 2) {
      const b0 = chunk[at]
      const b1 = chunk[at + 1]
      const fin = (b0 & 0x80) !== 0
      const opcode = b0 & 0x0f
      const data = opcode <= 2
      // Taken: no reserved bit, masked; a text or binary frame, or a continuation while a message is in progress;
      // a final ping or pong.
      if ((b0 & 0x70) !== 0 || (b1 & 0x80) === 0 || (data ? (opcode === 0) !== (this.fragmented !== 0) : !fin || (opcode !== 9 && opcode !== 10))) {
        return this.notTaken(chunk, at, opcode, 1002)
      }
      let length = b1 & 0x7f
      let header = 6
      if (length === 126) {
        if (end - at < 4) break
        length = chunk.readUInt16BE(at + 2)
        header = 8
      } else if (length === 127) {
        if (end - at < 10) break
        length = chunk.readUInt32BE(at + 2) !== 0 ? Infinity : chunk.readUInt32BE(at + 6)
        header = 14
      }
      if (!data && header !== 6) return this.notTaken(chunk, at, opcode, 1002)
      if (data && this.messageBytes + length > this.maxPayload) return this.notTaken(chunk, at, opcode, 1009)
      if (end - at < header + length) {
        this.need = header + length
        break
      }
      const start = at + header
      const payload = chunk.subarray(start, start + length)
      unmask(payload, chunk, start - 4)
      if (opcode === 1 && fin && !isUtf8(payload)) {
        unmask(payload, chunk, start - 4) // masked again, as ws expects it
        return this.handOver(chunk, at)
      }
      at = start + length
      if (!data) this.receiver.emit(opcode === 9 ? 'ping' : 'pong', payload)
      else if (fin && opcode !== 0) this.ws.emit('message', payload, opcode === 2)
      else if (!this.fragment(payload, opcode, fin)) return
      // The session may have ended the connection while handling the frame: the rest is moot.
      if (this.socket.destroyed) return
    }
    if (at < end) {
      this.part = chunk.subarray(at)
      this.partBytes = end - at
    }
  }

  /**
   * A fragment of a message, gathered in one buffer grown by doubling; the last one emits the message. False when
   * the connection was refused (a fragmented text that is not UTF-8).
   */
  private fragment (payload: Buffer, opcode: number, fin: boolean): boolean {
    if (opcode !== 0) this.fragmented = opcode
    this.message = roomFor(this.message, this.messageBytes, payload.length, this.maxPayload)
    payload.copy(this.message, this.messageBytes)
    this.messageBytes += payload.length
    if (!fin) return true
    const message = this.message.subarray(0, this.messageBytes)
    const binary = this.fragmented === 2
    this.message = undefined
    this.messageBytes = 0
    this.fragmented = 0
    if (!binary && !isUtf8(message)) {
      this.refuse(1007)
      return false
    }
    this.ws.emit('message', message, binary)
    return true
  }

  /**
   * A frame this reader does not take. Between messages ws's Receiver reads from it on, and answers as it would
   * have; within a fragmented message (which ws has not seen) a close frame still goes to ws, anything else is
   * refused with the code ws would have used.
   */
  private notTaken (chunk: Buffer, at: number, opcode: number, code: 1002 | 1007 | 1009): void {
    if (this.fragmented === 0 || opcode === 8) return this.handOver(chunk, at)
    this.refuse(code)
  }

  /**
   * Refuses the connection by ws's own hand: its Receiver is given a frame it refuses with `code`, and does what it
   * does after any refusal (stops reading, closes with `code`, emits 'error', ends the socket once its close frame
   * is out rather than waiting closeTimeout for the peer's).
   */
  private refuse (code: 1002 | 1007 | 1009): void {
    this.detach()
    this.wsOnData.call(this.socket, Buffer.from(REFUSED[code]))
  }

  /** From the frame at `at` on, ws's Receiver reads this connection. */
  private handOver (chunk: Buffer, at: number): void {
    this.detach()
    this.socket.on('data', this.wsOnData)
    this.wsOnData.call(this.socket, chunk.subarray(at))
  }

  private detach (): void {
    this.reading = false
    this.message = undefined
    this.socket.removeListener('data', onData)
    this.socket.removeListener('close', onClose)
  }

  /** The socket has closed: what it still holds is read now, before ws's own close listener reads it. */
  drain (): void {
    let chunk: Buffer | null
    while (this.reading && !this.socket.readableEnded && (chunk = this.socket.read() as Buffer | null) !== null) this.read(chunk)
  }
}

/**
 * `buffer` (holding `used` octets) with room for `extra` more: itself, or a copy grown by doubling — not past `cap`
 * (the frame's or the message's size bound) unless `extra` needs it. A peer trickling a frame an octet per read
 * thus holds at most twice what it sent, not a Buffer object per read.
 */
function roomFor (buffer: Buffer | undefined, used: number, extra: number, cap: number): Buffer {
  const size = used + extra
  if (buffer !== undefined && size <= buffer.length) return buffer
  const grown = Buffer.allocUnsafe(Math.max(size, Math.min(2 * (buffer?.length ?? 0), cap)))
  buffer?.copy(grown, 0, 0, used)
  return grown
}

/** XORs `data` with the 4-octet mask at `frame[maskAt]`, in place. */
function unmask (data: Buffer, frame: Buffer, maskAt: number): void {
  const length = data.length
  let i = 0
  if (length >= WORDWISE) {
    // Up to the first 4-aligned octet byte by byte, then 32-bit words with the mask rotated to match.
    const lead = (4 - (data.byteOffset & 3)) & 3
    for (; i < lead; i++) data[i] ^= frame[maskAt + (i & 3)]
    const words = (length - lead) >>> 2
    const m0 = frame[maskAt + (lead & 3)]
    const m1 = frame[maskAt + ((lead + 1) & 3)]
    const m2 = frame[maskAt + ((lead + 2) & 3)]
    const m3 = frame[maskAt + ((lead + 3) & 3)]
    const word = LITTLE_ENDIAN ? m0 | (m1 << 8) | (m2 << 16) | (m3 << 24) : (m0 << 24) | (m1 << 16) | (m2 << 8) | m3
    const view = new Uint32Array(data.buffer, data.byteOffset + lead, words)
    for (let w = 0; w < words; w++) view[w] ^= word
    i = lead + words * 4
  } else {
    const m0 = frame[maskAt]
    const m1 = frame[maskAt + 1]
    const m2 = frame[maskAt + 2]
    const m3 = frame[maskAt + 3]
    for (; i + 3 < length; i += 4) {
      data[i] ^= m0
      data[i + 1] ^= m1
      data[i + 2] ^= m2
      data[i + 3] ^= m3
    }
  }
  for (; i < length; i++) data[i] ^= frame[maskAt + (i & 3)]
}
