import t from 'tap'
import { Unpackr } from 'msgpackr'
import { Decoder } from 'cbor-x'
import { jsonSerializer, msgpackSerializer, cborSerializer } from '../../index.js'
import { chooseSubprotocol, serializerTable } from '../../lib/serializers/index.js'

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
