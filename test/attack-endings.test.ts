import t from 'tap'
import { startApp, sleep, until } from './helpers/app.js'
import { connectRaw, MSG, STREAMING_HELLO_DETAILS } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'

// PROTOCOL §7.4 and §7.5 where the other exactly-once tests do not reach: one request id, one terminal message, and
// nothing for it after that, on one instance.

const STREAMING = { details: STREAMING_HELLO_DETAILS }

/** The messages before the answer to a CALL of `ping` with `id` (order proves nothing else came in between). */
async function before (client: RawClient, id: number): Promise<unknown[][]> {
  client.send([MSG.CALL, id, {}, 'ping'])
  const got: unknown[][] = []
  for (;;) {
    const msg = await client.next()
    if (msg[0] === MSG.RESULT && msg[1] === id) return got
    got.push(msg)
  }
}

for (const decision of [false, true]) {
  t.test(`a streamed call refused after a slow authorization (${decision ? 'allowed, no such procedure' : 'denied'}): one ERROR, its later chunks dropped`, async (t) => {
    let gate: ((allowed: boolean) => void) | undefined
    let checks = 0
    const { url } = await startApp(t, {
      streamGrace: 50,
      authorize: (_s, _action, uri) => {
        if (uri === 'ping') return true
        checks++
        if (checks > 1) return decision
        return new Promise<boolean>((resolve) => { gate = resolve })
      }
    }, (app) => {
      app.wamp.register('ping', () => 'pong')
      app.wamp.register('other.upload', async () => 'never', { input: 'stream' })
    })
    const { client } = await connectRaw(url, STREAMING)
    client.send([MSG.CALL, 1, { progress: true }, 'up', ['a']])
    client.send([MSG.CALL, 1, { progress: true }, 'up', ['b']])
    client.send([MSG.CALL, 1, {}, 'up', ['c']])
    await until(() => gate !== undefined)
    await sleep(100) // the authorizer is slower than streamGrace
    gate?.(decision)
    const answers = (await before(client, 2)).filter((m) => m[2] === 1)
    t.equal(answers.length, 1, `one answer for request 1 (got ${JSON.stringify(answers)})`)
    t.match(answers[0], [MSG.ERROR, MSG.CALL, 1, {}, decision ? 'wamp.error.no_such_procedure' : 'wamp.error.not_authorized'])
    t.equal(checks, 1, 'the chunks were not taken for new calls')
    client.send([MSG.CALL, 1, {}, 'ping'])
    t.same(await client.next(), [MSG.RESULT, 1, {}, ['pong']], 'after the final chunk the id is free')
    await client.close()
  })
}
