import t from 'tap'
import fc from 'fast-check'
import { batchProblem, eachInBatch, joinBatch } from '../../lib/wire/batch.js'
import { binaryFrames, textFrames } from '../../lib/wire/frames.js'

// Issue 23: the batch framing of wamp.2.<serializer>.batched (pure functions; the wire is tested in test/batched.test.ts).

/** A batch → its messages, or why its framing is broken: what the session does with one (lib/session/inbox.ts). */
function splitBatch (data: Buffer, binary: boolean): Buffer[] | string {
  const problem = batchProblem(data, binary)
  if (problem !== undefined) return problem
  const parts: Buffer[] = []
  eachInBatch(data, binary, (message) => parts.push(message) > 0)
  return parts
}

t.test('issue 23: joinBatch → splitBatch gives back the messages, in frames of at most maxPayload', async (t) => {
  fc.assert(fc.property(
    fc.boolean(),
    fc.array(fc.oneof(fc.string({ maxLength: 60 }), fc.uint8Array({ maxLength: 60 })), { minLength: 1, maxLength: 30 }),
    fc.integer({ min: 70, max: 400 }),
    (binary, raw, maxPayload) => {
      // JSON text never holds a raw 0x1e; binary messages may hold any byte.
      const messages = raw.map((m) => typeof m === 'string' ? m.split('\x1e').join('') : binary ? Buffer.from(m) : Buffer.from(m.filter((b) => b !== 0x1e)))
      const frames = joinBatch(messages, binary, maxPayload)
      const back: Buffer[] = []
      for (const frame of frames) {
        if (frame.length > maxPayload) return false
        const parts = splitBatch(frame, binary)
        if (typeof parts === 'string') return false
        back.push(...parts)
      }
      return back.length === messages.length && back.every((b, i) => b.equals(Buffer.from(messages[i])))
    }
  ))
  t.pass('round trip')
})

// A WebSocket frame header (RFC 6455 §5.2, unmasked) → [first octet, payload length, header size].
function readHeader (frame: Buffer): [number, number, number] {
  const short = frame[1]
  if (short < 126) return [frame[0], short, 2]
  if (short === 126) return [frame[0], frame.readUInt16BE(2), 4]
  return [frame[0], frame.readUInt32BE(2) * 0x100000000 + frame.readUInt32BE(6), 10]
}

t.test('issue 22: joinBatch with a framing writes each batch once, behind its WebSocket frame header', async (t) => {
  fc.assert(fc.property(
    fc.boolean(),
    fc.array(fc.oneof(fc.string({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 })), { minLength: 1, maxLength: 30 }),
    fc.integer({ min: 310, max: 3000 }),
    fc.constantFrom(0, 1, 70_000),
    (binary, raw, maxPayload, big) => {
      const messages: Array<string | Buffer> = raw.map((m) => typeof m === 'string' ? m.split('\x1e').join('') : Buffer.from(m.filter((b) => b !== 0x1e)))
      if (big > 0) messages.push('x'.repeat(big))
      const limit = Math.max(maxPayload, big + 5)
      const plain = joinBatch(messages, binary, limit)
      const framed = joinBatch(messages, binary, limit, 0x1e, binary ? binaryFrames : textFrames)
      return framed.length === plain.length && framed.every((frame, i) => {
        const [first, length, headerSize] = readHeader(frame)
        return first === (binary ? 0x82 : 0x81) && length === plain[i].length && frame.length === headerSize + length &&
          frame.subarray(headerSize).equals(plain[i])
      })
    }
  ))
  t.pass('framed batches carry the same payloads')
})

t.test('issue 23: malformed batches are named', async (t) => {
  t.equal(splitBatch(Buffer.alloc(0), false), 'empty batch')
  t.equal(splitBatch(Buffer.alloc(0), true), 'empty batch')
  t.match(splitBatch(Buffer.from('[1]'), false), /record separator/)
  t.match(splitBatch(Buffer.from([0, 0, 0]), true), /truncated/)
  t.match(splitBatch(Buffer.from([0, 0, 0, 9, 1]), true), /truncated/)
  t.same(splitBatch(Buffer.from([0, 0, 0, 0]), true), [Buffer.alloc(0)], 'an empty message is left to the decoder')
})

// The batched transports' fragment flood: a batch of millions of empty messages whose first is refused must cost one
// message, not a view made per message before the first is looked at.
t.test('eachInBatch stops where its callback does: a 4 MiB batch of empty messages, refused at the first, is visited once', async (t) => {
  for (const [binary, flood] of [[false, Buffer.alloc(4 * 1024 * 1024, 0x1e)], [true, Buffer.alloc(4 * 1024 * 1024, 0)]] as const) {
    let visited = 0
    eachInBatch(flood, binary, () => { visited++; return false })
    t.equal(visited, 1, binary ? 'binary' : 'text')
  }
})
