import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import type { FastifyInstance } from 'fastify'
import fastifyWamp, { WampResult } from '../index.js'
import { internal, startApp } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import { frame, FrameClient, OP } from './helpers/ws-frames.js'
import { connectRawSocket } from './helpers/rawsocket-client.js'
import * as lp from './helpers/longpoll-client.js'
import type { FrameSpec } from './helpers/ws-frames.js'

// Attacks on the inbound WebSocket path (lib/wire/frame-reader.ts and ws behind it), over real sockets with raw
// frames: every refusal ends the connection as ws's own would, every valid stream is read whole.

const MAX_PAYLOAD = 64 * 1024

const json = (msg: unknown[]): Buffer => Buffer.from(JSON.stringify(msg))
const text = (msg: unknown[], extra: Partial<FrameSpec> = {}): Buffer => frame({ opcode: OP.text, payload: json(msg), ...extra })
const HELLO = [MSG.HELLO, 'realm1', { roles: { caller: {} } }]

// closeTimeout far beyond every wait below: a connection that ends, ends because the server ended it, not its timer.
const { port } = await startApp(t, { maxPayload: MAX_PAYLOAD, maxBufferedBytes: MAX_PAYLOAD, closeTimeout: 60_000 }, (app: FastifyInstance) => {
  app.wamp.register('echo', (args) => new WampResult(args))
})

async function joined (): Promise<FrameClient> {
  const client = await FrameClient.open(port)
  client.send(text(HELLO))
  await client.until(() => client.messages().some((m) => m[0] === MSG.WELCOME), 5000, 'WELCOME')
  return client
}

const START = frame({ opcode: OP.text, payload: Buffer.from('[48,'), fin: false })

// ws ends the TCP connection as soon as its close frame for a refused frame is out (the peer's answer is not
// awaited: the stream past a broken frame is unreadable). A refusal made by the reader must do the same.
const REFUSED: Array<[string, Buffer, number]> = [
  ['text that is not UTF-8 (ws refuses)', frame({ opcode: OP.text, payload: Buffer.from([0x5b, 0xff, 0x5d]) }), 1007],
  ['a fragmented text that is not UTF-8', Buffer.concat([START, frame({ opcode: OP.continuation, payload: Buffer.from([0xff, 0x5d]) })]), 1007],
  ['a fragmented text with a UTF-16 surrogate in UTF-8', Buffer.concat([START, frame({ opcode: OP.continuation, payload: Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22, 0x5d]) })]), 1007],
  ['a fragmented text with an overlong encoding', Buffer.concat([START, frame({ opcode: OP.continuation, payload: Buffer.from([0x22, 0xc0, 0xaf, 0x22, 0x5d]) })]), 1007],
  ['a fragmented text past U+10FFFF', Buffer.concat([START, frame({ opcode: OP.continuation, payload: Buffer.from([0x22, 0xf4, 0x90, 0x80, 0x80, 0x22, 0x5d]) })]), 1007],
  ['a text frame inside a fragmented message', Buffer.concat([START, text([MSG.CALL, 9, {}, 'echo', []])]), 1002],
  ['a fragmented message over maxPayload', Buffer.concat([START, frame({ opcode: OP.continuation, payload: Buffer.alloc(MAX_PAYLOAD - 2, 0x20), fin: false })]), 1009],
  ['a 64-bit length with its high bit set inside a fragmented message', Buffer.concat([START, frame({ opcode: OP.continuation, payload: Buffer.alloc(4), claimedLength: 2n ** 63n })]), 1009],
  ['an unmasked continuation', Buffer.concat([START, frame({ opcode: OP.continuation, payload: Buffer.from(']'), masked: false })]), 1002],
  ['a fragmented ping inside a fragmented message', Buffer.concat([START, frame({ opcode: OP.ping, payload: Buffer.from('x'), fin: false })]), 1002]
]

for (const [what, bytes, code] of REFUSED) {
  t.test(`${what} → close ${code}, and the server ends the connection without waiting for the peer`, async (t) => {
    const client = await joined()
    client.send(bytes)
    await client.until(() => client.closed, 5000, 'the server to end the connection')
    t.equal(client.closeCode(), code)
    t.notOk(client.messages().some((m) => m[0] === MSG.RESULT), 'nothing was answered')
  })
}

// A multi-octet character may be split over fragments (only the whole message must be UTF-8), and a frame may be
// split over reads anywhere: every split point of a CALL holding 2-, 3- and 4-octet characters, a ping between the
// fragments, the whole stream written an octet at a time.
t.test('valid UTF-8 split across fragments at every octet, the stream cut at every octet: every CALL answered intact', async (t) => {
  const client = await joined()
  const arg = 'é€😀'
  const frames: Buffer[] = []
  const payload = (id: number): Buffer => json([MSG.CALL, id, {}, 'echo', [arg]])
  const count = payload(100).length - 1
  for (let at = 1; at <= count; at++) {
    const bytes = payload(100 + at)
    frames.push(frame({ opcode: OP.text, payload: bytes.subarray(0, at), fin: false }))
    frames.push(frame({ opcode: OP.ping, payload: Buffer.from(String(at)) }))
    frames.push(frame({ opcode: OP.continuation, payload: bytes.subarray(at, at), fin: false }))
    frames.push(frame({ opcode: OP.continuation, payload: bytes.subarray(at) }))
  }
  const stream = Buffer.concat(frames)
  for (let i = 0; i < stream.length; i++) {
    client.send(stream.subarray(i, i + 1))
    if (i % 16 === 0) await new Promise((resolve) => setImmediate(resolve))
  }
  await client.until(() => client.messages().filter((m) => m[0] === MSG.RESULT).length === count || client.closed, 10_000, 'every RESULT')
  const results = client.messages().filter((m) => m[0] === MSG.RESULT)
  t.same(results.map((r) => r[1]), Array.from({ length: count }, (_, i) => 101 + i), 'each CALL answered once, in order')
  t.ok(results.every((r) => (r[3] as string[])[0] === arg), 'every argument intact')
  t.equal(client.frames.filter((f) => f.opcode === OP.pong).length, count, 'every ping ponged')
  t.notOk(client.closed)
  client.destroy()
})

// ws answers every ping with a pong, outside the session's writes and so outside maxBufferedBytes; the reader hands
// pings to ws's Receiver events, so ws's own bound (maxPendingAutoPongs) still ends a peer that reads none of them.
t.test('a peer flooding pings while reading nothing is cut off', async (t) => {
  const client = await joined()
  client.socket.pause()
  const pings = Buffer.concat(Array.from({ length: 1000 }, () => frame({ opcode: OP.ping, payload: Buffer.alloc(125, 0x61) })))
  let sent = 0
  while (!client.closed && sent < 256 * 1024 * 1024) {
    const room = client.socket.write(pings)
    sent += pings.length
    if (!room) await new Promise((resolve) => client.socket.once('drain', resolve).once('close', resolve))
  }
  t.ok(client.closed, `the server ended the connection (after ${sent} octets of pings)`)
})

// An async authorization pauses the transport: the reader must stop taking frames off the socket (TCP back-pressure
// reaches the peer), hold at most what one read brought, and go on in order once the decision is made.
t.test('while an async authorization decides, the reader stops reading: what the server holds stays bounded, and every CALL is then answered in order', async (t) => {
  let open: () => void = () => {}
  const gate = new Promise<void>((resolve) => { open = resolve })
  let first = true
  const { app, port } = await startApp(t, {
    maxPayload: MAX_PAYLOAD,
    // The client reads its RESULTs in this same process, in bursts: room enough that none of them is a slow reader.
    maxBufferedBytes: 64 * 1024 * 1024,
    authorize: async () => {
      if (first) { first = false; await gate }
      return true
    }
  }, (app: FastifyInstance) => { app.wamp.register('echo', (args) => new WampResult(args)) })
  const client = await FrameClient.open(port)
  client.send(text(HELLO))
  await client.until(() => client.messages().some((m) => m[0] === MSG.WELCOME), 5000, 'WELCOME')
  const session = internal([...app.wamp.sessions.values()][0])
  const raw = (session.transport as unknown as { raw: import('node:net').Socket }).raw
  const arg = 'x'.repeat(MAX_PAYLOAD - 100)
  const calls = Buffer.concat(Array.from({ length: 256 }, (_, i) => text([MSG.CALL, i + 1, {}, 'echo', [arg]])))
  client.send(calls)
  await client.until(() => session.held !== undefined, 10_000, 'the session to be held')
  t.ok(raw.isPaused(), 'the socket is paused')
  const atHold = raw.bytesRead
  // The client goes on writing meanwhile (16 MiB: more than loopback's buffers take); give it many turns to.
  for (let i = 0; i < 200; i++) await new Promise((resolve) => setImmediate(resolve))
  const more = raw.bytesRead - atHold
  t.ok(more <= 256 * 1024, `the server read ${more} octets more while held (${raw.bytesRead} of ${calls.length})`)
  const held = (session.held?.length ?? 0) / 2
  t.ok(held <= 2, `${held} messages held`)
  open()
  await client.until(() => client.closed || client.messages().filter((m) => m[0] === MSG.RESULT).length === 256, 20_000, '256 RESULTs')
  t.notOk(client.closed, 'the connection is still open')
  t.same(client.messages().filter((m) => m[0] === MSG.RESULT).map((m) => m[1]), Array.from({ length: 256 }, (_, i) => i + 1))
  client.destroy()
})

// JSON is UTF-8 text: a WebSocket text frame that is not UTF-8 is refused (1007). The other transports carry JSON
// as bytes; bytes that are not UTF-8 (a stray 0xFF, an encoded surrogate, an overlong form) must be refused there
// too, never read as U+FFFD and passed on altered.
const NOT_UTF8 = [[0xff], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]]
const callWith = (bytes: number[]): Buffer => Buffer.concat([Buffer.from('[48,7,{},"echo",["'), Buffer.from(bytes), Buffer.from('"]]')])

t.test('JSON over RawSocket that is not UTF-8 → ABORT protocol_violation, nothing else answered', async (t) => {
  const { app } = await startApp(t, { rawsocket: { port: 0, host: '127.0.0.1' } }, (app: FastifyInstance) => {
    app.wamp.register('echo', (args) => new WampResult(args))
  })
  const { port } = app.wamp.rawsocketAddress() as import('node:net').AddressInfo
  for (const bytes of NOT_UTF8) {
    const { client } = await connectRawSocket({ port })
    client.sendFrame(0, callWith(bytes))
    const msg = await client.next()
    t.match(msg, [MSG.ABORT, { message: /UTF-8/ }, 'wamp.error.protocol_violation'], bytes.join(' '))
    await client.expectEnd()
  }
})

t.test('JSON over long-poll that is not UTF-8 → ABORT protocol_violation, nothing else answered', async (t) => {
  const { app } = await startApp(t, { longPoll: true }, (app: FastifyInstance) => {
    app.wamp.register('echo', (args) => new WampResult(args))
  })
  const base = `http://127.0.0.1:${(app.server.address() as import('node:net').AddressInfo).port}/lp`
  for (const protocol of ['wamp.2.json', 'wamp.2.json.batched']) {
    for (const bytes of NOT_UTF8) {
      const session = await lp.open(base, [protocol])
      await lp.send(session, [MSG.HELLO, 'realm1', { roles: lp.HELLO_ROLES }])
      t.equal((await lp.receiveMessages(session, 1))[0][0], MSG.WELCOME)
      const body = protocol.endsWith('batched') ? Buffer.concat([callWith(bytes), Buffer.from([0x1e])]) : callWith(bytes)
      await lp.post(`${base}/${session.transport}/send`, body)
      const answer = await lp.receiveMessages(session, 1)
      t.match(answer, [[MSG.ABORT, { message: /UTF-8/ }, 'wamp.error.protocol_violation']], `${protocol}: ${bytes.join(' ')}`)
      await lp.close(session)
    }
  }
})

// An app may register @fastify/websocket itself with ws's skipUTF8Validation: ws then reads text unchecked (and the
// frame reader hands ws what it finds is not UTF-8), so the session checks it.
t.test('@fastify/websocket with skipUTF8Validation: JSON text that is not UTF-8 is still refused, with and without permessage-deflate', async (t) => {
  const app = Fastify({ logger: false })
  await app.register(websocket, { options: { skipUTF8Validation: true, perMessageDeflate: { threshold: 0 } } })
  await app.register(fastifyWamp, { path: '/ws', shutdownGrace: 100 })
  app.wamp.register('echo', (args) => new WampResult(args))
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => { await app.close() })
  const url = `ws://127.0.0.1:${(app.server.address() as import('node:net').AddressInfo).port}/ws`
  for (const deflate of [false, true]) {
    for (const bytes of NOT_UTF8) {
      const { client } = await connectRaw(url, { wsOptions: { perMessageDeflate: deflate } })
      client.sendRaw(callWith(bytes), false)
      t.match(await client.next(), [MSG.ABORT, { message: /UTF-8/ }, 'wamp.error.protocol_violation'], `deflate ${deflate}: ${bytes.join(' ')}`)
      t.equal((await client.expectClose()).code, 1002)
    }
  }
})

// Frames the reader takes whose content is not a WAMP message: ABORT protocol_violation, then close 1002.
const NOT_WAMP: Array<[string, Buffer]> = [
  ['a text frame with a BOM', frame({ opcode: OP.text, payload: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json([MSG.CALL, 1, {}, 'echo', []])]) })],
  ['an empty text frame', frame({ opcode: OP.text, payload: Buffer.alloc(0) })],
  ['a fragmented message of empty fragments', Buffer.concat([frame({ opcode: OP.text, payload: Buffer.alloc(0), fin: false }), frame({ opcode: OP.continuation, payload: Buffer.alloc(0) })])],
  ['a binary frame on wamp.2.json', frame({ opcode: OP.binary, payload: json([MSG.CALL, 1, {}, 'echo', []]) })]
]
for (const [what, bytes] of NOT_WAMP) {
  t.test(`${what} → ABORT protocol_violation, close 1002, nothing after`, async (t) => {
    const client = await joined()
    client.send(Buffer.concat([bytes, text([MSG.CALL, 2, {}, 'echo', []])]))
    await client.until(() => client.closeCode() !== undefined, 5000, 'the close frame')
    t.match(client.messages().slice(1), [[MSG.ABORT, {}, 'wamp.error.protocol_violation']])
    t.equal(client.messages().length, 2, 'the ABORT, and nothing after it')
    t.equal(client.closeCode(), 1002)
  })
}

t.test('frames after a close frame, in the same read, are not read', async (t) => {
  const client = await joined()
  client.send(Buffer.concat([frame({ opcode: OP.close, payload: Buffer.from([0x03, 0xe8]) }), text([MSG.CALL, 3, {}, 'echo', []]), Buffer.from([0x81, 0xfe])]))
  await client.until(() => client.closed, 5000, 'the end')
  t.equal(client.closeCode(), 1000)
  t.same(client.messages().slice(1), [], 'nothing answered')
})
