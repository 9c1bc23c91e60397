import t from 'tap'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { pack } from 'msgpackr'
import { WampResult } from '../index.js'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import fastifyWamp from '../index.js'
import { startApp } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import { frame, FrameClient, OP } from './helpers/ws-frames.js'
import type { FrameSpec } from './helpers/ws-frames.js'

// lib/wire/frame-reader.ts reads clients' frames off the TCP socket in place of ws's Receiver, and hands ws every
// frame it does not take. Raw frames over a real socket, cut at random TCP boundaries:
// 1. property: CALLs in text frames of every length form (7/16/64-bit, some over 64 KiB), any Unicode, pings and
//    pongs between them and between a fragmented CALL's fragments, in JSON text frames and msgpack binary ones: every
//    CALL is answered once, in order, with its own argument, and every ping with a pong of its payload, in order;
// 2. each frame the reader does not take, after one it did, meets ws's own answer (1002, 1007, 1009, the close
//    handshake) — the refusal is unchanged by the fast path.

const SEED = Number(process.env.FRAME_READER_SEED ?? 2026_12_02)
const RUNS = Number(process.env.FRAME_READER_RUNS ?? 60)
const MAX_PAYLOAD = 256 * 1024

const json = (msg: unknown[]): Buffer => Buffer.from(JSON.stringify(msg))
const text = (msg: unknown[], extra: Partial<FrameSpec> = {}): Buffer => frame({ opcode: OP.text, payload: json(msg), ...extra })
const HELLO = [MSG.HELLO, 'realm1', { roles: { caller: {} } }]

async function setup (): Promise<{ app: FastifyInstance, port: number }> {
  const { app, port } = await startApp(t, { maxPayload: MAX_PAYLOAD }, (app) => {
    app.wamp.register('echo', (args) => new WampResult(args))
  })
  return { app, port }
}

async function joined (port: number, binary = false): Promise<FrameClient> {
  const client = await FrameClient.open(port, '/ws', binary ? 'wamp.2.msgpack' : 'wamp.2.json')
  client.send(binary ? frame({ opcode: OP.binary, payload: pack(HELLO) }) : text(HELLO))
  await client.until(() => client.messages().some((m) => m[0] === MSG.WELCOME), 5000, 'WELCOME')
  return client
}

/** Writes `bytes` cut at `cuts` (fractions of its length), yielding to the event loop between the pieces. */
async function sendCut (client: FrameClient, bytes: Buffer, cuts: number[]): Promise<void> {
  const points = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].filter((p) => p > 0 && p < bytes.length).sort((a, b) => a - b)
  let from = 0
  for (const point of [...points, bytes.length]) {
    client.send(bytes.subarray(from, point))
    from = point
    await new Promise((resolve) => setImmediate(resolve))
  }
}

const { app, port } = await setup()

t.test('the reader takes over from ws on a connection without extensions, reads fragmented messages, and hands a close frame to ws', async (t) => {
  const client = await joined(port)
  const [ws] = [...app.websocketServer.clients]
  const raw = (ws as unknown as { _socket: { listeners: (e: string) => Array<{ name: string }> } })._socket
  t.notOk(raw.listeners('data').some((l) => l.name === 'socketOnData'), 'ws\'s Receiver is not fed')
  const call = json([MSG.CALL, 1, {}, 'echo', ['split']])
  client.send(frame({ opcode: OP.text, payload: call.subarray(0, 5), fin: false }))
  client.send(frame({ opcode: OP.ping, payload: Buffer.from('between') }))
  client.send(frame({ opcode: OP.continuation, payload: call.subarray(5, 9), fin: false }))
  client.send(frame({ opcode: OP.continuation, payload: call.subarray(9) }))
  client.send(text([MSG.CALL, 2, {}, 'echo', ['after']]))
  await client.until(() => client.messages().filter((m) => m[0] === MSG.RESULT).length === 2, 5000, 'two RESULTs')
  t.same(client.messages().filter((m) => m[0] === MSG.RESULT), [[MSG.RESULT, 1, {}, ['split']], [MSG.RESULT, 2, {}, ['after']]])
  t.equal(client.frames.find((f) => f.opcode === OP.pong)?.payload.toString(), 'between', 'a ping between fragments is answered')
  t.notOk(raw.listeners('data').some((l) => l.name === 'socketOnData'), 'still read here')
  client.send(frame({ opcode: OP.close, payload: Buffer.from([0x03, 0xe8]) }))
  await client.until(() => client.closeCode() !== undefined, 5000, 'the close frame')
  t.equal(client.closeCode(), 1000, 'ws answered the close handshake')
  client.destroy()
})

t.test('a frame sent one octet at a time', async (t) => {
  const client = await joined(port)
  const bytes = Buffer.concat([text([MSG.CALL, 7, {}, 'echo', ['é'.repeat(200)]], { lengthForm: 64 }), frame({ opcode: OP.ping, payload: Buffer.from('p') })])
  await sendCut(client, bytes, Array.from({ length: bytes.length }, (_, i) => i / bytes.length))
  await client.until(() => client.messages().some((m) => m[0] === MSG.RESULT) && client.frames.some((f) => f.opcode === OP.pong), 5000, 'RESULT and pong')
  t.same(client.messages().find((m) => m[0] === MSG.RESULT), [MSG.RESULT, 7, {}, ['é'.repeat(200)]])
  t.equal(client.frames.find((f) => f.opcode === OP.pong)?.payload.toString(), 'p')
  client.destroy()
})

type Item =
  | { kind: 'call', arg: string, repeat: number, form: 7 | 16 | 64, fragments: number }
  | { kind: 'ping' | 'pong', payload: Uint8Array }

const item: fc.Arbitrary<Item> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('call' as const), arg: fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.startsWith('\u0000')) /* \0… is binary in WAMP JSON */, repeat: fc.oneof({ weight: 3, arbitrary: fc.constant(1) }, fc.integer({ min: 1, max: 3000 })), form: fc.constantFrom(7 as const, 16 as const, 64 as const), fragments: fc.oneof({ weight: 6, arbitrary: fc.constant(1) }, fc.integer({ min: 2, max: 5 })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('ping' as const, 'pong' as const), payload: fc.uint8Array({ maxLength: 125 }) }) }
)

t.test('property: every CALL answered once and in order, every ping ponged, however the stream is cut', async (t) => {
  await fc.assert(fc.asyncProperty(fc.boolean(), fc.array(item, { minLength: 1, maxLength: 30, size: 'max' }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }), async (binary, items, cuts) => {
    const client = await joined(port, binary)
    const encode = binary ? (msg: unknown[]) => pack(msg) : json
    const opcode = binary ? OP.binary : OP.text
    try {
      const frames: Buffer[] = []
      const calls: Array<[number, string]> = []
      const pings: string[] = []
      for (const it of items) {
        if (it.kind !== 'call') {
          if (it.kind === 'ping') pings.push(Buffer.from(it.payload).toString('hex'))
          frames.push(frame({ opcode: it.kind === 'ping' ? OP.ping : OP.pong, payload: Buffer.from(it.payload) }))
          continue
        }
        const arg = it.arg.repeat(it.repeat)
        const id = calls.length + 1
        calls.push([id, arg])
        const payload = encode([MSG.CALL, id, {}, 'echo', [arg]])
        const form = payload.length > 65535 ? 64 : it.form === 7 && payload.length > 125 ? 16 : it.form
        if (it.fragments === 1) {
          frames.push(frame({ opcode, payload, lengthForm: form }))
          continue
        }
        const step = Math.ceil(payload.length / it.fragments)
        for (let at = 0; at < payload.length; at += step) {
          frames.push(frame({ opcode: at === 0 ? opcode : OP.continuation, payload: payload.subarray(at, at + step), fin: at + step >= payload.length }))
          if (at === 0 && id % 2 === 0) {
            pings.push(Buffer.from(`f${id}`).toString('hex'))
            frames.push(frame({ opcode: OP.ping, payload: Buffer.from(`f${id}`) }))
          }
        }
      }
      frames.push(frame({ opcode, payload: encode([MSG.GOODBYE, {}, 'wamp.close.normal']) }))
      await sendCut(client, Buffer.concat(frames), cuts)
      await client.until(() => client.messages().some((m) => m[0] === MSG.GOODBYE) || client.closed, 10_000, 'GOODBYE')
      const results = client.messages().filter((m) => m[0] === MSG.RESULT)
      const pongs = client.frames.filter((f) => f.opcode === OP.pong).map((f) => f.payload.toString('hex'))
      const answered = client.messages().filter((m) => m[0] !== MSG.WELCOME && m[0] !== MSG.RESULT && m[0] !== MSG.GOODBYE)
      if (answered.length > 0) throw new Error(`unexpected ${JSON.stringify(answered).slice(0, 300)}`)
      if (results.length !== calls.length) throw new Error(`${results.length} RESULTs for ${calls.length} CALLs`)
      results.forEach((r, i) => {
        if (r[1] !== calls[i][0] || (r[3] as string[])[0] !== calls[i][1]) throw new Error(`RESULT ${i} is ${JSON.stringify(r).slice(0, 200)}`)
      })
      if (pongs.join() !== pings.join()) throw new Error(`pongs ${pongs.join()} for pings ${pings.join()}`)
    } finally {
      client.destroy()
    }
  }), { seed: SEED, numRuns: RUNS })
  t.pass(`${RUNS} streams`)
})

// What ws answers to each frame the reader leaves to it, sent right after a CALL the reader took.
const REFUSED: Array<[string, Buffer, number]> = [
  ['an unmasked frame', text([MSG.CALL, 9, {}, 'echo', []], { masked: false }), 1002],
  ['RSV1 without permessage-deflate', text([MSG.CALL, 9, {}, 'echo', []], { rsv: 4 }), 1002],
  ['RSV2 and RSV3', text([MSG.CALL, 9, {}, 'echo', []], { rsv: 3 }), 1002],
  ['text that is not UTF-8', frame({ opcode: OP.text, payload: Buffer.from([0x5b, 0xff, 0xfe, 0x5d]) }), 1007],
  ['a frame over maxPayload', frame({ opcode: OP.binary, payload: Buffer.alloc(MAX_PAYLOAD + 1) }), 1009],
  ['a 64-bit length past 2^53', frame({ opcode: OP.binary, payload: Buffer.alloc(4), claimedLength: 2n ** 60n }), 1009],
  ['a ping of 126 octets', frame({ opcode: OP.ping, payload: Buffer.alloc(126) }), 1002],
  ['a fragmented ping', frame({ opcode: OP.ping, payload: Buffer.from('x'), fin: false }), 1002],
  ['reserved opcode 3', frame({ opcode: 3, payload: Buffer.from('x') }), 1002],
  ['reserved opcode 11', frame({ opcode: 11, payload: Buffer.from('x') }), 1002],
  ['a continuation without a start', frame({ opcode: OP.continuation, payload: Buffer.from('x') }), 1002],
  ['a close frame', frame({ opcode: OP.close, payload: Buffer.from([0x0f, 0xa0]) }), 4000]
]

// Within a fragmented message (ws has not seen its start): refused here with the code ws would have used.
const START = frame({ opcode: OP.text, payload: Buffer.from('[48,'), fin: false })
REFUSED.push(
  ['a text frame inside a fragmented message', Buffer.concat([START, text([MSG.CALL, 9, {}, 'echo', []])]), 1002],
  ['a fragmented message over maxPayload', Buffer.concat([START, frame({ opcode: OP.continuation, payload: Buffer.alloc(MAX_PAYLOAD - 2, 0x20), fin: false })]), 1009],
  ['a fragmented text that is not UTF-8', Buffer.concat([START, frame({ opcode: OP.continuation, payload: Buffer.from([0xff, 0x5d]) })]), 1007],
  ['an unmasked continuation', Buffer.concat([START, frame({ opcode: OP.continuation, payload: Buffer.from(']'), masked: false })]), 1002],
  ['RSV1 on a continuation', Buffer.concat([START, frame({ opcode: OP.continuation, payload: Buffer.from(']'), rsv: 4 })]), 1002],
  ['a ping of 126 octets inside a fragmented message', Buffer.concat([START, frame({ opcode: OP.ping, payload: Buffer.alloc(126) })]), 1002],
  ['a close frame inside a fragmented message', Buffer.concat([START, frame({ opcode: OP.close, payload: Buffer.from([0x0f, 0xa1]) })]), 4001]
)

for (const [what, bytes, code] of REFUSED) {
  t.test(`handed to ws: ${what} → close ${code}`, async (t) => {
    const client = await joined(port)
    client.send(text([MSG.CALL, 1, {}, 'echo', ['first']]))
    await client.until(() => client.messages().some((m) => m[0] === MSG.RESULT), 5000, 'RESULT')
    client.send(bytes)
    await client.until(() => client.closeCode() !== undefined, 5000, 'the close frame')
    t.equal(client.closeCode(), code)
    client.destroy()
  })
}

t.test('with permessage-deflate, ws reads and writes every frame: 200 calls in one tick, large and small, all answered in order', async (t) => {
  const deflating = Fastify({ logger: false })
  await deflating.register(websocket, { options: { perMessageDeflate: { threshold: 64 } } })
  await deflating.register(fastifyWamp, { path: '/ws', shutdownGrace: 500 })
  deflating.wamp.register('echo', (args) => new WampResult(args))
  await deflating.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => { await deflating.close() })
  const address = deflating.server.address() as { port: number }
  const { client } = await connectRaw(`ws://127.0.0.1:${address.port}/ws`, { wsOptions: { perMessageDeflate: true } })
  const [ws] = [...deflating.websocketServer.clients]
  t.ok(Object.keys((ws as unknown as { _extensions: object })._extensions).length > 0, 'permessage-deflate was negotiated')
  const raw = (ws as unknown as { _socket: { listeners: (e: string) => Array<{ name: string }> } })._socket
  t.ok(raw.listeners('data').some((l) => l.name === 'socketOnData'), 'ws\'s Receiver reads')
  const args = Array.from({ length: 200 }, (_, i) => i % 3 === 0 ? 'z'.repeat(5000 + i) : `small ${i}`)
  args.forEach((arg, i) => client.send([MSG.CALL, i + 1, {}, 'echo', [arg]]))
  const results: unknown[][] = []
  for (let i = 0; i < args.length; i++) results.push(await client.nextOfType(MSG.RESULT))
  t.same(results, args.map((arg, i) => [MSG.RESULT, i + 1, {}, [arg]]))
  await client.close()
})
