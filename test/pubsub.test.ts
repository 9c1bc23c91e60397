import t from 'tap'
import Type from 'typebox'
import { startApp, sleep, until } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import type { PublishContext } from '../index.js'

for (const protocol of ['wamp.2.json', 'wamp.2.msgpack', 'wamp.2.cbor']) {
  t.test(`PubSub over ${protocol}`, async (t) => {
    const { url, app } = await startApp(t)
    const { client: a } = await connectRaw(url, { protocols: [protocol] })
    const { client: b } = await connectRaw(url, { protocols: [protocol] })
    const { client: idle } = await connectRaw(url, { protocols: [protocol] })

    a.send([MSG.SUBSCRIBE, 1, {}, 'com.news'])
    const subA = await a.next()
    t.equal(subA[0], MSG.SUBSCRIBED)
    b.send([MSG.SUBSCRIBE, 7, {}, 'com.news'])
    const subB = await b.next()
    t.equal(subB[2], subA[2], 'one subscription id per topic, shared by sessions')
    a.send([MSG.SUBSCRIBE, 2, {}, 'com.news'])
    t.same(await a.next(), [MSG.SUBSCRIBED, 2, subA[2]], 'subscribing again returns the same id')

    t.equal(app.wamp.publishToAll('com.news', ['hi'], { n: 1 }), 2, 'publishToAll counts the EVENTs sent')
    const ea = await a.next()
    const eb = await b.next()
    t.same(ea.slice(0, 2), [MSG.EVENT, subA[2]])
    t.same(ea.slice(3), [{}, ['hi'], { n: 1 }])
    t.equal(ea[2], eb[2], 'one publication id for all receivers')
    t.ok(Number.isInteger(ea[2]) && (ea[2] as number) >= 1 && (ea[2] as number) <= 2 ** 53)
    await idle.expectNone(50)

    app.wamp.publishToAll('com.news')
    t.same((await a.next()).slice(3), [{}], 'no payload → no args')
    await b.next()
    app.wamp.publishToAll('com.news', undefined, { only: 'kw' })
    t.same((await a.next()).slice(3), [{}, [], { only: 'kw' }])
    await b.next()
    t.equal(app.wamp.publishToAll('com.other', [1]), 0, 'nobody subscribed')

    a.send([MSG.UNSUBSCRIBE, 3, subA[2]])
    t.same(await a.next(), [MSG.UNSUBSCRIBED, 3])
    app.wamp.publishToAll('com.news', [2])
    t.same((await b.next()).slice(4), [[2]], 'the other subscriber still receives')
    await a.expectNone(50)
    a.send([MSG.UNSUBSCRIBE, 4, subA[2]])
    t.same((await a.next()).slice(0, 5), [MSG.ERROR, MSG.UNSUBSCRIBE, 4, {}, 'wamp.error.no_such_subscription'])

    await Promise.all([a.close(), b.close(), idle.close()])
  })
}

t.test('one encode per serializer per publication: mixed serializers receive the same event', async (t) => {
  const { url, app } = await startApp(t)
  const clients = await Promise.all(['wamp.2.json', 'wamp.2.msgpack', 'wamp.2.cbor', 'wamp.2.json'].map(
    (p) => connectRaw(url, { protocols: [p] })))
  for (const { client } of clients) {
    client.send([MSG.SUBSCRIBE, 1, {}, 't'])
    await client.next()
  }
  t.equal(app.wamp.publishToAll('t', [{ deep: [1, 2, { x: 'y' }] }]), 4)
  for (const { client } of clients) t.same((await client.next()).slice(3), [{}, [{ deep: [1, 2, { x: 'y' }] }]])
  await Promise.all(clients.map(({ client }) => client.close()))
})

t.test('session.publish reaches only that session', async (t) => {
  const { url, app } = await startApp(t)
  const one = await connectRaw(url)
  const two = await connectRaw(url)
  for (const { client } of [one, two]) {
    client.send([MSG.SUBSCRIBE, 1, {}, 'private'])
    await client.next()
  }
  const session = app.wamp.sessions.get(one.sessionId)
  t.equal(session?.publish('private', ['for you']), 1)
  t.same((await one.client.next()).slice(4), [['for you']])
  await two.client.expectNone(50)
  t.equal(app.wamp.sessions.get(two.sessionId)?.publish('elsewhere', [1]), 0)
  await Promise.all([one.client.close(), two.client.close()])
})

t.test('prefix and wildcard subscriptions receive matching events with details.topic', async (t) => {
  const { url, app } = await startApp(t)
  const { client } = await connectRaw(url)
  client.send([MSG.SUBSCRIBE, 1, { match: 'prefix' }, 'com.app.'])
  const prefix = (await client.next())[2]
  client.send([MSG.SUBSCRIBE, 2, { match: 'wildcard' }, 'com..update'])
  const wildcard = (await client.next())[2]
  client.send([MSG.SUBSCRIBE, 3, { match: 'regex' }, 'com'])
  t.same((await client.next()).slice(0, 5), [MSG.ERROR, MSG.SUBSCRIBE, 3, {}, 'wamp.error.invalid_argument'])
  client.send([MSG.SUBSCRIBE, 4, {}, 'bad..uri'])
  t.same((await client.next()).slice(4, 5), ['wamp.error.invalid_uri'])

  t.equal(app.wamp.publishToAll('com.app.update', [1]), 2, 'both patterns match')
  const events = [await client.next(), await client.next()]
  t.same(new Set(events.map((e) => e[1])), new Set([prefix, wildcard]))
  for (const e of events) t.same(e[3], { topic: 'com.app.update' })
  t.equal(app.wamp.publishToAll('com.user.update'), 1)
  t.same((await client.next()).slice(1, 2), [wildcard])
  t.equal(app.wamp.publishToAll('com.user.update.more'), 0, 'wildcard components are exact in number')
  await client.close()
})

t.test('client PUBLISH reaches server topic handlers, validated, with acknowledge', async (t) => {
  const received: Array<{ args: unknown, kwargs: unknown, ctx: PublishContext }> = []
  const { url } = await startApp(t, {}, (app) => {
    app.wamp.subscribe('chat.message', { args: Type.Tuple([Type.String()]) }, (args, kwargs, ctx) => {
      received.push({ args, kwargs, ctx })
    })
    app.wamp.subscribe('chat.log', async () => { await sleep(1); throw new Error('handler failure is logged, not fatal') })
  })
  const { client, sessionId } = await connectRaw(url)
  client.send([MSG.PUBLISH, 1, { acknowledge: true }, 'chat.message', ['hello']])
  const published = await client.next()
  t.equal(published[0], MSG.PUBLISHED)
  t.equal(published[1], 1)
  await until(() => received.length === 1)
  t.same(received[0].args, ['hello'])
  t.equal(received[0].ctx.session.id, sessionId)
  t.equal(received[0].ctx.publicationId, published[2])

  client.send([MSG.PUBLISH, 2, { acknowledge: true }, 'chat.message', [42]])
  const refused = await client.next()
  t.same(refused.slice(0, 5), [MSG.ERROR, MSG.PUBLISH, 2, {}, 'wamp.error.invalid_argument'])
  client.send([MSG.PUBLISH, 3, {}, 'chat.message', [42]])
  client.send([MSG.PUBLISH, 4, {}, 'chat.message', ['no ack']])
  await client.expectNone(50)
  t.equal(received.length, 2, 'the invalid publication never reached the handler')
  client.send([MSG.PUBLISH, 5, { acknowledge: true }, 'chat.log'])
  t.equal((await client.next())[0], MSG.PUBLISHED, 'a failing handler does not affect the publisher')
  client.send([MSG.PUBLISH, 6, { acknowledge: true }, 'no.handler'])
  t.equal((await client.next())[0], MSG.PUBLISHED, 'accepted even without handlers')
  client.send([MSG.PUBLISH, 7, { acknowledge: true }, 'bad uri'])
  t.same((await client.next()).slice(4, 5), ['wamp.error.invalid_uri'])
  await client.close()
})

t.test('publishToAll from an HTTP route', async (t) => {
  const { url, port } = await startApp(t, {}, (app) => {
    app.post('/notify', async (request) => ({ sent: app.wamp.publishToAll('alerts', [request.body]) }))
  })
  const { client } = await connectRaw(url)
  client.send([MSG.SUBSCRIBE, 1, {}, 'alerts'])
  await client.next()
  const res = await fetch(`http://127.0.0.1:${port}/notify`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ level: 'high' })
  })
  t.same(await res.json(), { sent: 1 })
  t.same((await client.next()).slice(4), [[{ level: 'high' }]])
  await client.close()
})

t.test('a dropped socket loses its subscriptions', async (t) => {
  const { url, app } = await startApp(t)
  const { client } = await connectRaw(url)
  client.send([MSG.SUBSCRIBE, 1, {}, 'gone'])
  await client.next()
  await client.terminate()
  await until(() => app.wamp.sessions.size === 0)
  t.equal(app.wamp.publishToAll('gone', [1]), 0)
})
