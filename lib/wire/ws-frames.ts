import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'

// Server → client WebSocket data frames written straight to the TCP socket (RFC 6455 §5.2: FIN set, unmasked, no
// extension), all the frames of one flush in one Buffer: one write for the kernel, and none of the per-frame cost
// of ws's sender (an options object, a header buffer and two stream writes per frame). Payloads above COPY_LIMIT go
// by reference after their header, so a large event is not copied once per subscriber.
// Used only on connections where that framing is exactly what ws would write: no extension negotiated
// (permessage-deflate would set RSV1 and compress). Control frames (ping, pong, close) stay with ws: they may come
// between two data frames, and every close goes out after a flush.

const COPY_LIMIT = 16 * 1024
const TEXT_FIN = 0x81
const BINARY_FIN = 0x82

/** Whether `socket`'s frames can be written by `writeFrames`: an open server socket without extensions. */
export function directFraming (socket: WebSocket): boolean {
  const internals = socket as unknown as { _socket?: Socket, _extensions?: object }
  const extensions = internals._extensions
  return internals._socket !== undefined && typeof extensions === 'object' && extensions !== null && Object.keys(extensions).length === 0
}

let sizes = new Array<number>(64)

/** Writes `payloads` as complete data frames (text or binary) to `raw`, in order. */
export function writeFrames (raw: Socket, payloads: ReadonlyArray<string | Buffer>, binary: boolean): void {
  const count = payloads.length
  if (sizes.length < count) sizes = new Array<number>(count * 2)
  let total = 0
  for (let i = 0; i < count; i++) {
    const p = payloads[i]
    const size = typeof p === 'string' ? Buffer.byteLength(p) : p.length
    sizes[i] = size
    total += headerSize(size) + (size > COPY_LIMIT ? 0 : size)
  }
  const out = Buffer.allocUnsafe(total)
  const opcode = binary ? BINARY_FIN : TEXT_FIN
  let at = 0
  let from = 0
  for (let i = 0; i < count; i++) {
    const p = payloads[i]
    const size = sizes[i]
    at = writeHeader(out, at, opcode, size)
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

function headerSize (size: number): number {
  return size < 126 ? 2 : size < 65536 ? 4 : 10
}

function writeHeader (out: Buffer, at: number, opcode: number, size: number): number {
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
