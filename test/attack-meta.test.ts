import t from 'tap'
import { startApp } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'

// Hostile clients against the Meta API surfaces: forged meta events, reserved topics, hostile arguments.

/** The EVENTs `client` receives before the marker publication (so "nothing" needs no timeout). */
async function eventsBefore (client: RawClient, publishMarker: () => void): Promise<unknown[][]> {
  publishMarker()
  const got: unknown[][] = []
  for (;;) {
    const msg = await client.next()
    if (msg[0] === MSG.EVENT && (msg[4] as unknown[] | undefined)?.[0] === 'marker') return got
    got.push(msg)
  }
}

t.test('a client cannot PUBLISH to a reserved wamp.* topic (no forged meta events, nothing retained): ERROR invalid_uri', async (t) => {
  const { app, url } = await startApp(t, { metaApi: true, realms: [{ name: 'realm1', broker: true }] })
  const listener = await connectRaw(url)
  listener.client.send([MSG.SUBSCRIBE, 1, {}, 'wamp.session.on_leave'])
  const subscribed = await listener.client.next()
  t.equal(subscribed[0], MSG.SUBSCRIBED)
  const forger = await connectRaw(url)
  forger.client.send([MSG.PUBLISH, 7, { acknowledge: true, retain: true }, 'wamp.session.on_leave', [listener.sessionId, 'admin', 'admin']])
  t.match(await forger.client.next(), [MSG.ERROR, MSG.PUBLISH, 7, {}, 'wamp.error.invalid_uri'])
  forger.client.send([MSG.PUBLISH, 8, {}, 'wamp.session.on_leave', [listener.sessionId, 'admin', 'admin']])
  t.same(await eventsBefore(listener.client, () => app.wamp.publishToAll('wamp.session.on_leave', ['marker'])), [], 'no forged event reached the listener')
  listener.client.send([MSG.SUBSCRIBE, 2, { get_retained: true }, 'wamp.session.on_leave'])
  t.same(await listener.client.next(), [MSG.SUBSCRIBED, 2, subscribed[2]])
  t.same(await eventsBefore(listener.client, () => app.wamp.publishToAll('wamp.session.on_leave', ['marker'])), [], 'nothing was retained')
  await Promise.all([listener.client.close(), forger.client.close()])
})

t.test('a testament cannot publish to a reserved wamp.* topic: ERROR invalid_uri, nothing published when the session ends', async (t) => {
  const { app, url } = await startApp(t, { metaApi: true, realms: [{ name: 'realm1', broker: true }] })
  const listener = await connectRaw(url)
  listener.client.send([MSG.SUBSCRIBE, 1, {}, 'wamp.registration.on_delete'])
  t.equal((await listener.client.next())[0], MSG.SUBSCRIBED)
  const forger = await connectRaw(url)
  forger.client.send([MSG.CALL, 1, {}, 'wamp.session.add_testament', ['wamp.registration.on_delete', [1, 2]]])
  t.match(await forger.client.next(), [MSG.ERROR, MSG.CALL, 1, {}, 'wamp.error.invalid_uri'])
  await forger.client.close()
  t.same(await eventsBefore(listener.client, () => app.wamp.publishToAll('wamp.registration.on_delete', ['marker'])), [], 'no forged event')
  await listener.client.close()
})
