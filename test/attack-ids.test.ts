import t from 'tap'
import fc from 'fast-check'
import { startApp } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'

// Id fields of client messages (WAMP spec "IDs": integers in [1, 2^53]): anything else is ABORT protocol_violation,
// whatever the message and the serializer; in range, the message is answered as usual.

const MAX_ID = 2 ** 53

/** Client messages with an id at `at`, and what a valid one gets (a message type, or undefined: no answer). */
const CARRIERS: Array<{ name: string, make: (id: number) => unknown[], at: number }> = [
  { name: 'CALL request', make: (id) => [MSG.CALL, id, {}, 'echo', [1]], at: 1 },
  { name: 'PUBLISH request', make: (id) => [MSG.PUBLISH, id, { acknowledge: true }, 'com.topic'], at: 1 },
  { name: 'SUBSCRIBE request', make: (id) => [MSG.SUBSCRIBE, id, {}, 'com.topic'], at: 1 },
  { name: 'UNSUBSCRIBE request', make: (id) => [MSG.UNSUBSCRIBE, id, 1], at: 1 },
  { name: 'UNSUBSCRIBE subscription', make: (id) => [MSG.UNSUBSCRIBE, 1, id], at: 2 },
  { name: 'REGISTER request', make: (id) => [MSG.REGISTER, id, {}, 'com.proc'], at: 1 },
  { name: 'UNREGISTER registration', make: (id) => [MSG.UNREGISTER, 1, id], at: 2 },
  { name: 'CANCEL request', make: (id) => [MSG.CANCEL, id, {}], at: 1 },
  { name: 'YIELD request', make: (id) => [MSG.YIELD, id, {}], at: 1 },
  { name: 'ERROR request', make: (id) => [MSG.ERROR, MSG.INVOCATION, id, {}, 'com.error'], at: 2 }
]

const BAD_IDS = [0, -1, -MAX_ID, 0.5, 1.5, MAX_ID + 2, 2 ** 60, Number.MAX_VALUE]

async function answerTo (client: RawClient, msg: unknown[]): Promise<unknown[] | 'closed'> {
  client.send(msg)
  // A marker CALL after it: whatever comes first tells whether the message was refused.
  client.send([MSG.CALL, 777, {}, 'echo', ['marker']])
  for (;;) {
    const next = await client.next().catch(() => undefined)
    if (next === undefined) return 'closed'
    if (next[0] === MSG.ABORT) return next
    if (next[0] === MSG.RESULT && next[1] === 777) return next
  }
}

for (const protocol of ['wamp.2.json', 'wamp.2.msgpack', 'wamp.2.cbor']) {
  t.test(`${protocol}: an id of 0, negative, fractional or above 2^53 in any id field → ABORT protocol_violation`, async (t) => {
    const { url } = await startApp(t, {}, (app) => { app.wamp.register('echo', (args) => args[0]) })
    for (const carrier of CARRIERS) {
      for (const id of BAD_IDS) {
        const { client } = await connectRaw(url, { protocols: [protocol] })
        const answer = await answerTo(client, carrier.make(id))
        t.match(answer, [MSG.ABORT, { message: new RegExp(`element ${carrier.at} must be an id`) }, 'wamp.error.protocol_violation'], `${carrier.name} ${id}`)
        await client.closed
      }
    }
  })
}

t.test('property: any id in [1, 2^53] is accepted as an id, any other number is a violation', async (t) => {
  const { url } = await startApp(t, {}, (app) => { app.wamp.register('echo', (args) => args[0]) })
  const { client } = await connectRaw(url, { protocols: ['wamp.2.msgpack'] })
  let session = client
  await fc.assert(fc.asyncProperty(
    fc.oneof(fc.integer({ min: 1, max: MAX_ID }), fc.integer({ min: -MAX_ID, max: 0 }), fc.double({ noNaN: true, noDefaultInfinity: true })),
    async (id) => {
      const valid = Number.isInteger(id) && id >= 1 && id <= MAX_ID
      const answer = await answerTo(session, [MSG.CANCEL, id, {}])
      if (valid) return answer !== 'closed' && answer[0] === MSG.RESULT
      const ok = answer !== 'closed' && answer[0] === MSG.ABORT && answer[2] === 'wamp.error.protocol_violation'
      await session.closed
      session = (await connectRaw(url, { protocols: ['wamp.2.msgpack'] })).client
      return ok
    }), { seed: 53, numRuns: 60 })
  await session.close()
})
