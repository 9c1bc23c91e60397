import t from 'tap'
import fc from 'fast-check'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { WampError, WampResult } from '../index.js'
import { startApp, sleep, until, hubOf } from './helpers/app.js'
import { MSG, STREAMING_HELLO_DETAILS } from './helpers/raw-client.js'
import { openSocket, prefix, RawSocketClient, SERIALIZER_IDS } from './helpers/rawsocket-client.js'
import type { RawSocketSerializer, Target } from './helpers/rawsocket-client.js'
import { withinBaseline } from './helpers/resources.js'

// Issue 23: the fuzz and exactly-once properties of the WebSocket transport (test/fuzz.test.ts,
// test/exactly-once-property.test.ts), run over a real TCP RawSocket listener.
// 1. Hostile input — random handshakes, valid/mutated/garbage frames in json/msgpack/cbor, reserved frame types and
//    bits, oversize lengths, PINGs, all cut at random TCP boundaries: the server answers only with well-formed
//    RawSocket frames (each within the length the client announced) carrying valid WAMP server messages, or ABORT
//    protocol_violation then the end of the stream; no internal fault is logged; nothing is left behind.
// 2. Exactly once — random CALLs (immediate, delayed, failing, progressive, abortable), CANCELs in every mode,
//    timeouts, and GOODBYE or a dropped connection at a random point: each request id gets at most one terminal
//    message, exactly one when the session lives until it settles, nothing after GOODBYE/ABORT; no call left in flight.
// Seeds are fixed (RAWSOCKET_FUZZ_SEED), so a failure replays.

const SEED = Number(process.env.RAWSOCKET_FUZZ_SEED ?? 23_2026)
const FUZZ_RUNS = Number(process.env.RAWSOCKET_FUZZ_RUNS ?? 800)
const ONCE_RUNS = Number(process.env.RAWSOCKET_ONCE_RUNS ?? 40)
const MAX_PAYLOAD = 64 * 1024 // → the server announces 2^16 octets
const PROBE = 2 ** 53 - 1
const RAW = { port: 0, host: '127.0.0.1' }
const HELLO_DETAILS = { roles: { caller: { features: { call_canceling: true, progressive_call_results: true } }, callee: {}, publisher: {}, subscriber: {} } }

type Dict = Record<string, unknown>

function targetOf (app: FastifyInstance): Target {
  return { port: (app.wamp.rawsocketAddress() as AddressInfo).port }
}

async function leavesNothing (t: Test, app: FastifyInstance, baseline: string[]): Promise<void> {
  await until(() => app.wamp.connections === 0 && hubOf(app).stats().sessions === 0, 5000, 'every connection and session to be gone')
  t.equal(app.wamp.sessions.size, 0, 'no session is left')
  t.equal(hubOf(app).stats().callsInFlight, 0, 'no call is left in flight')
  await until(() => withinBaseline(baseline), 5000, 'no timer or socket beyond the baseline').catch((err: Error) => {
    err.message += `: ${baseline.join(', ')} before, ${process.getActiveResourcesInfo().sort().join(', ')} after`
    throw err
  })
  t.pass('no timer or handle beyond the baseline')
}

const json = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x))?.slice(0, 300) ?? String(v)

// ---- 1. hostile input ----------------------------------------------------------------------------------------------

type Chunk = { kind: 'msg', msg: unknown } | { kind: 'bytes', data: Buffer }
interface Scenario {
  serializer: RawSocketSerializer
  /** undefined: the valid default; a number: valid with that max-length nibble; octets: as given. */
  handshake: number[] | number | undefined
  hello: Chunk | undefined
  body: Chunk[]
  cuts: number[]
  /** Octets cut off the end of the stream (0: none): the server waits for the rest until the client leaves. */
  truncate: number
  destroy: boolean
}

const scalar = fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 20 }), fc.boolean(), fc.constant(null),
  fc.constantFrom(2 ** 53, 2 ** 64, -1, 0, 0.5, 1e308))
const value: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: scalar, weight: 10 },
  { arbitrary: fc.array(scalar, { maxLength: 4 }), weight: 2 },
  { arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), scalar, { maxKeys: 4 }), weight: 2 },
  { arbitrary: fc.constantFrom('x'.repeat(1000), 'ü'.repeat(2000)), weight: 1 }
)
const args = fc.option(fc.array(value, { maxLength: 3 }), { nil: undefined })
const requestId = fc.oneof({ arbitrary: fc.integer({ min: 1, max: 10 }), weight: 8 }, { arbitrary: fc.constantFrom(0, 2 ** 53), weight: 1 })
const procedure = fc.constantFrom('p.ping', 'p.echo', 'p.fail', 'p.wampfail', 'p.progress', 'p.wait', 'p.big', 'p.medium', 'no.such', 'a..b', '')
const withArgs = (head: unknown[], a: unknown[] | undefined): unknown[] => (a === undefined ? head : [...head, a])

const validMessage: fc.Arbitrary<unknown[]> = fc.oneof(
  { arbitrary: fc.tuple(requestId, fc.constantFrom<Dict>({}, { receive_progress: true }, { timeout: 5 }, { timeout: 1, receive_progress: true }), procedure, args).map(([id, o, p, a]) => withArgs([MSG.CALL, id, o, p], a)), weight: 10 },
  { arbitrary: fc.tuple(requestId, fc.constantFrom('skip', 'kill', 'killnowait', 'bogus')).map(([id, mode]) => [MSG.CANCEL, id, { mode }]), weight: 3 },
  { arbitrary: fc.tuple(requestId, fc.constantFrom('client.a', 'client.b', 'x..y')).map(([id, u]) => [MSG.REGISTER, id, {}, u]), weight: 2 },
  { arbitrary: fc.tuple(requestId, fc.constantFrom({}, { acknowledge: true }), fc.constantFrom('t.a', 't.b', 'a b'), args).map(([id, o, tp, a]) => withArgs([MSG.PUBLISH, id, o, tp], a)), weight: 3 },
  { arbitrary: fc.tuple(requestId, fc.constantFrom('t.a', 't.b', 'a..b')).map(([id, tp]) => [MSG.SUBSCRIBE, id, {}, tp]), weight: 3 },
  { arbitrary: fc.tuple(fc.integer({ min: 1, max: 5 }), args).map(([id, a]) => withArgs([MSG.YIELD, id, {}], a)), weight: 2 },
  { arbitrary: fc.constant<unknown[]>([MSG.GOODBYE, {}, 'wamp.close.close_realm']), weight: 1 }
)
const hostile = fc.constantFrom<unknown[]>(
  [MSG.ABORT, {}, 'wamp.close.system_shutdown'], [MSG.CALL, 1, { progress: true }, 'p.echo'], [MSG.HELLO, 'realm1', HELLO_DETAILS], [MSG.WELCOME, 1, {}],
  [MSG.RESULT, 1, {}], [MSG.INVOCATION, 1, 1, {}], [MSG.AUTHENTICATE, 'x', {}], [7], [0], [-1], [255, 1]
)
const mutated: fc.Arbitrary<unknown> = fc.tuple(fc.oneof(validMessage, hostile), fc.nat(), value, fc.integer({ min: 0, max: 3 })).map(([msg, at, v, op]) => {
  const i = at % Math.max(1, msg.length)
  if (op === 0) return msg.map((x, j) => (j === i ? v : x))
  if (op === 1) return msg.slice(0, i)
  if (op === 2) return [...msg, v]
  return { 0: msg[0] }
})

function frame (type: number, payload: Buffer): Buffer {
  return Buffer.concat([prefix(type, payload.length), payload])
}

/** Frames that break the framing itself, or are odd but legal (PING, PONG, empty). */
const rawFrame: fc.Arbitrary<Chunk> = fc.oneof(
  fc.uint8Array({ maxLength: 48 }).map((b): Chunk => ({ kind: 'bytes', data: frame(0, Buffer.from(b)) })), // garbage payload
  fc.uint8Array({ maxLength: 32 }).map((b): Chunk => ({ kind: 'bytes', data: frame(1, Buffer.from(b)) })), // PING
  fc.uint8Array({ maxLength: 8 }).map((b): Chunk => ({ kind: 'bytes', data: frame(2, Buffer.from(b)) })), // unsolicited PONG
  fc.integer({ min: 3, max: 7 }).map((type): Chunk => ({ kind: 'bytes', data: frame(type, Buffer.from('[1]')) })), // reserved type
  fc.integer({ min: 1, max: 15 }).map((bits): Chunk => ({ kind: 'bytes', data: Buffer.from([bits << 4, 0, 0, 1, 0x30]) })), // reserved bits
  fc.integer({ min: MAX_PAYLOAD + 1, max: 2 ** 24 - 1 }).map((n): Chunk => ({ kind: 'bytes', data: prefix(0, n) })), // over the announced length
  fc.constantFrom<Chunk>(
    { kind: 'bytes', data: Buffer.from([0x08, 0, 0, 0]) }, // X bit: 2^24 octets
    { kind: 'bytes', data: Buffer.from([0x08, 0, 0, 5]) }, // X bit with a length
    { kind: 'bytes', data: frame(0, Buffer.alloc(0)) },
    { kind: 'bytes', data: frame(0, Buffer.from('[48,1,{},"p.ping"')) },
    { kind: 'bytes', data: frame(0, Buffer.from('['.repeat(5000))) }
  ),
  fc.uint8Array({ minLength: 1, maxLength: 16 }).map((b): Chunk => ({ kind: 'bytes', data: Buffer.from(b) })) // unframed bytes
)

const chunk: fc.Arbitrary<Chunk> = fc.oneof(
  { arbitrary: validMessage.map((msg): Chunk => ({ kind: 'msg', msg })), weight: 30 },
  { arbitrary: mutated.map((msg): Chunk => ({ kind: 'msg', msg })), weight: 2 },
  { arbitrary: hostile.map((msg): Chunk => ({ kind: 'msg', msg })), weight: 1 },
  { arbitrary: rawFrame, weight: 3 }
)

const handshakeArb: fc.Arbitrary<number[] | number | undefined> = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 12 }, // valid: magic, max length 2^24, the serializer
  { arbitrary: fc.integer({ min: 0, max: 15 }), weight: 3 }, // valid, any max length
  { arbitrary: fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)), weight: 1 },
  { arbitrary: fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)).map(([a, b, c]) => [0x7f, a, b, c]), weight: 1 },
  { arbitrary: fc.constantFrom<number[]>([0x7f, 0xf0, 0, 0], [0x7f, 0xf4, 0, 0], [0x7f, 0xff, 0, 0], [0x7f, 0xf1, 1, 0], [0x7f, 0xf1, 0, 0x80], [0x47, 0x45, 0x54, 0x20]), weight: 1 }
)

const scenario: fc.Arbitrary<Scenario> = fc.record({
  serializer: fc.constantFrom<RawSocketSerializer>('json', 'msgpack', 'cbor'),
  handshake: handshakeArb,
  hello: fc.oneof(
    { arbitrary: fc.constant<Chunk>({ kind: 'msg', msg: [MSG.HELLO, 'realm1', HELLO_DETAILS] }), weight: 24 },
    { arbitrary: fc.constantFrom<Chunk | undefined>(undefined, { kind: 'msg', msg: [MSG.HELLO, 'no.such.realm', HELLO_DETAILS] }, { kind: 'msg', msg: [MSG.HELLO, 'realm1', { roles: {} }] }), weight: 1 },
    { arbitrary: chunk, weight: 1 }
  ),
  body: fc.oneof(fc.array(validMessage.map((msg): Chunk => ({ kind: 'msg', msg })), { minLength: 2, maxLength: 20 }), fc.array(chunk, { minLength: 2, maxLength: 20 })),
  cuts: fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 12 }),
  truncate: fc.oneof({ arbitrary: fc.constant(0), weight: 10 }, { arbitrary: fc.integer({ min: 1, max: 40 }), weight: 1 }),
  destroy: fc.boolean()
})

const SERVER_TYPES = new Set<number>([MSG.WELCOME, MSG.ABORT, MSG.GOODBYE, MSG.ERROR, MSG.PUBLISHED, MSG.SUBSCRIBED, MSG.UNSUBSCRIBED,
  MSG.EVENT, MSG.RESULT, MSG.REGISTERED, MSG.UNREGISTERED, MSG.INVOCATION, MSG.INTERRUPT])
const ANSWERS: Record<number, number> = { [MSG.SUBSCRIBED]: MSG.SUBSCRIBE, [MSG.PUBLISHED]: MSG.PUBLISH, [MSG.RESULT]: MSG.CALL, [MSG.REGISTERED]: MSG.REGISTER }
const isDict = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v)

/** What is wrong with one server message, given the requests sent; undefined when it is fine. */
function checkMessage (msg: unknown, first: boolean, sent: Map<number, Set<number>>): string | undefined {
  if (!Array.isArray(msg)) return 'not a list'
  const type = msg[0] as number
  if (!SERVER_TYPES.has(type)) return `type ${String(type)} is not a server message`
  if (type === MSG.WELCOME && (!first || typeof msg[1] !== 'number' || msg[1] === 0 || !isDict(msg[2]))) return 'bad WELCOME'
  if (type === MSG.ABORT) {
    if (!isDict(msg[1])) return 'ABORT details not a dict'
    if (msg[2] !== 'wamp.error.protocol_violation' && !(msg[2] === 'wamp.error.no_such_realm' && first)) return `ABORT ${String(msg[2])}`
  }
  if (type === MSG.ERROR) {
    if (typeof msg[4] !== 'string' || !isDict(msg[3])) return 'malformed ERROR'
    if (!sent.get(msg[1] as number)?.has(msg[2] as number)) return `ERROR for request ${String(msg[2])} of type ${String(msg[1])} never sent`
    if (msg[4] === 'wamp.error.runtime_error' && !/internal error/.test(String((msg[5] as unknown[])?.[0]))) return 'runtime_error that is not a handler failure'
  }
  const request = ANSWERS[type]
  if (request !== undefined && !sent.get(request)?.has(msg[1] as number)) return `answer to request ${String(msg[1])} never sent`
  if (type === MSG.RESULT && !isDict(msg[2])) return 'RESULT details not a dict'
  return undefined
}

interface Counters { frames: number, endings: Map<string, number> }

async function play (target: Target, s: Scenario, counters: Counters): Promise<string | undefined> {
  const client = new RawSocketClient(await openSocket(target), s.serializer)
  const id = SERIALIZER_IDS[s.serializer]
  const handshake = s.handshake === undefined ? [0x7f, 0xf0 | id, 0, 0] : typeof s.handshake === 'number' ? [0x7f, (s.handshake << 4) | id, 0, 0] : s.handshake
  const clientMax = 2 ** ((handshake[1] >> 4) + 9)
  const sent = new Map<number, Set<number>>()
  const note = (m: unknown): void => {
    if (!Array.isArray(m) || typeof m[0] !== 'number' || typeof m[1] !== 'number') return
    let ids = sent.get(m[0])
    if (ids === undefined) sent.set(m[0], ids = new Set())
    ids.add(m[1])
  }
  const pings = new Set<string>()
  // One octet stream, cut at random points.
  const parts: Buffer[] = [Buffer.from(handshake)]
  const chunks = [...(s.hello === undefined ? [] : [s.hello]), ...s.body, { kind: 'msg', msg: [MSG.CALL, PROBE, {}, 'p.ping'] } satisfies Chunk]
  let frames = 0
  for (const c of chunks) {
    if (c.kind === 'bytes') {
      parts.push(c.data)
      if (c.data.length >= 4 && c.data[0] === 1) pings.add(c.data.subarray(4).toString('hex'))
    } else {
      let payload: Buffer
      try {
        payload = Buffer.from(client.serializer.encode(c.msg as unknown[]))
      } catch {
        continue // not encodable by this serializer: not a frame
      }
      parts.push(frame(0, payload))
      note(c.msg)
    }
    frames++
  }
  const whole = Buffer.concat(parts)
  const stream = whole.subarray(0, Math.max(0, whole.length - s.truncate))
  client.socket.setNoDelay(true) // each cut leaves as its own TCP segment
  let at = 0
  for (const cut of s.cuts) {
    if (at >= stream.length || client.ended) break
    client.socket.write(stream.subarray(at, at + cut))
    at += cut
    await new Promise((resolve) => setImmediate(resolve))
  }
  if (at < stream.length && !client.ended) client.socket.write(stream.subarray(at))
  counters.frames += frames

  let problem: string | undefined
  const received: unknown[] = []
  let aborted = false
  let probe = false
  let goodbyes = 0
  // A truncated stream leaves the server waiting for the rest of a frame (or of the handshake): no probe answer.
  const deadline = Date.now() + (s.truncate > 0 ? 30 : 5000)
  for (;;) {
    let timer: NodeJS.Timeout | undefined
    const next = await Promise.race([
      client.nextFrame().catch(() => undefined),
      new Promise<'timeout'>((resolve) => { timer = setTimeout(resolve, Math.max(0, deadline - Date.now()), 'timeout') })
    ])
    clearTimeout(timer) // a timer of the test's own must not count as one the server left behind
    if (next === 'timeout') {
      if (s.truncate === 0) problem ??= 'neither an answer to the probe nor the end within 5 s'
      break
    }
    if (next === undefined) break // the server ended the stream
    if (client.reply === undefined || client.reply[0] !== 0x7f || (client.reply[1] & 0x0f) === 0) { problem ??= `a frame after a refused handshake (${json([...(client.reply ?? [])])})`; break }
    if (next.type === 2) {
      if (!pings.has(next.payload.toString('hex'))) problem ??= `a PONG that echoes no PING (${next.payload.toString('hex')})`
      continue
    }
    if (next.type !== 0) { problem ??= `frame of type ${next.type} from the server`; break }
    if (next.payload.length > clientMax) { problem ??= `a frame of ${next.payload.length} octets over the ${clientMax} the client announced`; break }
    if (aborted) { problem ??= 'a message after ABORT'; break }
    let msg: unknown
    try {
      msg = client.serializer.decode(next.payload)
    } catch (err) {
      problem ??= `undecodable server frame: ${String(err)}`
      break
    }
    const last = received[received.length - 1] as unknown[] | undefined
    const issue = checkMessage(msg, received.length === 0 || last?.[0] === MSG.GOODBYE, sent)
    if (issue !== undefined) problem ??= `${issue}: ${json(msg)}`
    received.push(msg)
    const m = msg as unknown[]
    if (m[0] === MSG.ABORT) aborted = true
    if (m[0] === MSG.GOODBYE) {
      goodbyes++
      if (m[2] !== 'wamp.close.goodbye_and_out') client.send([MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out'])
    }
    if (m[0] === MSG.RESULT && m[1] === PROBE) { probe = true; break }
  }
  const reply = client.reply
  if (reply !== undefined && (reply[0] !== 0x7f || reply[2] !== 0 || reply[3] !== 0)) problem ??= `malformed handshake reply ${json([...reply])}`
  if (reply !== undefined && (reply[1] & 0x0f) === 0 && ![1, 2, 3, 4].includes(reply[1] >> 4)) problem ??= `handshake error ${reply[1] >> 4}`
  if (reply !== undefined && (reply[1] & 0x0f) !== 0 && (reply[1] & 0x0f) !== (handshake[1] & 0x0f)) problem ??= 'handshake reply with another serializer'
  if (s.destroy || probe) client.close()
  else client.socket.end()
  await until(() => client.ended, 5000, 'the connection to end').catch(() => { problem ??= 'the connection did not end' })
  const ending = probe ? 'probe answered' : reply === undefined ? 'no handshake reply' : (reply[1] & 0x0f) === 0 ? `handshake error ${reply[1] >> 4}` : aborted ? 'ABORT' : goodbyes > 0 ? 'GOODBYE' : 'closed'
  counters.endings.set(ending, (counters.endings.get(ending) ?? 0) + 1)
  if (problem !== undefined) problem += ` [${s.serializer}, handshake ${json(handshake)}, ${frames} frames, received ${received.length}: ${json(received.map((m) => (m as unknown[])[0]))}]`
  return problem
}

t.test('issue 23: RawSocket answers random handshakes and hostile frames with valid frames and WAMP, or ABORT then the end; leaves nothing behind', async (t) => {
  const internalFaults: string[] = []
  const { app } = await startApp(t, { maxPayload: MAX_PAYLOAD, helloTimeout: 2000, shutdownGrace: 200, rawsocket: RAW }, (app) => {
    const wamp = app.wamp
    wamp.register('p.ping', () => 'pong')
    wamp.register('p.echo', (a, k) => new WampResult(a, k))
    wamp.register('p.fail', () => { throw new Error('boom') })
    wamp.register('p.wampfail', (a) => { throw new WampError('app.error.fuzz', a) })
    wamp.register('p.progress', async (_a, _k, ctx) => { ctx.progress(1); await Promise.resolve(); ctx.progress([2]); return 3 })
    wamp.register('p.wait', (_a, _k, ctx) => new Promise((resolve) => {
      const timer = setTimeout(resolve, 10, 'waited')
      ctx.signal.addEventListener('abort', () => { clearTimeout(timer); resolve('aborted') })
    }))
    wamp.register('p.medium', () => 'm'.repeat(2000)) // over the 512 octets a client may announce
    wamp.register('p.big', () => 'b'.repeat(MAX_PAYLOAD + 1))
    wamp.subscribe('t.a', () => {})
  }, {
    logger: {
      level: 'error',
      stream: { write: (line: string) => { const entry = JSON.parse(line) as { msg: string }; if (/message handling failed|listener error/.test(entry.msg)) internalFaults.push(line) } }
    }
  })
  const target = targetOf(app)
  const baseline = process.getActiveResourcesInfo().sort()
  const counters: Counters = { frames: 0, endings: new Map() }
  const started = Date.now()
  await fc.assert(fc.asyncProperty(scenario, async (s) => {
    const problem = await play(target, s, counters)
    if (problem !== undefined) throw new Error(problem)
  }), { seed: SEED, numRuns: FUZZ_RUNS, endOnFailure: true }).catch((err: Error) => {
    err.message = `seed ${SEED}: ${err.message}`
    throw err
  })
  t.same(internalFaults, [], 'nothing reached the server\'s internal-failure path')
  await leavesNothing(t, app, baseline)
  t.comment(`rawsocket fuzz: ${FUZZ_RUNS} connections, ${counters.frames} frames, ${((Date.now() - started) / 1000).toFixed(1)} s, seed ${SEED}`)
  t.comment(`ended by: ${[...counters.endings].map(([k, n]) => `${k} ${n}`).join(', ')}`)
})

// ---- 2. exactly once -------------------------------------------------------------------------------------------------

type Kind = 'now' | 'later' | 'abortable' | 'fail' | 'progress' | 'big'
type Op =
  | { op: 'call', kind: Kind, ms: number, timeout: number, progress: boolean, size: number }
  | { op: 'cancel', call: number, mode: 'skip' | 'kill' | 'killnowait' }
  | { op: 'sleep', ms: number }
type End = { how: 'settle' } | { how: 'drop' | 'goodbye', at: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('call' as const), kind: fc.constantFrom<Kind>('now', 'later', 'abortable', 'fail', 'progress', 'big'), ms: fc.integer({ min: 0, max: 20 }), timeout: fc.constantFrom(0, 0, 3, 15), progress: fc.boolean(), size: fc.constantFrom(0, 0, 800) }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('cancel' as const), call: fc.nat(15), mode: fc.constantFrom('skip' as const, 'kill' as const, 'killnowait' as const) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('sleep' as const), ms: fc.integer({ min: 0, max: 10 }) }), weight: 1 }
)
const endArb: fc.Arbitrary<End> = fc.oneof(
  { arbitrary: fc.constant<End>({ how: 'settle' }), weight: 2 },
  fc.record({ how: fc.constantFrom('drop' as const, 'goodbye' as const), at: fc.nat(30) })
)

function terminalOf (msg: unknown[]): number | undefined {
  if (msg[0] === MSG.ERROR && msg[1] === MSG.CALL) return msg[2] as number
  if (msg[0] === MSG.RESULT && (msg[2] as Dict).progress !== true) return msg[1] as number
  return undefined
}

/** At most one terminal per id, nothing for an id after it, nothing after GOODBYE or ABORT. */
function checkHistory (history: unknown[][]): Set<number> {
  const terminals = new Set<number>()
  let over: unknown[] | undefined
  for (const msg of history) {
    if (over !== undefined) throw new Error(`${json(msg)} after ${json(over)}`)
    if (msg[0] === MSG.GOODBYE || msg[0] === MSG.ABORT) over = msg
    const id = msg[0] === MSG.ERROR ? msg[2] as number : msg[0] === MSG.RESULT ? msg[1] as number : undefined
    if (id === undefined) continue
    if (terminals.has(id)) throw new Error(`message after the terminal one for request ${id}: ${json(msg)}`)
    if (terminalOf(msg) !== undefined) terminals.add(id)
  }
  return terminals
}

/** `small`: the client announces 512 octets, so results and progress of 800 cannot be sent (payload_size_exceeded). */
async function once (app: FastifyInstance, target: Target, serializer: RawSocketSerializer, small: boolean, ops: Op[], end: End): Promise<void> {
  const client = new RawSocketClient(await openSocket(target), serializer)
  try {
    await client.handshake([0x7f, ((small ? 0 : 15) << 4) | SERIALIZER_IDS[serializer], 0, 0])
    client.send([MSG.HELLO, 'realm1', STREAMING_HELLO_DETAILS])
    const welcome = await client.next()
    if (welcome[0] !== MSG.WELCOME) throw new Error(`no WELCOME: ${json(welcome)}`)
    const history: unknown[][] = []
    const reading = (async () => { for (;;) history.push(await client.next()) })().catch(() => {})
    const calls: number[] = []
    let goodbye = false
    for (let i = 0; i < ops.length; i++) {
      if (end.how !== 'settle' && i === end.at % ops.length) {
        if (end.how === 'drop') client.close()
        else { client.send([MSG.GOODBYE, {}, 'wamp.close.close_realm']); goodbye = true }
        break
      }
      const op = ops[i]
      if (op.op === 'call') {
        const id = calls.length + 1
        const options: Dict = {}
        if (op.timeout > 0) options.timeout = op.timeout
        if (op.progress) options.receive_progress = true
        client.send([MSG.CALL, id, options, `p.${op.kind}`, [op.ms, op.size]])
        calls.push(id)
      } else if (op.op === 'cancel') {
        if (calls.length > 0) client.send([MSG.CANCEL, calls[op.call % calls.length], { mode: op.mode }])
      } else {
        await sleep(op.ms)
      }
    }
    if (end.how === 'settle') {
      await until(() => { const done = checkHistory(history); return calls.every((id) => done.has(id)) }, 5000, 'every call to end')
      await sleep(25) // anything late for a settled id would show now
      checkHistory(history)
      client.send([MSG.GOODBYE, {}, 'wamp.close.close_realm'])
      goodbye = true
    }
    if (goodbye) {
      await until(() => history.some((m) => m[0] === MSG.GOODBYE) || client.ended, 5000, 'GOODBYE back')
      await sleep(25) // delayed handlers settle after the GOODBYE: none may answer
      checkHistory(history)
      client.close()
    }
    await reading
    checkHistory(history)
    await until(() => hubOf(app).stats().sessions === 0 && hubOf(app).stats().callsInFlight === 0, 5000,
      `the session to end with no call in flight (${json(hubOf(app).stats().callsInFlight)} left)`)
  } finally {
    client.close()
  }
}

t.test('issue 23: exactly once over RawSocket: random calls, cancels, timeouts, GOODBYE or a dropped connection', async (t) => {
  const later = (ms: number): Promise<string> => new Promise((resolve) => setTimeout(resolve, ms, 'late'))
  const { app } = await startApp(t, { shutdownGrace: 200, rawsocket: RAW }, (app) => {
    const wamp = app.wamp
    wamp.register('p.now', () => 'now')
    wamp.register('p.later', async (a) => await later(a[0] as number)) // ignores cancellation
    wamp.register('p.abortable', (a, _k, ctx) => new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, a[0] as number, 'done')
      ctx.signal.addEventListener('abort', () => { clearTimeout(timer); reject(ctx.signal.reason) })
    }))
    wamp.register('p.fail', async (a) => { await later(a[0] as number); throw new WampError('app.error.no') })
    wamp.register('p.progress', async (a, _k, ctx) => {
      for (let i = 0; i < 3; i++) { ctx.progress([i, 'p'.repeat(a[1] as number)]); await later((a[0] as number) / 3) }
      return 'last'
    })
    wamp.register('p.big', async (a) => { await later(a[0] as number); return 'b'.repeat(800) })
  })
  const target = targetOf(app)
  const baseline = process.getActiveResourcesInfo().sort()
  await fc.assert(fc.asyncProperty(fc.constantFrom<RawSocketSerializer>('json', 'msgpack', 'cbor'), fc.boolean(), fc.array(opArb, { minLength: 1, maxLength: 20 }), endArb,
    async (serializer, small, ops, end) => await once(app, target, serializer, small, ops, end)), { seed: SEED, numRuns: ONCE_RUNS, endOnFailure: true }).catch((err: Error) => {
    err.message = `seed ${SEED}: ${err.message}`
    throw err
  })
  await sleep(30) // handlers that ignored cancellation finish
  await leavesNothing(t, app, baseline)
})
