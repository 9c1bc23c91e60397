import t from 'tap'
import { startApp, until } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'

// GOODBYE's reason is a URI (spec: [GOODBYE, Details|dict, Reason|uri]), as ERROR's is: one that is not is a malformed
// message, answered ABORT protocol_violation rather than goodbye_and_out.

for (const reason of ['not a uri', '', 'a..b', 'wamp.close.', '#']) {
  t.test(`GOODBYE with the reason ${JSON.stringify(reason)} → ABORT protocol_violation`, async (t) => {
    const { app, url } = await startApp(t)
    const { client } = await connectRaw(url)
    client.send([MSG.GOODBYE, {}, reason])
    t.match(await client.next(), [MSG.ABORT, { message: 'GOODBYE.Reason must be a valid URI' }, 'wamp.error.protocol_violation'])
    await client.closed
    await until(() => app.wamp.sessions.size === 0, 2000, 'the session to end')
  })
}

t.test('GOODBYE with a URI reason, any URI, is answered goodbye_and_out', async (t) => {
  const { url } = await startApp(t)
  const { client } = await connectRaw(url)
  client.send([MSG.GOODBYE, { message: 'bye' }, 'com.myapp.leaving'])
  t.match(await client.next(), [MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out'])
  await client.close()
})
