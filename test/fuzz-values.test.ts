import t from 'tap'
import fc from 'fast-check'
import { Packr } from 'msgpackr'
import { Encoder as CborEncoder } from 'cbor-x'
import type { Options as CborOptions } from 'cbor-x'
import { WampResult } from '../index.js'
import type { WampError } from '../index.js'
import { startApp, until } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'

// Issue 15: values no peer should have to take, fuzzed against a live server (the frame-level fuzzing is in
// fuzz.test.ts). One hostile value — a cycle or shared reference, lists/dicts nested 10 to 100 000 deep, every
// msgpack extension type, CBOR tags (dates, bignums, typed arrays, sets, shared references, unknown ones), NaN and
// ±Infinity, -0, undefined, bignums, binary, random bytes — rides in a CALL, YIELD, PUBLISH or ERROR, to sync and
// async handlers, in app mode and in router mode (clients calling and publishing to each other, each with its own
// serializer). Oracle: the process never sees an unhandled rejection or uncaught exception; the sender gets valid
// answers or ABORT protocol_violation; the peer is never aborted, gets exactly one answer to its own call, and
// still answers afterwards; nothing is left when the app closes. FUZZ_RUNS scales the run count.

const SEED = Number(process.env.FUZZ_SEED ?? 15_2026)
const RUNS = Math.max(50, Math.round(Number(process.env.FUZZ_RUNS ?? 1500) / 5))
const PROBE = 2 ** 53 - 7

type Protocol = 'json' | 'msgpack' | 'cbor'
type Kind = 'CALL' | 'YIELD' | 'PUBLISH' | 'ERROR'
interface Case { mode: 'app' | 'router', attacker: Protocol, peer: Protocol, kind: Kind, async: boolean, payload: string | Buffer, label: string }

const crashes: unknown[] = []
const onCrash = (err: unknown): void => { crashes.push(err) }
process.on('unhandledRejection', onCrash)
process.on('uncaughtException', onCrash)
t.teardown(() => {
  process.off('unhandledRejection', onCrash)
  process.off('uncaughtException', onCrash)
})

// ---- hostile values, rendered as the bytes (or JSON text) of one value -------------------------------------------

const packr = new Packr({ useRecords: false, variableMapSize: true })
const cbor = new CborEncoder({ useRecords: false, tagUint8Array: false, pack: false } as CborOptions)
const bytes = (...b: number[]): Buffer => Buffer.from(b)
const KEY_K = { json: '{"k":', msgpack: bytes(0x81, 0xa1, 0x6b), cbor: bytes(0xa1, 0x61, 0x6b) }

function deep (p: Protocol, depth: number, dict: boolean): string | Buffer {
  if (p === 'json') return (dict ? KEY_K.json : '[').repeat(depth) + '1' + (dict ? '}' : ']').repeat(depth)
  const open = dict ? KEY_K[p] : bytes(p === 'msgpack' ? 0x91 : 0x81)
  return Buffer.concat([...Array<Buffer>(depth).fill(open), bytes(0x01)])
}

function cborTag (tag: number, inner: Buffer): Buffer {
  let head: Buffer
  if (tag < 24) head = bytes(0xc0 + tag)
  else if (tag < 0x100) head = bytes(0xd8, tag)
  else if (tag < 0x10000) head = bytes(0xd9, tag >> 8, tag & 0xff)
  else head = Buffer.concat([bytes(0xda), Buffer.from([tag >>> 24, (tag >>> 16) & 0xff, (tag >>> 8) & 0xff, tag & 0xff])])
  return Buffer.concat([head, inner])
}

function msgpackExt (type: number, data: Buffer): Buffer {
  const fixed: Record<number, number> = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 }
  const t8 = type & 0xff
  return fixed[data.length] !== undefined ? Buffer.concat([bytes(fixed[data.length], t8), data]) : Buffer.concat([bytes(0xc7, data.length, t8), data])
}

const DEPTHS = [10, 60, 62, 63, 64, 65, 100, 1000, 10_000, 100_000]
const CBOR_TAGS = [0, 1, 2, 3, 4, 5, 6, ...Array.from({ length: 16 }, (_, i) => 21 + i), 28, 29, ...Array.from({ length: 24 }, (_, i) => 64 + i),
  256, 258, 259, 55799, 0xfff0, 0x1234567]
const cborInner = fc.constantFrom(bytes(0x01), bytes(0x20), bytes(0x48, 0, 1, 2, 3, 4, 5, 6, 7), bytes(0x61, 0x78), bytes(0x82, 0x01, 0x02),
  bytes(0x82, 0x65, ...Buffer.from('Error'), 0x61, 0x78), bytes(0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0), bytes(0xa0), bytes(0x80), bytes(0x00))

/** Values every serializer may decode but not every peer can take (or that JSON spells only as invalid JSON). */
function awkward (p: Protocol): fc.Arbitrary<[string, string | Buffer]> {
  if (p === 'json') {
    return fc.constantFrom<[string, string | Buffer]>(['NaN', 'NaN'], ['Infinity', 'Infinity'], ['-Infinity', '-Infinity'], ['1e400', '1e400'],
      ['-0', '-0'], ['2^53+2', '9007199254740994'], ['binary', '"\\u0000AQID"'], ['bad binary', '"\\u0000***"'], ['huge int', '1' + '0'.repeat(400)])
  }
  if (p === 'msgpack') {
    return fc.constantFrom<[string, string | Buffer]>(['NaN', bytes(0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0)], ['Infinity', bytes(0xca, 0x7f, 0x80, 0, 0)],
      ['-0', bytes(0xcb, 0x80, 0, 0, 0, 0, 0, 0, 0)], ['uint64 max', bytes(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)],
      ['int64 min', bytes(0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0)], ['binary', bytes(0xc4, 3, 1, 2, 3)], ['undefined', bytes(0xd4, 0, 0)],
      ['map with list key', bytes(0x81, 0x91, 0x01, 0x02)])
  }
  return fc.constantFrom<[string, string | Buffer]>(['NaN', bytes(0xf9, 0x7e, 0x00)], ['Infinity', bytes(0xf9, 0x7c, 0x00)], ['-Infinity', bytes(0xf9, 0xfc, 0x00)],
    ['-0', bytes(0xf9, 0x80, 0x00)], ['uint64 max', bytes(0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)], ['binary', bytes(0x43, 1, 2, 3)],
    ['undefined', bytes(0xf7)], ['simple 99', bytes(0xf8, 99)], ['indefinite list', bytes(0x9f, 0x01, 0xff)], ['map with list key', bytes(0xa1, 0x81, 0x01, 0x02)])
}

function payload (p: Protocol): fc.Arbitrary<[string, string | Buffer]> {
  const families: Array<fc.Arbitrary<[string, string | Buffer]>> = [
    fc.tuple(fc.constantFrom(...DEPTHS), fc.boolean()).map(([d, dict]) => [`${dict ? 'dicts' : 'lists'} ${d} deep`, deep(p, d, dict)]),
    awkward(p),
    fc.constantFrom<[string, string | Buffer]>(['plain', p === 'json' ? '[1,"a",{"b":null}]' : p === 'msgpack' ? packr.pack([1, 'a', { b: null }]) : cbor.encode([1, 'a', { b: null }])])
  ]
  if (p === 'msgpack') {
    families.push(
      fc.tuple(fc.integer({ min: -128, max: 127 }), fc.constantFrom(1, 2, 3, 4, 8, 12, 16), fc.nat()).map(([type, length, seed]) => {
        const data = Buffer.alloc(length, seed & 0xff)
        return [`ext ${type} (${length} bytes)`, msgpackExt(type, data)]
      }),
      fc.constantFrom<[string, string | Buffer]>(['cycle (0x69/0x70)', bytes(0xd6, 0x69, 0, 0, 0, 0, 0x91, 0xd6, 0x70, 0, 0, 0, 0)]),
      fc.uint8Array({ minLength: 1, maxLength: 24 }).map((b): [string, string | Buffer] => ['random bytes', Buffer.from(b)])
    )
  } else if (p === 'cbor') {
    families.push(
      fc.tuple(fc.constantFrom(...CBOR_TAGS), cborInner).map(([tag, inner]) => [`tag ${tag}`, cborTag(tag, inner)]),
      fc.constantFrom<[string, string | Buffer]>(
        ['cycle (28/29)', bytes(0xd8, 0x1c, 0x81, 0xd8, 0x1d, 0x00)],
        // A shared list referenced 20 times: a DAG the check must not walk exponentially.
        ['shared references', Buffer.concat([bytes(0x95, 0xd8, 0x1c, 0x82, 0x01, 0x02), ...Array<Buffer>(4).fill(bytes(0xd8, 0x1d, 0x00))])]
      ),
      fc.uint8Array({ minLength: 1, maxLength: 24 }).map((b): [string, string | Buffer] => ['random bytes', Buffer.from(b)])
    )
  } else {
    families.push(fc.string({ maxLength: 12 }).map((s): [string, string | Buffer] => ['random text', s]))
  }
  return fc.oneof(...families)
}

/** One message whose Arguments list holds the hostile value, as a frame of protocol `p`. */
function frame (p: Protocol, head: unknown[], value: string | Buffer): string | Buffer {
  if (p === 'json') return `[${head.map((f) => JSON.stringify(f)).join(',')},[${String(value)}]]`
  const encode = (f: unknown): Buffer => (p === 'msgpack' ? packr.pack(f) : cbor.encode(f))
  return Buffer.concat([bytes(0x90 + head.length + 1 - (p === 'cbor' ? 0x10 : 0)), ...head.map(encode), bytes(p === 'msgpack' ? 0x91 : 0x81), value as Buffer])
}

const protocol = fc.constantFrom<Protocol>('json', 'msgpack', 'cbor')
const hostileCase: fc.Arbitrary<Case> = protocol.chain((attacker) => fc.record({
  mode: fc.constantFrom<'app' | 'router'>('app', 'router'),
  attacker: fc.constant(attacker),
  peer: protocol,
  kind: fc.constantFrom<Kind>('CALL', 'YIELD', 'PUBLISH', 'ERROR'),
  async: fc.boolean(),
  value: payload(attacker)
}).map(({ value, ...rest }) => ({ ...rest, label: value[0], payload: value[1] })))

// ---- one case -------------------------------------------------------------------------------------------------------

const SERVER_TYPES = new Set<number>([MSG.WELCOME, MSG.ABORT, MSG.GOODBYE, MSG.ERROR, MSG.PUBLISHED, MSG.SUBSCRIBED, MSG.UNSUBSCRIBED,
  MSG.EVENT, MSG.RESULT, MSG.REGISTERED, MSG.UNREGISTERED, MSG.INVOCATION, MSG.INTERRUPT])
const HELLO = { roles: { caller: {}, callee: { features: { call_canceling: true } }, publisher: {}, subscriber: {} } }

const closed = (c: RawClient): boolean => c.closeInfo !== null
const answers = (c: RawClient, requestType: number, id: number): unknown[][] =>
  c.history.filter((m) => (m[0] === MSG.ERROR && m[1] === requestType && m[2] === id) ||
    (requestType === MSG.CALL && m[0] === MSG.RESULT && m[1] === id && (m[2] as { progress?: boolean }).progress !== true) ||
    (requestType === MSG.SUBSCRIBE && m[0] === MSG.SUBSCRIBED && m[1] === id) ||
    (requestType === MSG.PUBLISH && m[0] === MSG.PUBLISHED && m[1] === id))

async function answered (c: RawClient, requestType: number, id: number, what: string): Promise<void> {
  await until(() => answers(c, requestType, id).length > 0 || closed(c), 5000, what)
}

async function play (url: string, c: Case): Promise<string | undefined> {
  const realm = c.mode === 'app' ? 'fuzz.app' : 'fuzz.router'
  const [{ client: attacker }, { client: peer }] = await Promise.all([
    connectRaw(url, { protocols: [`wamp.2.${c.attacker}`], realm, details: HELLO }),
    connectRaw(url, { protocols: [`wamp.2.${c.peer}`], realm, details: HELLO })
  ])
  try {
    const hostile = (head: unknown[]): void => attacker.sendRaw(frame(c.attacker, head, c.payload), c.attacker !== 'json')
    const answerInvocation = async (): Promise<void> => {
      await until(() => attacker.history.some((m) => m[0] === MSG.INVOCATION) || closed(attacker), 5000, 'INVOCATION to the attacker')
      const invocation = attacker.history.find((m) => m[0] === MSG.INVOCATION)
      if (invocation === undefined) return
      hostile(c.kind === 'YIELD' ? [MSG.YIELD, invocation[1], {}] : [MSG.ERROR, MSG.INVOCATION, invocation[1], {}, 'app.error.fuzz'])
    }
    const topic = c.mode === 'app' ? `h.topic.${c.async ? 'async' : 'sync'}` : 'r.topic'
    if (c.kind === 'PUBLISH') {
      peer.send([MSG.SUBSCRIBE, 1, {}, topic])
      peer.send([MSG.SUBSCRIBE, 2, {}, 'h.out'])
      await answered(peer, MSG.SUBSCRIBE, 2, 'SUBSCRIBED')
      hostile([MSG.PUBLISH, 1, { acknowledge: true, exclude_me: false }, topic])
      await answered(attacker, MSG.PUBLISH, 1, 'PUBLISHED or ABORT')
    } else if (c.mode === 'app' && c.kind === 'CALL') {
      hostile([MSG.CALL, 1, {}, c.async ? 'h.async' : 'h.sync'])
      await answered(attacker, MSG.CALL, 1, 'the answer to the CALL')
    } else if (c.mode === 'app') {
      attacker.send([MSG.REGISTER, 1, {}, 'c.proc'])
      await until(() => attacker.history.some((m) => m[0] === MSG.REGISTERED), 5000, 'REGISTERED')
      attacker.send([MSG.CALL, 2, {}, 'h.callback'])
      await answerInvocation()
      await answered(attacker, MSG.CALL, 2, 'the answer to h.callback')
    } else if (c.kind === 'CALL') {
      peer.send([MSG.REGISTER, 1, {}, 'r.echo'])
      await until(() => peer.history.some((m) => m[0] === MSG.REGISTERED), 5000, 'REGISTERED')
      hostile([MSG.CALL, 1, {}, 'r.echo'])
      // A value the peer's serializer cannot carry is refused to the attacker instead (ERROR invalid_argument).
      await until(() => peer.history.some((m) => m[0] === MSG.INVOCATION) || answers(attacker, MSG.CALL, 1).length > 0 || closed(attacker), 5000, 'INVOCATION to the peer')
      const invocation = peer.history.find((m) => m[0] === MSG.INVOCATION)
      if (invocation !== undefined) peer.send([MSG.YIELD, invocation[1], {}, invocation[4] ?? []])
      await answered(attacker, MSG.CALL, 1, 'the answer to the routed CALL')
    } else {
      attacker.send([MSG.REGISTER, 1, {}, 'r.attacker'])
      await until(() => attacker.history.some((m) => m[0] === MSG.REGISTERED), 5000, 'REGISTERED')
      peer.send([MSG.CALL, 7, {}, 'r.attacker'])
      await answerInvocation()
      await answered(peer, MSG.CALL, 7, 'the answer to the peer\'s CALL')
      if (answers(peer, MSG.CALL, 7).length !== 1) return 'the peer\'s CALL did not get exactly one answer'
    }
    // Both still answer (the attacker unless it was aborted).
    attacker.send([MSG.SUBSCRIBE, PROBE, {}, 'probe'])
    peer.send([MSG.SUBSCRIBE, PROBE, {}, 'probe'])
    await Promise.all([answered(attacker, MSG.SUBSCRIBE, PROBE, 'the attacker\'s probe'), answered(peer, MSG.SUBSCRIBE, PROBE, 'the peer\'s probe')])
    if (closed(peer) || answers(peer, MSG.SUBSCRIBE, PROBE).length !== 1) return 'the peer was closed or did not answer its probe'
    for (const m of peer.history) if (!SERVER_TYPES.has(m[0] as number) || m[0] === MSG.ABORT) return `the peer received ${JSON.stringify(m).slice(0, 200)}`
    for (const m of attacker.history) {
      if (!SERVER_TYPES.has(m[0] as number)) return `the attacker received type ${String(m[0])}`
      if (m[0] === MSG.ABORT && m[2] !== 'wamp.error.protocol_violation') return `ABORT ${String(m[2])}`
    }
    if (closed(attacker) && !attacker.history.some((m) => m[0] === MSG.ABORT)) return `the attacker was closed without ABORT (${attacker.closeInfo?.code ?? ''})`
    return undefined
  } finally {
    await Promise.all([attacker.close(), peer.close()])
  }
}

t.test('issue 15: hostile values in CALL, YIELD, PUBLISH and ERROR, app and router mode: the process and the peers live on', async (t) => {
  const { app, url } = await startApp(t, { realms: [{ name: 'fuzz.app', broker: true }, { name: 'fuzz.router', router: true, broker: true }] }, (app) => {
    const wamp = app.wamp
    wamp.register('h.sync', (a, k) => new WampResult(a, k))
    wamp.register('h.async', async (a) => await Promise.resolve(a[0]))
    wamp.register('h.callback', async (_a, _k, ctx) =>
      await ctx.session.call('c.proc', [], {}, { timeout: 2000 }).then((r) => r.args[0], (e: WampError) => e.args?.[0] ?? e.uri))
    wamp.subscribe('h.topic.sync', (a) => { wamp.publishToAll('h.out', a) })
    wamp.subscribe('h.topic.async', async (a) => { await Promise.resolve(); wamp.publishToAll('h.out', a) })
  })
  const labels = new Map<string, number>()
  let frames = 0
  const started = Date.now()
  await fc.assert(fc.asyncProperty(hostileCase, async (c) => {
    frames++
    labels.set(c.label.replace(/\d+/g, 'n'), (labels.get(c.label.replace(/\d+/g, 'n')) ?? 0) + 1)
    const problem = await play(url, c)
    if (problem !== undefined) throw new Error(`${problem} [${c.mode} ${c.kind} ${c.async ? 'async' : 'sync'}, ${c.attacker} → ${c.peer}: ${c.label}]`)
    if (crashes.length > 0) throw new Error(`process-level failure after ${c.label}: ${String(crashes[0])}`)
  }), { seed: SEED, numRuns: RUNS, endOnFailure: true })
  t.same(crashes, [], 'no unhandled rejection, no uncaught exception')
  await until(() => app.wamp.sessions.size === 0, 5000, 'every session to end')
  t.pass(`${frames} hostile frames in ${((Date.now() - started) / 1000).toFixed(1)} s (seed ${SEED})`)
  t.comment(`hostile values: ${[...labels].map(([k, n]) => `${k} ×${n}`).join(', ')}`)
})
