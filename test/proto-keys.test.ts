import t from 'tap'
import fc from 'fast-check'
import { Packr } from 'msgpackr'
import { Encoder } from 'cbor-x'
import type { RawData } from 'ws'
import { cborSerializer, msgpackSerializer } from '../index.js'
import { packStored, unpackStored } from '../lib/wire/serializers/msgpack.js'
import { startApp } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'
import { rpcCluster, untilRegistered } from './helpers/cluster.js'
import { inspector } from './helpers/redis.js'

// msgpackr and cbor-x decode a map key "__proto__" as "__proto_": a msgpack or CBOR peer's {"__proto__": 1} reached
// everyone else as {"__proto_": 1}, and crossed instances (Redis) that way too. JSON keeps the key. Now every
// serializer does, as an own property: no object's prototype changes.

/** {"__proto__": …} as an own key, as JSON.parse makes it (an object literal would set the prototype instead). */
const withProto = <T>(json: string): T => JSON.parse(json) as T
const ARGS = '[{"__proto__":{"polluted":1},"a":[{"__proto__":2}]},"__proto__"]'
const KWARGS = '{"__proto__":"k","b":{"__proto__":null}}'

/** Independent decoders that keep every map key (as Maps), to read what reached a peer. */
const mapsMsgpack = new Packr({ useRecords: false, mapsAsObjects: false, int64AsType: 'number' })
const mapsCbor = new Encoder({ useRecords: false, mapsAsObjects: false } as never)

/** JSON text of a decoded value whose maps may be Maps (what a peer holds, keys as sent). */
function asJson (value: unknown): string {
  return JSON.stringify(value, function (_key, v: unknown) {
    if (!(v instanceof Map)) return v
    const out: Record<string, unknown> = {}
    for (const [k, item] of v as Map<string, unknown>) Object.defineProperty(out, k, { value: item, enumerable: true })
    return out
  })
}

/** Every prototype in `value` is Object.prototype or Array.prototype (nothing a key set). */
function prototypesIntact (value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true
  const proto = Object.getPrototypeOf(value) as unknown
  if (proto !== Object.prototype && proto !== Array.prototype) return false
  return Object.values(value).every(prototypesIntact)
}

/** The EVENT frames `client` receives, each as JSON text of what its bytes say (keys as sent). */
function events (client: RawClient): string[] {
  const seen: string[] = []
  client.ws.on('message', (data: RawData, isBinary: boolean) => {
    const buf = data as Buffer
    const msg = !isBinary ? JSON.parse(buf.toString()) as unknown[] : client.serializer === 'msgpack' ? mapsMsgpack.unpack(buf) as unknown[] : mapsCbor.decode(buf) as unknown[]
    if (msg[0] === MSG.EVENT) seen.push(asJson([msg[4], msg[5]]))
  })
  return seen
}

const PROTOCOLS = ['wamp.2.json', 'wamp.2.msgpack', 'wamp.2.cbor']

t.test('a "__proto__" key crosses from every serializer to every serializer as that key', async (t) => {
  const { url } = await startApp(t, { realms: [{ name: 'realm1', broker: true }] })
  const subscribers: Array<{ protocol: string, seen: string[], client: RawClient }> = []
  for (const protocol of PROTOCOLS) {
    const { client } = await connectRaw(url, { protocols: [protocol] })
    const seen = events(client)
    client.send([MSG.SUBSCRIBE, 1, {}, 'com.topic'])
    t.equal((await client.next())[0], MSG.SUBSCRIBED)
    subscribers.push({ protocol, seen, client })
  }
  const expected = asJson([withProto(ARGS), withProto(KWARGS)])
  for (const protocol of PROTOCOLS) {
    const { client: publisher } = await connectRaw(url, { protocols: [protocol] })
    publisher.send([MSG.PUBLISH, 1, { acknowledge: true, exclude_me: true }, 'com.topic', withProto(ARGS), withProto(KWARGS)])
    t.equal((await publisher.next())[0], MSG.PUBLISHED, `${protocol} publisher`)
    for (const s of subscribers) {
      await s.client.next()
      t.equal(s.seen.pop(), expected, `${protocol} → ${s.protocol}`)
    }
    await publisher.close()
  }
})

t.test('the application sees it as an own key, and no prototype changes', async (t) => {
  const { url } = await startApp(t, {}, (app) => {
    app.wamp.register('inspect', (args, kwargs) => ({
      own: Object.hasOwn(kwargs, '__proto__') && Object.hasOwn(args[0] as object, '__proto__'),
      intact: prototypesIntact(args) && prototypesIntact(kwargs),
      keys: Object.keys(kwargs)
    }))
  })
  for (const protocol of PROTOCOLS) {
    const { client } = await connectRaw(url, { protocols: [protocol] })
    client.send([MSG.CALL, 1, {}, 'inspect', withProto(ARGS), withProto(KWARGS)])
    t.match(await client.next(), [MSG.RESULT, 1, {}, [{ own: true, intact: true, keys: ['__proto__', 'b'] }]], protocol)
    await client.close()
  }
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched')
})

t.test('across instances (Redis): a call\'s payload and its result keep the key', async (t) => {
  const redis = inspector(t)
  const { apps: [a, b], prefix } = await rpcCluster(t, 2)
  const { client: callee } = await connectRaw(b.url, { protocols: ['wamp.2.msgpack'] })
  callee.send([MSG.REGISTER, 1, {}, 'com.echo'])
  t.equal((await callee.next())[0], MSG.REGISTERED)
  await untilRegistered(redis, prefix, 'com.echo', 1)
  const seen = events(callee)
  callee.ws.on('message', (data: RawData) => {
    const msg = mapsMsgpack.unpack(data as Buffer) as unknown[]
    if (msg[0] === MSG.INVOCATION) {
      seen.push(asJson([msg[4], msg[5]]))
      callee.ws.send(mapsMsgpack.pack([MSG.YIELD, msg[1], {}, msg[4], msg[5]]))
    }
  })
  const result = await a.app.wamp.call('com.echo', withProto<unknown[]>(ARGS), withProto(KWARGS))
  const expected = asJson([withProto(ARGS), withProto(KWARGS)])
  t.equal(seen[0], expected, 'the INVOCATION on instance B')
  t.equal(asJson([result.args, result.kwargs]), expected, 'the RESULT on instance A')
  t.ok(prototypesIntact(result.args) && prototypesIntact(result.kwargs))
})

// Values as JSON.parse makes them, with "__proto__" among the keys (and inside strings, which take the slow path).
const KEYS = fc.constantFrom('__proto__', 'a', '', 'constructor', 'x__proto__y', '1')
const json = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true },
    fc.constantFrom<unknown>(null, true, false, 0, -1.5, 2 ** 40, 'text', '__proto__'),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.array(fc.tuple(KEYS, tie('value')), { maxLength: 4 }).map((entries) => {
      const o: Record<string, unknown> = {}
      for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true })
      return o
    }))
})).value

t.test('property: msgpack, CBOR and the stored MessagePack decode what they encode, keys and prototypes intact', async (t) => {
  const codecs: Array<[string, (v: unknown[]) => Buffer, (b: Buffer) => unknown]> = [
    ['msgpack', (v) => msgpackSerializer.encode(v) as Buffer, (b) => msgpackSerializer.decode(b)],
    ['cbor', (v) => cborSerializer.encode(v) as Buffer, (b) => cborSerializer.decode(b)],
    ['stored', (v) => packStored(v), (b) => unpackStored(b)]
  ]
  for (const [name, encode, decode] of codecs) {
    fc.assert(fc.property(json, (value) => {
      const decoded = decode(encode([value]))
      return JSON.stringify(decoded) === JSON.stringify([value]) && prototypesIntact(decoded)
    }), { seed: 22, numRuns: 400 })
    t.pass(name)
  }
})

t.test('map keys on the "__proto__" path are read as the decoders read them elsewhere; shared references cannot make the walk long', async (t) => {
  // {1: "a", true: "b", null: "c", "__proto__": "d"}: numbers, booleans and nil as text, as msgpackr and cbor-x do.
  const mixed = new Map<unknown, string>([[1, 'a'], [true, 'b'], [null, 'c'], ['__proto__', 'd']])
  for (const [name, serializer, encoder] of [['msgpack', msgpackSerializer, mapsMsgpack], ['cbor', cborSerializer, mapsCbor]] as const) {
    const decoded = serializer.decode(encoder.encode([mixed])) as unknown[]
    t.equal(JSON.stringify(decoded), '[{"1":"a","true":"b","null":"c","__proto__":"d"}]', name)
    // A map used as a key: refused by msgpackr and cbor-x alike, on either path.
    const bad = encoder.encode([new Map<unknown, string>([[['k'], 'x'], ['__proto__', 'y']])])
    t.throws(() => serializer.decode(bad), name)
  }
  // CBOR shared references (tags 28/29) make a DAG: [l0, l1, …, l40] where l0 = ["__proto__"] and each l(k) = [l(k-1),
  // l(k-1)] is 8 bytes, but 2^40 values to walk. The walk is bounded by the bytes, as the plain-data check is.
  const levels = [Buffer.from([0xd8, 0x1c, 0x81, 0x69, ...Buffer.from('__proto__')])]
  const ref = (id: number): number[] => id < 24 ? [0xd8, 0x1d, id] : [0xd8, 0x1d, 0x18, id]
  for (let k = 1; k <= 40; k++) levels.push(Buffer.from([0xd8, 0x1c, 0x82, ...ref(k - 1), ...ref(k - 1)]))
  const dag = Buffer.concat([Buffer.from([0x98, levels.length]), ...levels])
  t.throws(() => cborSerializer.decode(dag), /appears more than once/, 'refused after as many steps as the message has bytes')
})
