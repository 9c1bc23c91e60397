import t from 'tap'
import type { FastifyWampOptions, WampSession as Session } from '../index.js'
import { startApp, hubOf, internal } from './helpers/app.js'
import { connectRaw, messagesBeforeMarker, MSG } from './helpers/raw-client.js'
import type { ConnectRawResult } from './helpers/raw-client.js'
import { connectAutobahn } from './helpers/clients.js'
import { commandsDuring, eventually, inspector, startCluster, uniquePrefix } from './helpers/redis.js'
import fc from 'fast-check'
import { RedisStorage } from '../lib/cluster/redis-storage.js'
import { newestEligible } from '../lib/pubsub/retention.js'
import { PublishFilter } from '../lib/pubsub/publish-filter.js'
import type { Session as InternalSession } from '../lib/session/session.js'
import type { LocalRetention } from '../lib/pubsub/retention.js'
import type { Retention } from '../lib/pubsub/retention.js'

// Event retention (spec "Event Retention", docs/retention-history.md): PUBLISH `retain`, SUBSCRIBE `get_retained`,
// EVENT details `retained: true` before any newer EVENT, pattern subscriptions, black/white listing, bounds, Redis.

function identify (session: Session): void {
  const { 'x-authid': authid, 'x-authrole': authrole } = session.request?.headers ?? {}
  if (typeof authid === 'string') internal(session).authid = authid
  if (typeof authrole === 'string') internal(session).authrole = authrole
}

const brokered: FastifyWampOptions = { realms: [{ name: 'realm1', broker: true }], onSessionOpen: identify }

async function subscribe (url: string, topic: string, options: Record<string, unknown> = {}, who?: [string, string]): Promise<ConnectRawResult & { sub: number }> {
  const joined = await connectRaw(url, who === undefined ? {} : { headers: { 'x-authid': who[0], 'x-authrole': who[1] } })
  joined.client.send([MSG.SUBSCRIBE, 1, options, topic])
  const reply = await joined.client.next()
  if (reply[0] !== MSG.SUBSCRIBED) throw new Error(`expected SUBSCRIBED, got ${JSON.stringify(reply)}`)
  return { ...joined, sub: reply[2] as number }
}

t.test('WELCOME advertises event_retention; get_retained sends the retained event after SUBSCRIBED with details.retained', async (t) => {
  const { app, url } = await startApp(t)
  app.wamp.publishToAll('com.temp', [20], { unit: 'C' }, { retain: true })
  app.wamp.publishToAll('com.temp', [21], undefined, { retain: true })
  app.wamp.publishToAll('com.temp', [99]) // not retained: the retained event stays [21]
  const { client, welcome } = await connectRaw(url)
  t.match(welcome[2], { roles: { broker: { features: { event_retention: true } } } })
  client.send([MSG.SUBSCRIBE, 1, { get_retained: true }, 'com.temp'])
  const subscribed = await client.next()
  t.equal(subscribed[0], MSG.SUBSCRIBED)
  const event = await client.next()
  t.same(event.slice(0, 2), [MSG.EVENT, subscribed[2]])
  t.same(event.slice(3), [{ retained: true }, [21]], 'the most recent retained event, nothing else')
  t.ok(Number.isInteger(event[2]) && (event[2] as number) > 0, 'its publication id')
  t.same(await messagesBeforeMarker(client, () => app.wamp.publishToAll('com.temp', ['marker'])), [])

  const plain = await subscribe(url, 'com.temp')
  t.same(await messagesBeforeMarker(plain.client, () => app.wamp.publishToAll('com.temp', ['marker'])), [], 'no get_retained: nothing retained')
  await Promise.all([client.close(), plain.client.close()])
})

t.test('the retained event precedes any newer EVENT; an exact subscription sees only its topic', async (t) => {
  const { app, url } = await startApp(t)
  app.wamp.publishToAll('com.a', ['old'], undefined, { retain: true })
  app.wamp.publishToAll('com.ab', ['other'], undefined, { retain: true })
  const { client } = await connectRaw(url)
  client.send([MSG.SUBSCRIBE, 1, { get_retained: true }, 'com.a'])
  const sub = (await client.next())[2]
  app.wamp.publishToAll('com.a', ['new'])
  t.same(await client.next(), [MSG.EVENT, sub, (await firstRetained(app, 'com.a')), { retained: true }, ['old']])
  t.match(await client.next(), [MSG.EVENT, sub, Number, {}, ['new']])
  await client.close()
})

async function firstRetained (app: Parameters<typeof hubOf>[0], topic: string): Promise<number> {
  const store = (hubOf(app).realm('realm1').broker.retention as Retention).store
  const found = await store.lookup(topic, 'exact', () => false)
  return found[found.length - 1].publicationId
}

t.test('a pattern subscription gets the most recent retained event of every matching topic, with details.topic', async (t) => {
  const { app, url } = await startApp(t)
  app.wamp.publishToAll('com.sensor.a.temp', [1], undefined, { retain: true })
  app.wamp.publishToAll('com.sensor.b.temp', [2], undefined, { retain: true })
  app.wamp.publishToAll('com.sensor.a.temp', [3], undefined, { retain: true })
  app.wamp.publishToAll('com.sensor.b.humidity', [4], undefined, { retain: true })
  app.wamp.publishToAll('org.other', [5], undefined, { retain: true })

  const prefix = await subscribe(url, 'com.sensor.', { match: 'prefix', get_retained: true })
  const got = await messagesBeforeMarker(prefix.client, () => app.wamp.publishToAll('com.sensor.x', ['marker']))
  t.same(got.map((e) => [e[0], e[1], e[3], e[4]]), [
    [MSG.EVENT, prefix.sub, { topic: 'com.sensor.b.temp', retained: true }, [2]],
    [MSG.EVENT, prefix.sub, { topic: 'com.sensor.a.temp', retained: true }, [3]],
    [MSG.EVENT, prefix.sub, { topic: 'com.sensor.b.humidity', retained: true }, [4]]
  ], 'one per topic, the newest, in order of their retains')

  const wildcard = await subscribe(url, 'com.sensor..temp', { match: 'wildcard', get_retained: true })
  const wild = await messagesBeforeMarker(wildcard.client, () => app.wamp.publishToAll('com.sensor.x.temp', ['marker']))
  t.same(wild.map((e) => [e[3], e[4]]), [[{ topic: 'com.sensor.b.temp', retained: true }, [2]], [{ topic: 'com.sensor.a.temp', retained: true }, [3]]])
  await Promise.all([prefix.client.close(), wildcard.client.close()])
})

t.test('black/white listing: each subscriber gets the newest retained event it would have been eligible for', async (t) => {
  const { app, url } = await startApp(t, { onSessionOpen: identify })
  app.wamp.publishToAll('com.status', ['for everyone'], undefined, { retain: true })
  app.wamp.publishToAll('com.status', ['admins only'], undefined, { retain: true, eligibleAuthrole: 'admin' })
  app.wamp.publishToAll('com.status', ['not bob'], undefined, { retain: true, excludeAuthid: 'bob' })
  const admin = await subscribe(url, 'com.status', { get_retained: true }, ['bob', 'admin'])
  const user = await subscribe(url, 'com.status', { get_retained: true }, ['amy', 'user'])
  const bob = await subscribe(url, 'com.status', { get_retained: true }, ['bob', 'user'])
  const marker = (): void => { app.wamp.publishToAll('com.status', ['marker']) }
  t.same((await messagesBeforeMarker(admin.client, marker)).map((e) => e[4]), [['admins only']])
  t.same((await messagesBeforeMarker(user.client, () => {})).map((e) => e[4]), [['not bob']])
  t.same((await messagesBeforeMarker(bob.client, () => {})).map((e) => e[4]), [['for everyone']])

  // A newer unrestricted retained event supersedes them all.
  app.wamp.publishToAll('com.status', ['fresh'], undefined, { retain: true })
  const late = await subscribe(url, 'com.status', { get_retained: true }, ['bob', 'admin'])
  t.same((await messagesBeforeMarker(late.client, marker)).map((e) => e[4]), [['fresh']])
  t.same(((hubOf(app).realm('realm1').broker.retention as Retention).store as LocalRetention).size.topics, 1)
  await Promise.all([admin.client.close(), user.client.close(), bob.client.close(), late.client.close()])
})

t.test('client PUBLISH retain (broker mode): publisher disclosure kept, the publisher itself excluded, bad retain refused', async (t) => {
  const { url } = await startApp(t, brokered)
  const pub = await connectRaw(url, { headers: { 'x-authid': 'ann', 'x-authrole': 'editor' } })
  pub.client.send([MSG.PUBLISH, 2, { acknowledge: true, retain: 'yes' }, 'com.room'])
  t.match(await pub.client.next(), [MSG.ERROR, MSG.PUBLISH, 2, {}, 'wamp.error.invalid_argument', ['PUBLISH.Options.retain must be a boolean']])
  pub.client.send([MSG.PUBLISH, 3, { acknowledge: true, retain: true, disclose_me: true }, 'com.room', ['hello']])
  const published = await pub.client.next()
  t.equal(published[0], MSG.PUBLISHED)

  const sub = await subscribe(url, 'com.room', { get_retained: true })
  t.same(await sub.client.next(), [MSG.EVENT, sub.sub, published[2], { publisher: pub.sessionId, publisher_authid: 'ann', publisher_authrole: 'editor', retained: true }, ['hello']])
  pub.client.send([MSG.SUBSCRIBE, 4, { get_retained: true }, 'com.room'])
  t.equal((await pub.client.next())[0], MSG.SUBSCRIBED)
  pub.client.send([MSG.PUBLISH, 5, { acknowledge: true, exclude_me: false }, 'com.room', ['marker']])
  t.equal((await pub.client.next())[0], MSG.PUBLISHED)
  t.same((await pub.client.next())[4], ['marker'], 'the publisher was excluded from its own publication, so not sent it as retained')
  await Promise.all([pub.client.close(), sub.client.close()])
})

t.test('without broker mode a client PUBLISH is not retained for other clients', async (t) => {
  const { app, url } = await startApp(t)
  const pub = await connectRaw(url)
  pub.client.send([MSG.PUBLISH, 2, { acknowledge: true, retain: true }, 'com.room', ['private']])
  t.equal((await pub.client.next())[0], MSG.PUBLISHED)
  const sub = await subscribe(url, 'com.room', { get_retained: true })
  t.same(await messagesBeforeMarker(sub.client, () => app.wamp.publishToAll('com.room', ['marker'])), [])
  await Promise.all([pub.client.close(), sub.client.close()])
})

t.test('authorization: a subscriber refused the topic gets ERROR and no retained event', async (t) => {
  const { app, url } = await startApp(t, {
    onSessionOpen: identify,
    permissions: { user: [{ uri: 'com.public.', match: 'prefix', allow: ['subscribe'] }] }
  })
  app.wamp.publishToAll('com.secret', ['s'], undefined, { retain: true })
  app.wamp.publishToAll('com.public.news', ['n'], undefined, { retain: true })
  const { client } = await connectRaw(url, { headers: { 'x-authid': 'u', 'x-authrole': 'user' } })
  client.send([MSG.SUBSCRIBE, 1, { get_retained: true }, 'com.secret'])
  t.match(await client.next(), [MSG.ERROR, MSG.SUBSCRIBE, 1, {}, 'wamp.error.not_authorized'])
  client.send([MSG.SUBSCRIBE, 2, { get_retained: true, match: 'prefix' }, 'com.'])
  t.match(await client.next(), [MSG.ERROR, MSG.SUBSCRIBE, 2, {}, 'wamp.error.not_authorized'], 'a pattern covering the secret topic is refused')
  client.send([MSG.SUBSCRIBE, 3, { get_retained: true, match: 'prefix' }, 'com.public.'])
  const sub = await client.next()
  t.equal(sub[0], MSG.SUBSCRIBED)
  t.same((await client.next()).slice(3), [{ topic: 'com.public.news', retained: true }, ['n']])
  await client.close()
})

t.test('bounds: maxTopics and maxBytes evict the least recently retained topics; larger than maxEventBytes is not retained', async (t) => {
  const { app, url } = await startApp(t, { realms: [{ name: 'realm1', retention: { maxTopics: 3, maxEventBytes: 100, maxBytes: 250 } }] })
  const store = (hubOf(app).realm('realm1').broker.retention as Retention).store as LocalRetention
  const retain = (topic: string, value: unknown): void => { app.wamp.publishToAll(topic, [value], undefined, { retain: true }) }
  retain('com.t1', 1)
  retain('com.t2', 2)
  retain('com.t1', 11) // t1 is now more recent than t2
  retain('com.t3', 3)
  retain('com.t8', 8) // a fourth topic: t2, the least recently retained, goes
  t.same(store.size.topics, 3)
  retain('com.t4', 'x'.repeat(200)) // larger than maxEventBytes: delivered, not retained
  t.same(store.size.topics, 3)
  retain('com.t5', 'y'.repeat(90)) // evicts t1 (count)
  retain('com.t6', 'y'.repeat(90)) // evicts t3 (count)
  retain('com.t7', 'y'.repeat(90)) // evicts t8 (count), then t5 (bytes: three of these exceed 250)
  t.equal(store.size.topics, 2, 'maxBytes evicted below maxTopics')
  t.ok(store.size.bytes <= 250, `bytes bounded (${store.size.bytes})`)
  const sub = await subscribe(url, 'com.', { match: 'prefix', get_retained: true })
  const got = await messagesBeforeMarker(sub.client, () => app.wamp.publishToAll('com.marker', ['marker']))
  t.same(got.map((e) => (e[3] as { topic: string }).topic), ['com.t6', 'com.t7'])
  await sub.client.close()
})

t.test('retention: false → no event_retention in WELCOME, nothing retained', async (t) => {
  const { app, url } = await startApp(t, { realms: [{ name: 'realm1', retention: false }] })
  app.wamp.publishToAll('com.x', [1], undefined, { retain: true })
  const sub = await subscribe(url, 'com.x', { get_retained: true })
  t.notOk((sub.welcome[2] as { roles: { broker: { features: Record<string, unknown> } } }).roles.broker.features.event_retention)
  t.same(await messagesBeforeMarker(sub.client, () => app.wamp.publishToAll('com.x', ['marker'])), [])
  await sub.client.close()
})

t.test('invalid retention options and publishToAll retain are refused', async (t) => {
  await t.rejects(startApp(t, { realms: [{ name: 'realm1', retention: { maxTopics: 0 } }] }), { code: 'FST_WAMP_INVALID_OPTION' })
  await t.rejects(startApp(t, { realms: [{ name: 'realm1', retention: { maxEventBytes: 10, maxBytes: 5 } }] }), { code: 'FST_WAMP_INVALID_OPTION' })
  await t.rejects(startApp(t, { realms: [{ name: 'realm1', retention: { bogus: 1 } as never }] }), { code: 'FST_WAMP_INVALID_OPTION' })
  const { app } = await startApp(t)
  t.throws(() => app.wamp.publishToAll('com.x', [], undefined, { retain: 'yes' as never }), TypeError)
})

t.test('autobahn-js: publish with retain, subscribe with get_retained → event.retained', async (t) => {
  const { url } = await startApp(t, brokered)
  const publisher = await connectAutobahn(url)
  await publisher.session.publish('com.ab.temp', [22.5], { room: 'lab' }, { retain: true, acknowledge: true })
  const subscriber = await connectAutobahn(url, { serializer: 'msgpack' })
  const events: Array<{ args: unknown, kwargs: unknown, retained: boolean }> = []
  await subscriber.session.subscribe('com.ab.temp', (args, kwargs, details) => { events.push({ args, kwargs, retained: details.retained }) }, { get_retained: true })
  await publisher.session.publish('com.ab.temp', [23], {}, { acknowledge: true })
  await eventually(() => events.length === 2)
  t.same(events, [{ args: [22.5], kwargs: { room: 'lab' }, retained: true }, { args: [23], kwargs: {}, retained: false }])
  await Promise.all([publisher.close(), subscriber.close()])
})

t.test('Redis: a subscriber on instance B gets what was retained on A (exact and pattern), within the bounds', async (t) => {
  const { apps: [a, b], prefix } = await startCluster(t, 2, { realms: [{ name: 'realm1', retention: { maxTopics: 2 } }], onSessionOpen: identify })
  const redis = inspector(t)
  a.app.wamp.publishToAll('com.r.one', [1], undefined, { retain: true })
  a.app.wamp.publishToAll('com.r.two', [2], undefined, { retain: true, eligibleAuthrole: 'admin' })
  await eventually(async () => (await redis.zcard(`${prefix}realm1:retained`)) === 2, 3000, 'retained in Redis')

  const exact = await subscribe(b.url, 'com.r.one', { get_retained: true })
  t.same((await exact.client.next()).slice(3), [{ retained: true }, [1]])
  const admin = await subscribe(b.url, 'com.r.', { match: 'prefix', get_retained: true }, ['x', 'admin'])
  const user = await subscribe(b.url, 'com.r.', { match: 'prefix', get_retained: true }, ['y', 'user'])
  const marker = (): void => { a.app.wamp.publishToAll('com.r.marker', ['marker']) }
  t.same((await messagesBeforeMarker(admin.client, marker)).map((e) => e.slice(3)), [[{ topic: 'com.r.one', retained: true }, [1]], [{ topic: 'com.r.two', retained: true }, [2]]])
  t.same((await messagesBeforeMarker(user.client, () => {})).map((e) => e.slice(3)), [[{ topic: 'com.r.one', retained: true }, [1]]], 'the admin-only event is filtered out')

  // maxTopics holds cluster-wide: B's retain evicts A's oldest.
  b.app.wamp.publishToAll('com.r.three', [3], undefined, { retain: true })
  await eventually(async () => (await redis.zrange(`${prefix}realm1:retained`, 0, -1)).join() === 'com.r.two,com.r.three', 3000, 'eviction')
  t.equal(await redis.exists(`${prefix}realm1:retained:t:com.r.one`), 0, 'the evicted topic\'s events are gone')
  const late = await subscribe(a.url, 'com.r.', { match: 'prefix', get_retained: true })
  t.same((await messagesBeforeMarker(late.client, marker)).map((e) => e[4]), [[3]])
  await Promise.all([exact.client.close(), admin.client.close(), user.client.close(), late.client.close()])
})

t.test('Redis: a pattern SUBSCRIBE get_retained reads the most recent topics first and stops at maxEventsPerSubscribe', async (t) => {
  const { apps: [a, b], prefix } = await startCluster(t, 2, { realms: [{ name: 'realm1', retention: { maxEventsPerSubscribe: 5 } }], onSessionOpen: identify })
  const redis = inspector(t)
  const key = `${prefix}realm1:retained`
  // 606 topics (more than one read of topic names): the oldest three under com.old., the newest three for admins only.
  for (let i = 0; i < 3; i++) a.app.wamp.publishToAll(`com.old.${i}`, [i], undefined, { retain: true })
  for (let i = 0; i < 600; i++) a.app.wamp.publishToAll(`com.r.${i}`, ['x'.repeat(100)], undefined, { retain: true })
  for (let i = 0; i < 3; i++) a.app.wamp.publishToAll(`com.r.admin.${i}`, ['admins'], undefined, { retain: true, eligibleAuthrole: 'admin' })
  await eventually(async () => (await redis.zcard(key)) === 606, 5000, 'retained in Redis')
  // What reading everything and keeping the newest eligible would send (topics with equal scores are in Redis's order).
  const order = await redis.zrange(key, 0, -1)
  const newest = (names: string[]): string[] => names.slice(-5)

  const cases: Array<{ who: [string, string], pattern: string, want: string[], lranges: number }> = [
    // The 5 newest com.r. topics: 3 admin-only ones the user may not receive, then 2, then 3 more → 8 lists read.
    { who: ['u', 'user'], pattern: 'com.r.', want: newest(order.filter((n) => n.startsWith('com.r.') && !n.startsWith('com.r.admin.'))), lranges: 8 },
    { who: ['x', 'admin'], pattern: 'com.r.', want: newest(order.filter((n) => n.startsWith('com.r.'))), lranges: 5 },
    // Only the oldest topics match: every name is read (in two reads), only their 3 lists.
    { who: ['u', 'user'], pattern: 'com.old.', want: ['com.old.0', 'com.old.1', 'com.old.2'], lranges: 3 }
  ]
  for (const { who, pattern, want, lranges } of cases) {
    let got: unknown[][] = []
    const commands = await commandsDuring(t, redis, prefix, async () => {
      const sub = await subscribe(b.url, pattern, { match: 'prefix', get_retained: true }, who)
      got = await messagesBeforeMarker(sub.client, () => { a.app.wamp.publishToAll(`${pattern}marker`, ['marker']) })
      await sub.client.close()
    })
    t.same(got.map((e) => (e[3] as { topic: string }).topic), want, `${who[1]} ${pattern}: the newest eligible topics, oldest first`)
    const reads = commands.filter((c) => c[1].startsWith(key)).map((c) => c[0].toLowerCase())
    t.equal(reads.filter((c) => c === 'lrange').length, lranges, `${who[1]} ${pattern}: ${lranges} topics' events read, of 606`)
    t.same([...new Set(reads)].sort(), ['lrange', 'zrevrange'], 'topic names read newest first')
  }
})

t.test('Redis, property: the newest-first lookup picks what reading every topic would, whatever the restrictions and max', async (t) => {
  const redis = inspector(t)
  const failures: Error[] = []
  const limits = { maxTopics: 100, maxEventBytes: 1024, maxBytes: 1024 * 1024, maxEventsPerTopic: 3, maxEventsPerSubscribe: 100 }
  const ROLES = ['admin', 'user']
  const ruleArb = fc.option(fc.record({ eligibleAuthrole: fc.subarray(ROLES, { minLength: 1 }), excludeAuthid: fc.subarray(['ann', 'bob'], { minLength: 1 }) }, { requiredKeys: [] }), { nil: undefined })
  const opArb = fc.record({ topic: fc.constantFrom('a.1', 'a.2', 'a.3', 'a.4', 'b.1', 'a.5.x', 'a.6'), rules: ruleArb })
  const subscriberArb = fc.record({ id: fc.constant(7), authid: fc.constantFrom('ann', 'bob', 'cy'), authrole: fc.constantFrom(...ROLES) })
  let run = 0
  await fc.assert(fc.asyncProperty(fc.array(opArb, { maxLength: 30 }), subscriberArb, fc.integer({ min: 1, max: 5 }), async (ops, who, max) => {
    const store = new RedisStorage(`${uniquePrefix()}${run++}:`, () => redis, (err) => { failures.push(err) }).retention('realm1', limits)
    ops.forEach((op, i) => {
      const filter = op.rules === undefined ? undefined : new PublishFilter(op.rules)
      store.retain({ topic: op.topic, publicationId: i + 1, args: [i], kwargs: undefined, publisher: undefined, filter, bytes: 10 })
    })
    await redis.ping() // the retains ran (one connection, in order)
    const session = who as unknown as InternalSession
    const matches = (topic: string): boolean => topic.startsWith('a.')
    const all = newestEligible(await store.lookup('a.', 'prefix', matches), session, max)
    const bounded = newestEligible(await store.lookup('a.', 'prefix', matches, { session, max }), session, max)
    return JSON.stringify(bounded.map((e) => e.publicationId)) === JSON.stringify(all.map((e) => e.publicationId))
  }), { numRuns: 60 })
  t.same(failures, [])
})

t.test('Redis: EVENTs published while the retained events are fetched are held back and follow them', async (t) => {
  const { apps: [a] } = await startCluster(t, 1)
  a.app.wamp.publishToAll('com.burst', ['retained'], undefined, { retain: true })
  // onSubscribe runs right after SUBSCRIBED went out, while the Redis lookup is under way.
  a.app.wamp.onSubscribe(() => { a.app.wamp.publishToAll('com.burst', ['live']) })
  await eventually(async () => (await (hubOf(a.app).realm('realm1').broker.retention as Retention).store.lookup('com.burst', 'exact', () => false)).length === 1)
  const { client } = await connectRaw(a.url)
  client.send([MSG.SUBSCRIBE, 1, { get_retained: true }, 'com.burst'])
  const sub = (await client.next())[2]
  t.match(await client.next(), [MSG.EVENT, sub, Number, { retained: true }, ['retained']], 'the retained event first')
  t.match(await client.next(), [MSG.EVENT, sub, Number, {}, ['live']], 'then the live one')
  await client.close()
})

t.test('Redis: when 1 000 EVENTs arrive before the retained ones, they go out and the (older) retained events do not', async (t) => {
  const { apps: [a] } = await startCluster(t, 1)
  a.app.wamp.publishToAll('com.flood', ['retained'], undefined, { retain: true })
  a.app.wamp.onSubscribe(() => { for (let i = 0; i < 1000; i++) a.app.wamp.publishToAll('com.flood', [i]) })
  await eventually(async () => (await (hubOf(a.app).realm('realm1').broker.retention as Retention).store.lookup('com.flood', 'exact', () => false)).length === 1)
  const { client } = await connectRaw(a.url)
  client.send([MSG.SUBSCRIBE, 1, { get_retained: true }, 'com.flood'])
  t.equal((await client.next())[0], MSG.SUBSCRIBED)
  const got = await messagesBeforeMarker(client, () => a.app.wamp.publishToAll('com.flood', ['marker']))
  t.equal(got.length, 1000)
  t.ok(got.every((e, i) => (e[4] as unknown[])[0] === i), 'the live EVENTs, in order, without the retained one')
  await client.close()
})
