import t from 'tap'
import { startApp } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'

// Hostile callers and publishers against event history (wamp.subscription.get_events, docs/retention-history.md).

t.test('history counts receiver lists and publisher details against maxEventBytes, not only args and kwargs', async (t) => {
  const { url } = await startApp(t, {
    maxPayload: 1024 * 1024,
    metaApi: true,
    realms: [{ name: 'realm1', broker: true, history: [{ topic: 'com.log', limit: 10, maxEventBytes: 1024 }] }]
  })
  const { client } = await connectRaw(url)
  client.send([MSG.SUBSCRIBE, 1, {}, 'com.log'])
  const [, , subscription] = await client.next()
  const ballast = Array.from({ length: 20_000 }, (_, i) => `nobody-${i}`)
  client.send([MSG.PUBLISH, 2, { acknowledge: true, exclude_authrole: ballast }, 'com.log', ['heavy']])
  t.match(await client.next(), [MSG.PUBLISHED, 2])
  client.send([MSG.PUBLISH, 3, { acknowledge: true, exclude_authrole: ['nobody'] }, 'com.log', ['light']])
  t.match(await client.next(), [MSG.PUBLISHED, 3])
  client.send([MSG.CALL, 4, {}, 'wamp.subscription.get_events', [subscription]])
  const result = await client.next()
  t.equal(result[0], MSG.RESULT)
  t.same(((result[3] as unknown[])[0] as Array<{ args: unknown[] }>).map((e) => e.args), [['light']], '200 KiB of rules behind 7 bytes of args were not kept')
  await client.close()
})
