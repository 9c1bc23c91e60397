import type { Framing } from './frames.js'

// WAMP-over-RawSocket framing (rfc/text/advanced/transport_rawsocket.md), pure: the 4-octet handshake and the
// 4-octet frame prefix `RRRR XTTT LLLL…` (reserved bits, the 25th length bit X, the 3-bit type, a 24-bit length).

export const MAGIC = 0x7f

/** Frame types (TTT). */
export const FrameType = { message: 0, ping: 1, pong: 2 } as const

/** Handshake error codes (the upper 4 bits of the reply's second octet). */
export const HandshakeError = {
  serializerUnsupported: 1,
  maxLengthUnacceptable: 2,
  reservedBits: 3,
  maxConnections: 4
} as const

/** Serializer ids of the handshake → our serializer ids. */
export const SERIALIZER_IDS: Readonly<Record<number, string>> = { 1: 'json', 2: 'msgpack', 3: 'cbor' }

export const MIN_LENGTH = 2 ** 9
export const MAX_LENGTH = 2 ** 24

export interface HandshakeRequest {
  /** Our id for the serializer asked for ('json', …), or undefined for an id we do not know. */
  serializer: string | undefined
  /** The 4-bit serializer id as sent (echoed in the reply). */
  serializerId: number
  /** Largest message the client accepts, in octets (2^9 … 2^24). */
  maxLength: number
}

/**
 * A client's 4 handshake octets → what it asks for; a HandshakeError code when it uses reserved bits; -1 when
 * the first octet is not the magic 0x7F (not RawSocket at all: fail the connection without a reply).
 */
export function parseHandshake (octets: Buffer): HandshakeRequest | number {
  if (octets[0] !== MAGIC) return -1
  if (octets[2] !== 0 || octets[3] !== 0) return HandshakeError.reservedBits
  const serializerId = octets[1] & 0x0f
  return { serializer: SERIALIZER_IDS[serializerId], serializerId, maxLength: 2 ** ((octets[1] >> 4) + 9) }
}

/** The router's success reply: the serializer echoed, and the largest message it accepts (a power of two). */
export function handshakeReply (serializerId: number, maxLength: number): Buffer {
  return Buffer.from([MAGIC, (lengthExponent(maxLength) << 4) | serializerId, 0, 0])
}

export function handshakeErrorReply (code: number): Buffer {
  return Buffer.from([MAGIC, code << 4, 0, 0])
}

/** The LENGTH field for a power of two in [2^9, 2^24]. */
export function lengthExponent (maxLength: number): number {
  return Math.log2(maxLength) - 9
}

/** The largest length a RawSocket handshake can announce that is at most `bytes` (at least 2^9, at most 2^24). */
export function announceableLength (bytes: number): number {
  if (bytes >= MAX_LENGTH) return MAX_LENGTH
  if (bytes <= MIN_LENGTH) return MIN_LENGTH
  return 2 ** Math.floor(Math.log2(bytes))
}

/** Writes the 4-octet prefix of a frame of `type` whose payload is `length` octets (≤ 2^24) at `at`. */
export function writePrefix (target: Buffer, at: number, type: number, length: number): void {
  // Exactly 2^24 octets: the X bit set, the 24 length bits clear.
  target.writeUInt32BE(length === MAX_LENGTH ? ((type | 0x08) << 24) >>> 0 : ((type << 24) | length) >>> 0, at)
}

/** Message frames for lib/wire/frames.ts: each payload after its 4-octet prefix. */
export const rawSocketFrames: Framing = {
  headerSize: () => 4,
  writeHeader (out, at, size) {
    writePrefix(out, at, FrameType.message, size)
    return at + 4
  }
}

/**
 * Cuts an octet stream into frames. Pull-based, so the caller's loop needs no callback: `push` a chunk, then call
 * `next()` until it returns false; after each true, `type` and `payload` hold the frame (a view into the chunk when
 * the frame lies in one, else a copy). After false, `error` says why when the stream broke the framing rules.
 */
export class FrameDecoder {
  type: number
  payload: Buffer
  error: string | undefined
  private readonly maxLength: number
  private readonly chunks: Buffer[]
  /**
   * Where a frame arriving in many reads is gathered: once more than GATHER reads wait, they are copied into one
   * buffer of twice their size, and later reads into its free room (doubling again when full). A peer trickling a
   * frame an octet per read holds at most twice what it sent, not a Buffer object per read.
   */
  private room: Buffer | undefined
  /** Offset into chunks[0] of the first unread octet. */
  private offset: number
  private available: number
  /** The length of the frame whose prefix was read, -1 when the next octets are a prefix. */
  private length: number

  constructor (maxLength: number) {
    this.type = 0
    this.payload = EMPTY
    this.error = undefined
    this.maxLength = maxLength
    this.chunks = []
    this.room = undefined
    this.offset = 0
    this.available = 0
    this.length = -1
  }

  /** Octets received but not yet returned as frames. */
  get buffered (): number {
    return this.available
  }

  push (chunk: Buffer): void {
    if (chunk.length === 0 || this.error !== undefined) return
    this.available += chunk.length
    const last = this.chunks.length - 1
    const room = this.room
    if (room !== undefined && last >= 0 && this.chunks[last].buffer === room.buffer && this.chunks[last].length + chunk.length <= room.length) {
      const used = this.chunks[last].length
      chunk.copy(room, used)
      this.chunks[last] = room.subarray(0, used + chunk.length)
      return
    }
    this.chunks.push(chunk)
    if (this.chunks.length > GATHER) this.gather()
  }

  /** Copies every unread octet into one buffer with as much room again. */
  private gather (): void {
    const size = this.available
    const room = Buffer.allocUnsafe(Math.max(2 * size, 4096)) // ≥ 4 KiB: never a slice of Node's shared pool
    let at = 0
    for (let i = 0; i < this.chunks.length; i++) {
      const from = i === 0 ? this.offset : 0
      at += this.chunks[i].copy(room, at, from)
    }
    this.chunks.length = 0
    this.chunks.push(room.subarray(0, size))
    this.offset = 0
    this.room = room
  }

  next (): boolean {
    if (this.error !== undefined) return false
    if (this.length < 0) {
      if (this.available < 4) return false
      const prefix = this.take(4).readUInt32BE(0)
      const high = prefix >>> 24
      let length = prefix & 0xffffff
      if ((high & 0xf0) !== 0) return this.fail('reserved bits set in a frame prefix')
      const type = high & 0x07
      if (type > FrameType.pong) return this.fail(`frame type ${type} is reserved`)
      if ((high & 0x08) !== 0) {
        if (length !== 0) return this.fail('the 25th length bit is set with a non-zero length')
        length = MAX_LENGTH
      }
      if (length > this.maxLength) return this.fail(`a frame of ${length} octets exceeds the maximum length of ${this.maxLength}`)
      this.type = type
      this.length = length
    }
    if (this.available < this.length) return false
    this.payload = this.take(this.length)
    this.length = -1
    return true
  }

  private fail (message: string): false {
    this.error = message
    this.chunks.length = 0
    this.room = undefined
    this.available = 0
    return false
  }

  private take (n: number): Buffer {
    this.available -= n
    const first = this.chunks[0]
    if (n === 0) return EMPTY
    if (first.length - this.offset >= n) {
      const view = first.subarray(this.offset, this.offset + n)
      this.offset += n
      if (this.offset === first.length) this.shift()
      return view
    }
    const out = Buffer.allocUnsafe(n)
    let at = 0
    while (at < n) {
      const chunk = this.chunks[0]
      const count = Math.min(n - at, chunk.length - this.offset)
      chunk.copy(out, at, this.offset, this.offset + count)
      at += count
      this.offset += count
      if (this.offset === chunk.length) this.shift()
    }
    return out
  }

  private shift (): void {
    this.chunks.shift()
    this.offset = 0
    if (this.chunks.length === 0) this.room = undefined
  }
}

/** Reads of one incomplete frame kept as they came, before they are gathered into one buffer. */
const GATHER = 8

const EMPTY = Buffer.alloc(0)
