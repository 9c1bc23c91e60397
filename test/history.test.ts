import t from 'tap'
import type { FastifyWampOptions, WampSession as Session } from '../index.js'
import { startApp, internal, until } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'
import { connectAutobahn } from './helpers/clients.js'
import { commandsDuring, eventually, inspector, RedisProcess, startCluster } from './helpers/redis.js'
import type { RealmOptions } from '../lib/realm/realm.js'

// Event history (spec "Event History", docs/retention-history.md): opt-in rules per topic or pattern,
// `wamp.subscription.get_events` with the spec's arguments, filtered by what the caller may see; Redis streams.

function identify (session: Session): void {
  const { 'x-authid': authid, 'x-authrole': authrole } = session.request?.headers ?? {}
  if (typeof authid === 'string') internal(session).authid = authid
  if (typeof authrole === 'string') internal(session).authrole = authrole
}

interface EventObject { timestamp: string, subscription: number, publication: number, details: Record<string, unknown>, args?: unknown[], kwargs?: Record<string, unknown> }

const logRealm: RealmOptions = { name: 'realm1', broker: true, history: [{ topic: 'com.log', limit: 3 }, { topic: 'com.shop.', match: 'prefix', limit: 10 }] }

async function connect (url: string, who?: [string, string]): Promise<RawClient> {
  return (await connectRaw(url, who === undefined ? {} : { headers: { 'x-authid': who[0], 'x-authrole': who[1] } })).client
}

let requestId = 100
async function subscribe (client: RawClient, topic: string, options: Record<string, unknown> = {}): Promise<number> {
  client.send([MSG.SUBSCRIBE, ++requestId, options, topic])
  const reply = await client.next()
  if (reply[0] !== MSG.SUBSCRIBED) throw new Error(`expected SUBSCRIBED, got ${JSON.stringify(reply)}`)
  return reply[2] as number
}

async function getEvents (client: RawClient, args: unknown[], kwargs?: Record<string, unknown>): Promise<unknown[]> {
  client.send(kwargs === undefined ? [MSG.CALL, ++requestId, {}, 'wamp.subscription.get_events', args] : [MSG.CALL, ++requestId, {}, 'wamp.subscription.get_events', args, kwargs])
  return client.next()
}

async function events (client: RawClient, args: unknown[], kwargs?: Record<string, unknown>): Promise<EventObject[]> {
  const reply = await getEvents(client, args, kwargs)
  if (reply[0] !== MSG.RESULT) throw new Error(`expected RESULT, got ${JSON.stringify(reply)}`)
  return (reply[3] as unknown[])[0] as EventObject[]
}

t.test('no history configured: no event_history in WELCOME, no get_events', async (t) => {
  const { url } = await startApp(t)
  const { client, welcome } = await connectRaw(url)
  t.notOk((welcome[2] as { roles: { broker: { features: Record<string, unknown> } } }).roles.broker.features.event_history)
  const sub = await subscribe(client, 'com.log')
  t.match(await getEvents(client, [sub]), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.no_such_procedure'])
  await client.close()
})

t.test('get_events returns the spec\'s event objects, oldest first, the rule\'s last `limit` publications', async (t) => {
  const { app, url } = await startApp(t, { realms: [logRealm] })
  const client = await connect(url)
  const before = Date.now()
  for (let i = 1; i <= 5; i++) app.wamp.publishToAll('com.log', [i], i === 5 ? { last: true } : undefined)
  app.wamp.publishToAll('com.other', ['not kept'])
  const sub = await subscribe(client, 'com.log')
  const reply = await getEvents(client, [sub])
  t.equal(reply[0], MSG.RESULT)
  const list = (reply[3] as unknown[])[0] as EventObject[]
  t.same(list.map((e) => [e.subscription, e.details, e.args, e.kwargs]), [[sub, {}, [3], undefined], [sub, {}, [4], undefined], [sub, {}, [5], { last: true }]])
  for (const e of list) {
    t.ok(Number.isInteger(e.publication) && e.publication > 0)
    t.match(e.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'RFC 3339')
    t.ok(Date.parse(e.timestamp) >= before - 1)
  }
  t.same(Object.keys(list[0]).sort(), ['args', 'details', 'publication', 'subscription', 'timestamp'], 'no kwargs key when the publication had none')
  const { welcome } = await connectRaw(url).then(async (r) => { await r.client.close(); return r })
  t.match(welcome[2], { roles: { broker: { features: { event_history: true } }, dealer: {} } })

  const other = await subscribe(client, 'com.other')
  t.same(await events(client, [other]), [], 'a topic without a rule has no history')
  await client.close()
})

t.test('arguments: limit (kwargs or Crossbar\'s positional), reverse, publication and time bounds, topic', async (t) => {
  const { app, url } = await startApp(t, { realms: [logRealm] })
  const client = await connect(url)
  const topics = ['com.shop.a', 'com.shop.b', 'com.shop.a', 'com.shop.c', 'com.shop.a', 'com.shop.b']
  topics.forEach((topic, i) => { app.wamp.publishToAll(topic, [i]) })
  const sub = await subscribe(client, 'com.shop.', { match: 'prefix' })
  const all = await events(client, [sub])
  t.same(all.map((e) => [e.details, e.args]), topics.map((topic, i) => [{ topic }, [i]]), 'pattern subscription: details.topic')
  const ids = all.map((e) => e.publication)
  const args = (list: EventObject[]): unknown[] => list.map((e) => (e.args as unknown[])[0])

  t.same(args(await events(client, [sub], { limit: 2 })), [0, 1])
  t.same(args(await events(client, [sub, 2])), [0, 1], 'Crossbar\'s positional limit')
  t.same(args(await events(client, [sub], { reverse: true, limit: 2 })), [5, 4])
  t.same(args(await events(client, [sub], { from_publication: ids[2] })), [2, 3, 4, 5])
  t.same(args(await events(client, [sub], { after_publication: ids[2], limit: 2 })), [3, 4], 'pagination forwards')
  t.same(args(await events(client, [sub], { before_publication: ids[3], reverse: true, limit: 2 })), [2, 1], 'pagination backwards')
  t.same(args(await events(client, [sub], { until_publication: ids[1] })), [0, 1])
  t.same(args(await events(client, [sub], { from_publication: ids[1], until_publication: ids[4], topic: 'com.shop.a' })), [2, 4], 'conditions combine with AND')
  t.same(args(await events(client, [sub], { after_publication: 12345 })), [], 'an unknown publication id leaves nothing')
  const t3 = all[3].timestamp
  const ms = Date.parse(t3)
  const at = (cmp: (x: number) => boolean): unknown[] => all.filter((e) => cmp(Date.parse(e.timestamp))).map((e) => (e.args as unknown[])[0])
  t.same(args(await events(client, [sub], { from_time: t3 })), at((x) => x >= ms))
  t.same(args(await events(client, [sub], { after_time: t3 })), at((x) => x > ms))
  t.same(args(await events(client, [sub], { before_time: t3 })), at((x) => x < ms))
  t.same(args(await events(client, [sub], { until_time: t3 })), at((x) => x <= ms))
  t.same(args(await events(client, [sub], { after_time: new Date(Date.now() + 60_000).toISOString() })), [])

  const exact = await subscribe(client, 'com.shop.b')
  t.same(await events(client, [exact]).then((l) => l.map((e) => [e.details, (e.args as unknown[])[0]])), [[{}, 1], [{}, 5]], 'an exact subscription inside a pattern rule')

  t.match(await getEvents(client, [sub], { from_time: 'yesterday' }), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.invalid_argument'])
  t.match(await getEvents(client, [sub], { topic: 'org.x' }), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.invalid_argument'])
  t.match(await getEvents(client, [sub], { limit: 0 }), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.invalid_argument'])
  t.match(await getEvents(client, [424242]), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.no_such_subscription'])
  await client.close()
})

t.test('security: the caller sees only what its authid/authrole may receive; session-id rules are never kept', async (t) => {
  const { app, url } = await startApp(t, {
    realms: [{ ...logRealm, history: [{ topic: 'com.news', limit: 20 }, { topic: 'com.secret', limit: 20 }] }],
    onSessionOpen: identify,
    permissions: {
      user: [{ uri: 'com.news', allow: ['subscribe', 'call', 'publish'] }, { uri: 'wamp.subscription.get_events', allow: ['call'] }],
      admin: [{ uri: '', match: 'prefix', allow: ['subscribe', 'call', 'publish'] }]
    }
  })
  const admin = await connect(url, ['root', 'admin'])
  const user = await connect(url, ['amy', 'user'])
  app.wamp.publishToAll('com.news', ['public'])
  app.wamp.publishToAll('com.news', ['admins'], undefined, { eligibleAuthrole: 'admin' })
  app.wamp.publishToAll('com.news', ['not amy'], undefined, { excludeAuthid: 'amy' })
  app.wamp.publishToAll('com.news', ['amy only'], undefined, { eligibleAuthid: 'amy' })
  app.wamp.publishToAll('com.news', ['by session'], undefined, { eligible: [1, 2, 3] })
  app.wamp.publishToAll('com.news', ['excluding a session'], undefined, { exclude: [1] })
  app.wamp.publishToAll('com.secret', ['classified'])
  // A client publication with disclose_me keeps its publisher details.
  admin.send([MSG.PUBLISH, 1, { acknowledge: true, disclose_me: true }, 'com.news', ['from root']])
  t.equal((await admin.next())[0], MSG.PUBLISHED)

  const adminSub = await subscribe(admin, 'com.news')
  const userSub = await subscribe(user, 'com.news')
  const texts = (list: EventObject[]): unknown[] => list.map((e) => (e.args as unknown[])[0])
  t.same(texts(await events(admin, [adminSub])), ['public', 'admins', 'not amy', 'from root'])
  t.same(texts(await events(user, [userSub])), ['public', 'amy only', 'from root'])
  t.match((await events(user, [userSub]))[2].details, { publisher: Number, publisher_authid: 'root', publisher_authrole: 'admin' })

  const secret = await subscribe(admin, 'com.secret')
  t.match(await getEvents(user, [secret]), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.no_such_subscription', [`no subscription ${secret} in realm "realm1"`]],
    'a subscription the caller may not subscribe to is answered as an unknown one (neither its existence nor its topic leaks)')
  t.same(texts(await events(admin, [secret])), ['classified'])
  await Promise.all([admin.close(), user.close()])
})

t.test('invalid history options are refused at register time', async (t) => {
  const bad: unknown[] = [
    'com.log',
    [{ topic: 'bad uri#' }],
    [{ topic: 'com.x', match: 'glob' }],
    [{ topic: 'com.x', limit: 0 }],
    [{ topic: 'com.x' }, { topic: 'com.x' }]
  ]
  for (const history of bad) {
    await t.rejects(startApp(t, { realms: [{ name: 'realm1', history: history as never }] }), { code: 'FST_WAMP_INVALID_OPTION' }, JSON.stringify(history))
  }
})

t.test('autobahn-js: call wamp.subscription.get_events on its own subscription', async (t) => {
  const options: FastifyWampOptions = { realms: [logRealm] }
  const { app, url } = await startApp(t, options)
  const ab = await connectAutobahn(url)
  const subscription = await ab.session.subscribe('com.log', () => {})
  app.wamp.publishToAll('com.log', ['a'], { n: 1 })
  app.wamp.publishToAll('com.log', ['b'])
  const list = await ab.session.call<EventObject[]>('wamp.subscription.get_events', [subscription.id], { limit: 1, reverse: true })
  t.match(list, [{ subscription: subscription.id, args: ['b'], details: {} }])
  await ab.close()
})

t.test('Redis: history is a capped stream shared by the instances', async (t) => {
  const { apps: [a, b], prefix } = await startCluster(t, 2, { realms: [logRealm] })
  const redis = inspector(t)
  for (let i = 1; i <= 4; i++) a.app.wamp.publishToAll('com.log', [`a${i}`])
  b.app.wamp.publishToAll('com.shop.x', ['b1'])
  await eventually(async () => (await redis.xlen(`${prefix}realm1:history:exact:com.log`)) === 3 &&
    (await redis.xlen(`${prefix}realm1:history:prefix:com.shop.`)) === 1, 3000, 'streams written')
  const client = await connect(b.url)
  const sub = await subscribe(client, 'com.log')
  t.same((await events(client, [sub])).map((e) => e.args), [['a2'], ['a3'], ['a4']], 'A\'s publications, read on B, capped at the limit')
  const onA = await connect(a.url)
  const shop = await subscribe(onA, 'com.shop.', { match: 'prefix' })
  t.same((await events(onA, [shop])).map((e) => [e.details, e.args]), [[{ topic: 'com.shop.x' }, ['b1']]])
  await Promise.all([client.close(), onA.close()])
})

t.test('Redis: get_events reads only the rules that can hold what the subscription receives', async (t) => {
  const history = [{ topic: 'com.secret.', match: 'prefix' as const, limit: 1000 }, { topic: 'com.pub.a.', match: 'prefix' as const }, { topic: 'com.pub.b', match: 'prefix' as const }]
  const { apps: [a, b], prefix } = await startCluster(t, 2, { realms: [{ name: 'realm1', broker: true, history }] })
  const redis = inspector(t)
  for (let i = 0; i < 50; i++) a.app.wamp.publishToAll('com.secret.x', ['s'.repeat(1000)])
  a.app.wamp.publishToAll('com.pub.a.1', ['a'])
  a.app.wamp.publishToAll('com.pub.b.1', ['b'])
  const key = (topic: string): string => `${prefix}realm1:history:prefix:${topic}`
  await eventually(async () => (await redis.xlen(key('com.secret.'))) === 50 && (await redis.xlen(key('com.pub.b'))) === 1, 3000, 'streams written')
  const client = await connect(b.url)
  t.teardown(() => client.close())
  const cases: Array<{ topic: string, options: Record<string, unknown>, kwargs?: Record<string, unknown>, want: unknown[], read: string[] }> = [
    { topic: 'com.pub.', options: { match: 'prefix' }, want: [['a'], ['b']], read: ['com.pub.a.', 'com.pub.b'] },
    { topic: 'com.pub.', options: { match: 'prefix' }, kwargs: { topic: 'com.pub.b.1' }, want: [['b']], read: ['com.pub.b'] },
    { topic: 'com..1', options: { match: 'wildcard' }, want: [], read: ['com.secret.'] }, // com.secret.1 would be kept there
    { topic: 'com.pub..1', options: { match: 'wildcard' }, want: [['a'], ['b']], read: ['com.pub.a.', 'com.pub.b'] },
    { topic: 'com.pub.a.1', options: {}, want: [['a']], read: ['com.pub.a.'] }
  ]
  for (const { topic, options, kwargs, want, read } of cases) {
    const sub = await subscribe(client, topic, options)
    let got: EventObject[] = []
    const commands = await commandsDuring(t, redis, prefix, async () => { got = await events(client, [sub], kwargs) })
    t.same(got.map((e) => e.args), want, `${topic} ${JSON.stringify(kwargs ?? {})}: its events`)
    t.same(commands.filter((c) => c[0].toLowerCase() === 'xrange').map((c) => c[1]).sort(), read.map(key), 'only those rules\' streams read')
  }
})

t.test('Redis down: get_events answers network_failure and get_retained sends nothing; both work again once it is back', async (t) => {
  const server = await RedisProcess.start(t)
  const { apps: [a] } = await startCluster(t, 1, { realms: [logRealm] }, undefined, server.url)
  a.app.wamp.fanout.on('error', () => {})
  const client = await connect(a.url)
  const sub = await subscribe(client, 'com.log')
  const caller = await connect(a.url) // not subscribed: its replies do not interleave with EVENTs
  a.app.wamp.publishToAll('com.log', ['kept'], undefined, { retain: true })
  await eventually(async () => (await events(caller, [sub])).length === 1, 3000, 'history written')
  t.same((await client.next()).slice(3), [{}, ['kept']], 'the live EVENT')

  await server.stop()
  await until(() => a.app.wamp.fanout.status === 'down', 10000, 'status down')
  t.match(await getEvents(caller, [sub]), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.network_failure'])
  const late = await connect(a.url)
  late.send([MSG.SUBSCRIBE, 1, { get_retained: true }, 'com.log'])
  t.equal((await late.next())[0], MSG.SUBSCRIBED, 'the subscription itself works (local delivery)')
  a.app.wamp.publishToAll('com.log', ['marker'])
  t.same((await late.next())[4], ['marker'], 'no retained event: Redis could not be asked')
  t.same((await client.next())[4], ['marker'])

  await server.start()
  await until(() => a.app.wamp.fanout.status === 'up', 10000, 'status up again')
  a.app.wamp.publishToAll('com.log', ['after'], undefined, { retain: true })
  t.same((await client.next())[4], ['after'])
  await eventually(async () => (await events(caller, [sub])).length === 1, 3000, 'history written again (the fresh Redis lost the old stream)')
  t.same((await events(caller, [sub])).map((e) => e.args), [['after']])
  await Promise.all([client.close(), late.close(), caller.close()])
})
