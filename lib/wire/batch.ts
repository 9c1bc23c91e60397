import type { Framing } from './frames.js'

// WAMP-over-Batched-WebSocket (wamp.2.<serializer>.batched): several WAMP messages in one WebSocket message.
// Text serializers end each message with the ASCII record separator 0x1e (JSON text cannot contain it unescaped);
// binary serializers put each message after its length, 4 octets big-endian. A single message is a batch of one;
// an empty batch is a protocol violation.
//
// autobahn-python (and Crossbar.io) write the separator as b'\30', which Python reads as octal: 0x18, not the spec's
// 0x1e. JSON text can hold neither unescaped, so the last byte of a batch tells which one its sender uses; the
// session answers with the separator its peer last used (the client always speaks first, with HELLO).

/** The spec's record separator (ASCII RS). */
export const SEPARATOR = 0x1e
/** The separator autobahn-python uses (ASCII CAN). */
export const AUTOBAHN_SEPARATOR = 0x18
const PREFIX = 4

/** The framing bytes each message costs in a batch. */
export function batchOverhead (binary: boolean): number {
  return binary ? PREFIX : 1
}

/** Why a batch's framing is broken (its messages are the decoder's business), or undefined; copies nothing. */
export function batchProblem (data: Buffer, binary: boolean): string | undefined {
  if (data.length === 0) return 'empty batch'
  if (!binary) {
    const separator = data[data.length - 1]
    return separator !== SEPARATOR && separator !== AUTOBAHN_SEPARATOR ? 'batch does not end with a record separator (0x1e)' : undefined
  }
  for (let at = 0; at < data.length;) {
    if (data.length - at < PREFIX) return `batch truncated: ${data.length - at} byte(s) where a 4-byte length belongs`
    const length = data.readUInt32BE(at)
    at += PREFIX
    if (length > data.length - at) return `batch truncated: a message of ${length} bytes announced, ${data.length - at} left`
    at += length
  }
  return undefined
}

/**
 * The messages of a batch whose framing is sound (`batchProblem`), one at a time (views into `data`), for as long as
 * `each` returns true: a batch of a million empty messages costs one view when the first is refused, not a million.
 */
export function eachInBatch (data: Buffer, binary: boolean, each: (message: Buffer) => boolean): void {
  if (!binary) {
    const separator = data[data.length - 1]
    for (let start = 0; start < data.length;) {
      const end = data.indexOf(separator, start)
      if (!each(data.subarray(start, end))) return
      start = end + 1
    }
    return
  }
  for (let at = 0; at < data.length;) {
    const length = data.readUInt32BE(at)
    at += PREFIX
    if (!each(data.subarray(at, at + length))) return
    at += length
  }
}

/**
 * Messages encoded for one peer → the WebSocket messages that carry them, in order, each at most `maxPayload`
 * bytes (a message is assumed to fit alone, framing included: the sender checked). One allocation per frame; with
 * `framing`, each begins with its frame header, ready for the socket.
 */
export function joinBatch (messages: ReadonlyArray<string | Buffer>, binary: boolean, maxPayload: number,
  separator = SEPARATOR, framing?: Framing): Buffer[] {
  const overhead = batchOverhead(binary)
  const sizes = new Array<number>(messages.length)
  const frames: Buffer[] = []
  let first = 0
  let total = 0
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]
    const size = (typeof m === 'string' ? Buffer.byteLength(m) : m.length) + overhead
    sizes[i] = size
    if (total + size > maxPayload && i > first) {
      frames.push(fill(messages, sizes, first, i, total, binary, separator, framing))
      first = i
      total = 0
    }
    total += size
  }
  if (messages.length > first) frames.push(fill(messages, sizes, first, messages.length, total, binary, separator, framing))
  return frames
}

function fill (messages: ReadonlyArray<string | Buffer>, sizes: number[], from: number, to: number, total: number,
  binary: boolean, separator: number, framing: Framing | undefined): Buffer {
  const frame = Buffer.allocUnsafe(total + (framing === undefined ? 0 : framing.headerSize(total)))
  let at = framing === undefined ? 0 : framing.writeHeader(frame, 0, total)
  for (let i = from; i < to; i++) {
    const m = messages[i]
    const length = sizes[i] - (binary ? PREFIX : 1)
    if (binary) {
      frame.writeUInt32BE(length, at)
      at += PREFIX
    }
    if (typeof m === 'string') frame.write(m, at, 'utf8')
    else m.copy(frame, at)
    at += length
    if (!binary) frame[at++] = separator
  }
  return frame
}
