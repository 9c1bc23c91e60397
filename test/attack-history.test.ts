import t from 'tap'
import { startApp, internal } from './helpers/app.js'
import type { WampSession as Session } from '../index.js'
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

t.test('a publication the caller may not see bounds nothing: after_publication of it answers as for an unknown id', async (t) => {
  const identify = (session: Session): void => {
    const role = session.request?.headers['x-authrole']
    if (typeof role === 'string') internal(session).authrole = role
  }
  const { url } = await startApp(t, {
    metaApi: true,
    onSessionOpen: identify,
    realms: [{ name: 'realm1', broker: true, history: [{ topic: 'com.log', limit: 10 }] }]
  })
  const admin = (await connectRaw(url, { headers: { 'x-authrole': 'admin' } })).client
  const user = (await connectRaw(url, { headers: { 'x-authrole': 'user' } })).client
  user.send([MSG.SUBSCRIBE, 1, {}, 'com.log'])
  const [, , subscription] = await user.next()
  admin.send([MSG.PUBLISH, 1, { acknowledge: true }, 'com.log', ['first']])
  t.match(await admin.next(), [MSG.PUBLISHED, 1])
  admin.send([MSG.PUBLISH, 2, { acknowledge: true, eligible_authrole: ['admin'] }, 'com.log', ['admins only']])
  const [, , secret] = await admin.next()
  admin.send([MSG.PUBLISH, 3, { acknowledge: true }, 'com.log', ['last']])
  t.match(await admin.next(), [MSG.PUBLISHED, 3])
  t.same([(await user.next())[4], (await user.next())[4]], [['first'], ['last']], 'the user received the two public events live')
  const ask = async (id: number, kwargs: Record<string, unknown>): Promise<unknown> => {
    user.send([MSG.CALL, id, {}, 'wamp.subscription.get_events', [subscription], kwargs])
    const reply = await user.next()
    return ((reply[3] as unknown[])[0] as Array<{ args: unknown[] }>).map((e) => e.args[0])
  }
  t.same(await ask(10, {}), ['first', 'last'])
  t.same(await ask(11, { after_publication: secret }), [], 'as for an id it does not hold')
  t.same(await ask(12, { after_publication: 424242 }), [], 'an unknown id')
  t.same(await ask(13, { until_publication: secret }), [], 'nor an end bound')
  await Promise.all([admin.close(), user.close()])
})
