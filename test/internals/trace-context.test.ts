import t from 'tap'
import fc from 'fast-check'
import { traceContextFromWire, traceContextOf, validTraceparent } from '../../lib/trace-context.js'
import { decodePublication, encodePublication } from '../../lib/cluster/codec.js'

// issue 20: W3C traceparent validation (hostile values are ignored, never thrown on) and the fan-out envelope with
// and without a trace context.

const GOOD = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

t.test('validTraceparent accepts the W3C shape only', async (t) => {
  t.equal(validTraceparent(GOOD), GOOD)
  for (const bad of [undefined, null, 1, {}, [], '', GOOD.toUpperCase(), GOOD + '-', 'ff' + GOOD.slice(2),
    `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`, GOOD.replace('-', '_')]) {
    t.equal(validTraceparent(bad), undefined, JSON.stringify(bad))
  }
  t.same(traceContextOf({ _traceparent: GOOD, _tracestate: 'a=1' }), { traceparent: GOOD, tracestate: 'a=1' })
  t.same(traceContextOf({ _traceparent: GOOD, _tracestate: 'x'.repeat(513) }), { traceparent: GOOD, tracestate: undefined }, 'an oversized tracestate is dropped')
  t.equal(traceContextFromWire(['nope', null]), undefined)
})

t.test('property: any value is either a valid traceparent or ignored, never an exception', async () => {
  fc.assert(fc.property(fc.anything(), (value) => {
    const got = validTraceparent(value)
    return got === undefined || (typeof value === 'string' && /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/.test(got))
  }))
  fc.assert(fc.property(fc.anything(), (value) => { traceContextFromWire(value); traceContextOf({ _traceparent: value, _tracestate: value }); return true }))
})

t.test('the fan-out envelope carries a trace context only when there is one', async (t) => {
  const origin = Buffer.alloc(8, 7)
  const base = { realm: 'realm1', topic: 'com.x', publicationId: 5, args: [1], kwargs: undefined, publisher: undefined, filter: undefined }
  const plain = encodePublication(origin, base)
  t.equal(decodePublication(plain).trace, undefined)
  const traced = encodePublication(origin, { ...base, trace: { traceparent: GOOD, tracestate: 'a=1' } })
  t.ok(traced.length > plain.length)
  t.same(decodePublication(traced).trace, { traceparent: GOOD, tracestate: 'a=1' })
  t.match(decodePublication(traced), { realm: 'realm1', topic: 'com.x', publicationId: 5, args: [1] })
})
