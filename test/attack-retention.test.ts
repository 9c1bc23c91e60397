import t from 'tap'
import type { FastifyWampOptions, WampSession as Session } from '../index.js'
import { startApp, internal } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'

// Hostile subscribers and publishers against event retention (docs/retention-history.md).

function identify (session: Session): void {
  const { 'x-authid': authid, 'x-authrole': authrole } = session.request?.headers ?? {}
  if (typeof authid === 'string') internal(session).authid = authid
  if (typeof authrole === 'string') internal(session).authrole = authrole
}

async function join (url: string, who?: [string, string]): Promise<{ client: RawClient, sessionId: number }> {
  return await connectRaw(url, who === undefined ? {} : { headers: { 'x-authid': who[0], 'x-authrole': who[1] } })
}

/** The messages `client` receives before the marker publication (so "nothing" needs no timeout). */
async function before (client: RawClient, publishMarker: () => void): Promise<unknown[][]> {
  publishMarker()
  const got: unknown[][] = []
  for (;;) {
    const msg = await client.next()
    if (msg[0] === MSG.EVENT && (msg[4] as unknown[] | undefined)?.[0] === 'marker') return got
    got.push(msg)
  }
}

const brokered: FastifyWampOptions = { realms: [{ name: 'realm1', broker: true }], onSessionOpen: identify }

t.test('SUBSCRIBE get_retained that is not a boolean: ERROR invalid_argument, no subscription', async (t) => {
  const { app, url } = await startApp(t, brokered)
  app.wamp.publishToAll('com.r', ['kept'], undefined, { retain: true })
  const { client } = await join(url)
  let id = 1
  for (const bad of ['true', 1, null, {}, []]) {
    client.send([MSG.SUBSCRIBE, id, { get_retained: bad }, 'com.r'])
    t.match(await client.next(), [MSG.ERROR, MSG.SUBSCRIBE, id, {}, 'wamp.error.invalid_argument', ['SUBSCRIBE.Options.get_retained must be a boolean']], JSON.stringify(bad))
    id++
  }
  client.send([MSG.SUBSCRIBE, 90, {}, 'com.other']); t.match(await client.next(), [MSG.SUBSCRIBED, 90])
  client.send([MSG.SUBSCRIBE, id, {}, 'com.r'])
  t.match(await client.next(), [MSG.SUBSCRIBED, id])
  await client.close()
})
