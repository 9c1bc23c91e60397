import type { Socket } from 'node:net'

// Outgoing frames of a flush, written together: all the frames a session sent in one tick go into one Buffer and one
// write for the kernel, with none of the per-frame cost of a stream write (or of ws's sender: an options object, a
// header buffer and two stream writes per frame). Payloads above COPY_LIMIT go by reference after their header, so a
// large event is not copied once per subscriber. A `Framing` says how one message is framed: WebSocket data frames
// (RFC 6455 §5.2: FIN set, unmasked, no extension) or RawSocket's length prefix.
//
// On WebSocket this is used only where that framing is exactly what ws would write: no extension negotiated
// (permessage-deflate would set RSV1 and compress). Control frames (ping, pong, close) stay with ws: they may come
// between two data frames, and every close goes out after a flush.

/** How a transport frames one message: its header's size for `size` payload octets, and writing it at `at`. */
export interface Framing {
  headerSize (size: number): number
  /** Writes the header of a `size`-octet payload at `at`; returns where the payload starts. */
  writeHeader (out: Buffer, at: number, size: number): number
}

const COPY_LIMIT = 16 * 1024

let sizes = new Array<number>(64)

/** Writes `payloads` to `raw` as frames of `framing`, in order. */
export function writeFrames (raw: Socket, payloads: ReadonlyArray<string | Buffer>, framing: Framing): void {
  const count = payloads.length
  if (sizes.length < count) sizes = new Array<number>(count * 2)
  let total = 0
  for (let i = 0; i < count; i++) {
    const p = payloads[i]
    const size = typeof p === 'string' ? Buffer.byteLength(p) : p.length
    sizes[i] = size
    total += framing.headerSize(size) + (size > COPY_LIMIT ? 0 : size)
  }
  const out = Buffer.allocUnsafe(total)
  let at = 0
  let from = 0
  for (let i = 0; i < count; i++) {
    const p = payloads[i]
    const size = sizes[i]
    at = framing.writeHeader(out, at, size)
    if (size > COPY_LIMIT) {
      raw.write(out.subarray(from, at))
      if (typeof p === 'string') raw.write(p, 'utf8')
      else raw.write(p)
      from = at
    } else if (typeof p === 'string') {
      at += out.write(p, at, size, 'utf8')
    } else {
      at += p.copy(out, at)
    }
  }
  if (at > from) raw.write(from === 0 ? out : out.subarray(from, at))
}

/** WebSocket data frames with `opcode` (FIN set): 2, 4 or 10 header octets by payload size (RFC 6455 §5.2). */
function webSocketFraming (opcode: number): Framing {
  return {
    headerSize: (size) => size < 126 ? 2 : size < 65536 ? 4 : 10,
    writeHeader (out, at, size) {
      out[at] = opcode
      if (size < 126) {
        out[at + 1] = size
        return at + 2
      }
      if (size < 65536) {
        out[at + 1] = 126
        out.writeUInt16BE(size, at + 2)
        return at + 4
      }
      out[at + 1] = 127
      out.writeUInt32BE(Math.floor(size / 0x100000000), at + 2)
      out.writeUInt32BE(size >>> 0, at + 6)
      return at + 10
    }
  }
}

export const textFrames = webSocketFraming(0x81)
export const binaryFrames = webSocketFraming(0x82)
