import t from 'tap'
import { Type } from 'typebox'
import { startApp } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import { MAX_LISTED_VALUES } from '../lib/validation.js'

// A payload that fails its schema is answered with the validation errors — but TypeBox lists them by walking every
// value of the payload (microseconds each, whatever maxErrors says), so a frame of 500 000 numbers held the event loop
// for seconds, for every session. Past MAX_LISTED_VALUES values the failing part gets one issue instead.

const MANY = 300_000

const summary = (where: string): unknown => ({ where, path: '', message: new RegExp(`errors are listed for at most ${MAX_LISTED_VALUES} values`) })

for (const protocol of ['wamp.2.json', 'wamp.2.msgpack', 'wamp.2.cbor']) {
  t.test(`${protocol}: a CALL whose ${MANY} arguments fail the schema → one invalid_argument issue, not a walk of every value`, async (t) => {
    let runs = 0
    const { url } = await startApp(t, {}, (app) => {
      app.wamp.register('names', { args: Type.Array(Type.String()), kwargs: Type.Object({ a: Type.String() }, { additionalProperties: false }) }, () => { runs++ })
    })
    const { client } = await connectRaw(url, { protocols: [protocol] })
    client.send([MSG.CALL, 1, {}, 'names', new Array(MANY).fill(0)])
    t.match(await client.next(10_000), [MSG.ERROR, MSG.CALL, 1, {}, 'wamp.error.invalid_argument', [/^invalid args: does not match the schema/], { errors: [summary('args')] }])
    const kwargs: Record<string, number> = {}
    for (let i = 0; i < 50_000; i++) kwargs[`k${i}`] = i
    client.send([MSG.CALL, 2, {}, 'names', [], kwargs])
    t.match(await client.next(10_000), [MSG.ERROR, MSG.CALL, 2, {}, 'wamp.error.invalid_argument', [], { errors: [summary('kwargs')] }])
    // Within the bound, the errors are listed as before.
    client.send([MSG.CALL, 3, {}, 'names', new Array(MAX_LISTED_VALUES - 1).fill(0).map((_, i) => i === 5 ? 5 : 'x')])
    t.match(await client.next(), [MSG.ERROR, MSG.CALL, 3, {}, 'wamp.error.invalid_argument', ['invalid args/5: must be string'], { errors: [{ where: 'args', path: '/5', message: 'must be string' }] }])
    t.equal(runs, 0)
    await client.close()
  })
}

t.test('the same bound for a PUBLISH to a topic handler with a schema', async (t) => {
  const { url } = await startApp(t, {}, (app) => {
    app.wamp.subscribe('com.names', { args: Type.Array(Type.String()) }, () => {})
  })
  const { client } = await connectRaw(url, { protocols: ['wamp.2.msgpack'] })
  client.send([MSG.PUBLISH, 1, { acknowledge: true }, 'com.names', new Array(MANY).fill(0)])
  t.match(await client.next(10_000), [MSG.ERROR, MSG.PUBLISH, 1, {}, 'wamp.error.invalid_argument', [], { errors: [summary('args')] }])
  await client.close()
})
