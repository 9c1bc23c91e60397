import t from 'tap'
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import fastifyWamp, { RedisFanout } from '../index.js'
import type { FanoutAdapter } from '../index.js'
import { startApp, until } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'
import { connectAutobahn, connectWampy } from './helpers/clients.js'
import { eventually, freePort, inspector, REDIS_URL, startCluster, untilSubscribers } from './helpers/redis.js'

// Several instances sharing publications through a real Redis (PROTOCOL §4.4 across instances).

async function subscribe (client: RawClient, topic: string, options: Record<string, unknown> = {}): Promise<number> {
  client.send([MSG.SUBSCRIBE, 1, options, topic])
  const reply = await client.nextOfType(MSG.SUBSCRIBED)
  return reply[2] as number
}

t.test('publishToAll on one instance reaches autobahn, wampy and raw subscribers on three instances, once each', async (t) => {
  const { apps: [a, b, c], prefix } = await startCluster(t, 3)
  const redis = inspector(t)
  const ab = await connectAutobahn(a.url, { serializer: 'msgpack' })
  const wy = await connectWampy(b.url, { serializer: 'cbor' })
  const { client: raw } = await connectRaw(c.url)
  const abEvents: Array<{ args: unknown, kwargs: unknown, publication: unknown }> = []
  const wyEvents: Array<{ args: unknown, kwargs: unknown }> = []
  await ab.session.subscribe('com.news', (args, kwargs, details) => { abEvents.push({ args, kwargs, publication: details.publication }) })
  await wy.client.subscribe('com.news', (e: { argsList?: unknown, argsDict?: unknown }) => { wyEvents.push({ args: e.argsList, kwargs: e.argsDict }) })
  const exact = await subscribe(raw, 'com.news')
  const prefixed = await subscribe(raw, 'com.', { match: 'prefix' })
  t.same(await redis.pubsub('NUMSUB', `${prefix}realm1:t:com.news`), [`${prefix}realm1:t:com.news`, 3],
    'SUBSCRIBED came after Redis confirmed each subscription (issue 17)')

  t.equal(a.app.wamp.publishToAll('com.news', ['hi'], { n: 1 }), 1, 'the number of EVENTs sent by this instance')
  const events = [await raw.next(), await raw.next()]
  t.same(new Set(events.map((e) => e[1])), new Set([exact, prefixed]), 'one EVENT per subscription on the remote instance')
  t.same(events.find((e) => e[1] === exact)?.slice(3), [{}, ['hi'], { n: 1 }])
  t.same(events.find((e) => e[1] === prefixed)?.slice(3), [{ topic: 'com.news' }, ['hi'], { n: 1 }])
  t.equal(events[0][2], events[1][2])
  await until(() => abEvents.length === 1 && wyEvents.length === 1)
  t.same(abEvents[0], { args: ['hi'], kwargs: { n: 1 }, publication: events[0][2] }, 'the same publication id on every instance')
  t.same(wyEvents[0], { args: ['hi'], kwargs: { n: 1 } })

  t.equal(b.app.wamp.publishToAll('com.news', ['from b']), 1)
  await until(() => abEvents.length === 2 && wyEvents.length === 2)
  t.same(abEvents[1].args, ['from b'])
  t.same(wyEvents[1].args, ['from b'])
  t.same([(await raw.next())[4], (await raw.next())[4]], [['from b'], ['from b']])
  await raw.expectNone(100)
  t.equal(abEvents.length, 1 + 1, 'no echo: nobody gets an event twice')
  t.equal(wyEvents.length, 2)
  t.equal(a.app.wamp.fanout.stats.publishFailed, 0)
  t.ok(c.app.wamp.fanout.stats.received >= 2)

  await Promise.all([ab.close(), wy.close(), raw.close()])
})

t.test('an instance subscribes in Redis only to topics with local subscribers', async (t) => {
  const { apps: [a, b], prefix } = await startCluster(t, 2)
  const redis = inspector(t)
  const channel = `${prefix}realm1:t:com.only`
  t.same(await redis.pubsub('CHANNELS', `${prefix}*`), [], 'no subscriber, no Redis subscription')
  const { client: one } = await connectRaw(b.url)
  const { client: two } = await connectRaw(b.url)
  const id = await subscribe(one, 'com.only')
  await subscribe(two, 'com.only')
  t.same(await redis.pubsub('CHANNELS', `${prefix}*`), [channel], 'one channel for the topic, one instance subscribed')
  a.app.wamp.publishToAll('com.only', [1])
  t.same((await one.next()).slice(4), [[1]])
  t.same((await two.next()).slice(4), [[1]])
  one.send([MSG.UNSUBSCRIBE, 2, id])
  await one.next()
  await untilSubscribers(redis, channel, 1)
  await two.close()
  await untilSubscribers(redis, channel, 0)
  t.same(await redis.pubsub('CHANNELS', `${prefix}*`), [], 'the last subscriber left: unsubscribed')
  await one.close()
})

t.test('pattern subscriptions across instances: Redis globs are escaped and re-checked', async (t) => {
  const { apps: [a, b] } = await startCluster(t, 2)
  const { client } = await connectRaw(b.url)
  const wildcard = await subscribe(client, 'com..update', { match: 'wildcard' })
  const literal = await subscribe(client, 'glob*[x]?', { match: 'prefix' })
  // PSUBSCRIBE has no confirmation we can see per pattern: poll with publications until the first arrives.
  await eventually(async () => {
    a.app.wamp.publishToAll('com.user.update', ['probe'])
    return (await client.next(100).catch(() => undefined)) !== undefined
  }, 3000, 'pattern subscription in Redis')
  while ((await client.next(100).catch(() => undefined)) !== undefined);

  a.app.wamp.publishToAll('com.a.b.update', ['too deep'])
  a.app.wamp.publishToAll('globby', ['glob chars are literal'])
  a.app.wamp.publishToAll('globX[x]?', ['no'])
  a.app.wamp.publishToAll('glob*[x]?.yes', ['yes'])
  a.app.wamp.publishToAll('com.app.update', ['match'])
  const first = await client.next()
  t.same([first[1], first[3], first[4]], [literal, { topic: 'glob*[x]?.yes' }, ['yes']])
  const second = await client.next()
  t.same([second[1], second[3], second[4]], [wildcard, { topic: 'com.app.update' }, ['match']])
  await client.expectNone(100)
  await client.close()
})

t.test('each publisher\'s order is preserved across instances', async (t) => {
  const { apps: [a, b] } = await startCluster(t, 2)
  const { client } = await connectRaw(b.url, { protocols: ['wamp.2.msgpack'] })
  await subscribe(client, 'com.seq')
  for (let i = 0; i < 500; i++) a.app.wamp.publishToAll('com.seq', [i])
  const seen: unknown[] = []
  for (let i = 0; i < 500; i++) seen.push((await client.next())[4])
  t.same(seen, Array.from({ length: 500 }, (_, i) => [i]))
  await client.close()
})

t.test('publishToAll with eligible reaches one session on another instance', async (t) => {
  const { apps: [a, b] } = await startCluster(t, 2)
  const target = await connectRaw(b.url)
  const other = await connectRaw(b.url)
  const local = await connectRaw(a.url)
  for (const { client } of [target, other, local]) await subscribe(client, 'com.private')
  t.equal(a.app.wamp.publishToAll('com.private', ['for you'], undefined, { eligible: target.sessionId }), 0)
  t.same((await target.client.next()).slice(4), [['for you']])
  a.app.wamp.publishToAll('com.private', ['not b'], undefined, { exclude: [target.sessionId, other.sessionId] })
  t.same((await local.client.next()).slice(4), [['not b']])
  await other.client.expectNone(100)
  await target.client.expectNone(0)
  t.throws(() => a.app.wamp.publishToAll('com.private', [], undefined, { eligible: ['x' as unknown as number] }), /eligible/)
  await Promise.all([target.client.close(), other.client.close(), local.client.close()])
})

t.test('issue 17: SUBSCRIBED means subscribed cluster-wide: a publication right after it arrives; order is kept', async (t) => {
  const { apps: [a, b, c] } = await startCluster(t, 3, { realms: [{ name: 'realm1', broker: true }] })
  const { client: onB } = await connectRaw(b.url)
  const { client: onC } = await connectRaw(c.url)
  for (let i = 0; i < 20; i++) {
    const client = i % 2 === 0 ? onB : onC
    const prefixed = i % 4 === 1
    const id = await subscribe(client, prefixed ? `com.race${i}.` : `com.race${i}`, prefixed ? { match: 'prefix' } : {})
    a.app.wamp.publishToAll(`com.race${i}${prefixed ? '.x' : ''}`, [i])
    const event = await client.nextOfType(MSG.EVENT, 3000)
    t.same([event[1], event[4]], [id, [i]], `publication ${i}, made on A right after SUBSCRIBED on ${i % 2 === 0 ? 'B' : 'C'}, arrived`)
  }
  // Messages sent behind a SUBSCRIBE wait for it: SUBSCRIBED comes first, then what the later PUBLISH caused.
  onB.send([MSG.SUBSCRIBE, 100, {}, 'com.order'])
  onB.send([MSG.PUBLISH, 101, { acknowledge: true, exclude_me: false }, 'com.order', ['mine']])
  const first = await onB.next()
  t.same(first.slice(0, 2), [MSG.SUBSCRIBED, 100], 'SUBSCRIBED before anything the next message caused')
  const rest = [await onB.next(), await onB.next()]
  t.same(new Set(rest.map((m) => m[0])), new Set([MSG.PUBLISHED, MSG.EVENT]))
  t.same(rest.find((m) => m[0] === MSG.EVENT)?.slice(1, 2), [first[2]], 'the own event, on the new subscription')
  await Promise.all([onB.close(), onC.close()])
})

t.test('clusterSessionCount sums the sessions of every live instance', async (t) => {
  const { apps: [a, b] } = await startCluster(t, 2)
  const clients = [await connectRaw(a.url), await connectRaw(a.url), await connectRaw(b.url)]
  await eventually(async () => (await a.app.wamp.clusterSessionCount()) === 3 && (await b.app.wamp.clusterSessionCount()) === 3, 3000, 'count 3')
  await clients[0].client.close()
  await eventually(async () => (await b.app.wamp.clusterSessionCount()) === 2, 3000, 'count 2')
  t.equal(a.app.wamp.count, 1, 'the local figure stays local')
  await b.app.close()
  await eventually(async () => (await a.app.wamp.clusterSessionCount()) === 1, 3000, 'count 1')
  t.pass('a closed instance leaves the count')
  await Promise.all([clients[1].client.close(), clients[2].client.close()])
})

t.test('without an adapter: in-process default, status up, cluster count = local count', async (t) => {
  const { app, url } = await startApp(t)
  t.equal(app.wamp.fanout.status, 'up')
  const { client } = await connectRaw(url)
  t.equal(await app.wamp.clusterSessionCount(), 1)
  await client.close()
})

t.test('registration fails with a clear error when Redis cannot be reached', async (t) => {
  const port = await freePort()
  const app = Fastify()
  t.teardown(() => app.close())
  await t.rejects(async () => { await app.register(fastifyWamp, { redis: `redis://127.0.0.1:${port}` }).ready() }, { code: 'FST_WAMP_FANOUT_CONNECT' })
})

t.test('an ioredis client you pass is only a template: duplicated, never closed', async (t) => {
  const mine = new Redis(REDIS_URL)
  t.teardown(() => mine.disconnect())
  const { app, url } = await startApp(t, { redis: mine })
  t.equal(app.wamp.fanout.status, 'up', 'await app.ready() means connected')
  const { client } = await connectRaw(url)
  await client.close()
  await app.close()
  t.equal(mine.status, 'ready', 'your client is still open')
  t.equal(app.wamp.fanout.status, 'down')
})

t.test('fan-out options are validated at register time', async (t) => {
  for (const [options, message] of [
    [{ redis: 42 }, /redis must be a redis:\/\/ or rediss:\/\/ URL or an ioredis client/],
    [{ redis: 'http://x' }, /redis:\/\//],
    [{ redis: REDIS_URL, fanout: new RedisFanout({ redis: REDIS_URL }) }, /either redis or fanout/],
    [{ fanout: {} as FanoutAdapter }, /fanout must be a fan-out adapter/]
  ] as const) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(fastifyWamp, options as object).ready() }, { code: 'FST_WAMP_INVALID_OPTION', message })
    await app.close()
  }
  t.throws(() => new RedisFanout({ redis: REDIS_URL, heartbeat: 0 }), { code: 'FST_WAMP_INVALID_OPTION' })
})
