import t from 'tap'
import fc from 'fast-check'
import { Unpackr } from 'msgpackr'
import { Decoder } from 'cbor-x'
import { jsonSerializer, msgpackSerializer, cborSerializer } from '../../index.js'
import { chooseSubprotocol, serializerTable } from '../../lib/wire/serializers/index.js'
import type { Serializer } from '../../lib/wire/serializers/index.js'
import { DEFAULT_MAX_DEPTH, plainDataProblem } from '../../lib/wire/serializers/plain-data.js'

t.test('ids above 32 bits go out as integers, never floats, and the shared message is not changed', async (t) => {
  const id = 2 ** 53
  const message = [36, 4_294_967_296, id, { publisher: 2 ** 40 }, [1.5, 2 ** 40], { big: 2 ** 45 }]
  const packed = msgpackSerializer.encode(message) as Buffer
  t.same([...packed.subarray(0, 3)], [0x96, 36, 0xd3], 'the id is a msgpack int64, not a float64 (0xcb)')
  t.same(new Unpackr({ int64AsType: 'number', mapsAsObjects: true, useRecords: false }).unpack(packed), message)
  const cbor = cborSerializer.encode(message) as Buffer
  t.same(new Decoder({ int64AsNumber: true, mapsAsObjects: true, useRecords: false } as never).decode(cbor), message)
  t.same([...cbor.subarray(0, 4)], [0x86, 0x18, 36, 0x1b], 'the id is a CBOR uint64, not a float (0xfb)')
  t.same(message[1], 4_294_967_296, 'the caller\'s array is untouched')
  t.equal(typeof (message[3] as Record<string, unknown>).publisher, 'number')
  t.doesNotThrow(() => jsonSerializer.encode(message), 'JSON still encodes the same array')
})

t.test('JSON carries binary as "\\u0000" + base64 in both directions', async (t) => {
  const encoded = jsonSerializer.encode([50, 1, {}, [Buffer.from([1, 2, 3])], { raw: new Uint8Array([255]) }])
  t.equal(encoded, '[50,1,{},["\\u0000AQID"],{"raw":"\\u0000/w=="}]')
  const decoded = jsonSerializer.decode(Buffer.from(encoded)) as unknown[]
  t.ok(Buffer.isBuffer((decoded[3] as unknown[])[0]))
  t.same([...(decoded[3] as Buffer[])[0]], [1, 2, 3])
  t.same(jsonSerializer.decode(Buffer.from('[1,"a\\\\u0000b"]')), [1, 'a\\u0000b'], 'an escaped backslash is not binary')
})

t.test('the client\'s offered order decides the subprotocol', async (t) => {
  const table = serializerTable([{ id: 'custom', binary: true, encode: () => Buffer.alloc(0), decode: () => [] }])
  t.equal(chooseSubprotocol('wamp.2.custom, wamp.2.json', table), 'wamp.2.custom')
  t.equal(chooseSubprotocol('wamp.2.xml,wamp.2.cbor', table), 'wamp.2.cbor')
  t.equal(chooseSubprotocol('mqtt', table), undefined)
  t.equal(chooseSubprotocol(undefined, table), undefined)
})

// Issue 15: strict decoding. Every msgpack extension type and a broad set of CBOR tags, swept exhaustively: each
// either fails to decode or decodes to something the plain-data check refuses — or to plain data (a tag cbor-x
// resolves to a number or string), which is harmless.

function decodedProblem (serializer: Serializer, data: Buffer): string | undefined {
  let value: unknown
  try {
    value = serializer.decode(data)
  } catch (err) {
    return `decode: ${(err as Error).message}`
  }
  return plainDataProblem(value, data.length, DEFAULT_MAX_DEPTH)
}

function isPlain (value: unknown): boolean {
  if (value === null || value === undefined || typeof value === 'string' || typeof value === 'boolean' || typeof value === 'bigint') return true
  if (typeof value === 'number') return Number.isFinite(value)
  if (Buffer.isBuffer(value) || Object.getPrototypeOf(value) === Uint8Array.prototype) return true
  if (Array.isArray(value)) return value.every(isPlain)
  return typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype && Object.values(value).every(isPlain)
}

t.test('issue 15: every msgpack extension type decodes to nothing but plain data, or is refused', async (t) => {
  let refused = 0
  for (let type = -128; type <= 127; type++) {
    for (const length of [1, 2, 4, 8, 16, 3]) {
      const head = length === 3 ? [0xc7, 3, type & 0xff] : [{ 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 }[length] as number, type & 0xff]
      const data = Buffer.from([0x92, 0x01, ...head, ...Buffer.alloc(length, 0x91)])
      const problem = decodedProblem(msgpackSerializer, data)
      if (problem !== undefined) refused++
      else if (!isPlain(msgpackSerializer.decode(data))) t.fail(`ext ${type} (${length} bytes) passed as non-plain data`)
    }
  }
  t.ok(refused >= 256 * 5, `${refused} of ${256 * 6} extension values refused`)
})

t.test('issue 15: CBOR tags decode to nothing but plain data, or are refused', async (t) => {
  const tags = [0, 1, 2, 3, 4, 5, 6, ...Array.from({ length: 16 }, (_, i) => 21 + i), 28, 29, ...Array.from({ length: 24 }, (_, i) => 64 + i), 256, 258, 259, 55799, 0xfff0, 0x1234567]
  const inners = [[0x01], [0x20], [0x48, 0, 1, 2, 3, 4, 5, 6, 7], [0x61, 0x78], [0x82, 0x01, 0x02], [0x82, 0x65, ...Buffer.from('Error'), 0x61, 0x78],
    [0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0], [0xa0], [0x80], [0x00], [0x81, 0xd8, 0x1d, 0x00]]
  const accepted = new Set<number>()
  for (const tag of tags) {
    const head = tag < 24 ? [0xc0 + tag] : tag < 0x100 ? [0xd8, tag] : tag < 0x10000 ? [0xd9, tag >> 8, tag & 0xff] : [0xda, tag >>> 24, (tag >>> 16) & 0xff, (tag >>> 8) & 0xff, tag & 0xff]
    for (const inner of inners) {
      const data = Buffer.from([0x82, 0x01, ...head, ...inner])
      if (decodedProblem(cborSerializer, data) !== undefined) continue
      accepted.add(tag)
      if (!isPlain(cborSerializer.decode(data))) t.fail(`tag ${tag} with ${Buffer.from(inner).toString('hex')} passed as non-plain data`)
    }
  }
  for (const tag of [0, 1, 29, 258, 0xfff0, 0x1234567]) t.notOk(accepted.has(tag), `tag ${tag} never passes`)
  t.ok(accepted.has(2) && accepted.has(3), 'bignums (tags 2, 3) pass as integers')
  t.comment(`tags cbor-x resolves to plain data (accepted as that data): ${[...accepted].join(', ')}`)
})

t.test('issue 15: the plain-data check', async (t) => {
  const cycle: unknown[] = []
  cycle.push(cycle)
  const shared = [1, 2]
  let dag: unknown = shared
  for (let i = 0; i < 60; i++) dag = [dag, dag] // 2^60 paths: the visit budget stops the walk at once
  const cases: Array<[unknown, RegExp | undefined]> = [
    [[1, 'a', true, null, undefined, 0.5, -0, Buffer.from([1]), new Uint8Array(2), { a: [{}] }, Object.create(null)], undefined],
    [cycle, /deeper than 64/], // with a frame's byte budget (below) it is "more than once" long before
    [dag, /more than once/],
    [[NaN], /NaN is not WAMP data/],
    [[-Infinity], /finite/],
    [[1n], undefined], // an integer; JSON cannot carry it, which the broker and the encoders handle
    [[() => 1], /function/],
    [[new Date()], /Date/],
    [[new Set()], /Set/],
    [[new Map()], /Map/],
    [[new Uint16Array(1)], /Uint16Array/],
    [[new ArrayBuffer(1)], /ArrayBuffer/],
    [[/x/], /RegExp/],
    [[new Error('x')], /Error/],
    [JSON.parse('['.repeat(64) + ']'.repeat(64)), undefined],
    [JSON.parse('['.repeat(65) + ']'.repeat(65)), /deeper than 64/],
    [JSON.parse('['.repeat(100_000) + ']'.repeat(100_000)), /deeper than 64/]
  ]
  for (const [value, expected] of cases) {
    const problem = plainDataProblem(value, 1_000_000, DEFAULT_MAX_DEPTH)
    if (expected === undefined) t.equal(problem, undefined)
    else t.match(problem, expected)
  }
  t.match(plainDataProblem([[], [], []], 3, 64), /more than once/, 'a frame of n bytes holds at most n values')
  t.equal(plainDataProblem([[], [], []], 4, 64), undefined)
  const text = 'x'.repeat(1000)
  t.match(plainDataProblem(Array(100).fill(text), 5000, 64), /more than once/, 'a string repeated by reference counts each time')
  t.match(plainDataProblem(Array(100).fill(Buffer.alloc(1000)), 5000, 64), /more than once/, 'and so does binary')
  for (const [serializer, message] of [[jsonSerializer, [1, 'ü€😀', '', Buffer.from([1, 2, 3]), { k: 'v' }]], [msgpackSerializer, [1, 'ü€😀', '', Buffer.alloc(300), { k: 'v' }]],
    [cborSerializer, [1, 'ü€😀', '', Buffer.alloc(300), { k: 'v' }]]] as const) {
    const data = Buffer.from(serializer.encode([...message]))
    t.equal(plainDataProblem(serializer.decode(data), data.length, 64), undefined, `${serializer.id}: a frame's own strings and binary fit its byte count`)
  }
  t.match(plainDataProblem(cycle, 20, 64), /more than once/)
})

t.test('issue 15: JSON refuses NaN and Infinity literals and numbers beyond float64', async (t) => {
  t.throws(() => jsonSerializer.decode(Buffer.from('[NaN]')))
  t.throws(() => jsonSerializer.decode(Buffer.from('[Infinity]')))
  const big = Buffer.from('[1e400]')
  t.match(plainDataProblem(jsonSerializer.decode(big), big.length, 64), /Infinity is not WAMP data/)
})

t.test('issue 15: whatever plain data a serializer encodes, its decode passes the check (no false refusals)', async (t) => {
  const { tree } = fc.letrec((tie) => ({
    tree: fc.oneof({ depthSize: 'small' }, tie('leaf'), fc.array(tie('tree'), { maxLength: 5 }), fc.dictionary(fc.string({ unit: 'binary', maxLength: 6 }), tie('tree'), { maxKeys: 5 })),
    leaf: fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.maxSafeInteger(),
      fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }), fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)))
  }))
  let checked = 0
  fc.assert(fc.property(fc.array(tree, { maxLength: 4 }), (args) => {
    for (const serializer of [jsonSerializer, msgpackSerializer, cborSerializer]) {
      const data = Buffer.from(serializer.encode([48, 1, {}, 'a.b', args]))
      const problem = plainDataProblem(serializer.decode(data), data.length, DEFAULT_MAX_DEPTH)
      if (problem !== undefined) throw new Error(`${serializer.id}: ${problem}`)
      checked++
    }
  }), { seed: 15, numRuns: 2000 })
  t.equal(checked, 6000)
})
