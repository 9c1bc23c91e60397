import t from 'tap'
import fc from 'fast-check'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import WebSocket, { WebSocketServer } from 'ws'
import { connect, createServer } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import fastifyWamp from '../../index.js'
import { binaryFrames, textFrames, writeFrames } from '../../lib/wire/frames.js'
import { FrameDecoder, FrameType, rawSocketFrames } from '../../lib/wire/rawsocket-framing.js'
import { connectRaw, MSG } from '../helpers/raw-client.js'

// The server's own WebSocket data frames (lib/wire/frames.ts; RawSocket's are read back in test/rawsocket*.test.ts), read back by ws's client parser, which checks every header
// bit, the length encodings (7-bit, 16-bit, 64-bit) and that text frames are UTF-8.

interface Pair { server: WebSocket, client: WebSocket, received: Array<{ data: Buffer, binary: boolean }>, close: () => Promise<void> }

async function pair (): Promise<Pair> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false })
  await new Promise((resolve) => wss.once('listening', resolve))
  const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve))
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`)
  const received: Pair['received'] = []
  client.on('message', (data: Buffer, binary: boolean) => received.push({ data, binary }))
  await new Promise((resolve, reject) => { client.once('open', resolve); client.once('error', reject) })
  const server = await accepted
  return {
    server,
    client,
    received,
    close: async () => {
      client.terminate()
      await new Promise((resolve) => wss.close(resolve))
    }
  }
}

async function until (check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setImmediate(resolve))
}

// Sizes at the edges of each length encoding and of the copy limit (16 KiB), and small ones.
const size = fc.oneof(
  fc.integer({ min: 0, max: 130 }),
  fc.constantFrom(125, 126, 127, 16383, 16384, 16385, 65535, 65536, 65537, 70000),
  fc.integer({ min: 0, max: 20000 })
)
const payload = fc.oneof(
  size.map((n) => 'x'.repeat(n)),
  fc.tuple(size, fc.string({ unit: 'binary', maxLength: 8 })).map(([n, s]) => 'y'.repeat(n) + s),
  size.map((n) => Buffer.alloc(n, n & 0xff))
)

t.test('frames written by writeFrames are read back by ws exactly, in order, whatever their sizes', async (t) => {
  const p = await pair()
  t.teardown(p.close)
  const raw = (p.server as unknown as { _socket: Socket })._socket
  await fc.assert(fc.asyncProperty(fc.boolean(), fc.array(payload, { minLength: 1, maxLength: 12 }), async (binary, payloads) => {
    // A text frame carries text; a binary one carries any bytes.
    const sent = payloads.map((x) => binary || typeof x === 'string' ? x : x.toString('latin1'))
    p.received.length = 0
    raw.cork()
    writeFrames(raw, sent, binary ? binaryFrames : textFrames)
    raw.uncork()
    await until(() => p.received.length === sent.length)
    return p.received.every((m, i) => m.binary === binary && m.data.equals(Buffer.from(sent[i])))
  }), { numRuns: 150 })
  t.equal(p.client.readyState, WebSocket.OPEN, 'the client found no framing error')
})

t.test('RawSocket frames written by writeFrames are cut back into the same messages by FrameDecoder', async (t) => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve))
  const reader = connect((server.address() as AddressInfo).port, '127.0.0.1')
  const writer = await accepted
  t.teardown(() => { reader.destroy(); writer.destroy(); server.close() })
  const decoder = new FrameDecoder(2 ** 24)
  const received: Buffer[] = []
  reader.on('data', (chunk: Buffer) => {
    decoder.push(chunk)
    while (decoder.next()) if (decoder.type === FrameType.message) received.push(Buffer.from(decoder.payload))
  })
  await fc.assert(fc.asyncProperty(fc.array(payload, { minLength: 1, maxLength: 12 }), async (payloads) => {
    received.length = 0
    writer.cork()
    writeFrames(writer, payloads, rawSocketFrames)
    writer.uncork()
    await until(() => received.length === payloads.length || decoder.error !== undefined)
    return decoder.error === undefined && received.every((m, i) => m.equals(Buffer.from(payloads[i])))
  }), { numRuns: 100 })
})

t.test('through the plugin: results of every length encoding reach the client; and with permessage-deflate negotiated (framed by ws then)', async (t) => {
  for (const deflate of [false, true]) {
    const app = Fastify({ logger: false })
    if (deflate) await app.register(websocket, { options: { perMessageDeflate: true } })
    await app.register(fastifyWamp)
    app.wamp.register('com.example.text', (args) => 'é'.repeat(args[0] as number))
    await app.listen({ port: 0, host: '127.0.0.1' })
    t.teardown(() => app.close())
    const url = `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}/ws`
    const { client } = await connectRaw(url, { wsOptions: { perMessageDeflate: deflate } })
    t.equal(client.ws.extensions, deflate ? 'permessage-deflate' : '', deflate ? 'deflate negotiated' : 'no extension')
    const lengths = [0, 60, 63, 100, 20000, 40000]
    for (const [i, n] of lengths.entries()) client.send([MSG.CALL, i + 1, {}, 'com.example.text', [n]])
    for (const [i, n] of lengths.entries()) t.same(await client.next(), [MSG.RESULT, i + 1, {}, ['é'.repeat(n)]], `${n} × 2 bytes${deflate ? ', deflated' : ''}`)
    await client.close()
  }
})

t.test('FrameDecoder: frames pushed in reads of any size, down to an octet, come back whole; an incomplete frame holds at most twice what arrived', async (t) => {
  const frames = fc.array(fc.record({ type: fc.integer({ min: 0, max: 2 }), payload: fc.uint8Array({ maxLength: 3000, size: 'max' }) }), { minLength: 1, maxLength: 8 })
  const reads = fc.array(fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 900 })), { minLength: 1, maxLength: 30 })
  fc.assert(fc.property(frames, reads, (list, cuts) => {
    const stream = Buffer.concat(list.flatMap(({ type, payload }) => {
      const head = Buffer.alloc(4)
      head.writeUInt32BE(((type & 0x07) << 24) | payload.length)
      return [head, Buffer.from(payload)]
    }))
    const decoder = new FrameDecoder(2 ** 24)
    const internals = decoder as unknown as { chunks: Buffer[], room: Buffer | undefined }
    const out: Array<{ type: number, payload: number[] }> = []
    let at = 0
    let arrived = 0 // octets pushed since the decoder last held nothing
    for (let i = 0; at < stream.length; i++) {
      const size = cuts[i % cuts.length]
      decoder.push(stream.subarray(at, at + size))
      at += size
      arrived += Math.min(size, stream.length - at + size)
      while (decoder.next()) out.push({ type: decoder.type, payload: [...decoder.payload] })
      const held = internals.chunks.reduce((sum, c) => sum + (c.buffer === internals.room?.buffer ? 0 : c.length), internals.room?.length ?? 0)
      if (internals.chunks.length > 9 || held > 2 * arrived + 4096) return false
      if (decoder.buffered === 0) arrived = 0
    }
    return decoder.error === undefined && decoder.buffered === 0 && JSON.stringify(out) === JSON.stringify(list.map((f) => ({ type: f.type, payload: [...f.payload] })))
  }), { numRuns: 300 })
  t.pass('300 streams')
})
