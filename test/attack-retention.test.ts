import t from 'tap'
import type { FastifyWampOptions, WampSession as Session } from '../index.js'
import { startApp, internal, hubOf } from './helpers/app.js'
import type { LocalRetention, Retention } from '../lib/pubsub/retention.js'
import { connectRaw, messagesBeforeMarker, MSG } from './helpers/raw-client.js'
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

t.test('retention bounds count what is really kept: receiver lists and publisher details, not only args and kwargs', async (t) => {
  const { app, url } = await startApp(t, {
    ...brokered,
    maxPayload: 1024 * 1024,
    realms: [{ name: 'realm1', broker: true, retention: { maxEventBytes: 1024, maxBytes: 8 * 1024 } }]
  })
  const store = (hubOf(app).realm('realm1').broker.retention as Retention).store as LocalRetention
  const { client } = await join(url)
  // Tiny args, 200 KiB of authids nobody has: 1 KiB per event would hold 200 KiB each, 8 KiB per realm megabytes.
  const ballast = Array.from({ length: 20_000 }, (_, i) => `nobody-${i}`)
  for (let i = 1; i <= 5; i++) {
    client.send([MSG.PUBLISH, i, { acknowledge: true, retain: true, exclude_authid: ballast, disclose_me: true }, `com.ballast.${i}`, [i]])
    t.match(await client.next(), [MSG.PUBLISHED, i])
  }
  t.same(store.size, { topics: 0, bytes: 0 }, 'events whose receiver lists exceed maxEventBytes are not retained')
  client.send([MSG.PUBLISH, 9, { acknowledge: true, retain: true, exclude_authid: ['nobody'], disclose_me: true }, 'com.small', [1]])
  t.match(await client.next(), [MSG.PUBLISHED, 9])
  t.equal(store.size.topics, 1, 'a small restricted one still is')
  t.ok(store.size.bytes > 20, `its receiver list and publisher details count (${store.size.bytes} bytes)`)
  await client.close()
})

t.test('PUBLISH retain by a role without publish permission retains nothing, acknowledged or not', async (t) => {
  const { app, url } = await startApp(t, {
    ...brokered,
    permissions: {
      reader: [{ uri: 'com.', match: 'prefix', allow: ['subscribe'] }],
      writer: [{ uri: 'com.', match: 'prefix', allow: ['subscribe', 'publish'] }]
    }
  })
  const reader = await join(url, ['r', 'reader'])
  reader.client.send([MSG.PUBLISH, 1, { acknowledge: true, retain: true }, 'com.status', ['forged']])
  t.match(await reader.client.next(), [MSG.ERROR, MSG.PUBLISH, 1, {}, 'wamp.error.not_authorized'])
  reader.client.send([MSG.PUBLISH, 2, { retain: true }, 'com.status', ['forged quietly']])
  reader.client.send([MSG.SUBSCRIBE, 3, {}, 'com.other']) // answered after the PUBLISH before it was handled
  t.match(await reader.client.next(), [MSG.SUBSCRIBED, 3])
  const writer = await join(url, ['w', 'writer'])
  writer.client.send([MSG.SUBSCRIBE, 1, { get_retained: true }, 'com.status'])
  t.equal((await writer.client.next())[0], MSG.SUBSCRIBED)
  t.same(await messagesBeforeMarker(writer.client, () => app.wamp.publishToAll('com.status', ['marker'])), [], 'nothing was retained')
  await Promise.all([reader.client.close(), writer.client.close()])
})

t.test('a pattern subscriber gets, per topic, only the newest retained event its identity is eligible for', async (t) => {
  const { app, url } = await startApp(t, brokered)
  app.wamp.publishToAll('com.p.a', ['not for guests'], undefined, { retain: true, excludeAuthrole: 'guest' })
  app.wamp.publishToAll('com.p.b', ['only for bob'], undefined, { retain: true, eligibleAuthid: 'bob' })
  app.wamp.publishToAll('com.p.c', ['everyone'], undefined, { retain: true })
  app.wamp.publishToAll('com.p.d', ['everyone, older'], undefined, { retain: true })
  app.wamp.publishToAll('com.p.d', ['newer, not for guests'], undefined, { retain: true, excludeAuthrole: 'guest' })
  app.wamp.publishToAll('com.q.e', ['another branch'], undefined, { retain: true })
  const guest = await join(url, ['eve', 'guest'])
  guest.client.send([MSG.SUBSCRIBE, 1, { get_retained: true, match: 'prefix' }, 'com.p.'])
  t.equal((await guest.client.next())[0], MSG.SUBSCRIBED)
  const got = await messagesBeforeMarker(guest.client, () => app.wamp.publishToAll('com.p.z', ['marker']))
  t.same(got.map((m) => [(m[3] as { topic: string }).topic, (m[4] as unknown[])[0]]), [['com.p.c', 'everyone'], ['com.p.d', 'everyone, older']])
  const bob = await join(url, ['bob', 'user'])
  bob.client.send([MSG.SUBSCRIBE, 1, { get_retained: true, match: 'wildcard' }, 'com..b'])
  t.equal((await bob.client.next())[0], MSG.SUBSCRIBED)
  const bobs = await messagesBeforeMarker(bob.client, () => app.wamp.publishToAll('com.x.b', ['marker']))
  t.same(bobs.map((m) => (m[4] as unknown[])[0]), ['only for bob'])
  await Promise.all([guest.client.close(), bob.client.close()])
})

t.test('the same SUBSCRIBE get_retained again (same subscription id) sends no retained event again', async (t) => {
  const { app, url } = await startApp(t, brokered)
  for (let i = 0; i < 20; i++) app.wamp.publishToAll(`com.amp.${i}`, [i], undefined, { retain: true })
  const { client } = await join(url)
  client.send([MSG.SUBSCRIBE, 90, {}, 'com.other'])
  t.match(await client.next(), [MSG.SUBSCRIBED, 90])
  client.send([MSG.SUBSCRIBE, 1, { get_retained: true, match: 'prefix' }, 'com.amp.'])
  const sub = (await client.next())[2]
  const first = await messagesBeforeMarker(client, () => app.wamp.publishToAll('com.other', ['marker']))
  t.equal(first.filter((m) => m[0] === MSG.EVENT && m[1] === sub).length, 20, 'the new pattern subscription: one per topic')
  client.send([MSG.SUBSCRIBE, 2, { get_retained: true }, 'com.amp.0'])
  const exact = (await client.next())[2]
  t.match(await client.next(), [MSG.EVENT, exact, Number, { retained: true }, [0]], 'the new exact subscription: its one')

  // 100 repeats of 40-byte requests: 100 SUBSCRIBED with the same ids, not 100 × 20 EVENTs.
  for (let i = 0; i < 50; i++) {
    client.send([MSG.SUBSCRIBE, 100 + 2 * i, { get_retained: true, match: 'prefix' }, 'com.amp.'])
    client.send([MSG.SUBSCRIBE, 101 + 2 * i, { get_retained: true }, 'com.amp.0'])
  }
  const again: unknown[][] = []
  while (again.length < 100) again.push(await client.next())
  t.same(again, Array.from({ length: 100 }, (_, i) => [MSG.SUBSCRIBED, 100 + i, i % 2 === 0 ? sub : exact]), 'each SUBSCRIBE answered, with the same id, no EVENT between')
  t.same(await messagesBeforeMarker(client, () => app.wamp.publishToAll('com.other', ['marker'])), [], 'and no EVENT after: the subscriptions were not new')

  // A new subscription after UNSUBSCRIBE is new again: the retained events come, as for any new subscriber.
  client.send([MSG.UNSUBSCRIBE, 300, exact])
  t.same(await client.next(), [MSG.UNSUBSCRIBED, 300])
  client.send([MSG.SUBSCRIBE, 301, { get_retained: true }, 'com.amp.0'])
  t.match(await client.next(), [MSG.SUBSCRIBED, 301])
  t.match(await client.next(), [MSG.EVENT, Number, Number, { retained: true }, [0]])
  await client.close()
})

t.test('retention.maxEventsPerSubscribe bounds what one pattern SUBSCRIBE sends: the topics retained most recently', async (t) => {
  const bounded = (max?: number): FastifyWampOptions => ({ realms: [{ name: 'realm1', broker: true, retention: max === undefined ? true : { maxEventsPerSubscribe: max } }] })
  const events = async (url: string, publish: () => void): Promise<unknown[]> => {
    const { client } = await join(url)
    t.teardown(() => client.close())
    client.send([MSG.SUBSCRIBE, 1, { get_retained: true, match: 'prefix' }, 'com.many.'])
    t.equal((await client.next())[0], MSG.SUBSCRIBED)
    return (await messagesBeforeMarker(client, publish)).map((m) => (m[4] as unknown[])[0])
  }
  const small = await startApp(t, bounded(3))
  for (let i = 0; i < 10; i++) small.app.wamp.publishToAll(`com.many.${i}`, [i], undefined, { retain: true })
  small.app.wamp.publishToAll('com.many.2', [12], undefined, { retain: true }) // retained again: the most recent topic
  t.same(await events(small.url, () => small.app.wamp.publishToAll('com.many.x', ['marker'])), [8, 9, 12], 'the 3 most recent topics, oldest first')

  const byDefault = await startApp(t, bounded())
  for (let i = 0; i < 150; i++) byDefault.app.wamp.publishToAll(`com.many.${i}`, [i], undefined, { retain: true })
  t.same(await events(byDefault.url, () => byDefault.app.wamp.publishToAll('com.many.x', ['marker'])), Array.from({ length: 100 }, (_, i) => 50 + i), 'default 100')

  await t.rejects(startApp(t, bounded(0)), /retention\.maxEventsPerSubscribe must be an integer ≥ 1/)
})
